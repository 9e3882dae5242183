import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hard_constraint_moe import constraint as C
from hard_constraint_moe import pde as P
from hard_constraint_moe import reference as R
from hard_constraint_moe import router

NT, NX, N = 9, 16, 4


def smooth_basis(seed=0):
    c = jax.random.normal(jax.random.PRNGKey(seed), (3, N))
    t = jnp.linspace(0, 1, NT)[:, None, None]
    x = jnp.linspace(0, 1, NX)[None, :, None]
    return 0.3 * (
        c[0] * jnp.cos(jnp.pi * x * jnp.arange(1, N + 1) / 3) + c[1] * t * jnp.sin(2 * x + c[2])
    )


U0 = jnp.asarray(R.random_initial_conditions(3, 1, NX)[0])


def test_partition_roundtrip_and_layout():
    a = jnp.arange(NT * 2 * NX * 3.0).reshape(NT * 2, NX, 3)
    blocks = router.partition(a, (2, 4))
    assert blocks.shape == (8, NT, NX // 4, 3)
    np.testing.assert_array_equal(blocks[1], a[:NT, NX // 4 : NX // 2])  # row-major (t, x) order
    np.testing.assert_array_equal(router.unpartition(blocks, (2, 4)), a)


@pytest.mark.parametrize("pde", [P.Heat1D(), P.DiffusionSorption1D()])
def test_ift_gradient_matches_finite_differences_and_unrolled(pde):
    moe = C.MoEHardConstraint(pde, N, (1, 4), 6)
    key = jax.random.PRNGKey(1)
    v = jax.random.normal(jax.random.PRNGKey(2), (NT, NX, N))
    loss = lambda b: jnp.sum(moe.solve(b, U0, key)[0] ** 2)
    unrolled = lambda b: jnp.sum(C.unrolled_gauss_newton(moe, b, U0, key, 40) ** 2)
    b = smooth_basis()
    g = jnp.vdot(jax.jit(jax.grad(loss))(b), v)
    fd = (loss(b + 1e-6 * v) - loss(b - 1e-6 * v)) / 2e-6
    assert abs(g - fd) / abs(fd) < 1e-4
    assert abs(g - jnp.vdot(jax.jit(jax.grad(unrolled))(b), v)) / abs(g) < 1e-5
    info = moe.solve(b, U0, key)[2]
    assert bool(jnp.all(info.converged)) and info.iterations.shape == (4,)


def test_gauss_newton_adjoint_is_exact_only_for_linear_pdes():
    key, b = jax.random.PRNGKey(1), smooth_basis()
    v = jax.random.normal(jax.random.PRNGKey(2), b.shape)
    out = {}
    for pde in (P.Heat1D(), P.DiffusionSorption1D()):
        for adj in ("exact", "gauss_newton"):
            moe = C.MoEHardConstraint(
                pde, N, (1, 4), 6, solver_options=C.SolverOptions(adjoint=adj)
            )
            g = jax.grad(lambda b: jnp.sum(moe.solve(b, U0, key)[0] ** 2))(b)
            out[type(pde).__name__, adj] = float(jnp.vdot(g, v))
    heat = out["Heat1D", "exact"], out["Heat1D", "gauss_newton"]
    ds = out["DiffusionSorption1D", "exact"], out["DiffusionSorption1D", "gauss_newton"]
    assert abs(heat[0] - heat[1]) < 1e-8 * abs(heat[0])
    assert abs(ds[0] - ds[1]) > 1e-4 * abs(ds[0])


def test_experts_beat_global_solution_on_linear_pde():
    key, b = jax.random.PRNGKey(4), smooth_basis(1)
    w_hc = C.HardConstraint(P.Heat1D(), N, 24).solve(b, U0, key)[1]
    moe = C.MoEHardConstraint(P.Heat1D(), N, (1, 4), 6)
    w_k = moe.solve(b, U0, key)[1]
    own = moe.expert_objectives(b, U0, key, w_k)
    glob = moe.expert_objectives(b, U0, key, w_hc[0])
    assert bool(jnp.all(own <= glob * (1 + 1e-10)))


def test_single_expert_equals_global_and_piecewise_output():
    key, b = jax.random.PRNGKey(5), smooth_basis()
    pde = P.DiffusionSorption1D()
    u1 = C.MoEHardConstraint(pde, N, (1, 1), 24).solve(b, U0, key)[0]
    np.testing.assert_array_equal(u1, C.HardConstraint(pde, N, 24).solve(b, U0, key)[0])
    u, w, _ = C.MoEHardConstraint(pde, N, (1, 4), 6).solve(b, U0, key)
    np.testing.assert_allclose(u[:, 4:8], b[:, 4:8] @ w[1], rtol=1e-12)


def test_share_ic_bc_ablation_changes_the_interior_experts():
    key, b = jax.random.PRNGKey(5), smooth_basis()
    shared = C.MoEHardConstraint(P.Heat1D(), N, (1, 4), 6).solve(b, U0, key)[1]
    local = C.MoEHardConstraint(P.Heat1D(), N, (1, 4), 6, share_ic_bc=False).solve(b, U0, key)[1]
    assert not np.allclose(shared[1], local[1])


def test_bad_inputs():
    pde = P.DiffusionSorption1D()
    with pytest.raises(ValueError, match="num_basis"):
        C.MoEHardConstraint(pde, 0)
    with pytest.raises(ValueError, match="points_per_expert"):
        C.MoEHardConstraint(pde, N, (1, 4), 0)
    with pytest.raises(ValueError, match=r"splits\[1\]"):
        C.MoEHardConstraint(pde, N, (1, 0), 4)
    with pytest.raises(ValueError, match=r"splits\[1\].*divide"):
        C.MoEHardConstraint(pde, N, (1, 3), 4).solve(smooth_basis(), U0, jax.random.PRNGKey(0))
    with pytest.raises(ValueError, match="points_per_expert"):
        C.MoEHardConstraint(pde, N, (1, 4), 500).solve(smooth_basis(), U0, jax.random.PRNGKey(0))
    with pytest.raises(ValueError, match="basis"):
        C.MoEHardConstraint(pde, N, (1, 4), 4).solve(
            smooth_basis() * jnp.nan, U0, jax.random.PRNGKey(0)
        )
    with pytest.raises(ValueError, match="u0"):
        C.MoEHardConstraint(pde, N, (1, 4), 4).solve(smooth_basis(), U0[:-1], jax.random.PRNGKey(0))
    with pytest.raises(ValueError, match="overlapping"):
        router.splits_from_bounds([(0, NT), (0, 8, 4, 16)], (NT, NX))
    with pytest.raises(ValueError, match="empty"):
        router.splits_from_bounds([(0, NT), (0, 8, 8, 16)], (NT, NX))
    assert router.splits_from_bounds([(0, NT), (0, 4, 8, 12, 16)], (NT, NX)) == (1, 4)
    with pytest.raises(ValueError, match="D"):
        P.DiffusionSorption1D(D=float("nan"))
    with pytest.raises(ValueError, match="alpha"):
        P.Heat1D(alpha=float("inf"))
    with pytest.raises(ValueError, match="adjoint"):
        C.SolverOptions(adjoint="newton")


def test_float32_warns():
    with jax.enable_x64(False), pytest.warns(UserWarning, match="float64"):
        C.MoEHardConstraint(P.Heat1D(), N, (1, 4), 4)
