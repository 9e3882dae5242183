import jax
import jax.numpy as jnp
import numpy as np
import pytest

import cgs


def _graph(seed=0, n=12, e=40, heads=3, scale=1.0):
    rng = np.random.default_rng(seed)
    s = rng.integers(0, n, e).astype(np.int32)
    r = rng.integers(0, n, e).astype(np.int32)
    w = scale * rng.normal(0.5, 1.0, (e, heads))
    b = rng.normal(size=(n, heads))
    return jnp.asarray(w), jnp.asarray(b), jnp.asarray(s), jnp.asarray(r)


@pytest.mark.parametrize("scale", [1.0, 100.0])
def test_invariant_column_sums_at_most_one(scale):
    w, b, s, r = _graph(scale=scale)
    t = cgs.build_transition(w, b, s, r, 0.5)
    col_sums = cgs.dense_matrix(t).sum(axis=1)  # (m, n): sum over rows i of A[i, j]
    assert float(col_sums.max()) <= 1.0 + 1e-6
    assert float(cgs.dense_matrix(t).min()) >= 0.0
    # Spectral radius of gamma * A is then at most gamma for every head.
    rho = max(np.abs(np.linalg.eigvals(0.5 * np.asarray(a))).max() for a in cgs.dense_matrix(t))
    assert rho <= 0.5 + 1e-6


def test_normaliser_is_source_out_degree():
    # Edges 0->1, 0->2, 1->2 with unit weights: A[1,0] = A[2,0] = 1/2, A[2,1] = 1.
    s, r = jnp.array([0, 0, 1]), jnp.array([1, 2, 2])
    t = cgs.build_transition(jnp.ones((3, 1)), jnp.zeros((3, 1)), s, r, 0.5)
    expected = np.zeros((3, 3))
    expected[1, 0] = expected[2, 0] = 0.5
    expected[2, 1] = 1.0
    np.testing.assert_allclose(cgs.dense_matrix(t)[0], expected)


def test_sparse_matvec_matches_dense_matrix():
    w, b, s, r = _graph(seed=1)
    t = cgs.build_transition(w, b, s, r, 0.7)
    h = jax.random.normal(jax.random.PRNGKey(0), b.shape)
    dense = 0.7 * jnp.einsum("hij,jh->ih", cgs.dense_matrix(t), h) + t.bias
    np.testing.assert_allclose(cgs.apply_transition(t, h), dense, rtol=1e-5, atol=1e-5)


def test_masked_edges_neither_propagate_nor_count_in_degree():
    w, b, s, r = _graph(seed=2)
    mask = jnp.arange(w.shape[0]) < 25
    padded = cgs.build_transition(w, b, s, r, 0.5, edge_mask=mask)
    trimmed = cgs.build_transition(w[:25], b, s[:25], r[:25], 0.5)
    np.testing.assert_allclose(cgs.dense_matrix(padded), cgs.dense_matrix(trimmed), atol=1e-7)


@pytest.mark.parametrize("gamma", [0.0, 1.0, -0.1, 1.5])
def test_rejects_gamma_outside_open_unit_interval(gamma):
    w, b, s, r = _graph()
    with pytest.raises(ValueError, match="gamma"):
        cgs.build_transition(w, b, s, r, gamma)
    with pytest.raises(ValueError, match="gamma"):
        cgs.CGSLayer(4, gamma)


def test_rejects_weights_outside_unit_interval_without_clip():
    w, b, s, r = _graph()
    with pytest.raises(ValueError, match="edge_weight"):
        cgs.build_transition(w, b, s, r, 0.5, clip=False)
    cgs.build_transition(jnp.clip(w, 0, 1), b, s, r, 0.5, clip=False)


def test_rejects_mismatched_senders_receivers():
    w, b, s, r = _graph()
    with pytest.raises(ValueError, match="receivers"):
        cgs.build_transition(w, b, s, r[:-1], 0.5)


def test_rejects_out_of_range_indices():
    w, b, s, r = _graph()
    with pytest.raises(ValueError, match="senders"):
        cgs.build_transition(w, b, s.at[0].set(b.shape[0]), r, 0.5)


def test_rejects_nan_bias():
    w, b, s, r = _graph()
    with pytest.raises(ValueError, match="node_bias"):
        cgs.build_transition(w, b.at[0, 0].set(jnp.nan), s, r, 0.5)
