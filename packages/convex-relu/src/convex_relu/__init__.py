"""Efficient Global Optimization of Two-layer ReLU Networks: Quadratic-time Algorithms and
Adversarial Training (Yatong Bai, Tanmay Gautam, Somayeh Sojoudi; arXiv:2201.01965).

The convex reformulation of a two-layer ReLU network over hyperplane-arrangement patterns
(exact or sampled), ADMM with a once-factored linear system, the network recovered from the
convex solution, the sampled convex program (SCP), and convex adversarial training.
"""

from ._admm import ADMMResult, admm_solve
from ._patterns import arrangement_size_2d, dedupe_patterns, enumerate_patterns_2d, sample_patterns
from ._problem import (
    ConvexReLUProblem,
    ReLUNetParams,
    convex_predict,
    nonconvex_objective,
    relu_network_apply,
    to_relu_network,
)
from ._train import (
    AdversarialResult,
    SCPResult,
    adversarial_train,
    init_network,
    pgd_attack,
    robust_accuracy,
    scp_train,
    train_nonconvex,
)

__all__ = [
    "ADMMResult",
    "AdversarialResult",
    "ConvexReLUProblem",
    "ReLUNetParams",
    "SCPResult",
    "admm_solve",
    "adversarial_train",
    "arrangement_size_2d",
    "convex_predict",
    "dedupe_patterns",
    "enumerate_patterns_2d",
    "init_network",
    "nonconvex_objective",
    "pgd_attack",
    "relu_network_apply",
    "robust_accuracy",
    "sample_patterns",
    "scp_train",
    "to_relu_network",
    "train_nonconvex",
]
