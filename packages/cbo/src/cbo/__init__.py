"""Gradient is All You Need? How Consensus-Based Optimization can be Interpreted as a Stochastic
Relaxation of Gradient Descent.

Konstantin Riedl, Timo Klock, Carina Geldhauser, Massimo Fornasier. arXiv:2306.09778.

Consensus-based optimization (CBO), consensus hopping (CH) and the proximal (implicit gradient)
step CH approximates, in JAX.
"""

from ._baselines import annealed_langevin, gradient_descent
from ._consensus import consensus_point, consensus_weights
from ._dynamics import (
    CBOParams,
    CBOResult,
    CHResult,
    MinimizeResult,
    cbo,
    consensus_hopping,
    hopping_step,
    minimize,
)
from ._objectives import ackley, grand_canyon3, rastrigin
from ._proximal import proximal_step_bruteforce, proximal_step_quadratic

__all__ = [
    "CBOParams",
    "CBOResult",
    "CHResult",
    "MinimizeResult",
    "ackley",
    "annealed_langevin",
    "cbo",
    "consensus_hopping",
    "consensus_point",
    "consensus_weights",
    "gradient_descent",
    "grand_canyon3",
    "hopping_step",
    "minimize",
    "proximal_step_bruteforce",
    "proximal_step_quadratic",
    "rastrigin",
]
