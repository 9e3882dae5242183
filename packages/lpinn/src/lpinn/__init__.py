"""Lagrangian PINNs: A causality-conforming solution to failure modes of physics-informed neural
networks (Mojgani, Balajewicz, Hassanzadeh, 2022, arXiv:2205.02902).

Solves u_t + a(u) u_x = nu u_xx along characteristics: one network carries the state U(x0, t),
another the characteristic X(x0, t), so convection becomes a trivially smooth problem where an
Eulerian PINN fails.
"""

from lpinn._evaluate import characteristics_cross, predict_eulerian, relative_l2, to_eulerian
from lpinn._models import MLP, EulerianPINN, LagrangianPINN
from lpinn._pde import PERIOD, Burgers, Convection, grid, sine
from lpinn._reference import burgers_reference, convection_diffusion_exact
from lpinn._residuals import (
    eulerian_loss,
    eulerian_residual,
    lagrangian_loss,
    lagrangian_residuals,
)
from lpinn._train import FitResult, collocation_points, fit

__all__ = [
    "MLP",
    "PERIOD",
    "Burgers",
    "Convection",
    "EulerianPINN",
    "FitResult",
    "LagrangianPINN",
    "burgers_reference",
    "characteristics_cross",
    "collocation_points",
    "convection_diffusion_exact",
    "eulerian_loss",
    "eulerian_residual",
    "fit",
    "grid",
    "lagrangian_loss",
    "lagrangian_residuals",
    "predict_eulerian",
    "relative_l2",
    "sine",
    "to_eulerian",
]
