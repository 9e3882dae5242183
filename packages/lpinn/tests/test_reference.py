import jax.numpy as jnp
import numpy as np
import pytest

import lpinn


def test_convection_diffusion_exact_is_a_damped_travelling_wave():
    x, t = lpinn.grid(64, 11)
    for nu in (0.0, 0.05):
        u = lpinn.convection_diffusion_exact(lpinn.sine, 30.0, nu, x, t)
        expected = jnp.exp(-nu * t[None, :]) * jnp.sin(x[:, None] - 30.0 * t[None, :])
        np.testing.assert_allclose(u, expected, atol=1e-4)


def test_convection_diffusion_exact_at_any_points_including_the_periodic_endpoint():
    # A grid with the endpoint 2 pi (as linspace gives by default) and off-grid points: the
    # solution is the same function of x, with u(2 pi, t) = u(0, t).
    x = jnp.concatenate([jnp.linspace(0.0, 2 * jnp.pi, 64), jnp.array([0.1234, 5.0])])
    t = jnp.linspace(0.0, 1.0, 11)
    for nu in (0.0, 0.05):
        u = lpinn.convection_diffusion_exact(lpinn.sine, 30.0, nu, x, t)
        expected = jnp.exp(-nu * t[None, :]) * jnp.sin(x[:, None] - 30.0 * t[None, :])
        np.testing.assert_allclose(u, expected, atol=1e-4)
        np.testing.assert_allclose(u[0], u[63], atol=1e-4)


def test_convection_diffusion_exact_of_a_non_smooth_initial_condition_without_diffusion():
    # nu = 0 is the translation u0(x - c t): exact also for a kink that Fourier sums smear.
    x, t = jnp.linspace(0.0, 2 * jnp.pi, 50), jnp.array([0.0, 0.3])
    u0 = lambda s: jnp.abs(s - jnp.pi)
    u = lpinn.convection_diffusion_exact(u0, 2.0, 0.0, x, t)
    np.testing.assert_allclose(u[:, 1], u0(jnp.mod(x - 0.6, 2 * jnp.pi)), atol=1e-5)


def test_burgers_reference_small_amplitude_is_heat_equation():
    # For u0 = eps sin x the nonlinearity is O(eps^2): u ~ eps exp(-nu t) sin x.
    x, t = lpinn.grid(32, 6)
    eps, nu = 1e-3, 0.1
    u = lpinn.burgers_reference(lambda s: eps * jnp.sin(s), nu, x, t, num_modes=128, dt=1e-3)
    heat = eps * jnp.exp(-nu * t[None, :]) * jnp.sin(x[:, None])
    assert float(jnp.max(jnp.abs(u - heat))) < 1e-2 * eps


def test_burgers_reference_conserves_mean_and_dissipates_energy():
    x, t = lpinn.grid(128, 6)
    u = lpinn.burgers_reference(lambda s: jnp.sin(s) + 0.5, 0.05, x, t, num_modes=256, dt=1e-3)
    np.testing.assert_allclose(u.mean(axis=0), 0.5, atol=1e-4)
    energy = (u**2).mean(axis=0)
    assert bool(jnp.all(jnp.diff(energy) < 0))


def test_rejects_bad_viscosity_and_start_time():
    x, t = lpinn.grid(8, 4)
    with pytest.raises(ValueError, match="nu"):
        lpinn.burgers_reference(lpinn.sine, 0.0, x, t)
    with pytest.raises(ValueError, match="nu"):
        lpinn.convection_diffusion_exact(lpinn.sine, 1.0, -0.1, x, t)
    with pytest.raises(ValueError, match="`x` must have 1 axes"):
        lpinn.convection_diffusion_exact(lpinn.sine, 1.0, 0.0, x[:, None], t)
    with pytest.raises(ValueError, match="must start at 0"):
        lpinn.burgers_reference(lpinn.sine, 0.01, x, t + 0.5)
