"""Neural Tangent Kernel: Convergence and Generalization in Neural Networks.

Arthur Jacot, Franck Gabriel, Clement Hongler (NeurIPS 2018, arXiv:1806.07572). Empirical NTKs
of any JAX/Flax network, the infinite-width NNGP/NTK recursions, kernel gradient descent and
the linearized network, for fully connected networks in NTK parametrization.
"""

from ._activations import Activation
from ._analytic import Kernels, analytic_kernels
from ._dynamics import Prediction, kernel_gd_predict, linearize
from ._empirical import empirical_ntk
from ._model import NTKMLP

__all__ = [
    "NTKMLP",
    "Activation",
    "Kernels",
    "Prediction",
    "analytic_kernels",
    "empirical_ntk",
    "kernel_gd_predict",
    "linearize",
]
