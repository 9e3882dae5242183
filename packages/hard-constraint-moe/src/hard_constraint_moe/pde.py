"""PDEs on a (t, x) grid: residuals built from finite differences of a linear basis expansion.

A prediction is ``u = B @ omega`` with basis values ``B`` of shape ``[nt, nx, N]``. Finite
differences are linear, so the derivative bases ``B_t`` and ``B_xx`` are computed once per basis
and every residual is a cheap function of ``omega``. Grid: ``t_n = n T / (nt - 1)``,
``x_j = j / (nx - 1)`` (nodes, so ``x = 0`` and ``x = 1`` are grid points).
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp

from jaxpapers_shared import checks

#: Smallest concentration used inside the sorption term (the official "safe u" guard).
SAFE_U = 1e-6


def _finite_param(value: float, name: str, *, positive: bool = True) -> float:
    if not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"`{name}` must be a finite number, got {value!r}.")
    if positive and value <= 0:
        raise ValueError(f"`{name}` must be > 0, got {value!r}.")
    return float(value)


def derivative_bases(basis: jax.Array, dt: float, dx: float) -> tuple[jax.Array, jax.Array]:
    """``(B_t, B_xx)``: first-order (central inside, one-sided at the edges) differences.

    ``B_xx`` applies the first-derivative operator twice, as the official code does.
    """
    b_t = jnp.gradient(basis, dt, axis=0)
    b_xx = jnp.gradient(jnp.gradient(basis, dx, axis=1), dx, axis=1)
    return b_t, b_xx


@dataclasses.dataclass(frozen=True)
class DiffusionSorption1D:
    """``u_t = D / R(u) u_xx`` on ``x in (0, 1)``, ``t in (0, t_max]`` (PDEBench constants).

    ``R(u) = 1 + (1 - phi) / phi * rho_s * k * n_f * u^(n_f - 1)``; boundary conditions
    ``u(0, t) = 1`` and ``u(1, t) = D u_x(1, t)``. Residuals are in units of the non-dimensional
    time ``t / t_max`` (the PDE residual is multiplied by ``t_max``) so that the PDE, initial and
    boundary terms have comparable scales.
    """

    D: float = 5e-4
    phi: float = 0.29
    rho_s: float = 2880.0
    k: float = 3.5e-4
    n_f: float = 0.874
    t_max: float = 500.0

    def __post_init__(self):
        for name in ("D", "phi", "rho_s", "k", "n_f", "t_max"):
            _finite_param(getattr(self, name), name)
        if not 0 < self.phi < 1:
            raise ValueError(f"`phi` must be in (0, 1), got {self.phi!r}.")

    linear = False

    def retardation(self, u: jax.Array) -> jax.Array:
        """``R(u)`` with ``u`` clipped at :data:`SAFE_U` (``u^(n_f - 1)`` is singular at 0)."""
        u = jnp.maximum(u, SAFE_U)
        c = (1.0 - self.phi) / self.phi * self.rho_s * self.k * self.n_f
        return 1.0 + c * u ** (self.n_f - 1.0)

    def pde(self, u, u_t, u_xx):
        """Pointwise PDE residual (non-dimensional time)."""
        return self.t_max * (u_t - self.D / self.retardation(u) * u_xx)

    def right_bc(self, u_last, u_prev, dx):
        """``u(1) - D u_x(1)`` with a one-sided difference."""
        return u_last - self.D * (u_last - u_prev) / dx

    left_value = 1.0


@dataclasses.dataclass(frozen=True)
class Heat1D:
    """The linear test PDE ``u_t = alpha u_xx``, ``u(0, t) = 1``, ``u(1, t) = D u_x(1, t)``.

    Same grid, scaling and boundary conditions as :class:`DiffusionSorption1D`; every residual
    is affine in ``omega``, so each constraint is a convex least-squares problem.
    """

    alpha: float = 2e-4
    D: float = 5e-4
    t_max: float = 500.0

    def __post_init__(self):
        for name in ("alpha", "D", "t_max"):
            _finite_param(getattr(self, name), name)

    linear = True

    def pde(self, u, u_t, u_xx):
        return self.t_max * (u_t - self.alpha * u_xx)

    def right_bc(self, u_last, u_prev, dx):
        return u_last - self.D * (u_last - u_prev) / dx

    left_value = 1.0


def grid(nt: int, nx: int, t_max: float) -> tuple[jax.Array, jax.Array, float, float]:
    """``(t, x, dt, dx)`` of the node grid."""
    checks.integer(nt, "nt", minimum=3)
    checks.integer(nx, "nx", minimum=3)
    t = jnp.linspace(0.0, t_max, nt)
    x = jnp.linspace(0.0, 1.0, nx)
    return t, x, t_max / (nt - 1), 1.0 / (nx - 1)


def residual_field(pde, u: jax.Array, dt: float, dx: float) -> jax.Array:
    """PDE residual of a solution field ``u[nt, nx]`` at every grid point."""
    u_t = jnp.gradient(u, dt, axis=0)
    u_xx = jnp.gradient(jnp.gradient(u, dx, axis=1), dx, axis=1)
    return pde.pde(u, u_t, u_xx)


def physics_loss(pde, u: jax.Array, u0: jax.Array, dt: float, dx: float) -> jax.Array:
    """The training loss on the **full grid**: mean squared PDE + IC + BC residuals (weights 1).

    The PDE term uses the points with ``t > 0`` and ``0 < x < 1`` (the others carry the IC/BC).
    """
    r = residual_field(pde, u, dt, dx)[1:, 1:-1]
    ic = u[0] - u0
    bc_left = u[1:, 0] - pde.left_value
    bc_right = pde.right_bc(u[1:, -1], u[1:, -2], dx)
    return jnp.mean(r**2) + jnp.mean(ic**2) + 0.5 * (jnp.mean(bc_left**2) + jnp.mean(bc_right**2))
