"""On the Generalization Mystery in Deep Learning (Chatterjee & Zielinski, arXiv:2203.10036).

Per-example gradients, their coherence (m-coherence ``||sum g_i||^2 / sum ||g_i||^2``), robust
aggregators of per-example gradients that suppress weak directions (winsorization, median of
means) and the running median of three minibatch gradients (RM3), as optax transformations.
"""

from ._aggregate import (
    ScaleByMedianOf3State,
    m3,
    median_of_means_aggregate,
    per_example_mean,
    ra3,
    rm3,
    winsorized_aggregate,
    winsorized_mean,
)
from ._coherence import (
    coherence_alpha,
    layerwise_m_coherence,
    m_coherence,
    pairwise_m_coherence,
    per_example_grads,
    streaming_m_coherence,
)
from ._train import MLP, TrainResult, classification_loss, permute_labels, predict, train

__all__ = [
    "MLP",
    "ScaleByMedianOf3State",
    "TrainResult",
    "classification_loss",
    "coherence_alpha",
    "layerwise_m_coherence",
    "m3",
    "m_coherence",
    "median_of_means_aggregate",
    "pairwise_m_coherence",
    "per_example_grads",
    "per_example_mean",
    "permute_labels",
    "predict",
    "ra3",
    "rm3",
    "streaming_m_coherence",
    "train",
    "winsorized_aggregate",
    "winsorized_mean",
]
