"""The Principles of Deep Learning Theory (Roberts, Yaida & Hanin, arXiv:2106.10165).

The computable parts of the book's effective theory of deep MLPs at initialization: the kernel
recursion through depth for any activation, criticality ``(C_b, C_W)`` per universality class,
the finite-width four-point vertex (non-Gaussianity growing with depth-to-width ratio), the
frozen NTK recursion, residual networks' modified recursions, and exact Monte Carlo ensembles of
finite networks to check them.
"""

from ._activations import (
    GELU,
    LINEAR,
    RELU,
    SIGMOID,
    SIN,
    SWISH,
    TANH,
    Activation,
    critical_initialization,
    k_star_zero_asymptote,
    k_star_zero_coefficient,
    leaky_relu,
    taylor_coefficients,
    universality_class,
)
from ._ensemble import (
    EnsembleSamples,
    FiniteWidthStats,
    empirical_ntk,
    finite_width_statistics,
    sample_mlp_ensemble,
)
from ._recursions import (
    GaussianMoments,
    Residual,
    four_point_vertex,
    gaussian_moments,
    kernel_recursion,
    kurtosis_prediction,
    ntk_recursion,
    residual_criticality,
    susceptibilities,
)

__all__ = [
    "GELU",
    "LINEAR",
    "RELU",
    "SIGMOID",
    "SIN",
    "SWISH",
    "TANH",
    "Activation",
    "EnsembleSamples",
    "FiniteWidthStats",
    "GaussianMoments",
    "Residual",
    "critical_initialization",
    "empirical_ntk",
    "finite_width_statistics",
    "four_point_vertex",
    "gaussian_moments",
    "k_star_zero_asymptote",
    "k_star_zero_coefficient",
    "kernel_recursion",
    "kurtosis_prediction",
    "leaky_relu",
    "ntk_recursion",
    "residual_criticality",
    "sample_mlp_ensemble",
    "susceptibilities",
    "taylor_coefficients",
    "universality_class",
]
