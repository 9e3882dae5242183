"""Optimistic Online Mirror Descent for Bridging Stochastic and Adversarial Online Convex Optimization.

Sijia Chen, Yu-Jie Zhang, Wei-Wei Tu, Peng Zhao, Lijun Zhang (ICML 2023), arXiv:2302.04552.
Optimistic online mirror descent with last-gradient hints and adaptive steps for the
stochastically extended adversarial (SEA) model: Euclidean and entropic mirror maps, the convex,
strongly convex and exp-concave (optimistic ONS) step rules, a two-layer ensemble for dynamic
regret, and regret and SEA statistics for synthetic environments.
"""

from ._domains import Ball, Box, Domain, Simplex, Unconstrained, ball_quadratic_argmin
from ._ensemble import EnsembleState, dynamic_ensemble, step_size_grid
from ._omd import Learner, OMDState, online_gradient_descent, optimistic_omd
from ._ons import ONSState, optimistic_ons
from ._sea import (
    RunResult,
    SEAEnvironment,
    SEAStatistics,
    dynamic_regret,
    linear_environment,
    linear_regret,
    path_length,
    run,
    sea_statistics,
    static_regret,
)

__all__ = [
    "Ball",
    "Box",
    "Domain",
    "EnsembleState",
    "Learner",
    "OMDState",
    "ONSState",
    "RunResult",
    "SEAEnvironment",
    "SEAStatistics",
    "Simplex",
    "Unconstrained",
    "ball_quadratic_argmin",
    "dynamic_ensemble",
    "dynamic_regret",
    "linear_environment",
    "linear_regret",
    "online_gradient_descent",
    "optimistic_omd",
    "optimistic_ons",
    "path_length",
    "run",
    "sea_statistics",
    "static_regret",
    "step_size_grid",
]
