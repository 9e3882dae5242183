"""Target-based Surrogates for Stochastic Optimization.

Jonathan Wilder Lavington, Sharan Vaswani, Reza Babanezhad, Mark Schmidt, Nicolas Le Roux
(ICML 2023), arXiv:2302.02607.
"""

from ._projection import project_to_targets
from ._sso import (
    Armijo,
    MMResult,
    SmoothGD,
    SSOInfo,
    SSOState,
    minimize_inner,
    mm_minimize,
    sso_init,
    sso_step,
    sso_update,
)
from ._surrogate import TargetProblem, loss, surrogate, target_gradient, target_gradient_step
from ._train import Run, run_optax, run_sso

__all__ = [
    "Armijo",
    "MMResult",
    "Run",
    "SSOInfo",
    "SSOState",
    "SmoothGD",
    "TargetProblem",
    "loss",
    "minimize_inner",
    "mm_minimize",
    "project_to_targets",
    "run_optax",
    "run_sso",
    "sso_init",
    "sso_step",
    "sso_update",
    "surrogate",
    "target_gradient",
    "target_gradient_step",
]
