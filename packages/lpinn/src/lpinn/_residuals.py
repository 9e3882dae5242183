"""PDE residuals by forward-mode differentiation (``jax.jvp``), and the training losses.

Every network here maps points to values elementwise, so one ``jvp`` with an all-ones tangent
gives the derivative at every collocation point at once (no per-point ``grad`` and no Jacobian).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import jax
import jax.numpy as jnp

from lpinn._pde import PDE

__all__ = ["eulerian_loss", "eulerian_residual", "lagrangian_loss", "lagrangian_residuals"]

LossForm = Literal["mse", "official"]


def _d(fn: Callable[[jax.Array], jax.Array], at: jax.Array) -> jax.Array:
    """Pointwise derivative of an elementwise map: d fn / d at, at every point."""
    return jax.jvp(fn, (at,), (jnp.ones_like(at),))[1]


def _check_points(x: jax.Array, t: jax.Array) -> None:
    if x.shape != t.shape:
        raise ValueError(
            f"collocation points `x` and `t` must have one shape, got {x.shape} and "
            f"{t.shape} (use jnp.meshgrid(x, t, indexing='ij'))."
        )
    if x.size == 0:
        raise ValueError("the collocation set is empty: `x` and `t` have no points.")


def lagrangian_residuals(
    model: Callable[[jax.Array, jax.Array], tuple[jax.Array, jax.Array]],
    pde: PDE,
    x0: jax.Array,
    t: jax.Array,
    *,
    derivatives: Literal["physical", "label"] = "physical",
) -> tuple[jax.Array, jax.Array]:
    """The two Lagrangian residuals at labels ``x0`` and times ``t`` (Eqs. 9-10).

    r_x = dX/dt - a(U) and r_u = dU/dt - nu u_XX, where along a characteristic

        u_X = U_x0 / X_x0,     u_XX = d/dx0 (U_x0 / X_x0) / X_x0         ("physical")

    The official code uses the label derivative U_x0x0 ("label"), exact only while X_x0 = 1
    (constant speed); for Burgers the characteristics bend and the physical form is the right one.

    Args:
      model: ``model(x0, t) -> (U, X)``, elementwise over points (a :class:`LagrangianPINN`).
      pde: :class:`Convection` or :class:`Burgers`.
      x0, t: collocation points, arrays of one shape.
      derivatives: ``"physical"`` (default) or ``"label"`` (official code).

    Returns:
      ``(r_x, r_u)``, each shaped like ``x0``.
    """
    _check_points(x0, t)
    if derivatives not in ("physical", "label"):
        raise ValueError(f"`derivatives` must be 'physical' or 'label', got {derivatives!r}.")
    (u, _), (u_t, x_t) = jax.jvp(lambda s: model(x0, s), (t,), (jnp.ones_like(t),))
    r_x = x_t - pde.characteristic_speed(u)
    if pde.nu == 0:
        return r_x, u_t
    u_of = lambda s: model(s, t)[0]
    if derivatives == "label":
        u_xx = _d(lambda s: _d(u_of, s), x0)
    else:
        x_of = lambda s: model(s, t)[1]
        slope = lambda s: _d(u_of, s) / _d(x_of, s)
        u_xx = _d(slope, x0) / _d(x_of, x0)
    return r_x, u_t - pde.nu * u_xx


def eulerian_residual(
    model: Callable[[jax.Array, jax.Array], jax.Array], pde: PDE, x: jax.Array, t: jax.Array
) -> jax.Array:
    """r = u_t + a(u) u_x - nu u_xx at ``(x, t)`` for a network ``model(x, t) -> u``."""
    _check_points(x, t)
    u, u_t = jax.jvp(lambda s: model(x, s), (t,), (jnp.ones_like(t),))
    u_of = lambda s: model(s, t)
    u_x = _d(u_of, x)
    residual = u_t + pde.characteristic_speed(u) * u_x
    if pde.nu == 0:
        return residual
    return residual - pde.nu * _d(lambda s: _d(u_of, s), x)


def _norm(r: jax.Array, form: LossForm) -> jax.Array:
    return jnp.mean(r**2) if form == "mse" else jnp.sqrt(jnp.sum(r**2))


def _check_form(form: str) -> None:
    if form not in ("mse", "official"):
        raise ValueError(f"`form` must be 'mse' or 'official', got {form!r}.")


def _grid_points(x: jax.Array, t: jax.Array, points) -> tuple[jax.Array, jax.Array]:
    """The collocation points: the grid ``meshgrid(x, t)``, or ``points`` standing for it."""
    if points is None:
        return jnp.meshgrid(x, t, indexing="ij")
    px, pt = points
    if px.shape != pt.shape or px.size != x.size * t.size:
        raise ValueError(
            f"`points` must be two arrays of one shape holding the {x.size} x {t.size} grid's "
            f"{x.size * t.size} points (lpinn.collocation_points), got shapes {px.shape} and "
            f"{pt.shape}."
        )
    return px, pt


def lagrangian_loss(
    model,
    pde: PDE,
    x0: jax.Array,
    t: jax.Array,
    u0_values: jax.Array,
    *,
    form: LossForm = "mse",
    derivatives: Literal["physical", "label"] = "physical",
    points: tuple[jax.Array, jax.Array] | None = None,
) -> jax.Array:
    """The LPINN training loss on the full (label x time) grid.

    ``form="official"``: 10 ||r_x|| + ||r_u|| + 1000 (||X(.,0) - x0|| + ||U(.,0) - u0||) with
    non-squared 2-norms (official code). ``form="mse"`` (the CPU reproduction's named variant):
    mean(r_x^2) + mean(r_u^2) + 100 (mean(IC_X^2) + mean(IC_U^2)).

    Args:
      model: ``model(x0, t) -> (U, X)``.
      x0: (n,) labels; t: (m,) times; u0_values: (n,) initial condition at the labels.
      points: the grid's n m collocation points ``(x0, t)`` in any order and sharding
        (:func:`lpinn.collocation_points`, the batch of ``fit(..., batch=points)``), used for
        the residuals instead of ``meshgrid(x0, t)``: the same loss, with the residual terms
        computed where the points live. The initial-condition terms stay on the labels.
    """
    _check_form(form)
    if u0_values.shape != x0.shape:
        raise ValueError(
            f"`u0_values` must have the labels' shape {x0.shape}, got {u0_values.shape}."
        )
    grid_x, grid_t = _grid_points(x0, t, points)
    r_x, r_u = lagrangian_residuals(model, pde, grid_x, grid_t, derivatives=derivatives)
    u_init, x_init = model(x0, jnp.zeros_like(x0))
    w_rx, w_ru, w_ic = (10.0, 1.0, 1000.0) if form == "official" else (1.0, 1.0, 100.0)
    return (
        w_rx * _norm(r_x, form)
        + w_ru * _norm(r_u, form)
        + w_ic * (_norm(x_init - x0, form) + _norm(u_init - u0_values, form))
    )


def eulerian_loss(
    model,
    pde: PDE,
    x: jax.Array,
    t: jax.Array,
    u0_values: jax.Array,
    *,
    form: LossForm = "mse",
    points: tuple[jax.Array, jax.Array] | None = None,
) -> jax.Array:
    """The PINN baseline's loss: residual + 100 x IC misfit (``"mse"``), or ``||r|| + 1000
    ||u(., 0) - u0||`` (``"official"``, the LPINN's norms applied to the one residual).
    ``points``: the grid's collocation points standing for ``meshgrid(x, t)``, as in
    :func:`lagrangian_loss`."""
    _check_form(form)
    if u0_values.shape != x.shape:
        raise ValueError(
            f"`u0_values` must have the grid's shape {x.shape}, got {u0_values.shape}."
        )
    grid_x, grid_t = _grid_points(x, t, points)
    residual = eulerian_residual(model, pde, grid_x, grid_t)
    w_ic = 1000.0 if form == "official" else 100.0
    return _norm(residual, form) + w_ic * _norm(model(x, jnp.zeros_like(x)) - u0_values, form)
