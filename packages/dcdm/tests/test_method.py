import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import dcdm
from jaxpapers_shared import linear_solve

A16 = dcdm.laplacian((16, 16))


def _b(shape=(16, 16), seed=0):
    return jax.random.normal(jax.random.key(seed), shape)


def test_laplacian_matches_kron_stencil():
    n = 6
    T = 2 * np.eye(n) - np.eye(n, k=1) - np.eye(n, k=-1)
    dense = np.kron(T, np.eye(n)) + np.kron(np.eye(n), T)
    np.testing.assert_allclose(dcdm.dense_matrix(dcdm.laplacian((n, n))), dense, atol=1e-6)


def test_masked_operator_is_spd_and_3d_works():
    op = dcdm.laplacian((8, 8), dcdm.box_obstacle((8, 8), 0.5))
    M = np.asarray(dcdm.dense_matrix(op))
    np.testing.assert_allclose(M, M.T)
    assert np.linalg.eigvalsh(M).min() > 0
    x = _b((4, 4, 4))
    assert dcdm.laplacian((4, 4, 4))(x).shape == (4, 4, 4)


def test_identity_directions_reproduce_cg():
    b = _b()
    x_cg, info_cg = dcdm.cg(A16, b, tol=1e-4)
    x_d, info_d = dcdm.solve(A16, b, lambda r: r, tol=1e-4, max_iter=200, num_conjugate=1)
    assert abs(int(info_d.iterations) - int(info_cg.iterations)) <= 1
    ref = linear_solve.cg(A16, b, tol=1e-6).value
    np.testing.assert_allclose(x_d, ref, atol=1e-3 * float(jnp.abs(ref).max()))
    np.testing.assert_allclose(x_cg, ref, atol=1e-3 * float(jnp.abs(ref).max()))
    assert bool(info_d.converged)


def test_exact_inverse_direction_converges_in_one_step():
    M = dcdm.dense_matrix(A16)
    Minv = jnp.linalg.inv(M)

    def fn(r):
        return 3.7 * (Minv @ r.ravel()).reshape(r.shape)  # any scale: line search absorbs it

    _, info = dcdm.solve(A16, _b(), fn, tol=1e-4)
    assert int(info.iterations) == 1


def test_residual_history_monotone_in_a_norm_sense_and_true_residual():
    b = _b()
    x, info = dcdm.solve(A16, b, lambda r: r, tol=1e-4, max_iter=200)
    k = int(info.iterations)
    hist = np.asarray(info.residual_norms)
    assert np.all(np.isfinite(hist[: k + 1])) and np.all(np.isnan(hist[k + 1 :]))
    true = float(jnp.linalg.norm(b - A16(x)) / jnp.linalg.norm(b))
    np.testing.assert_allclose(hist[k], true, rtol=1e-4)
    assert true <= 1e-4


def test_cg_history_holds_true_residuals_after_float32_stagnation():
    # Past ~80 iterations at 32x32 the recursive residual keeps falling (to 1e-8) while the true
    # residual of the float32 iterate stalls near 2e-6; the history must show the latter.
    A = dcdm.laplacian((32, 32))
    b = _b((32, 32))
    true = lambda x: float(jnp.linalg.norm(b - A(x)) / jnp.linalg.norm(b))
    x80, _ = dcdm.cg(A, b, tol=1e-12, max_iter=80)
    x100, info = dcdm.cg(A, b, tol=1e-12, max_iter=100)
    hist = np.asarray(info.residual_norms)
    np.testing.assert_allclose(hist[80], true(x80), rtol=1e-3)
    np.testing.assert_allclose(hist[100], true(x100), rtol=1e-3)
    assert hist[100] > 1e-6  # stagnated: a recursive residual would read ~1e-8 here
    x_fast, info_fast = dcdm.cg(A, b, tol=1e-12, max_iter=100, residual_history=False)
    np.testing.assert_array_equal(x_fast, x100)
    fast = np.asarray(info_fast.residual_norms)
    np.testing.assert_allclose(fast[[0, 100]], hist[[0, 100]], rtol=1e-6)
    assert np.isnan(fast[1:100]).all()


def test_jacobi_pcg_converges():
    op = dcdm.laplacian((16, 16), dcdm.box_obstacle((16, 16)))
    b = _b() * op.mask
    x, info = dcdm.cg(op, b, preconditioner=dcdm.jacobi(op))
    assert bool(info.converged)


def test_loss_is_scale_invariant_and_zero_at_inverse():
    rhs = dcdm.ritz_rhs(A16, 4, jax.random.key(0))
    q = _b((4, 16, 16))
    l1 = dcdm.scaled_residual_loss(q, rhs, A16)
    l2 = dcdm.scaled_residual_loss(-5.0 * q, rhs, A16)
    np.testing.assert_allclose(l1, l2, rtol=1e-5)
    Minv = jnp.linalg.inv(dcdm.dense_matrix(A16))
    exact = (rhs.reshape(4, -1) @ Minv.T).reshape(rhs.shape)
    assert float(dcdm.scaled_residual_loss(exact, rhs, A16)) < 1e-8


def test_ritz_rhs_unit_norm_and_low_mode_weighted():
    rhs = dcdm.ritz_rhs(A16, 200, jax.random.key(1))
    np.testing.assert_allclose(jnp.linalg.norm(rhs.reshape(200, -1), axis=1), 1.0, rtol=1e-5)
    # Expected Rayleigh quotient sum_i w_i lam_i / sum_i w_i, w = 81 on the n/2 + 50 lowest modes.
    lam = np.linalg.eigvalsh(np.asarray(dcdm.dense_matrix(A16), np.float64))
    w = np.where(np.arange(256) < 128 + 50, 81.0, 1.0)
    expected = float((w * lam).sum() / w.sum())
    rq = float(jnp.sum(rhs * A16(rhs), axis=(1, 2)).mean())
    np.testing.assert_allclose(rq, expected, rtol=0.05)
    assert expected < 0.8 * lam.mean()


def test_network_shapes():
    # Shapes only: traced, not compiled.
    net = dcdm.DCDMNet(2, features=4, levels=1, rngs=nnx.Rngs(0))
    assert jax.eval_shape(lambda x: net(x), _b((2, 16, 16))).shape == (2, 16, 16)
    net3 = dcdm.DCDMNet(3, features=2, levels=1, rngs=nnx.Rngs(0))
    assert jax.eval_shape(lambda x: net3(x), jnp.ones((1, 4, 4, 4))).shape == (1, 4, 4, 4)


def test_train_rejects_a_learning_rate_that_would_ascend():
    net = dcdm.DCDMNet(2, features=2, levels=1, rngs=nnx.Rngs(0))
    rhs = dcdm.ritz_rhs(A16, 8, jax.random.key(2))
    for bad in (-1e-3, 0.0, float("nan")):
        with pytest.raises(ValueError, match="`learning_rate` must be a finite number > 0"):
            dcdm.train(net, A16, rhs, jax.random.key(3), steps=1, learning_rate=bad)
    with pytest.raises(ValueError, match="`batch_size`"):
        dcdm.train(net, A16, rhs, jax.random.key(3), steps=1, batch_size=9)
    with pytest.raises(ValueError, match="`steps`"):
        dcdm.train(net, A16, rhs, jax.random.key(3), steps=0)


def test_zero_rhs_returns_zero():
    x, info = dcdm.solve(A16, jnp.zeros((16, 16)), lambda r: r)
    assert int(info.iterations) == 0 and bool(info.converged)
    assert float(jnp.abs(x).max()) == 0


def test_nonconvergence_is_reported():
    _, info = dcdm.solve(A16, _b(), lambda r: r, max_iter=3, tol=1e-8)
    assert not bool(info.converged) and int(info.status) == 1
    assert "max_iter" in dcdm.status_message(int(info.status))


def test_not_spd_raises():
    with pytest.raises(ValueError, match="not positive definite"):
        dcdm.solve(lambda x: -A16(x), _b(), lambda r: r)


def test_bad_inputs():
    with pytest.raises(ValueError, match="`b`"):
        dcdm.solve(A16, jnp.ones((8, 8)), lambda r: r)
    with pytest.raises(ValueError, match="`b`"):
        dcdm.solve(A16, jnp.full((16, 16), jnp.nan), lambda r: r)
    with pytest.raises(ValueError, match="`tol`"):
        dcdm.solve(A16, _b(), lambda r: r, tol=0.0)
    with pytest.raises(ValueError, match="`num_conjugate`"):
        dcdm.solve(A16, _b(), lambda r: r, num_conjugate=-1)
    with pytest.raises(TypeError, match="`b`"):
        dcdm.solve(A16, [1.0], lambda r: r)
    with pytest.raises(ValueError, match="`shape`"):
        dcdm.laplacian((4,))
    m = np.ones((6, 6), bool)
    m[1:4, 1:4] = False
    m[2, 2] = True
    with pytest.raises(ValueError, match="`mask`"):
        dcdm.laplacian((6, 6), m)
    with pytest.raises(ValueError, match="`ndim`"):
        dcdm.DCDMNet(4, rngs=nnx.Rngs(0))


def test_direction_orthogonal_to_residual_is_reported_as_stall():
    def fn(r):  # A r minus its projection on r: q.r = 0, q != 0
        Ar = A16(r)
        return Ar - jnp.vdot(r, Ar) / jnp.vdot(r, r) * r

    _, info = dcdm.solve(A16, _b(), fn, tol=1e-4)
    assert not bool(info.converged) and int(info.status) == 3
    assert "stalled" in dcdm.status_message(int(info.status))


def test_sine_modes_are_the_dirichlet_spectrum():
    from dcdm._data import dirichlet_eigenvalues

    for shape in [(5, 7), (3, 4, 5)]:
        M = np.asarray(dcdm.dense_matrix(dcdm.laplacian(shape)), np.float64)
        np.testing.assert_allclose(
            np.sort(dirichlet_eigenvalues(shape).ravel()), np.linalg.eigvalsh(M), atol=1e-10
        )


def test_solve_vmaps_with_per_example_iterations():
    bs = jnp.stack([_b(seed=s) for s in range(3)] + [jnp.zeros((16, 16))])
    info = jax.vmap(lambda b: dcdm.solve(A16, b, lambda r: r, max_iter=200)[1])(bs)
    assert info.converged.all()
    assert int(info.iterations[-1]) == 0 and int(info.iterations[0]) > 10


def test_stencil_convolutions_compute_the_same_network():
    # conv="stencil" evaluates the same weights as fused shifted multiply-adds.
    # Small widths and jit: the stencil form unrolls every kernel entry into its own term.
    for nd, kw in [(2, {"features": (2, 4), "depth": (0, 1)})]:
        net = dcdm.DCDMNet(nd, levels=1, rngs=nnx.Rngs(0), **kw)
        graphdef, state = nnx.split(net)
        both = jax.jit(
            lambda s, x, g=graphdef: [nnx.merge(g, s)(x, conv=c) for c in ("xla", "stencil")]
        )
        ref, fast = both(state, _b((2,) + (4,) * nd))
        np.testing.assert_allclose(fast, ref, atol=1e-5 * float(jnp.abs(ref).max()))
    for bad in [{"features": (4, 2), "levels": 1}, {"features": (2, 4), "levels": 2}]:
        with pytest.raises(ValueError, match="`features`"):
            dcdm.DCDMNet(2, rngs=nnx.Rngs(0), **bad)
    with pytest.raises(ValueError, match="`conv`"):
        dcdm.DCDMNet(2, conv="fft", rngs=nnx.Rngs(0))
    assert dcdm.DCDMNet(2, rngs=nnx.Rngs(0), **dcdm.CPU_CONFIG).conv == "stencil"
