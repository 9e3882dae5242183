import flax.linen as linen
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import hopfield


def _random(seed, n=20, d=8, s=5, scale=1.0):
    kx, kq = jax.random.split(jax.random.PRNGKey(seed))
    return jax.random.normal(kx, (n, d)), scale * jax.random.normal(kq, (s, d))


def test_update_matches_eq3_numpy_transcription():
    patterns, xi = _random(0)
    beta = 0.7
    X = np.asarray(patterns, np.float64).T  # the paper's d x N layout
    expected = []
    for q in np.asarray(xi, np.float64):
        logits = beta * X.T @ q
        p = np.exp(logits - logits.max())
        expected.append(X @ (p / p.sum()))
    np.testing.assert_allclose(hopfield.update(xi, patterns, beta), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("beta", [0.2, 0.7, 3.0])
def test_update_is_transformer_attention(beta):
    # Eq. (10): xi_new = softmax(beta xi X^T) X is attention with query xi, keys = values = X.
    # flax divides the logits by sqrt(d) itself, so the query is pre-scaled by beta * sqrt(d).
    patterns, xi = _random(7, n=30, d=16, s=6)
    q = (beta * np.sqrt(16)) * xi[None, :, None, :]
    kv = patterns[None, :, None, :]
    attention = linen.dot_product_attention(q, kv, kv)[0, :, 0, :]
    np.testing.assert_allclose(hopfield.update(xi, patterns, beta), attention, atol=1e-5)


def test_chunked_update_matches_dense():
    patterns, xi = _random(1, n=37, s=6)
    dense = hopfield.update(xi, patterns, 2.0)
    for chunk in (5, 16):
        chunked = hopfield.update(xi, patterns, 2.0, chunk_size=chunk)
        np.testing.assert_allclose(chunked, dense, rtol=1e-5, atol=1e-6)


def test_energy_is_bounded_by_zero_and_two_m_squared():
    patterns, xi = _random(2, scale=3.0)
    m2 = float(jnp.max(jnp.sum(patterns**2, -1)))
    # Lemma A1 bounds E on the convex hull of the patterns, where updates land.
    states = hopfield.update(xi, patterns, 1.5)
    e = hopfield.energy(states, patterns, 1.5)
    assert jnp.all(e >= -1e-5) and jnp.all(e <= 2 * m2 + 1e-5)


@pytest.mark.parametrize("beta", [0.1, 1.0, 8.0])
def test_invariant_energy_never_increases(beta):
    patterns, xi = _random(3, scale=2.0)
    with jax.enable_x64(True):
        patterns, xi = patterns.astype(jnp.float64), xi.astype(jnp.float64)
        for _ in range(4):
            new = hopfield.update(xi, patterns, beta)
            increase = hopfield.energy(new, patterns, beta) - hopfield.energy(xi, patterns, beta)
            assert float(jnp.max(increase)) <= 1e-10
            xi = new


def test_retrieve_single_step_equals_update_and_stops_at_fixed_point():
    patterns, xi = _random(4)
    one = hopfield.retrieve(xi, patterns, 1.0)
    np.testing.assert_allclose(one.state, hopfield.update(xi, patterns, 1.0), atol=1e-6)
    assert jnp.all(one.steps == 1)
    res = hopfield.retrieve(xi, patterns, 1.0, max_steps=50, tol=1e-5)
    assert jnp.all(res.converged)
    np.testing.assert_allclose(hopfield.update(res.state, patterns, 1.0), res.state, atol=1e-4)


def test_retrieve_reports_non_convergence():
    patterns, xi = _random(5, scale=0.01)
    res = hopfield.retrieve(xi, patterns, 1.0, max_steps=1, tol=1e-8)
    assert not bool(jnp.any(res.converged))
    assert jnp.all(res.residual > 1e-8)


def test_implicit_and_unrolled_retrieval_agree_with_finite_differences():
    with jax.enable_x64(True):
        patterns, xi = _random(6, n=6, d=4, s=2)
        patterns, xi = patterns.astype(jnp.float64), xi.astype(jnp.float64)

        def loss(p, implicit_diff):
            res = hopfield.retrieve(
                xi, p, 0.5, max_steps=60, tol=1e-12, implicit_diff=implicit_diff
            )
            return jnp.sum(jnp.sin(res.state))

        res = hopfield.retrieve(xi, patterns, 0.5, max_steps=60, tol=1e-12, implicit_diff=True)
        assert bool(jnp.all(res.converged))  # the IFT gradient is only valid at a fixed point

        g_ift = jax.grad(loss)(patterns, True)
        g_unrolled = jax.grad(loss)(patterns, False)
        direction = jax.random.normal(jax.random.PRNGKey(7), patterns.shape, jnp.float64)
        eps = 1e-6
        fd = (loss(patterns + eps * direction, True) - loss(patterns - eps * direction, True)) / (
            2 * eps
        )
        np.testing.assert_allclose(jnp.vdot(g_ift, direction), fd, rtol=1e-6)
        np.testing.assert_allclose(g_ift, g_unrolled, rtol=1e-6, atol=1e-9)


def test_update_is_jittable_and_vmaps_like_a_loop():
    patterns, xi = _random(8)
    jitted = jax.jit(lambda q: hopfield.update(q, patterns, 1.0))(xi)
    looped = jnp.stack([hopfield.update(q, patterns, 1.0) for q in xi])
    vmapped = jax.vmap(lambda q: hopfield.update(q, patterns, 1.0))(xi)
    np.testing.assert_allclose(jitted, looped, atol=1e-6)
    np.testing.assert_allclose(vmapped, looped, atol=1e-6)


@pytest.mark.parametrize("beta", [0.0, -1.0, float("nan"), float("inf")])
def test_rejects_bad_beta(beta):
    patterns, xi = _random(9)
    with pytest.raises(ValueError, match="beta"):
        hopfield.update(xi, patterns, beta)


def test_rejects_bad_patterns_and_states():
    patterns, xi = _random(10)
    with pytest.raises(ValueError, match="xi"):
        hopfield.update(xi[:, :3], patterns)
    with pytest.raises(ValueError, match="patterns"):
        hopfield.energy(xi, jnp.zeros((0, 8)))
    with pytest.raises(ValueError, match="patterns"):
        hopfield.update(xi, patterns.at[0, 0].set(jnp.nan))
    with pytest.raises(ValueError, match="max_steps"):
        hopfield.retrieve(xi, patterns, max_steps=0)
    with pytest.raises(ValueError, match="tol"):
        hopfield.retrieve(xi, patterns, tol=0.0)
    with pytest.raises(ValueError, match="chunk_size"):
        hopfield.update(xi, patterns, chunk_size=0)
