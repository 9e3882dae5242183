"""The Implicit Regularization of Dynamical Stability in Stochastic Gradient Descent.

Lei Wu and Weijie J. Su (ICML 2023, arXiv:2305.17490). The exact linear (mean-square) stability
test of SGD at an interpolating minimum, sharpness measures of the Hessian (through
``jaxpapers_shared.curvature``), and the two-layer ReLU and diagonal linear networks whose
sharpness is equivalent to a parameter norm: SGD-stable minima with batch size 1 have
``tr H <= 2 / lr``, GD-stable ones only ``lambda_max(H) <= 2 / lr``.
"""

from ._models import DiagonalLinearNet, TwoLayerReLU, data_path_norm, weighted_l1
from ._sharpness import Sharpness, gram_matrix, sharpness, square_loss
from ._stability import (
    CriticalLR,
    StabilityRadius,
    critical_lr,
    is_linearly_stable,
    stability_radius,
)
from ._train import TrainReport, train_to_interpolation

__all__ = [
    "CriticalLR",
    "DiagonalLinearNet",
    "Sharpness",
    "StabilityRadius",
    "TrainReport",
    "TwoLayerReLU",
    "critical_lr",
    "data_path_norm",
    "gram_matrix",
    "is_linearly_stable",
    "sharpness",
    "square_loss",
    "stability_radius",
    "train_to_interpolation",
    "weighted_l1",
]
