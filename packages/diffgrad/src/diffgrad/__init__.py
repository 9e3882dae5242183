"""diffGrad: An Optimization Method for Convolutional Neural Networks.

Dubey, Chakraborty, Roy, Mukherjee, Singh, Chaudhuri (IEEE TNNLS 2020, arXiv:1909.11015).
Adam whose first moment is damped by a friction coefficient xi = sigmoid(|g_{t-1} - g_t|).
"""

from ._synthetic import F1, F2, F3, SyntheticFunction, optimize_1d
from ._transform import ScaleByDiffGradState, diffgrad, friction_coefficient, scale_by_diffgrad

__all__ = [
    "F1",
    "F2",
    "F3",
    "ScaleByDiffGradState",
    "SyntheticFunction",
    "diffgrad",
    "friction_coefficient",
    "optimize_1d",
    "scale_by_diffgrad",
]
