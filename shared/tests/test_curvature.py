import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

from jaxpapers_shared import curvature

# ----------------------------------------------------------------------------- fixtures


def _mlp_loss(params, x, y):
    hidden = jnp.tanh(x @ params["w1"] + params["b1"])
    return 0.5 * jnp.mean((hidden @ params["w2"] - y) ** 2)


@pytest.fixture(scope="module")
def model():
    """A small tanh MLP (p = 3*5 + 5 + 5 = 25) with its dense Hessian from jax.hessian."""
    k1, k2, k3, k4, k5 = jax.random.split(jax.random.PRNGKey(0), 5)
    params = {
        "w1": jax.random.normal(k1, (3, 5)),
        "b1": 0.1 * jax.random.normal(k2, (5,)),
        "w2": jax.random.normal(k3, (5,)),
    }
    x = jax.random.normal(k4, (16, 3))
    y = jax.random.normal(k5, (16,))
    flat, unravel = ravel_pytree(params)
    dense = jax.jit(jax.hessian(lambda f: _mlp_loss(unravel(f), x, y)))(flat)
    return params, (x, y), np.asarray(dense), unravel


def _low_rank_psd(p=30, rank=5, seed=1):
    j = jax.random.normal(jax.random.PRNGKey(seed), (rank, p))
    return j.T @ j / rank


def _matrix_matvec(h):
    return lambda v: h @ v


# ----------------------------------------------------------------------------- hvp


def test_hvp_matches_dense_hessian_on_pytree_params(model):
    params, batch, dense, unravel = model
    matvec = curvature.hvp(_mlp_loss, params, *batch)
    v = jax.random.normal(jax.random.PRNGKey(3), (dense.shape[0],))
    got = ravel_pytree(matvec(unravel(v)))[0]
    np.testing.assert_allclose(got, dense @ v, rtol=1e-10, atol=1e-12)
    assert jax.tree.structure(matvec(params)) == jax.tree.structure(params)


# ----------------------------------------------------------------------------- Lanczos


def test_lanczos_at_full_order_recovers_dense_spectrum_and_relation(model):
    params, batch, dense, unravel = model
    p = dense.shape[0]
    res = curvature.lanczos(curvature.hvp(_mlp_loss, params, *batch), params, p)
    np.testing.assert_allclose(
        np.linalg.eigvalsh(res.tridiagonal()), np.linalg.eigvalsh(dense), atol=1e-9
    )
    basis = jax.vmap(lambda tree: ravel_pytree(tree)[0])(res.basis)  # (order, p)
    assert res.orthogonality < 1e-12
    # H Q^T = Q^T T (the residual term vanishes at order = p).
    np.testing.assert_allclose(dense @ basis.T, basis.T @ res.tridiagonal(), atol=1e-9)
    start = ravel_pytree(params)[0]
    np.testing.assert_allclose(basis[0], start / np.linalg.norm(start), atol=1e-12)


def test_lanczos_without_reorthogonalization_loses_orthogonality_and_grows_ghosts():
    # One outlier converges within a few steps; plain Lanczos then loses orthogonality (Paige).
    diag = jnp.concatenate([jnp.array([100.0]), jnp.linspace(0.0, 1.0, 99)])
    v0 = jnp.ones(100)
    plain = curvature.lanczos(lambda v: diag * v, v0, 60, reorthogonalize=False)
    full = curvature.lanczos(lambda v: diag * v, v0, 60, reorthogonalize=True)
    assert plain.orthogonality > 1e-2
    assert full.orthogonality < 1e-12
    ritz_plain = np.linalg.eigvalsh(plain.tridiagonal())
    ritz_full = np.linalg.eigvalsh(full.tridiagonal())
    assert np.sum(np.abs(ritz_plain - 100.0) < 1e-6) >= 2  # a ghost copy of the outlier
    assert np.sum(np.abs(ritz_full - 100.0) < 1e-6) == 1


def test_lanczos_stops_at_invariant_subspace_of_low_rank_operator():
    h = _low_rank_psd(p=30, rank=5)
    v0 = jax.random.normal(jax.random.PRNGKey(2), (30,))
    res = curvature.lanczos(_matrix_matvec(h), v0, 12)
    # v0 touches 5 nonzero eigenvalues and the null space: a 6-dimensional Krylov space.
    assert int(res.iterations) == 6 and bool(res.invariant)
    assert res.residual < 1e-10
    ritz = np.linalg.eigvalsh(res.tridiagonal())
    np.testing.assert_allclose(ritz.max(), np.linalg.eigvalsh(h).max(), rtol=1e-10)
    np.testing.assert_allclose(ritz.min(), 0.0, atol=1e-10)
    assert np.all(np.asarray(res.basis)[6:] == 0.0)


def test_lanczos_quadrature_is_exact_for_polynomial_moments():
    # e1^T T^k e1 = q^T H^k q for k < 2 * order: Gauss quadrature with `order` nodes.
    h = np.asarray(_low_rank_psd(p=40, rank=40, seed=4))
    v0 = jax.random.normal(jax.random.PRNGKey(5), (40,))
    order = 6
    res = curvature.lanczos(_matrix_matvec(jnp.asarray(h)), v0, order)
    nodes, vectors = np.linalg.eigh(res.tridiagonal())
    q = np.asarray(v0) / np.linalg.norm(v0)
    for k in range(2 * order):
        exact = q @ np.linalg.matrix_power(h, k) @ q
        np.testing.assert_allclose(np.sum(vectors[0] ** 2 * nodes**k), exact, rtol=1e-8)


# ----------------------------------------------------------------------------- eigenvalues


def test_top_eigenvalue_matches_dense_eigh(model):
    params, batch, dense, _ = model
    evals, evecs = np.linalg.eigh(dense)
    top = curvature.top_eigenvalue(curvature.hvp(_mlp_loss, params, *batch), params, order=20)
    assert bool(top.converged)
    np.testing.assert_allclose(top.value, evals[-1], rtol=1e-8)
    vector = ravel_pytree(top.vector)[0]
    np.testing.assert_allclose(abs(vector @ evecs[:, -1]), 1.0, atol=1e-6)
    assert top.residual < 1e-3 * abs(evals[-1])


def test_top_eigenvalue_when_v0_is_an_eigenvector():
    h = jnp.diag(jnp.array([3.0, 1.0, 0.5, 0.0]))
    top = curvature.top_eigenvalue(_matrix_matvec(h), jnp.array([1.0, 0.0, 0.0, 0.0]), order=4)
    assert int(top.iterations) == 1
    np.testing.assert_allclose(top.value, 3.0)
    np.testing.assert_allclose(np.abs(top.vector), [1.0, 0.0, 0.0, 0.0])


def test_power_iteration_matches_dense_on_psd_and_reports_non_convergence():
    h = _low_rank_psd(p=20, rank=20, seed=6)
    v0 = jnp.ones(20)
    top = curvature.power_iteration(_matrix_matvec(h), v0, max_iter=2000, tol=1e-6)
    assert bool(top.converged) and int(top.iterations) < 2000
    np.testing.assert_allclose(top.value, np.linalg.eigvalsh(h).max(), rtol=1e-9)
    short = curvature.power_iteration(_matrix_matvec(h), v0, max_iter=2, tol=1e-6)
    assert not bool(short.converged) and int(short.iterations) == 2
    assert short.residual > 1e-6 * abs(short.value)


def test_power_iteration_finds_largest_magnitude_of_indefinite_operator():
    h = jnp.diag(jnp.array([1.0, 0.5, -3.0]))
    top = curvature.power_iteration(_matrix_matvec(h), jnp.ones(3), max_iter=500, tol=1e-8)
    np.testing.assert_allclose(top.value, -3.0, rtol=1e-7)
    lanczos_top = curvature.top_eigenvalue(_matrix_matvec(h), jnp.ones(3), order=3)
    np.testing.assert_allclose(lanczos_top.value, 1.0, rtol=1e-10)


# ----------------------------------------------------------------------------- trace, density


def test_hutchinson_is_exact_for_diagonal_operator():
    diag = {"a": jnp.array([1.0, 2.0, 3.0]), "b": jnp.array([[4.0, -5.0]])}
    matvec = lambda v: jax.tree.map(jnp.multiply, diag, v)
    for batch_size in (None, 3):  # all probes in one vmap, or lax.map over batches of 3
        est = curvature.hutchinson_trace(
            matvec, jax.random.PRNGKey(0), diag, num_probes=7, batch_size=batch_size
        )
        np.testing.assert_allclose(est.value, 5.0, rtol=1e-12)
        np.testing.assert_allclose(est.stderr, 0.0, atol=1e-12)


def test_hutchinson_estimate_is_within_its_standard_error_of_dense_trace(model):
    params, batch, dense, _ = model
    matvec = curvature.hvp(_mlp_loss, params, *batch)
    est = curvature.hutchinson_trace(matvec, jax.random.PRNGKey(1), params, num_probes=400)
    assert abs(est.value - np.trace(dense)) < 4 * est.stderr
    # Rademacher variance 2 (||H||_F^2 - sum H_ii^2): the reported error is the right size.
    expected = np.sqrt(2 * (np.sum(dense**2) - np.sum(np.diag(dense) ** 2)) / 400)
    assert 0.7 * expected < est.stderr < 1.3 * expected


def test_slq_moments_match_dense_traces_of_powers(model):
    params, batch, dense, _ = model
    p = dense.shape[0]
    matvec = curvature.hvp(_mlp_loss, params, *batch)
    key = jax.random.PRNGKey(2)
    density = curvature.slq_density(matvec, key, params, order=8, num_probes=300)
    np.testing.assert_allclose(density.moment(0), 1.0, rtol=1e-12)
    for k in (1, 2, 3):
        per_probe = np.sum(density.weights * density.nodes**k, axis=-1)
        stderr = per_probe.std(ddof=1) / np.sqrt(per_probe.size)
        exact = np.trace(np.linalg.matrix_power(dense, k)) / p
        assert abs(density.moment(k) - exact) < 4 * stderr
    # The same key gives the same probes: p * first moment is Hutchinson's estimate.
    hutch = curvature.hutchinson_trace(matvec, key, params, num_probes=300)
    np.testing.assert_allclose(p * density.moment(1), hutch.value, rtol=1e-9)
    # The Gaussian-smoothed density is a probability density.
    grid = jnp.linspace(-3.0, 3.0, 3001) + jnp.mean(density.nodes)
    np.testing.assert_allclose(jnp.trapezoid(density.smoothed(grid, 0.05), grid), 1.0, rtol=1e-5)


def test_jit_matches_eager(model):
    params, batch, _, _ = model

    def run(params):
        top = curvature.top_eigenvalue(curvature.hvp(_mlp_loss, params, *batch), params, order=10)
        return top.value, top.residual

    np.testing.assert_allclose(jax.jit(run)(params), run(params), rtol=1e-8)


def test_new_point_and_batch_of_the_same_loss_do_not_retrace(model):
    params, (x, y), _, _ = model
    traces = []

    def loss(params, x, y):
        traces.append(1)  # runs only while tracing
        return _mlp_loss(params, x, y)

    for scale in (1.0, 2.0, 3.0):
        moved = jax.tree.map(lambda leaf: scale * leaf, params)
        curvature.top_eigenvalue(curvature.hvp(loss, moved, scale * x, y), moved, order=4)
    first = len(traces)
    assert first > 0
    curvature.top_eigenvalue(curvature.hvp(loss, params, x, -y), params, order=4)
    assert len(traces) == first


def test_non_finite_products_under_jit_are_reported_in_status():
    bad = lambda v: v * jnp.nan
    top = jax.jit(lambda v: curvature.top_eigenvalue(bad, v, order=3))(jnp.ones(3))
    assert not bool(top.converged) and np.isnan(top.value)
    power = jax.jit(lambda v: curvature.power_iteration(bad, v))(jnp.ones(3))
    assert not bool(power.converged) and int(power.iterations) == 1


# ----------------------------------------------------------------------------- bad input


def test_rejects_order_below_two():
    with pytest.raises(ValueError, match="`order`"):
        curvature.lanczos(lambda v: v, jnp.ones(3), 1)
    with pytest.raises(ValueError, match="`order`"):
        curvature.top_eigenvalue(lambda v: v, jnp.ones(3), order=1)
    with pytest.raises(ValueError, match="`order`"):
        curvature.slq_density(lambda v: v, jax.random.PRNGKey(0), jnp.ones(3), order=0)


def test_rejects_num_probes_below_one():
    with pytest.raises(ValueError, match="`num_probes`"):
        curvature.hutchinson_trace(lambda v: v, jax.random.PRNGKey(0), jnp.ones(3), num_probes=0)
    with pytest.raises(ValueError, match="`num_probes`"):
        curvature.slq_density(lambda v: v, jax.random.PRNGKey(0), jnp.ones(3), num_probes=0)
    with pytest.raises(ValueError, match="`batch_size`"):
        curvature.hutchinson_trace(lambda v: v, jax.random.PRNGKey(0), jnp.ones(3), batch_size=0)


@pytest.mark.parametrize(
    "call",
    [
        lambda mv: curvature.lanczos(mv, jnp.ones(3), 3),
        lambda mv: curvature.top_eigenvalue(mv, jnp.ones(3), order=3),
        lambda mv: curvature.power_iteration(mv, jnp.ones(3)),
        lambda mv: curvature.hutchinson_trace(mv, jax.random.PRNGKey(0), jnp.ones(3)),
        lambda mv: curvature.slq_density(mv, jax.random.PRNGKey(0), jnp.ones(3), order=3),
    ],
    ids=["lanczos", "top_eigenvalue", "power_iteration", "hutchinson_trace", "slq_density"],
)
def test_rejects_non_finite_products(call):
    with pytest.raises(ValueError, match="`matvec` returned NaN/inf"):
        call(lambda v: jnp.where(v > 0, jnp.inf, v))


def test_rejects_bad_starting_vector_params_and_tolerances():
    with pytest.raises(ValueError, match="`v0`.*nonzero"):
        curvature.lanczos(lambda v: v, jnp.zeros(3), 2)
    with pytest.raises(ValueError, match="`v0`"):
        curvature.top_eigenvalue(lambda v: v, jnp.array([1.0, jnp.nan]))
    with pytest.raises(ValueError, match="`params"):
        curvature.hvp(_mlp_loss, {"w": jnp.array([jnp.inf])})
    with pytest.raises(ValueError, match="`tol`"):
        curvature.power_iteration(lambda v: v, jnp.ones(2), tol=0.0)
    with pytest.raises(ValueError, match="`max_iter`"):
        curvature.power_iteration(lambda v: v, jnp.ones(2), max_iter=0)
    with pytest.raises(TypeError, match="`like"):
        curvature.hutchinson_trace(lambda v: v, jax.random.PRNGKey(0), jnp.ones(3, int))
