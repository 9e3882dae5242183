"""Wide and Deep Neural Networks Achieve Optimality for Classification.

Adityanarayanan Radhakrishnan, Mikhail Belkin, Caroline Uhler (2022), arXiv:2204.14126.
Infinitely wide and deep NNGP/NTK kernel classifiers become 1-nearest neighbour, majority vote or
a singular (Hilbert-type) kernel classifier depending only on the dual activation; explicit
activations give the Bayes-consistent singular kernel ``||x - z||^(-d)``.
"""

from ._data import dirichlet_bayes_predict, dirichlet_sphere_data
from ._duals import (
    OPTIMAL_DUALS,
    DualActivation,
    dual_from_activation,
    erf_dual,
    hermite_coefficients,
    hermite_dual,
    polynomial_dual,
    relu_dual,
    sine_dual,
)
from ._kernels import (
    LogKernel,
    Scores,
    deep_kernel,
    deep_kernel_classifier,
    hilbert_classifier,
    iterate_kernel,
    majority_vote_classifier,
    nearest_neighbor_classifier,
    predict_labels,
)
from ._taxonomy import Regime, limit_regime, sine_a_for_dimension, singular_exponent

__all__ = [
    "OPTIMAL_DUALS",
    "DualActivation",
    "LogKernel",
    "Regime",
    "Scores",
    "deep_kernel",
    "deep_kernel_classifier",
    "dirichlet_bayes_predict",
    "dirichlet_sphere_data",
    "dual_from_activation",
    "erf_dual",
    "hermite_coefficients",
    "hermite_dual",
    "hilbert_classifier",
    "iterate_kernel",
    "limit_regime",
    "majority_vote_classifier",
    "nearest_neighbor_classifier",
    "polynomial_dual",
    "predict_labels",
    "relu_dual",
    "sine_a_for_dimension",
    "sine_dual",
    "singular_exponent",
]
