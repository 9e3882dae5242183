"""The implicit layer's acceptance bar: IFT gradients equal closed forms, finite differences and
unrolled autodiff (float64, rel. error < 1e-4); failures of the forward or the adjoint solve are
reported (typed errors, eagerly and under jit, or NaN gradients), never returned as numbers."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxpapers_shared import implicit

RTOL = 1e-4
N = 6


def flat(tree):  # in NumPy: eager jnp ops would each compile a program
    return np.concatenate([np.ravel(leaf) for leaf in jax.tree.leaves(tree)])


def rel_err(a, b):
    a, b = flat(a), flat(b)
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-30))


def grad_and_directional_derivatives(fn, params, directions=4, eps=1e-6, seed=0):
    """The gradient of scalar fn and its central differences along random unit directions.

    One compiled program: ``jax.grad(fn)`` and ``fn`` at ``params +- eps v`` (vmapped). A gradient
    g is right when <g, v> matches the differences for every direction v (as
    jax.test_util.check_grads does); see :func:`assert_matches_finite_differences`.
    """
    flat, unravel = jax.flatten_util.ravel_pytree(params)
    v = jax.random.normal(jax.random.PRNGKey(seed), (directions, flat.size), flat.dtype)
    v = v / jnp.linalg.norm(v, axis=1, keepdims=True)
    points = jnp.concatenate([flat + eps * v, flat - eps * v])

    @jax.jit
    def run(params, points):
        return jax.grad(fn)(params), jax.vmap(lambda x: fn(unravel(x)))(points)

    grad, values = run(params, points)
    return grad, (v, (values[:directions] - values[directions:]) / (2 * eps))


def assert_matches_finite_differences(grad, differences):
    v, fd = np.asarray(differences[0]), np.asarray(differences[1])
    along = v @ flat(grad)
    np.testing.assert_allclose(along, fd, rtol=RTOL, atol=RTOL * float(np.max(np.abs(fd))))


def unrolled_fixed_point(f, x0, *params, iterations=400):
    return jax.lax.fori_loop(0, iterations, lambda _, x: f(x, *params), x0)


@pytest.fixture(scope="module")
def contraction():
    key_a, key_b = jax.random.split(jax.random.PRNGKey(0))
    a = jax.random.normal(key_a, (N, N))
    a = 0.7 * a / jnp.linalg.norm(a, 2)  # spectral norm 0.7: a contraction
    b = jax.random.normal(key_b, (N,))
    return a, b


def linear_map(x, a, b):
    return a @ x + b


def test_linear_fixed_point_gradient_matches_closed_form(contraction):
    # Every forward solver with every adjoint (BiCGStab and CG: test_linear_solve.py), one program.
    a, b = contraction
    weights = jnp.linspace(-1.0, 1.0, N)
    combos = [("anderson", "gmres"), ("anderson", "neumann"), ("anderson", "dense")]
    combos += [("iterate", "gmres")]

    def implicit_loss(a, b, solver, adjoint):
        sol = implicit.fixed_point(
            linear_map, jnp.zeros(N), a, b, solver=solver, tol=1e-12, max_iter=1000, adjoint=adjoint
        )
        return weights @ sol.value

    def closed_form_loss(a, b):  # x* = (I - A)^{-1} b
        return weights @ jnp.linalg.solve(jnp.eye(N) - a, b)

    @jax.jit
    def all_combos(a, b):
        return [jax.value_and_grad(implicit_loss, argnums=(0, 1))(a, b, *combo) for combo in combos]

    value, want = jax.jit(jax.value_and_grad(closed_form_loss, argnums=(0, 1)))(a, b)
    for combo, (got_value, got) in zip(combos, all_combos(a, b), strict=True):
        np.testing.assert_allclose(got_value, value, rtol=1e-10, err_msg=str(combo))
        assert rel_err(got, want) < RTOL, combo


def test_linear_fixed_point_gradient_matches_unrolled_and_finite_differences(contraction):
    a, b = contraction
    params = {"a": a, "b": b}
    loss = lambda p: jnp.sum(
        jnp.sin(implicit.fixed_point(linear_map, jnp.zeros(N), p["a"], p["b"], tol=1e-13).value)
    )
    unrolled = lambda p: jnp.sum(
        jnp.sin(unrolled_fixed_point(linear_map, jnp.zeros(N), p["a"], p["b"]))
    )
    got, differences = grad_and_directional_derivatives(loss, params)
    assert rel_err(got, jax.jit(jax.grad(unrolled))(params)) < RTOL
    assert_matches_finite_differences(got, differences)


def deq_map(x, w, u, c, z):
    return jnp.tanh(w @ x + u @ z + c)


@pytest.fixture(scope="module")
def deq_params():
    k = jax.random.split(jax.random.PRNGKey(1), 4)
    w = jax.random.normal(k[0], (N, N))
    w = 0.8 * w / jnp.linalg.norm(w, 2)  # tanh is 1-Lipschitz, so the map contracts
    u = jax.random.normal(k[1], (N, 3)) / jnp.sqrt(3.0)
    c = 0.1 * jax.random.normal(k[2], (N,))
    z = jax.random.normal(k[3], (3,))
    return {"w": w, "u": u, "c": c, "z": z}


def test_deq_gradient_matches_unrolled_and_finite_differences(deq_params):
    # Plain iteration's gradients are checked on the linear map; the backward is the same.
    target = jnp.linspace(-0.5, 0.5, N)

    def loss(p):
        x = implicit.fixed_point(
            deq_map, jnp.zeros(N), p["w"], p["u"], p["c"], p["z"], tol=1e-13, max_iter=2000
        ).value
        return jnp.sum((x - target) ** 2)

    def unrolled(p):
        x = unrolled_fixed_point(deq_map, jnp.zeros(N), p["w"], p["u"], p["c"], p["z"])
        return jnp.sum((x - target) ** 2)

    got, differences = grad_and_directional_derivatives(loss, deq_params)
    assert rel_err(got, jax.jit(jax.grad(unrolled))(deq_params)) < RTOL
    assert_matches_finite_differences(got, differences)


def test_deq_gradient_reaches_closed_over_parameters(deq_params):
    p = deq_params

    def loss_closure(w):
        f = lambda x: jnp.tanh(w @ x + p["u"] @ p["z"] + p["c"])
        return jnp.sum(implicit.fixed_point(f, jnp.zeros(N), tol=1e-13).value ** 2)

    def loss_explicit(w):
        x = implicit.fixed_point(deq_map, jnp.zeros(N), w, p["u"], p["c"], p["z"], tol=1e-13)
        return jnp.sum(x.value**2)

    closure, explicit = jax.jit(lambda w: (jax.grad(loss_closure)(w), jax.grad(loss_explicit)(w)))(
        p["w"]
    )
    assert rel_err(closure, explicit) < 1e-10


def test_vmapped_fixed_point_gradients_match_per_example_loop(deq_params):
    p = deq_params
    zs = jax.random.normal(jax.random.PRNGKey(2), (5, 3))

    def loss_one(w, z):
        x = implicit.fixed_point(deq_map, jnp.zeros(N), w, p["u"], p["c"], z, tol=1e-13).value
        return jnp.sum(x**2)

    unrolled_one = lambda w, z: jnp.sum(
        unrolled_fixed_point(deq_map, jnp.zeros(N), w, p["u"], p["c"], z) ** 2
    )

    @jax.jit
    def grads(w):
        batched = jax.grad(lambda w: jnp.sum(jax.vmap(loss_one, in_axes=(None, 0))(w, zs)))(w)
        looped = jnp.sum(jax.lax.map(lambda z: jax.grad(loss_one)(w, z), zs), axis=0)
        unrolled = jax.grad(lambda w: jnp.sum(jax.vmap(unrolled_one, (None, 0))(w, zs)))(w)
        return batched, looped, unrolled

    batched, looped, unrolled = grads(p["w"])
    assert rel_err(batched, looped) < 1e-10
    assert rel_err(batched, unrolled) < RTOL


def test_pytree_state_fixed_point():
    # x = {"u": s v + 1, "v": 0.25 u}: u = 1 / (1 - s/4), du/ds = 1/4 / (1 - s/4)^2.
    f = lambda x, s: {"u": s * x["v"] + 1.0, "v": 0.25 * x["u"]}
    solve = lambda s: implicit.fixed_point(f, {"u": jnp.zeros(2), "v": jnp.zeros(2)}, s, tol=1e-12)
    u, grad = jax.jit(jax.value_and_grad(lambda s: solve(s).value["u"][0]))(0.5)
    np.testing.assert_allclose(u, 8 / 7, rtol=1e-10)
    np.testing.assert_allclose(grad, 0.25 / (1 - 0.125) ** 2, rtol=1e-8)


def test_anderson_needs_fewer_iterations_than_plain_iteration(contraction):
    _, b = contraction
    q, _ = jnp.linalg.qr(jax.random.normal(jax.random.PRNGKey(6), (N, N)))
    slow = q @ jnp.diag(jnp.linspace(0.0, 0.98, N)) @ q.T  # spectral radius 0.98: slow to iterate
    plain, anderson = jax.jit(
        lambda slow, b: (
            implicit.fixed_point(
                linear_map, jnp.zeros(N), slow, b, solver="iterate", tol=1e-10, max_iter=5000
            ),
            implicit.fixed_point(linear_map, jnp.zeros(N), slow, b, tol=1e-10),
        )
    )(slow, b)
    assert bool(plain.converged) and bool(anderson.converged)
    assert int(anderson.iterations) < int(plain.iterations) / 3


def test_anderson_survives_a_rank_deficient_history():
    @jax.jit
    def solves():
        # x = tanh(0.5 x + 1) in every coordinate: all residuals are parallel (a history of rank
        # one), in float32 -- the README's example. Its scalar fixed point, by plain iteration:
        scalar = unrolled_fixed_point(lambda x: jnp.tanh(0.5 * x + 1.0), jnp.float64(0.0))
        parallel = implicit.fixed_point(
            lambda x, w, z: jnp.tanh(w @ x + z),
            jnp.zeros(4, jnp.float32),
            0.5 * jnp.eye(4, dtype=jnp.float32),
            jnp.ones(4, jnp.float32),
        )
        # An exactly repeated direction in float64 (the second coordinate is fixed after one
        # step), and a history longer than the problem (memory 10 > 2 unknowns).
        repeated = implicit.fixed_point(
            lambda x: jnp.array([0.3 * x[1] + 1.0, 0.5]), jnp.zeros(2), memory=10
        )
        return scalar, parallel, repeated

    scalar, parallel, repeated = solves()
    assert bool(parallel.converged) and int(parallel.iterations) < 20
    np.testing.assert_allclose(parallel.value, np.full(4, scalar), rtol=1e-5)
    assert bool(repeated.converged)
    np.testing.assert_allclose(repeated.value, [1.15, 0.5], rtol=1e-12)


def test_argmin_ridge_derivative_matches_closed_form():
    x = jax.random.normal(jax.random.PRNGKey(3), (30, N))
    y = jax.random.normal(jax.random.PRNGKey(4), (30,))
    ridge = lambda w, lam: 0.5 * jnp.sum((x @ w - y) ** 2) + 0.5 * lam * jnp.sum(w**2)
    closed_form = lambda lam: jnp.linalg.solve(x.T @ x + lam * jnp.eye(N), x.T @ y)
    step = 1.0 / float(np.linalg.eigvalsh(np.asarray(x).T @ np.asarray(x)).max() + 2.0)
    solve = lambda lam, solver: (
        implicit.argmin(
            ridge, jnp.zeros(N), lam, solver=solver, tol=1e-11, max_iter=20000, step_size=step
        ).value
    )

    def value_and_jacobian(lam, solver):  # one forward, its VJP along every output axis
        value, vjp = jax.vjp(lambda lam: solve(lam, solver), lam)
        return value, jax.vmap(vjp)(jnp.eye(N))[0]

    both = jax.jit(lambda lam: [value_and_jacobian(lam, s) for s in ("lbfgs", "gd")])
    want_value, want_jac = jax.jit(lambda lam: (closed_form(lam), jax.jacobian(closed_form)(lam)))(
        2.0
    )
    for value, jac in both(2.0):
        np.testing.assert_allclose(value, want_value, rtol=1e-8)
        assert rel_err(jac, want_jac) < RTOL


def test_root_derivative_matches_closed_form():
    a = jnp.array([1.0, 8.0, 27.0])
    cube_root = lambda a, solver: (
        implicit.root(lambda x, a: x**3 - a, jnp.ones(3), a, solver=solver, tol=1e-12).value
    )

    def value_and_jacobian(a, solver):  # one forward, its VJP along every output axis
        value, vjp = jax.vjp(lambda a: cube_root(a, solver), a)
        return value, jax.vmap(vjp)(jnp.eye(3))[0]

    both = jax.jit(lambda a: [value_and_jacobian(a, s) for s in ("newton", "newton_krylov")])
    for value, jac in both(a):
        np.testing.assert_allclose(value, [1.0, 2.0, 3.0], rtol=1e-10)
        np.testing.assert_allclose(jnp.diag(jac), a ** (-2 / 3) / 3, rtol=1e-8)


def constrained_lstsq_closed_form(m, y, a, b):
    """argmin ||Mx - y||^2 s.t. Ax = b by the range-space formula."""
    q = m.T @ m
    x_free = jnp.linalg.solve(q, m.T @ y)
    q_inv_at = jnp.linalg.solve(q, a.T)
    return x_free - q_inv_at @ jnp.linalg.solve(a @ q_inv_at, a @ x_free - b)


def test_equality_qp_matches_constrained_least_squares_and_its_gradient():
    k = jax.random.split(jax.random.PRNGKey(5), 4)
    m, y = jax.random.normal(k[0], (12, N)), jax.random.normal(k[1], (12,))
    a, b = jax.random.normal(k[2], (2, N)), jax.random.normal(k[3], (2,))
    via_kkt = lambda m, y, a, b: implicit.equality_qp(m.T @ m, -m.T @ y, a, b)[0]
    weights = jnp.arange(1.0, N + 1)
    params = {"m": m, "y": y, "a": a, "b": b}
    loss = lambda p: weights @ via_kkt(p["m"], p["y"], p["a"], p["b"])
    got, differences = grad_and_directional_derivatives(loss, params)
    x = jax.jit(via_kkt)(m, y, a, b)
    np.testing.assert_allclose(x, jax.jit(constrained_lstsq_closed_form)(m, y, a, b), rtol=1e-9)
    np.testing.assert_allclose(np.asarray(a) @ np.asarray(x), b, atol=1e-10)
    closed_form = lambda p: weights @ constrained_lstsq_closed_form(p["m"], p["y"], p["a"], p["b"])
    assert rel_err(got, jax.jit(jax.grad(closed_form))(params)) < RTOL
    # And along random directions in all four inputs, by central finite differences.
    assert_matches_finite_differences(got, differences)


# ----------------------------------------------------------------------------- tolerances


def test_relative_tolerance_converges_on_large_float32_values():
    # A float32 DEQ layer with values ~1e4: the float32 spacing there (~1e-3) is far above an
    # absolute 1e-6, which only an exact floating-point fixed point could meet; the default
    # rtol = atol = 1e-6 in the max-norm is met whatever the rounding.
    k1, k2 = jax.random.split(jax.random.PRNGKey(7))
    w = jax.random.normal(k1, (32, 32), jnp.float32)
    w = 0.5 * w / jnp.linalg.norm(w, 2)
    z = jax.random.normal(k2, (32,), jnp.float32)
    f = lambda x, w, z: 1e4 * jnp.tanh(w @ x / 1e4 + z)
    x0 = jnp.zeros(32, jnp.float32)
    options = ({}, {"solver": "iterate"}, {"norm": "l2"}, {"norm": "rms"})

    @jax.jit
    def solves(w, z):
        reference = unrolled_fixed_point(f, x0.astype(jnp.float64), w, z, iterations=100)
        new = [implicit.fixed_point(f, x0, w, z, **kwargs) for kwargs in options]
        return reference, new

    reference, new = solves(w, z)
    for kwargs, sol in zip(options, new, strict=True):
        assert bool(sol.converged) and sol.value.dtype == jnp.float32, kwargs
        np.testing.assert_allclose(sol.value, reference, rtol=1e-5, atol=1e-2)
    assert float(sol.residual) <= 1e-6 + 1e-6 * float(jnp.sqrt(jnp.mean(sol.value**2)))
    assert np.spacing(np.float32(np.max(np.abs(reference)))) > 100 * 1e-6


# ----------------------------------------------------------------------------- failures


def expanding_map(x, b):
    return 1.5 * x + b  # spectral radius 1.5: no attracting fixed point


def test_non_contractive_map_raises_convergence_error():
    b = jnp.ones(N)
    # Anderson finds the (repelling) fixed point of an expanding *linear* map, which is a true
    # fixed point; the map it is given here has none: f(x) - x >= 0.5 everywhere.
    no_fixed_point = lambda x, b: x + b + 0.5 * jnp.sin(x)
    for solver, f in [("iterate", expanding_map), ("anderson", no_fixed_point)]:
        with pytest.raises(implicit.ConvergenceError, match="did not converge") as info:
            implicit.fixed_point(f, jnp.zeros(N), b, solver=solver, max_iter=60)
        assert type(info.value) is implicit.ConvergenceError


def test_failed_solve_under_jit_raises_jax_runtime_error_with_the_message():
    solve = jax.jit(
        lambda b: implicit.fixed_point(expanding_map, jnp.zeros(N), b, solver="iterate").value
    )
    # XLA re-raises a host callback's exception as jax.errors.JaxRuntimeError, the base class of
    # ConvergenceError, so one `except jax.errors.JaxRuntimeError` catches both cases.
    with pytest.raises(jax.errors.JaxRuntimeError, match="ConvergenceError: fixed_point did not"):
        jax.block_until_ready(solve(jnp.ones(N)))
    assert issubclass(implicit.ConvergenceError, jax.errors.JaxRuntimeError)
    nan_b = jnp.ones(N).at[2].set(jnp.nan)  # traced, so only the solve can see it
    with pytest.raises(jax.errors.JaxRuntimeError, match="NaN/inf residual") as info:
        jax.block_until_ready(solve(nan_b))
    assert type(info.value) is jax.errors.JaxRuntimeError


def test_throw_false_returns_unconverged_flag():
    sol = implicit.fixed_point(
        expanding_map, jnp.zeros(N), jnp.ones(N), solver="iterate", max_iter=20, throw=False
    )
    assert not bool(sol.converged)
    assert int(sol.iterations) == 20
    assert float(sol.residual) > 1.0


@pytest.fixture(scope="module")
def repelling():
    """x = A x + b with eigenvalues of A up to 1.05: Anderson finds the repelling fixed point."""
    return jnp.diag(jnp.array([0.5, 0.8, 1.05])), jnp.array([1.0, -1.0, 0.5])


def repelling_loss(b, a, adjoint="neumann", throw=True):
    sol = implicit.fixed_point(
        linear_map, jnp.zeros(3), a, b, tol=1e-12, adjoint=adjoint, throw=throw
    )
    return jnp.sum(sol.value)


def test_neumann_adjoint_at_a_repelling_fixed_point_is_never_a_silent_gradient(repelling):
    a, b = repelling
    steep = a.at[2, 2].set(3.0)  # radius 3: the Neumann terms overflow to inf/NaN
    grad = jax.grad(repelling_loss)
    sol, by_gmres, nan_105, nan_3 = jax.jit(
        lambda a, steep, b: (
            implicit.fixed_point(linear_map, jnp.zeros(3), a, b, tol=1e-12),
            grad(b, a, "gmres"),
            grad(b, a, "neumann", False),
            grad(b, steep, "neumann", False),
        )
    )(a, steep, b)
    assert bool(sol.converged)  # a true fixed point, so the forward is right ...
    np.testing.assert_allclose(sol.value, b / (1 - jnp.diag(a)), rtol=1e-10)
    # ... and GMRES gets its gradient, (I - A)^{-T} 1; the Neumann series diverges: NaN, never
    # a wrong finite number, with throw=False, and a ConvergenceError eagerly.
    np.testing.assert_allclose(by_gmres, 1 / (1 - jnp.diag(a)))
    assert np.all(np.isnan(nan_105)) and np.all(np.isnan(nan_3))
    for a_r in (a, steep):
        with pytest.raises(implicit.ConvergenceError, match="adjoint solve") as info:
            grad(b, a_r)
        assert type(info.value) is implicit.ConvergenceError


def test_neumann_adjoint_failure_under_jit(repelling):
    a, b = repelling
    grad = jax.jit(jax.grad(repelling_loss), static_argnums=(2, 3))
    with pytest.raises(jax.errors.JaxRuntimeError, match="ConvergenceError: fixed_point .adjoint"):
        jax.block_until_ready(grad(b, a, "neumann", True))
    # A solve(matvec, b) callable that returns the bare solution is checked for finiteness.
    blow_up = lambda matvec, rhs: jax.tree.map(lambda r: r / 0.0, rhs)
    assert np.all(np.isnan(grad(b, 0.5 * a, blow_up, False)))


def test_nan_inputs_raise():
    b = jnp.ones(N).at[2].set(jnp.nan)
    with pytest.raises(ValueError, match=r"`params\[1\]` contains 1 NaN"):
        implicit.fixed_point(linear_map, jnp.zeros(N), jnp.eye(N) * 0.5, b)
    with pytest.raises(ValueError, match="`x0` contains 1 NaN"):
        implicit.fixed_point(linear_map, b, jnp.eye(N) * 0.5, jnp.ones(N))
    with pytest.raises(ValueError, match=r"`params\[0\]` contains 1 NaN"):
        implicit.fixed_point(lambda x, s: s * x, jnp.zeros(N), float("nan"))
    with pytest.raises(ValueError, match=r"`params\[0\]` contains 1 NaN"):
        implicit.root(lambda x, s: x - s, jnp.zeros(N), float("nan"))
    with pytest.raises(ValueError, match="NaN"):
        implicit.equality_qp(jnp.eye(2), jnp.array([jnp.nan, 0.0]), jnp.ones((1, 2)), jnp.ones(1))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"tol": 0.0}, "`tol` must be > 0"),
        ({"rtol": -1.0}, "`rtol` must be a finite number >= 0"),
        ({"rtol": 0.0, "atol": 0.0}, "both 0"),
        ({"tol": 1e-6, "atol": 1e-6}, "either `tol`"),
        ({"norm": "l1"}, "`norm` must be one of"),
        ({"max_iter": 0}, "max_iter"),
        ({"solver": "newton"}, "solver"),
        ({"adjoint": "lu"}, "adjoint"),
        ({"memory": 0}, "memory"),
        ({"mixing": 1.5}, "mixing"),
    ],
)
def test_rejects_bad_options(kwargs, match):
    with pytest.raises(ValueError, match=match):
        implicit.fixed_point(linear_map, jnp.zeros(N), 0.5 * jnp.eye(N), jnp.ones(N), **kwargs)


def test_rejects_bad_x0():
    with pytest.raises(ValueError, match="structure and shapes of `x0`"):
        implicit.fixed_point(lambda x: jnp.concatenate([x, x]), jnp.zeros(3))
    with pytest.raises(ValueError, match="`x0` must not be empty"):
        implicit.fixed_point(lambda x: x, jnp.zeros(0))
    with pytest.raises(ValueError, match=r"`x0` \(shapes \(3,\)\) does not fit `f`"):
        implicit.fixed_point(linear_map, jnp.zeros(3), 0.5 * jnp.eye(4), jnp.ones(4))
    with pytest.raises(ValueError, match=r"`x0` \(shapes \(3,\)\) does not fit `F`"):
        implicit.root(linear_map, jnp.zeros(3), jnp.eye(4), jnp.ones(4))
    with pytest.raises(ValueError, match="`loss` must return a scalar"):
        implicit.argmin(lambda x: x**2, jnp.ones(2))


def test_equality_qp_rejects_bad_shapes():
    with pytest.raises(ValueError, match="`A` must have shape"):
        implicit.equality_qp(jnp.eye(3), jnp.zeros(3), jnp.ones((1, 2)), jnp.ones(1))
    with pytest.raises(ValueError, match="`c` must have shape"):
        implicit.equality_qp(jnp.eye(3), jnp.zeros(2), jnp.ones((1, 3)), jnp.ones(1))


def test_argmin_rejects_negative_step_size():
    with pytest.raises(ValueError, match="step_size"):
        implicit.argmin(lambda x: jnp.sum(x**2), jnp.ones(2), solver="gd", step_size=-0.1)


def test_second_jitted_call_does_not_recompile(contraction):
    a, b = contraction
    traces = []

    @jax.jit
    def solve(a, b):
        traces.append(1)
        return implicit.fixed_point(linear_map, jnp.zeros(N), a, b).value

    solve(a, b)
    solve(a * 0.9, b + 1)
    assert len(traces) == 1


def test_vmap_over_closed_over_integer_indices():
    """Graph-style maps close over integer index arrays; vmap batches them as tracers."""

    def solve(index, b):
        f = lambda x: 0.5 * x[index] + b  # x = (I - P/2)^{-1} b with P a permutation matrix
        return implicit.fixed_point(f, jnp.zeros(3), tol=1e-12).value

    index = jnp.array([[1, 2, 0], [2, 0, 1]])
    b = jnp.array([[1.0, 2.0, 3.0], [0.5, -1.0, 2.0]])
    exact = lambda idx, b: jnp.linalg.solve(jnp.eye(3) - 0.5 * jnp.eye(3)[idx], b)

    @jax.jit
    def value_and_grad(b):  # of sum(x^2): one forward, its VJP along 2 x
        value, vjp = jax.vjp(lambda b: jax.vmap(solve)(index, b), b)
        return value, vjp(2 * value)[0]

    value, grad = value_and_grad(b)
    exact_value_and_grad = jax.jit(
        lambda b: (
            jax.vmap(exact)(index, b),
            jax.grad(lambda b: jnp.sum(jax.vmap(exact)(index, b) ** 2))(b),
        )
    )
    want_value, want = exact_value_and_grad(b)
    np.testing.assert_allclose(value, want_value, rtol=1e-10)
    assert rel_err(grad, want) < RTOL
