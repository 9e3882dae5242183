"""Learning Rates as a Function of Batch Size: A Random Matrix Theory Approach to Neural Network
Training.

Diego Granziol, Stefan Zohren, Stephen Roberts. JMLR 23 (2022); arXiv:2006.09092.

Batch Hessians ``H_B`` differ from the full-data Hessian by a random fluctuation whose size
falls as ``1/B``; spiked random-matrix theory puts their extremal eigenvalues above the full-data
ones, growing as ``B`` shrinks, which makes the largest stable learning rate scale linearly with
``B`` for SGD and as ``sqrt(B)`` for Adam. The Hessian-vector products, Lanczos and stochastic
Lanczos quadrature come from ``jaxpapers_shared.curvature``.
"""

from ._data import Dataset, mnist1d
from ._learner import (
    ScaleByLanczosLrMomentumState,
    lanczos_lr_momentum,
    polyak_lr_momentum,
    scale_by_lanczos_lr_momentum,
)
from ._models import MLP, SplitLoss, functional, softmax_cross_entropy
from ._scaling import loglog_slope, scale_learning_rate, spiked_extremal_eigenvalue
from ._spectrum import (
    BatchSpectrum,
    batch_hessian_extremes,
    ggn_product,
    hessian_density,
    hessian_extremes,
    per_sample_hessian_noise,
)
from ._stability import StableLR, batch_order, max_stable_lr

__all__ = [
    "MLP",
    "BatchSpectrum",
    "Dataset",
    "ScaleByLanczosLrMomentumState",
    "SplitLoss",
    "StableLR",
    "batch_hessian_extremes",
    "batch_order",
    "functional",
    "ggn_product",
    "hessian_density",
    "hessian_extremes",
    "lanczos_lr_momentum",
    "loglog_slope",
    "max_stable_lr",
    "mnist1d",
    "per_sample_hessian_noise",
    "polyak_lr_momentum",
    "scale_by_lanczos_lr_momentum",
    "scale_learning_rate",
    "softmax_cross_entropy",
    "spiked_extremal_eigenvalue",
]
