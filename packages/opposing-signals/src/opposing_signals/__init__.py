"""Outliers with Opposing Signals Have an Outsized Effect on Neural Network Optimization.

Elan Rosenfeld and Andrej Risteski, ICLR 2024, arXiv:2311.04163. Tools to find paired groups of
outliers whose large shared feature points to opposite labels (largest per-example loss change
between iterations, group losses moving out of phase), sharpness tracking, the two-layer linear
toy of the paper's analysis, and the per-step diagnostics to compare optimizers (SGD vs Adam).
"""

from ._data import opposing_signals_toy, plant_opposing_signal
from ._models import MLP, TwoLayerLinear, example_losses
from ._sharpness import sharpness
from ._signals import (
    group_losses,
    loss_change,
    max_loss_increase,
    oscillation_amplitude,
    oscillation_score,
    per_example_losses,
    precision_at_k,
    top_changers,
)
from ._train import Trace, train_and_track

__all__ = [
    "MLP",
    "Trace",
    "TwoLayerLinear",
    "example_losses",
    "group_losses",
    "loss_change",
    "max_loss_increase",
    "opposing_signals_toy",
    "oscillation_amplitude",
    "oscillation_score",
    "per_example_losses",
    "plant_opposing_signal",
    "precision_at_k",
    "sharpness",
    "top_changers",
    "train_and_track",
]
