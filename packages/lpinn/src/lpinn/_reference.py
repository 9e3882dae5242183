"""Reference solutions: exact (FFT) convection-diffusion and a pseudo-spectral Burgers solver."""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

from jaxpapers_shared import checks
from lpinn._pde import PERIOD, check_initial_condition

__all__ = ["burgers_reference", "convection_diffusion_exact"]


def convection_diffusion_exact(
    u0: Callable[[jax.Array], jax.Array],
    c: float,
    nu: float,
    x: jax.Array,
    t: jax.Array,
    *,
    num_modes: int = 1024,
) -> jax.Array:
    """Exact periodic solution of u_t + c u_x = nu u_xx at any points ``x`` and times ``t``.

    For nu = 0 the solution is the translated initial condition, u(x, t) = u0((x - c t) mod 2 pi),
    evaluated directly. For nu > 0 it is computed mode by mode,
    u_hat_k(t) = u_hat_k(0) exp(-(i c k + nu k^2) t), from ``u0`` sampled on ``num_modes``
    uniform points of [0, 2 pi), and summed at ``x`` as a Fourier series; the result is exact up
    to the Fourier truncation of ``u0`` (to float precision for a smooth ``u0``).

    ``x`` may be any points, including the periodic endpoint 2 pi (where u equals its value at 0).

    Args:
      u0: the initial condition, a 2 pi-periodic function mapping an array to one of its shape.
      c: the speed.
      nu: the viscosity, >= 0.
      x: (n_x,) points.
      t: (n_t,) times.
      num_modes: the resolution used for nu > 0.

    Returns:
      (len(x), len(t)) array u(x_i, t_j).

    Raises:
      ValueError: ``nu`` < 0, ``c`` not finite, ``x``/``t`` not finite 1-D arrays,
        ``num_modes`` < 2, or ``u0`` returning NaN/inf or a wrong shape.
    """
    checks.positive(nu, "nu", allow_zero=True)
    checks.finite(c, "c")
    x = checks.array(x, "x", ndim=1, dtype="float")
    t = checks.array(t, "t", ndim=1, dtype="float")
    checks.integer(num_modes, "num_modes", minimum=2)
    if checks.is_concrete(nu) and nu == 0:
        shifted = jnp.mod(x[:, None] - c * t[None, :], PERIOD)
        return check_initial_condition(u0, shifted)
    fine = jnp.linspace(0.0, PERIOD, num_modes, endpoint=False)
    k = jnp.fft.fftfreq(num_modes, d=PERIOD / num_modes) * 2 * jnp.pi
    if num_modes % 2 == 0:
        k = k.at[num_modes // 2].set(0.0)  # the Nyquist mode has no sign; drop it off the grid
    u0_hat = jnp.fft.fft(check_initial_condition(u0, fine))
    if num_modes % 2 == 0:
        u0_hat = u0_hat.at[num_modes // 2].set(0.0)
    decay = jnp.exp(-(1j * c * k[:, None] + nu * k[:, None] ** 2) * t[None, :])
    basis = jnp.exp(1j * x[:, None] * k[None, :]) / num_modes  # (n_x, num_modes)
    return jnp.real(basis @ (u0_hat[:, None] * decay))


def burgers_reference(
    u0: Callable[[jax.Array], jax.Array],
    nu: float,
    x: jax.Array,
    t: jax.Array,
    *,
    num_modes: int = 2048,
    dt: float = 1e-4,
) -> jax.Array:
    """Viscous Burgers u_t + u u_x = nu u_xx by Fourier pseudo-spectral RK4 with an integrating
    factor for the diffusion and 2/3-rule dealiasing, evaluated at ``x`` by Fourier interpolation.

    Args:
      u0: initial condition.
      nu: viscosity > 0.
      x: (n_x,) evaluation points in [0, 2 pi).
      t: (n_t,) uniformly spaced evaluation times starting at 0.
      num_modes: resolution of the solver (resolve the viscous shock width ~ nu / |jump|).
      dt: the largest time step; it is reduced so that snapshots fall on ``t``.

    Returns:
      (n_x, n_t) array.
    """
    if not nu > 0:
        raise ValueError(f"`nu` must be > 0 for the Burgers reference, got {nu}.")
    if float(t[0]) != 0.0:
        raise ValueError(f"`t` must start at 0, got t[0]={float(t[0])}.")
    fine = jnp.linspace(0.0, PERIOD, num_modes, endpoint=False)
    k = jnp.fft.fftfreq(num_modes, d=PERIOD / num_modes) * 2 * jnp.pi
    dealias = jnp.abs(k) < (2 / 3) * jnp.max(jnp.abs(k))
    snapshot_dt = float(t[1] - t[0])
    substeps = max(1, int(jnp.ceil(snapshot_dt / dt)))
    h = snapshot_dt / substeps
    half, full = jnp.exp(-nu * k**2 * h / 2), jnp.exp(-nu * k**2 * h)

    def nonlinear(v_hat):  # -(u^2 / 2)_x in Fourier space
        u = jnp.real(jnp.fft.ifft(v_hat))
        return -0.5j * k * jnp.fft.fft(u * u) * dealias

    def rk4(v_hat, _):
        a = h * nonlinear(v_hat)
        b = h * nonlinear(half * (v_hat + a / 2))
        c = h * nonlinear(half * v_hat + b / 2)
        d = h * nonlinear(full * v_hat + half * c)
        v_hat = full * v_hat + (full * a + 2 * half * (b + c) + d) / 6
        return v_hat, None

    def snapshot(v_hat, _):
        v_hat, _ = jax.lax.scan(rk4, v_hat, length=substeps)
        return v_hat, v_hat

    v0 = jnp.fft.fft(check_initial_condition(u0, fine))
    _, later = jax.lax.scan(snapshot, v0, length=t.shape[0] - 1)
    spectra = jnp.concatenate([v0[None], later])  # (n_t, num_modes)
    basis = jnp.exp(1j * k[None, :] * x[:, None]) / num_modes  # Fourier interpolation at x
    return jnp.real(basis @ spectra.T)
