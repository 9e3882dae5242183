import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

import opposing_signals as os_


@pytest.fixture(scope="module")
def toy():
    x, y, groups = os_.opposing_signals_toy(jax.random.PRNGKey(0), 400, 10)
    return x, y, groups


def test_trace_matches_one_update_at_a_time(toy):
    x, y, groups = toy
    model = os_.TwoLayerLinear(10, 8, rngs=nnx.Rngs(0))
    graphdef, params = nnx.split(model)
    trained, trace = os_.train_and_track(
        model, x, y, optax.sgd(0.3), steps=4, key=jax.random.PRNGKey(0), groups=groups, k=5
    )

    def loss_fn(p, xi, yi):
        return 0.5 * (nnx.merge(graphdef, p)(xi[None])[0] - yi) ** 2

    mean = lambda p: jnp.mean(os_.per_example_losses(loss_fn, p, (x, y)))
    for t in range(4):
        after = jax.tree.map(lambda w, g: w - 0.3 * g, params, jax.grad(mean)(params))
        per = os_.per_example_losses(loss_fn, params, (x, y))
        assert trace.loss[t] == pytest.approx(float(per.mean()), rel=1e-5)
        assert trace.group("B")[t] == pytest.approx(
            float(os_.group_losses(per, groups)["B"]), rel=1e-5
        )
        delta = os_.loss_change(loss_fn, params, after, (x, y))
        np.testing.assert_array_equal(trace.changers[t], os_.top_changers(delta, 5))
        params = after
    # the returned model holds the parameters after the last update
    for a, b in zip(jax.tree.leaves(nnx.state(trained)), jax.tree.leaves(params), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)


def test_padding_rows_change_neither_loss_nor_gradient(toy):
    # A batch the mesh does not divide is padded with weight-0 rows (here 3 of them).
    from opposing_signals._train import _ModelLoss, _PaddedMeanLoss

    x, y, _ = toy
    graphdef, params = nnx.split(os_.TwoLayerLinear(10, 8, rngs=nnx.Rngs(0)))
    loss = _PaddedMeanLoss(_ModelLoss(graphdef, "square"), 400)
    padded = (jnp.concatenate([x, x[:3]]), jnp.concatenate([y, y[:3]]),
              jnp.concatenate([jnp.ones(400), jnp.zeros(3)]))  # fmt: skip
    (v0, l0), g0 = jax.value_and_grad(loss, has_aux=True)(params, (x, y, jnp.ones(400)))
    (v1, l1), g1 = jax.value_and_grad(loss, has_aux=True)(params, padded)
    assert float(v1) == pytest.approx(float(v0), rel=1e-6)
    np.testing.assert_array_equal(l1[:400], l0)
    for a, b in zip(jax.tree.leaves(g0), jax.tree.leaves(g1), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)


def test_tracker_finds_the_opposing_outliers_at_the_edge():
    x, y, groups = os_.opposing_signals_toy(jax.random.PRNGKey(1), 1000, 20)
    lr = 0.6
    _, trace = os_.train_and_track(
        os_.TwoLayerLinear(20, 50, rngs=nnx.Rngs(1)),
        x,
        y,
        optax.sgd(lr),
        steps=150,
        key=jax.random.PRNGKey(1),
        groups=groups,
        k=40,
        sharpness_every=10,
    )
    edge = trace.sharpness_steps[np.flatnonzero(trace.sharpness * lr / 2 >= 1)[0]]
    window = slice(edge, 150)
    outliers = np.asarray(groups["A"] | groups["B"])
    precision = np.mean([os_.precision_at_k(c, outliers) for c in trace.changers[window]])
    assert precision > 0.5  # chance: 0.04
    assert os_.oscillation_score(trace.group("A")[window], trace.group("B")[window]) < -0.9


def test_divergence_is_reported_with_its_step(toy):
    x, y, _ = toy
    with pytest.warns(RuntimeWarning, match="non-finite at step"):
        _, trace = os_.train_and_track(
            os_.TwoLayerLinear(10, 8, rngs=nnx.Rngs(0), init_scale=1.0),
            x,
            y,
            optax.sgd(50.0),
            steps=200,
            key=jax.random.PRNGKey(0),
            k=3,
        )
    assert trace.diverged_at > 0
    assert np.all(np.isfinite(trace.loss[: trace.diverged_at]))
    assert np.all(np.isnan(trace.loss[trace.diverged_at :]))


def test_bad_training_arguments_name_the_argument(toy):
    x, y, groups = toy
    model = os_.TwoLayerLinear(10, 4, rngs=nnx.Rngs(0))
    kw = {"steps": 2, "key": jax.random.PRNGKey(0)}
    with pytest.raises(ValueError, match="`k` must be at most the number of examples n = 400"):
        os_.train_and_track(model, x, y, optax.sgd(0.1), k=401, **kw)
    with pytest.raises(ValueError, match=r"`groups\['A'\]` is empty"):
        os_.train_and_track(model, x, y, optax.sgd(0.1), groups={"A": jnp.zeros(400, bool)}, **kw)
    with pytest.raises(ValueError, match="`x`.*NaN"):
        os_.train_and_track(model, x.at[0, 0].set(jnp.nan), y, optax.sgd(0.1), **kw)
    with pytest.raises(ValueError, match="`steps`"):
        os_.train_and_track(model, x, y, optax.sgd(0.1), steps=0, key=jax.random.PRNGKey(0))
