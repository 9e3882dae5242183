"""AdAdaGrad: Adaptive Batch Size Schemes for Adaptive Gradient Methods.

Lau, Liu, Kolar (2024, arXiv:2402.11215). AdaGrad and AdaGrad-Norm whose batch size grows when
a test on the per-example gradients (norm, inner product / orthogonality, coordinate-wise) says
the minibatch gradient is too noisy.
"""

from ._batch_tests import (
    BatchSizeProposal,
    augmented_inner_product_test,
    coordinate_norm_test,
    flatten_per_example,
    inner_product_test,
    norm_test,
    orthogonality_test,
    required_batch_size,
)
from ._optimizers import (
    ScaleByAdagradNormState,
    ScaleByAdagradState,
    adagrad,
    adagrad_norm,
    scale_by_adagrad,
    scale_by_adagrad_norm,
)
from ._schedule import AdaptiveBatchSchedule, ScheduleState
from ._train import TrainResult, per_example_grads, train

__all__ = [
    "AdaptiveBatchSchedule",
    "BatchSizeProposal",
    "ScaleByAdagradNormState",
    "ScaleByAdagradState",
    "ScheduleState",
    "TrainResult",
    "adagrad",
    "adagrad_norm",
    "augmented_inner_product_test",
    "coordinate_norm_test",
    "flatten_per_example",
    "inner_product_test",
    "norm_test",
    "orthogonality_test",
    "per_example_grads",
    "required_batch_size",
    "scale_by_adagrad",
    "scale_by_adagrad_norm",
    "train",
]
