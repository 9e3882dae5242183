import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hard_constraint_moe import constraint as C
from hard_constraint_moe import pde as P
from hard_constraint_moe import reference as R
from hard_constraint_moe import router
from hard_constraint_moe.training import FAST_COMPILE

NT, NX, N = 9, 16, 4
TIGHT = C.SolverOptions(tol=1e-12, rtol=0.0, polish=3)


def smooth_basis(seed=0):
    c = jax.random.normal(jax.random.PRNGKey(seed), (3, N))
    t = jnp.linspace(0, 1, NT)[:, None, None]
    x = jnp.linspace(0, 1, NX)[None, :, None]
    return 0.3 * (
        c[0] * jnp.cos(jnp.pi * x * jnp.arange(1, N + 1) / 3) + c[1] * t * jnp.sin(2 * x + c[2])
    )


U0 = R.random_initial_conditions(3, 1, NX)[0]


@pytest.fixture(scope="module")
def adjoints():
    """Directional derivatives of sum(u^2) w.r.t. the basis (K = 4), all in one compiled program:
    exact and Gauss-Newton adjoints on the linear heat equation and on diffusion-sorption, and
    central finite differences on the heat equation (the float64 IFT-vs-unrolled and
    finite-difference checks on diffusion-sorption are claim A of the quick reproduction)."""
    with jax.enable_x64(True):
        key, b = jax.random.PRNGKey(1), smooth_basis()
        v = jax.random.normal(jax.random.PRNGKey(2), b.shape)
        u0 = jnp.asarray(U0)

        def run(b):
            out = {}
            for pde in (P.Heat1D(), P.DiffusionSorption1D()):
                name = type(pde).__name__
                for adj in ("exact", "gauss_newton"):
                    opts = dataclasses.replace(TIGHT, adjoint=adj)
                    moe = C.MoEHardConstraint(pde, N, (1, 4), 6, solver_options=opts)
                    loss = lambda b: jnp.sum(moe.solve(b, u0, key)[0] ** 2)  # noqa: B023
                    out[name, adj] = jnp.vdot(jax.grad(loss)(b), v)
                out[name, "info"] = moe.solve(b, u0, key)[2]
                if pde.linear:
                    pm = jnp.stack([b + 1e-6 * v, b - 1e-6 * v])
                    out[name, "fd"] = jnp.dot(jax.vmap(loss)(pm), jnp.array([1.0, -1.0])) / 2e-6
            return out

        return jax.jit(run, compiler_options=FAST_COMPILE)(b)


def test_ift_gradient_matches_finite_differences_on_linear_pde(adjoints):
    g, fd = adjoints["Heat1D", "exact"], adjoints["Heat1D", "fd"]
    assert abs(g - fd) / abs(fd) < 1e-5


def test_gauss_newton_adjoint_is_exact_only_for_linear_pdes(adjoints):
    heat = adjoints["Heat1D", "exact"], adjoints["Heat1D", "gauss_newton"]
    ds = adjoints["DiffusionSorption1D", "exact"], adjoints["DiffusionSorption1D", "gauss_newton"]
    assert abs(heat[0] - heat[1]) < 1e-8 * abs(heat[0])
    assert abs(ds[0] - ds[1]) > 1e-4 * abs(ds[0])


def test_solves_report_convergence_per_expert(adjoints):
    for name in ("Heat1D", "DiffusionSorption1D"):
        info = adjoints[name, "info"]
        assert info.iterations.shape == (4,) and bool(jnp.all(info.converged))
        assert float(jnp.max(info.gradient_norm)) <= TIGHT.tol


def test_partition_roundtrip_and_layout():
    a = jnp.arange(NT * 2 * NX * 3.0).reshape(NT * 2, NX, 3)
    blocks = router.partition(a, (2, 4))
    assert blocks.shape == (8, NT, NX // 4, 3)
    np.testing.assert_array_equal(blocks[1], a[:NT, NX // 4 : NX // 2])  # row-major (t, x) order
    np.testing.assert_array_equal(router.unpartition(blocks, (2, 4)), a)


def test_single_expert_is_the_global_constraint_and_experts_are_piecewise():
    key, b, u0 = jax.random.PRNGKey(5), smooth_basis(), jnp.asarray(U0)
    pde = P.DiffusionSorption1D()

    def run(b):
        u1 = C.MoEHardConstraint(pde, N, (1, 1), 24).solve(b, u0, key)[0]
        u_hc = C.HardConstraint(pde, N, 24).solve(b, u0, key)[0]
        u, w, _ = C.MoEHardConstraint(pde, N, (1, 4), 6).solve(b, u0, key)
        heat = P.Heat1D()
        shared = C.MoEHardConstraint(heat, N, (1, 4), 6).solve(b, u0, key)[1]
        local = C.MoEHardConstraint(heat, N, (1, 4), 6, share_ic_bc=False).solve(b, u0, key)[1]
        return u1, u_hc, u, w, shared, local

    u1, u_hc, u, w, shared, local = jax.jit(run, compiler_options=FAST_COMPILE)(b)
    np.testing.assert_array_equal(u1, u_hc)  # K = 1 is PI-HC bit for bit
    np.testing.assert_allclose(u[:, 4:8], b[:, 4:8] @ w[1], rtol=1e-12)  # expert 1 owns x 4..7
    # without the global IC/BC an interior expert solves a different problem
    assert not np.allclose(shared[1], local[1])


def test_bad_inputs():
    pde = P.DiffusionSorption1D()
    b, key = smooth_basis(), jax.random.PRNGKey(0)
    with pytest.raises(ValueError, match="num_basis"):
        C.MoEHardConstraint(pde, 0)
    with pytest.raises(ValueError, match="points_per_expert"):
        C.MoEHardConstraint(pde, N, (1, 4), 0)
    with pytest.raises(ValueError, match=r"splits\[1\]"):
        C.MoEHardConstraint(pde, N, (1, 0), 4)
    with pytest.raises(ValueError, match=r"splits\[1\].*divide"):
        C.MoEHardConstraint(pde, N, (1, 3), 4).solve(b, U0, key)
    with pytest.raises(ValueError, match="points_per_expert"):
        C.MoEHardConstraint(pde, N, (1, 4), 500).solve(b, U0, key)
    with pytest.raises(ValueError, match="basis"):
        C.MoEHardConstraint(pde, N, (1, 4), 4).solve(b * jnp.nan, U0, key)
    with pytest.raises(ValueError, match="u0"):
        C.MoEHardConstraint(pde, N, (1, 4), 4).solve(b, U0[:-1], key)
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
    with pytest.raises(ValueError, match="rtol"):
        C.SolverOptions(rtol=-1.0)


def test_float32_warns():
    with jax.enable_x64(False), pytest.warns(UserWarning, match="float64"):
        C.MoEHardConstraint(P.Heat1D(), N, (1, 4), 4)
