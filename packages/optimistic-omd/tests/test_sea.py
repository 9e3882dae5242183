import jax
import jax.numpy as jnp
import numpy as np
import pytest

from optimistic_omd import (
    Ball,
    dynamic_regret,
    linear_environment,
    linear_regret,
    optimistic_omd,
    path_length,
    run,
    sea_statistics,
)


def rotating(rounds, omega):
    angles = omega * jnp.arange(rounds)
    return jnp.stack([jnp.cos(angles), jnp.sin(angles)], -1)


def test_sea_statistics_of_a_linear_environment():
    rounds, omega, noise = 50, 0.3, 0.5
    env = linear_environment(rotating(rounds, omega), noise)
    stats = sea_statistics(
        env, jnp.array([[0.0, 0.0], [0.5, 0.5]]), rounds, jax.random.PRNGKey(0), samples=400
    )
    step = (2 * np.sin(omega / 2)) ** 2  # ||c_t - c_{t-1}||^2
    np.testing.assert_allclose(stats.variation_total, (rounds - 1) * step, rtol=1e-4)
    np.testing.assert_allclose(stats.variation_max, step, rtol=1e-4)
    np.testing.assert_allclose(stats.sigma_total / rounds, noise**2 * 2, rtol=0.1)


def test_linear_regret_of_a_run_is_exact():
    domain = Ball(1.0, 2)
    env = linear_environment(rotating(30, 0.2), 0.3)
    result = run(optimistic_omd(domain), env.loss, jnp.zeros(2), 30, jax.random.PRNGKey(1))
    total = jnp.sum(result.grads, 0)
    best = -total / jnp.linalg.norm(total)
    np.testing.assert_allclose(
        linear_regret(result.grads, result.played, domain),
        jnp.sum(result.losses) - total @ best,
        rtol=1e-5,
    )
    # no fixed point of the ball does better than the closed form
    others = jax.vmap(domain.project)(jax.random.normal(jax.random.PRNGKey(2), (300, 2)))
    assert float(total @ best) <= float(jnp.min(others @ total)) + 1e-5


def test_dynamic_regret_and_path_length():
    comparators = jnp.array([[0.0, 0.0], [3.0, 4.0], [3.0, 4.0]])
    assert float(path_length(comparators)) == pytest.approx(5.0)
    assert float(dynamic_regret(jnp.array([1.0, 2.0]), jnp.array([0.5, 0.5]))) == pytest.approx(2.0)
    with pytest.raises(ValueError, match="same shape"):
        dynamic_regret(jnp.ones(3), jnp.ones(2))
