import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gradient_coherence import (
    coherence_alpha,
    layerwise_m_coherence,
    m_coherence,
    pairwise_m_coherence,
    per_example_grads,
    streaming_m_coherence,
)


def _tree(flat: jax.Array) -> dict:
    """Splits (m, 7) per-example vectors into a two-leaf pytree with a leading axis m."""
    return {"w": flat[:, :4].reshape(-1, 2, 2), "b": flat[:, 4:]}


def test_identical_gradients_give_m():
    g = jnp.tile(jax.random.normal(jax.random.PRNGKey(0), (1, 7)), (5, 1))
    assert m_coherence(_tree(g)) == pytest.approx(5.0, rel=1e-5)
    assert coherence_alpha(_tree(g)) == pytest.approx(1.0, rel=1e-5)
    assert coherence_alpha(_tree(g), unbiased=True) == pytest.approx(1.0, rel=1e-5)


def test_orthogonal_equal_norm_gradients_give_one():
    g = 3.0 * jnp.eye(7)[:6]
    assert m_coherence(_tree(g)) == pytest.approx(1.0, rel=1e-6)
    assert coherence_alpha(_tree(g)) == pytest.approx(1.0 / 6, rel=1e-6)  # alpha_perp = 1/m
    assert coherence_alpha(_tree(g), unbiased=True) == pytest.approx(0.0, abs=1e-7)


def test_antipodal_pairs_give_zero():
    v = jax.random.normal(jax.random.PRNGKey(1), (3, 7))
    assert m_coherence(_tree(jnp.concatenate([v, -v]))) == pytest.approx(0.0, abs=1e-6)


def test_ratio_equals_pairwise_gram_on_random_gradients():
    g = jax.random.normal(jax.random.PRNGKey(2), (9, 7)) + 0.7
    gram = np.asarray(g, np.float64) @ np.asarray(g, np.float64).T
    expected = gram.sum() / np.trace(gram)
    assert m_coherence(_tree(g)) == pytest.approx(expected, rel=1e-5)
    assert pairwise_m_coherence(_tree(g)) == pytest.approx(expected, rel=1e-5)
    unbiased = (gram.sum() - np.trace(gram)) / (8 * np.trace(gram))
    assert coherence_alpha(_tree(g), unbiased=True) == pytest.approx(unbiased, rel=1e-5)


def test_layerwise_is_each_leaf_alone():
    g = _tree(jax.random.normal(jax.random.PRNGKey(3), (6, 7)))
    per_leaf = layerwise_m_coherence(g)
    for name in ("w", "b"):
        assert per_leaf[name] == pytest.approx(float(m_coherence({name: g[name]})), rel=1e-6)


def _problem(m=20):
    keys = jax.random.split(jax.random.PRNGKey(4), 3)
    params = {"w": jax.random.normal(keys[0], (5, 3)), "b": jnp.zeros(3)}
    x = jax.random.normal(keys[1], (m, 5))
    y = jax.random.randint(keys[2], (m,), 0, 3)

    def loss(p, example):
        xi, yi = example
        return -jax.nn.log_softmax(xi @ p["w"] + p["b"])[yi]

    return loss, params, (x, y)


def test_per_example_grads_equal_one_grad_per_example():
    loss, params, (x, y) = _problem(3)
    g = per_example_grads(loss, params, (x, y))
    grad = jax.jit(jax.grad(loss))
    for i in range(3):
        gi = grad(params, (x[i], y[i]))
        np.testing.assert_allclose(g["w"][i], gi["w"], rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(g["b"][i], gi["b"], rtol=1e-5, atol=1e-7)


def test_chunked_per_example_grads_equal_unchunked():
    loss, params, batch = _problem(20)
    full = per_example_grads(loss, params, batch)
    for chunk in (7, 64):  # 7 does not divide 20: a remainder chunk
        chunked = per_example_grads(loss, params, batch, chunk_size=chunk)
        for a, b in zip(jax.tree.leaves(full), jax.tree.leaves(chunked), strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)


def test_streaming_equals_materialized():
    loss, params, batch = _problem(20)
    expected = float(m_coherence(per_example_grads(loss, params, batch)))
    assert streaming_m_coherence(loss, params, batch, chunk_size=7) == pytest.approx(
        expected, rel=1e-5
    )
    jitted = jax.jit(lambda p: streaming_m_coherence(loss, p, batch, chunk_size=8))
    assert jitted(params) == pytest.approx(expected, rel=1e-5)


def test_fewer_than_two_examples_rejected():
    with pytest.raises(ValueError, match="per_example.*at least 2"):
        m_coherence(_tree(jnp.ones((1, 7))))


def test_leading_axes_must_agree():
    with pytest.raises(ValueError, match="leading batch axis"):
        m_coherence({"w": jnp.ones((4, 2)), "b": jnp.ones((3, 2))})
    loss, params, (x, y) = _problem(6)
    with pytest.raises(ValueError, match="`batch`"):
        per_example_grads(loss, params, (x, y[:5]))


def test_all_zero_gradients_rejected():
    with pytest.raises(ValueError, match="undefined"):
        m_coherence(_tree(jnp.zeros((4, 7))))


def test_non_finite_gradients_rejected():
    with pytest.raises(ValueError, match="NaN"):
        m_coherence(_tree(jnp.ones((4, 7)).at[1, 2].set(jnp.nan)))


def test_bad_chunk_size_rejected():
    loss, params, batch = _problem(6)
    with pytest.raises(ValueError, match="chunk_size"):
        per_example_grads(loss, params, batch, chunk_size=0)
