import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from gradient_coherence import (
    m3,
    median_of_means_aggregate,
    per_example_mean,
    ra3,
    rm3,
    winsorized_aggregate,
)


def _params():
    return {"w": jnp.zeros((3, 4)), "b": jnp.zeros(4)}


def _per_example(b=100, seed=0):
    k1, k2 = jax.random.split(jax.random.PRNGKey(seed))
    return {"w": jax.random.normal(k1, (b, 3, 4)), "b": jax.random.normal(k2, (b, 4)) ** 3}


def _apply(tx, updates, params=None):
    params = _params() if params is None else params
    return tx.update(updates, tx.init(params), params)[0]


def _winsorized_reference(x: np.ndarray, fraction: float) -> np.ndarray:
    """Per coordinate: clip to numpy's nearest-rank percentiles, then average."""
    lo = np.percentile(x, 100 * fraction, axis=0, method="nearest")
    hi = np.percentile(x, 100 * (1 - fraction), axis=0, method="nearest")
    return np.clip(x, lo, hi).mean(axis=0)


def test_winsorized_fraction_zero_is_plain_mean():
    g = _per_example()
    out, mean = _apply(winsorized_aggregate(0.0), g), _apply(per_example_mean(), g)
    for name in g:
        np.testing.assert_allclose(out[name], g[name].mean(0), rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(mean[name], g[name].mean(0), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("fraction", [0.05, 0.1, 0.3])
def test_winsorized_matches_nearest_rank_percentiles(fraction):
    g = _per_example()
    g["w"] = g["w"].at[:40, 0, 0].set(0.0)  # ties, as dead ReLU units give
    out = _apply(winsorized_aggregate(fraction), g)
    for name in g:
        ref = _winsorized_reference(np.asarray(g[name]), fraction)
        np.testing.assert_allclose(out[name], ref, rtol=1e-5, atol=1e-6)


def test_winsorized_bounds_the_pull_of_one_example():
    g = _per_example()
    attacked = jax.tree.map(lambda a: a.at[0].set(1e6), g)
    shift = (
        _apply(winsorized_aggregate(0.1), attacked)["b"] - _apply(winsorized_aggregate(0.1), g)["b"]
    )
    assert float(jnp.max(jnp.abs(shift))) < 0.2  # the plain mean moves by 1e4


def test_median_of_means_of_identical_groups_is_the_mean():
    group = _per_example(b=10)
    g = jax.tree.map(lambda a: jnp.concatenate([a, a, a, a]), group)  # 4 identical groups
    for k in (2, 4):
        out = _apply(median_of_means_aggregate(k), g)
        for name in g:
            np.testing.assert_allclose(out[name], group[name].mean(0), rtol=1e-5, atol=1e-6)


def test_median_of_means_matches_numpy():
    g = _per_example(b=60)
    for k in (3, 6):
        out = _apply(median_of_means_aggregate(k), g)
        for name in g:
            x = np.asarray(g[name])
            ref = np.median(x.reshape(k, -1, *x.shape[1:]).mean(1), axis=0)
            np.testing.assert_allclose(out[name], ref, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("fraction", [-0.1, 0.5, 0.7, float("nan")])
def test_bad_winsorization_fraction_rejected(fraction):
    with pytest.raises(ValueError, match="`fraction` must be in \\[0, 0.5\\)"):
        winsorized_aggregate(fraction)


def test_batch_too_small_for_median_of_means_rejected():
    with pytest.raises(ValueError, match="num_groups`=8"):
        _apply(median_of_means_aggregate(8), _per_example(b=5))
    with pytest.raises(ValueError, match="num_groups`=3"):
        _apply(median_of_means_aggregate(3), _per_example(b=10))
    with pytest.raises(ValueError, match="num_groups"):
        median_of_means_aggregate(0)


def test_per_example_aggregators_reject_minibatch_gradients():
    for tx in (winsorized_aggregate(0.1), median_of_means_aggregate(2), per_example_mean()):
        with pytest.raises(ValueError, match="per-example"):
            _apply(tx, {"w": jnp.ones((3, 4)), "b": jnp.ones(4)})


def test_running_filters_reject_per_example_updates():
    for tx in (rm3(), ra3(), m3()):
        with pytest.raises(ValueError, match="minibatch gradients"):
            _apply(tx, _per_example(b=5))


def _run(tx, grads):
    params = {"w": jnp.zeros(3)}
    state, outs = tx.init(params), []
    for g in grads:
        out, state = tx.update({"w": g}, state, params)
        outs.append(np.asarray(out["w"]))
    return outs


def test_rm3_is_the_running_median_and_ra3_the_running_mean():
    grads = [jax.random.normal(jax.random.PRNGKey(i), (3,)) for i in range(6)]
    med, avg = _run(rm3(), grads), _run(ra3(), grads)
    np.testing.assert_allclose(med[0], grads[0], rtol=1e-6)
    np.testing.assert_allclose(med[1], (grads[0] + grads[1]) / 2, rtol=1e-6)
    for t in range(2, 6):
        window = np.stack(grads[t - 2 : t + 1])
        np.testing.assert_allclose(med[t], np.median(window, 0), rtol=1e-6)
        np.testing.assert_allclose(avg[t], window.mean(0), rtol=1e-6, atol=1e-7)


def test_m3_updates_every_third_step():
    grads = [jax.random.normal(jax.random.PRNGKey(i), (3,)) for i in range(6)]
    out = _run(m3(), grads)
    for t in (0, 1, 3, 4):
        np.testing.assert_array_equal(out[t], 0.0)
    np.testing.assert_allclose(out[2], np.median(np.stack(grads[:3]), 0), rtol=1e-6)
    np.testing.assert_allclose(out[5], np.median(np.stack(grads[3:]), 0), rtol=1e-6)


def test_chains_with_sgd():
    g = _per_example()
    tx = optax.chain(winsorized_aggregate(0.1), optax.sgd(0.5))
    out = _apply(tx, g)
    ref = _winsorized_reference(np.asarray(g["b"]), 0.1)
    np.testing.assert_allclose(out["b"], -0.5 * ref, rtol=1e-5, atol=1e-6)
