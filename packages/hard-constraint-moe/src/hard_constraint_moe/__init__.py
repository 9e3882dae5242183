"""Scaling physics-informed hard constraints with mixture-of-experts (Chalapathi et al., 2024) in JAX."""

from hard_constraint_moe import pde, reference
from hard_constraint_moe.constraint import (
    HardConstraint,
    Info,
    MoEHardConstraint,
    SolverOptions,
    unrolled_gauss_newton,
)
from hard_constraint_moe.models import BasisFNO, BasisMLP, inputs
from hard_constraint_moe.router import partition, splits_from_bounds, unpartition
from hard_constraint_moe.training import Arm, evaluate, train

__all__ = [
    "Arm",
    "BasisFNO",
    "BasisMLP",
    "HardConstraint",
    "Info",
    "MoEHardConstraint",
    "SolverOptions",
    "evaluate",
    "inputs",
    "partition",
    "pde",
    "reference",
    "splits_from_bounds",
    "train",
    "unpartition",
    "unrolled_gauss_newton",
]
