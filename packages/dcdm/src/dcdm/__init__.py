"""A Deep Conjugate Direction Method for Iteratively Solving Linear Systems.

Ayano Kaneda, Osman Akar, Jingyu Chen, Victoria Alicia Trevino Kala, David Hyde, Joseph Teran.
ICML 2023, arXiv:2205.10763.

A CNN ``f_theta`` trained with a scale-invariant unsupervised loss to approximate ``A^{-1} r``
up to a scale supplies the search directions of a conjugate-direction solver (directions are
A-orthogonalised against the last two, exact A-norm line search).
"""

from dcdm._data import ritz_rhs
from dcdm._models import CPU_CONFIG, DCDMNet
from dcdm._poisson import PoissonOperator, box_obstacle, dense_matrix, laplacian
from dcdm._solver import SolveInfo, cg, jacobi, solve, status_message
from dcdm._train import direction_fn, scaled_residual_loss, train

__all__ = [
    "CPU_CONFIG",
    "DCDMNet",
    "PoissonOperator",
    "SolveInfo",
    "box_obstacle",
    "cg",
    "dense_matrix",
    "direction_fn",
    "jacobi",
    "laplacian",
    "ritz_rhs",
    "scaled_residual_loss",
    "solve",
    "status_message",
    "train",
]
