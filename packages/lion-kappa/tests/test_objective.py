import jax
import jax.numpy as jnp
import optax
import pytest

import lion_kappa as lk


def test_composite_objective_is_f_plus_scaled_conjugate():
    def f(x):
        return jnp.sum((x["w"] - 3.0) ** 2)

    x = {"w": jnp.array([0.1, -0.2])}
    lam = 2.0
    assert lk.composite_objective(f, lk.l1(), lam)(x) == pytest.approx(float(f(x)))
    assert jnp.isinf(lk.composite_objective(f, lk.l1(), lam)({"w": jnp.array([0.6, 0.0])}))
    ridge = float(f(x) + 0.5 * lam * jnp.sum(x["w"] ** 2))
    assert lk.composite_objective(f, lk.half_squared(), lam)(x) == pytest.approx(ridge)


def test_stationarity_residual_zero_at_box_solution_positive_elsewhere():
    # min 0.5||x - c||^2 on ||x||_inf <= 1/lam: solution clip(c); one interior, two active coords.
    lam = 2.0
    c = jnp.array([0.2, 3.0, -1.0])
    x_star = jnp.clip(c, -0.5, 0.5)
    res = lk.stationarity_residual({"w": x_star}, {"w": x_star - c}, lk.l1(), lam)
    assert abs(float(res)) <= 1e-6
    x = jnp.array([0.0, 0.4, -0.5])
    assert float(lk.stationarity_residual({"w": x}, {"w": x - c}, lk.l1(), lam)) > 1e-3


def test_stationarity_residual_zero_at_ridge_solution():
    lam = 0.5
    c = jnp.array([1.0, -2.0])
    x_star = c / (1 + lam)  # argmin 0.5||x-c||^2 + lam/2 ||x||^2
    res = lk.stationarity_residual({"w": x_star}, {"w": x_star - c}, lk.half_squared(), lam)
    assert abs(float(res)) <= 1e-6


def test_lion_converges_to_a_stationary_point_of_the_composite_problem():
    lam = 2.0
    c = jnp.array([0.2, 3.0, -1.0, 0.0])

    def f(x):
        return 0.5 * jnp.sum((x["w"] - c) ** 2)

    steps = 3000
    opt = lk.lion_kappa(optax.linear_schedule(0.02, 0.0, steps), lk.l1(), weight_decay=lam)
    params = {"w": jnp.zeros(4)}
    state = opt.init(params)

    @jax.jit
    def step(params, state):
        updates, state = opt.update(jax.grad(f)(params), state, params)
        return optax.apply_updates(params, updates), state

    for _ in range(steps):
        params, state = step(params, state)
    assert jnp.allclose(params["w"], jnp.clip(c, -0.5, 0.5), atol=1e-3)


def test_constraint_violation_units_and_zero_inside():
    x = {"w": jnp.array([0.7, -0.1])}
    assert float(lk.constraint_violation(x, lk.l1(), 2.0)) == pytest.approx(0.2)
    assert float(lk.constraint_violation({"w": jnp.array([0.3, 0.4])}, lk.l2(), 2.0)) == 0.0
    assert float(
        lk.constraint_violation({"w": jnp.array([0.6, 0.8])}, lk.l2(), 2.0)
    ) == pytest.approx(0.5)
    assert float(lk.constraint_violation(x, lk.half_squared(), 2.0)) == 0.0


def test_phase1_bound_values():
    assert float(lk.phase1_bound(5.0, 0.1, 2.0, 0)) == pytest.approx(5.0)
    assert float(lk.phase1_bound(5.0, 0.1, 2.0, 1)) == pytest.approx(0.5 + 0.8 * 4.5)


def test_helpers_reject_bad_weight_decay_and_kappa():
    with pytest.raises(ValueError, match="weight_decay"):
        lk.constraint_violation({"w": jnp.ones(2)}, lk.l1(), 0.0)
    with pytest.raises(TypeError, match="kappa"):
        lk.stationarity_residual({"w": jnp.ones(2)}, {"w": jnp.ones(2)}, "l1", 1.0)
    with pytest.raises(ValueError, match="learning_rate"):
        lk.phase1_bound(1.0, 1.0, 2.0, 3)
