"""The 1-D periodic PDEs u_t + a(u) u_x = nu u_xx on x in [0, 2 pi), and the collocation grid.

Convection has a constant characteristic speed a = c; viscous Burgers has a(u) = u (Sec. 2 of
the paper). Both are written in the Lagrangian frame along characteristics X(x0, t):

    dX/dt = a(U),   X(x0, 0) = x0,        dU/dt = nu u_XX,   U(x0, 0) = u0(x0).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

import jax
import jax.numpy as jnp

PERIOD = 2 * math.pi


def _check_viscosity(nu: float) -> None:
    if not nu >= 0:
        raise ValueError(f"`nu` (viscosity) must be >= 0, got {nu}.")


@dataclasses.dataclass(frozen=True)
class Convection:
    """Convection(-diffusion) u_t + c u_x = nu u_xx: characteristics are straight, X = x0 + c t.

    Args:
      c: the constant speed (the failure-mode benchmark uses c = 30 and above).
      nu: viscosity >= 0 (0: pure convection).
    """

    c: float
    nu: float = 0.0

    def __post_init__(self):
        if not math.isfinite(self.c):
            raise ValueError(f"`c` must be finite, got {self.c}.")
        _check_viscosity(self.nu)

    def characteristic_speed(self, u: jax.Array) -> jax.Array:
        return jnp.full_like(u, self.c)


@dataclasses.dataclass(frozen=True)
class Burgers:
    """Viscous Burgers u_t + u u_x = nu u_xx: the speed of a characteristic is the state itself.

    Args:
      nu: viscosity > 0 (the paper and official code use 0.01).
    """

    nu: float = 0.01

    def __post_init__(self):
        _check_viscosity(self.nu)
        if self.nu == 0:
            raise ValueError(
                "`nu` must be > 0 for Burgers: the inviscid equation forms a shock "
                "and the Lagrangian map stops being invertible."
            )

    def characteristic_speed(self, u: jax.Array) -> jax.Array:
        return u


PDE = Convection | Burgers


def sine(x: jax.Array) -> jax.Array:
    """The failure-mode initial condition u0(x) = sin x."""
    return jnp.sin(x)


def grid(
    num_x: int, num_t: int, t_final: float = 1.0, t_start: float = 0.0
) -> tuple[jax.Array, jax.Array]:
    """Uniform labels x0 in [0, 2 pi) (periodic endpoint excluded) and times in [t_start, t_final].

    Returns:
      ``(x, t)`` of shapes (num_x,) and (num_t,).
    """
    if num_x < 2 or num_t < 2:
        raise ValueError(
            f"the grid needs `num_x` >= 2 and `num_t` >= 2 points, got "
            f"num_x={num_x}, num_t={num_t}."
        )
    if not t_final > t_start:
        raise ValueError(
            f"`t_final` must be > `t_start`, got t_start={t_start}, t_final={t_final}."
        )
    x = jnp.linspace(0.0, PERIOD, num_x, endpoint=False)
    return x, jnp.linspace(t_start, t_final, num_t)


def check_initial_condition(u0: Callable[[jax.Array], jax.Array], x: jax.Array) -> jax.Array:
    """Evaluates ``u0`` on ``x`` and checks it returns a finite array of the same shape."""
    values = jnp.asarray(u0(x))
    if values.shape != x.shape:
        raise ValueError(
            f"`u0` must map x of shape {x.shape} to the same shape, got {values.shape}."
        )
    if not bool(jnp.all(jnp.isfinite(values))):
        raise ValueError("`u0` returned NaN or inf values.")
    return values
