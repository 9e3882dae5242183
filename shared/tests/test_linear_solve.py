import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxpapers_shared import linear_solve

N = 8


@pytest.fixture
def systems():
    k1, k2, k3 = jax.random.split(jax.random.PRNGKey(0), 3)
    m = jax.random.normal(k1, (N, N))
    spd = m @ m.T + N * jnp.eye(N)
    contraction = 0.5 * jax.random.normal(k2, (N, N)) / jnp.sqrt(N)
    general = jnp.eye(N) - contraction  # nonsymmetric, well conditioned, I - K form
    b = jax.random.normal(k3, (N,))
    return spd, general, b


@pytest.mark.parametrize("name", ["cg", "gmres", "bicgstab", "dense"])
def test_spd_system_matches_direct_solve(systems, name):
    spd, _, b = systems
    x = linear_solve.get_solver(name)(lambda v: spd @ v, b, tol=1e-12)
    np.testing.assert_allclose(x, np.linalg.solve(spd, b), rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("name", ["gmres", "bicgstab", "neumann", "dense"])
def test_nonsymmetric_system_matches_direct_solve(systems, name):
    _, general, b = systems
    x = linear_solve.get_solver(name)(lambda v: general @ v, b, tol=1e-12)
    np.testing.assert_allclose(x, np.linalg.solve(general, b), rtol=1e-8, atol=1e-10)


def test_pytree_right_hand_side():
    b = {"u": jnp.array([1.0, 2.0]), "v": jnp.array([3.0])}
    matvec = lambda x: {"u": 2.0 * x["u"], "v": 4.0 * x["v"]}
    for name in ["cg", "gmres", "dense", "neumann"]:
        op = matvec if name != "neumann" else (lambda x: {"u": 0.5 * x["u"], "v": 0.75 * x["v"]})
        x = linear_solve.get_solver(name)(op, b, tol=1e-12)
        scale = (2.0, 4.0) if name != "neumann" else (0.5, 0.75)
        np.testing.assert_allclose(x["u"], b["u"] / scale[0], rtol=1e-8)
        np.testing.assert_allclose(x["v"], b["v"] / scale[1], rtol=1e-8)


def test_solvers_are_jittable_and_vmappable(systems):
    spd, _, b = systems
    bs = jnp.stack([b, 2 * b, -b])
    solve = jax.jit(jax.vmap(lambda r: linear_solve.cg(lambda v: spd @ v, r, tol=1e-12)))
    np.testing.assert_allclose(solve(bs), np.linalg.solve(spd, bs.T).T, rtol=1e-8, atol=1e-10)


def test_rejects_unknown_solver_and_bad_tolerance():
    with pytest.raises(ValueError, match="`solver` must be one of"):
        linear_solve.get_solver("lu")
    with pytest.raises(ValueError, match="tol"):
        linear_solve.cg(lambda v: v, jnp.ones(2), tol=-1.0)
    with pytest.raises(ValueError, match="max_iter"):
        linear_solve.gmres(lambda v: v, jnp.ones(2), max_iter=0)
