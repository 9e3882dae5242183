import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

import cgs
from jaxpapers_shared.implicit import ConvergenceError


def _transition(seed=0, n=15, e=50, heads=3, gamma=0.5, dtype=jnp.float64):
    rng = np.random.default_rng(seed)
    s = jnp.asarray(rng.integers(0, n, e), jnp.int32)
    r = jnp.asarray(rng.integers(0, n, e), jnp.int32)
    w = jnp.asarray(rng.uniform(0.1, 0.9, (e, heads)), dtype)
    b = jnp.asarray(rng.normal(size=(n, heads)), dtype)
    return w, b, s, r


@pytest.mark.parametrize("solver", ["direct", "iterate", "anderson"])
def test_fixed_point_equals_inverse(solver):
    with jax.enable_x64(True):
        w, b, s, r = _transition(gamma=0.9)
        t = cgs.build_transition(w, b, s, r, 0.9)
        sol = jax.jit(
            functools.partial(cgs.solve_transition, solver=solver, tol=1e-12, max_iter=500)
        )(t)
        a = np.asarray(cgs.dense_matrix(t))
        exact = np.stack([np.linalg.solve(np.eye(15) - 0.9 * a[h], b[:, h]) for h in range(3)], 1)
        np.testing.assert_allclose(sol.value, exact, rtol=1e-9, atol=1e-9)
        assert bool(sol.converged)


def test_iterations_within_banach_bound():
    with jax.enable_x64(True):
        for seed in range(4):
            w, b, s, r = _transition(seed, gamma=0.9)
            t = cgs.build_transition(100 * w, b, s, r, 0.9)
            sol = cgs.solve_transition(t, solver="iterate", tol=1e-6, max_iter=1000)
            bound = cgs.banach_iteration_bound(0.9, float(jnp.abs(b).sum()), 1e-6)
            assert int(sol.iterations) <= bound


def test_banach_bound_formula():
    # gamma^K / (1 - gamma) * step <= tol at the bound, and not one step earlier.
    k = cgs.banach_iteration_bound(0.5, 10.0, 1e-6)
    assert 0.5**k / 0.5 * 10.0 <= 1e-6 < 0.5 ** (k - 1) / 0.5 * 10.0


@pytest.mark.parametrize("solver", ["iterate", "anderson"])
def test_ift_gradient_matches_unrolled_autodiff(solver):
    with jax.enable_x64(True):
        w, b, s, r = _transition(gamma=0.9)
        readout = jnp.asarray(np.random.default_rng(5).normal(size=b.shape))

        def loss(w, b, solve):
            t = cgs.build_transition(w, b, s, r, 0.9)
            return jnp.sum(readout * jnp.sin(solve(t)))

        ift = lambda t: cgs.solve_transition(t, solver=solver, tol=1e-13, max_iter=1000).value
        unrolled = lambda t: cgs.unrolled_fixed_point(t, 400)
        g_ift = jax.jit(jax.grad(functools.partial(loss, solve=ift), argnums=(0, 1)))(w, b)
        g_unr = jax.jit(jax.grad(functools.partial(loss, solve=unrolled), argnums=(0, 1)))(w, b)
        for a, u in zip(g_ift, g_unr, strict=True):
            np.testing.assert_allclose(a, u, rtol=1e-8, atol=1e-10)


def test_ift_gradient_matches_finite_differences():
    with jax.enable_x64(True):
        w, b, s, r = _transition(seed=3)

        def loss(w, b):
            t = cgs.build_transition(w, b, s, r, 0.5)
            sol = cgs.solve_transition(t, solver="iterate", tol=1e-13, max_iter=200)
            return jnp.sum(jnp.tanh(sol.value))

        check_grads(jax.jit(loss), (w, b), order=1, modes=["rev"], eps=1e-6, atol=1e-6, rtol=1e-6)


def test_non_convergence_is_reported():
    w, b, s, r = _transition(dtype=jnp.float32)
    t = cgs.build_transition(w, b, s, r, 0.9)
    with pytest.raises(ConvergenceError, match="did not converge"):
        cgs.solve_transition(t, solver="iterate", max_iter=3)
    sol = cgs.solve_transition(t, solver="iterate", max_iter=3, throw=False)
    assert not bool(sol.converged) and float(sol.residual) > 1e-6


def test_rejects_unknown_solver():
    w, b, s, r = _transition(dtype=jnp.float32)
    t = cgs.build_transition(w, b, s, r, 0.5)
    with pytest.raises(ValueError, match="solver"):
        cgs.solve_transition(t, solver="newton")


def test_layer_vmap_matches_per_graph_solves():
    graphs = [_transition(seed, dtype=jnp.float32) for seed in range(3)]
    w, b, s, r = (jnp.stack(x) for x in zip(*graphs, strict=True))
    ones = lambda x: jnp.ones(x.shape[:2], bool)
    batch = cgs.GraphBatch(jnp.ones((3, 15, 1)), jnp.ones((3, 50, 1)), s, r, ones(b), ones(w))
    ref = jax.jit(
        jax.vmap(
            lambda w, b, s, r: (
                cgs.solve_transition(cgs.build_transition(w, b, s, r, 0.5), solver="direct").value
            )
        )
    )(w, b, s, r)
    a = np.asarray(ref)
    for i in range(3):  # the reference itself against a NumPy inverse
        t = cgs.build_transition(w[i], b[i], s[i], r[i], 0.5)
        m = np.asarray(cgs.dense_matrix(t))
        exact = np.stack(
            [np.linalg.solve(np.eye(15) - 0.5 * m[h], b[i, :, h]) for h in range(3)], 1
        )
        np.testing.assert_allclose(a[i], exact, rtol=1e-4, atol=1e-5)
    for solver in ("direct", "iterate"):
        out = jax.jit(cgs.CGSLayer(3, 0.5, solver=solver))(w, b, batch)
        np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-5)


def test_iterate_solver_under_jit_and_vmap_reports_iterations():
    w, b, s, r = _transition(dtype=jnp.float32)

    @jax.jit
    def solve(scale):
        t = cgs.build_transition(w * scale, b, s, r, 0.5)
        return cgs.solve_transition(t, solver="iterate", tol=1e-4)

    sols = jax.vmap(solve)(jnp.array([0.0, 1.0]))
    # With A = 0 the map is constant: H_1 = b and the second step already agrees.
    assert int(sols.iterations[0]) == 2 and int(sols.iterations[1]) > 2
    assert functools.reduce(lambda a, c: a and bool(c), sols.converged, True)
