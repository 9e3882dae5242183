"""Lion Secretly Solves Constrained Optimization: As Lyapunov Predicts.

Lizhang Chen, Bo Liu, Kaizhao Liang, Qiang Liu. ICLR 2024. arXiv:2310.05898.

Lion-K replaces the ``sign`` of Lion by the subgradient of a convex K; with decoupled weight decay
``lam`` it solves ``min_x f(x) + (1/lam) K*(lam x)`` (for K = l1: ``min f`` on ``||x||_inf <= 1/lam``).
"""

from lion_kappa._kappa import Kappa, half_squared, huber, l1, l2, lp, nuclear
from lion_kappa._objective import (
    composite_objective,
    constraint_violation,
    phase1_bound,
    stationarity_residual,
)
from lion_kappa._transform import ScaleByLionKappaState, lion_kappa, scale_by_lion_kappa

__all__ = [
    "Kappa",
    "ScaleByLionKappaState",
    "composite_objective",
    "constraint_violation",
    "half_squared",
    "huber",
    "l1",
    "l2",
    "lion_kappa",
    "lp",
    "nuclear",
    "phase1_bound",
    "scale_by_lion_kappa",
    "stationarity_residual",
]
