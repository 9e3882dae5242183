import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxpapers_shared import implicit, linear_solve

N = 8


@pytest.fixture(scope="module")
def systems():
    k1, k2, k3 = jax.random.split(jax.random.PRNGKey(0), 3)
    m = jax.random.normal(k1, (N, N))
    spd = m @ m.T + N * jnp.eye(N)
    contraction = 0.5 * jax.random.normal(k2, (N, N)) / jnp.sqrt(N)
    general = jnp.eye(N) - contraction  # nonsymmetric, well conditioned, I - K form
    b = jax.random.normal(k3, (N,))
    return spd, general, b


def assert_solves(sol, matrix, b):
    assert isinstance(sol, implicit.Solution)
    np.testing.assert_allclose(sol.value, np.linalg.solve(matrix, b), rtol=1e-8, atol=1e-10)
    assert bool(sol.converged)
    assert sol.iterations.dtype == jnp.int32 and int(sol.iterations) >= 1
    true_residual = float(jnp.max(jnp.abs(b - matrix @ sol.value)))
    assert float(sol.residual) <= 1e-12 * float(jnp.linalg.norm(b)) or float(sol.residual) < 1e-9
    assert true_residual < 1e-9


def test_spd_and_nonsymmetric_systems_match_direct_solves(systems):
    spd, general, b = systems
    spd_solvers, general_solvers = ["cg", "gmres", "bicgstab", "dense"], ["gmres", "bicgstab"]
    general_solvers += ["neumann"]

    @jax.jit
    def solves(spd, general, b):
        solve = lambda name, m, **kw: linear_solve.get_solver(name)(lambda v: m @ v, b, **kw)
        return (
            [solve(name, spd, tol=1e-12) for name in spd_solvers],
            [solve(name, general, rtol=1e-13, norm="l2") for name in general_solvers],
        )

    for matrix, sols in zip((spd, general), solves(spd, general, b), strict=True):
        for sol in sols:
            assert_solves(sol, matrix, b)


def test_pytree_right_hand_side():
    b = {"u": jnp.array([1.0, 2.0]), "v": jnp.array([3.0])}
    names, scales = ["cg", "gmres", "dense", "neumann"], {"neumann": (0.5, 0.75)}

    @jax.jit
    def solves(b):
        out = []
        for name in names:
            su, sv = scales.get(name, (2.0, 4.0))
            op = lambda x, su=su, sv=sv: {"u": su * x["u"], "v": sv * x["v"]}
            out.append(linear_solve.get_solver(name)(op, b, tol=1e-12))
        return out

    for name, sol in zip(names, solves(b), strict=True):
        su, sv = scales.get(name, (2.0, 4.0))
        np.testing.assert_allclose(sol.value["u"], b["u"] / su, rtol=1e-8)
        np.testing.assert_allclose(sol.value["v"], b["v"] / sv, rtol=1e-8)
        assert bool(sol.converged)


def test_solvers_are_jittable_vmappable_and_differentiable(systems):
    spd, general, b = systems
    bs = jnp.stack([b, 2 * b, -b])
    solve = jax.jit(jax.vmap(lambda r: linear_solve.cg(lambda v: spd @ v, r, tol=1e-12)))
    sol = solve(bs)
    np.testing.assert_allclose(sol.value, np.linalg.solve(spd, bs.T).T, rtol=1e-8, atol=1e-10)
    assert sol.converged.shape == (3,) and bool(jnp.all(sol.converged))
    # d/db of w . A^{-1} b is A^{-T} w: through custom_linear_solve (a transposed GMRES solve).
    w = jnp.linspace(-1.0, 1.0, N)
    grad = jax.grad(lambda r: w @ linear_solve.gmres(lambda v: general @ v, r, tol=1e-12).value)
    np.testing.assert_allclose(grad(b), np.linalg.solve(general.T, w), rtol=1e-8)


def test_failures_are_reported_not_returned_as_solutions(systems):
    _, general, b = systems
    # Neumann on I - K with rho(K) = 1.05: the terms grow; at rho = 3 they overflow to inf/NaN.
    for rho, finite in [(1.05, True), (3.0, False)]:
        sol = linear_solve.neumann(lambda v: (1 - rho) * v, b, max_iter=1000)
        assert not bool(sol.converged)
        assert int(sol.iterations) <= 1000
        assert bool(jnp.isfinite(sol.residual)) == finite
    # Too few iterations: the flag says so and the residual is the tracked one, above tolerance.
    sol = linear_solve.gmres(lambda v: general @ v, b, max_iter=2, restart=2, tol=1e-12)
    assert not bool(sol.converged) and int(sol.iterations) == 2
    assert float(sol.residual) > 1e-12 * float(jnp.linalg.norm(b))
    # A singular operator: the dense solve is non-finite and says so.
    assert not bool(linear_solve.dense(lambda v: 0.0 * v, b).converged)


def test_relative_and_absolute_tolerances_in_float32():
    # Large values in float32: a relative tolerance converges where an absolute 1e-6 cannot.
    scale = jnp.linspace(1.0, 4.0, 50, dtype=jnp.float32)
    b = 1e5 * jnp.ones(50, jnp.float32)
    matvec = lambda v: scale * v + 0.1 * jnp.roll(v, 1)

    @jax.jit
    def solves(b):
        return (
            linear_solve.gmres(matvec, b),
            linear_solve.gmres(matvec, b, atol=1e-6, rtol=0.0, max_iter=200),
            linear_solve.cg(lambda v: scale * v, b, rtol=1e-3, norm="l2", max_iter=1),
            linear_solve.cg(lambda v: scale * v, b, rtol=1e-3, max_iter=1),
        )

    default, absolute, l2, mx = solves(b)
    assert bool(default.converged) and default.value.dtype == jnp.float32
    assert float(default.residual) <= 100 * float(jnp.finfo(jnp.float32).eps) * 1e5
    assert not bool(absolute.converged)
    # The norm choice: after the same single step, the max-norm (default) is <= the l2 norm.
    assert float(mx.residual) <= float(l2.residual)


def test_rejects_unknown_solver_and_bad_options():
    with pytest.raises(ValueError, match="`solver` must be one of"):
        linear_solve.get_solver("lu")
    with pytest.raises(ValueError, match="`tol` must be a finite number >= 0"):
        linear_solve.cg(lambda v: v, jnp.ones(2), tol=-1.0)
    with pytest.raises(ValueError, match="`rtol` must be a finite number >= 0"):
        linear_solve.cg(lambda v: v, jnp.ones(2), rtol=float("nan"))
    with pytest.raises(ValueError, match="either `tol`"):
        linear_solve.cg(lambda v: v, jnp.ones(2), tol=1e-3, rtol=1e-3)
    with pytest.raises(ValueError, match="`norm` must be one of"):
        linear_solve.cg(lambda v: v, jnp.ones(2), norm="l1")
    with pytest.raises(ValueError, match="max_iter"):
        linear_solve.gmres(lambda v: v, jnp.ones(2), max_iter=0)
    with pytest.raises(ValueError, match="`b` must not be empty"):
        linear_solve.cg(lambda v: v, jnp.ones(0))
    with pytest.raises(ValueError, match="`x0` must be shaped like `b`"):
        linear_solve.cg(lambda v: v, jnp.ones(2), x0=jnp.ones(3))
