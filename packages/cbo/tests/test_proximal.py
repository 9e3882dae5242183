import jax
import jax.numpy as jnp
import numpy as np
import pytest

import cbo

H = jnp.array([[2.0, 0.5], [0.5, 1.0]])
A = jnp.array([1.0, -1.0])


def quadratic(x):
    return 0.5 * (x - A) @ H @ (x - A)


def test_exact_proximal_step_is_an_implicit_gradient_step():
    x = jnp.array([3.0, 0.5])
    for tau in (0.1, 1.0, 10.0):
        xp = cbo.proximal_step_quadratic(H, A, x, tau)
        np.testing.assert_allclose(xp - x + tau * jax.grad(quadratic)(xp), 0.0, atol=1e-5)


def test_grid_proximal_step_matches_the_exact_one():
    g = jnp.linspace(-2.0, 4.0, 601)
    grid = jnp.stack(jnp.meshgrid(g, g), -1).reshape(-1, 2)
    x = jnp.array([3.0, 0.5])
    np.testing.assert_allclose(
        cbo.proximal_step_bruteforce(quadratic, x, 0.7, grid),
        cbo.proximal_step_quadratic(H, A, x, 0.7),
        atol=0.011,
    )


@pytest.mark.parametrize(("alpha", "sigma"), [(10.0, 0.3), (100.0, 0.1)])
def test_a_consensus_hop_is_the_proximal_step_with_tau_alpha_sigma_squared(alpha, sigma):
    x = A + jnp.array([sigma, -sigma])  # prox within reach of the samples
    hop = cbo.hopping_step(
        quadratic, x, jax.random.PRNGKey(0), num_particles=50_000, sigma=sigma, alpha=alpha
    )
    prox = cbo.proximal_step_quadratic(H, A, x, alpha * sigma**2)
    explicit = x - alpha * sigma**2 * jax.grad(quadratic)(x)
    err = float(jnp.linalg.norm(hop - prox))
    assert err < 0.01 * sigma / 0.1
    assert err < 0.2 * float(jnp.linalg.norm(explicit - prox))  # implicit, not explicit GD


def test_proximal_helpers_reject_bad_input():
    with pytest.raises(ValueError, match="`tau`"):
        cbo.proximal_step_quadratic(H, A, A, 0.0)
    with pytest.raises(ValueError, match="`hessian`"):
        cbo.proximal_step_quadratic(jnp.eye(3), A, A, 1.0)
    with pytest.raises(ValueError, match="`grid`"):
        cbo.proximal_step_bruteforce(quadratic, A, 1.0, jnp.zeros((4, 3)))


def test_langevin_without_noise_is_gradient_descent():
    x0 = jnp.array([3.0, 0.5])
    gd, _ = cbo.gradient_descent(quadratic, x0, step=0.1, num_steps=200)
    lv, _ = cbo.annealed_langevin(
        quadratic, x0, jax.random.PRNGKey(1), step=0.1, sigma=0.0, num_steps=200
    )
    np.testing.assert_allclose(gd, A, atol=1e-4)
    np.testing.assert_allclose(lv, gd, atol=1e-6)
    with pytest.raises(ValueError, match="`step`"):
        cbo.gradient_descent(quadratic, x0, step=-1.0)
