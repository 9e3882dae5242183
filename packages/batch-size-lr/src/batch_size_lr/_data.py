"""MNIST-1D (Greydanus, 2020; arXiv:2011.14439), generated locally from its ten templates.

A port of ``mnist1d.data.make_dataset`` with its default arguments (Apache-2.0, Sam Greydanus and
Peter Steinbach): each example is a 12-point digit template, padded, dilated, scaled, translated,
filled with correlated noise, given i.i.d. noise and a shear, and resampled to 40 points. With
``seed=42`` (the default) the random draws follow the original's ``np.random`` sequence, so the
arrays equal the published dataset's (4000 training and 1000 test examples, 10 classes).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy.ndimage import gaussian_filter

_TEMPLATES = np.asarray(
    [
        [5, 6, 6.5, 6.75, 7, 7, 7, 7, 6.75, 6.5, 6, 5],
        [5, 3, 3, 3.4, 3.8, 4.2, 4.6, 5, 5.4, 5.8, 5, 5],
        [5, 6, 6.5, 6.5, 6, 5.25, 4.75, 4, 3.5, 3.5, 4, 5],
        [5, 6, 6.5, 6.5, 6, 5, 5, 6, 6.5, 6.5, 6, 5],
        [5, 4.4, 3.8, 3.2, 2.6, 2.6, 5, 5, 5, 5, 5, 5],
        [5, 3, 3, 3, 3, 5, 6, 6.5, 6.5, 6, 4.5, 5],
        [5, 4, 3.5, 3.25, 3, 3, 3, 3, 3.25, 3.5, 4, 5],
        [5, 7, 7, 6.6, 6.2, 5.8, 5.4, 5, 4.6, 4.2, 5, 5],
        [5, 4, 3.5, 3.5, 4, 5, 5, 4, 3.5, 3.5, 4, 5],
        [5, 4, 3.5, 3.5, 4, 5, 5, 5, 5, 4.7, 4.3, 5],
    ]
)


class Dataset(NamedTuple):
    """Train and test splits: ``x`` (n, 40) float32, ``y`` (n,) int32 labels in 0..9."""

    x: np.ndarray
    y: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


def _templates() -> np.ndarray:
    x = _TEMPLATES - _TEMPLATES.mean(1, keepdims=True)
    x /= x.std(1, keepdims=True)
    x -= x[:, :1]
    return x / 6.0


def _resample(x: np.ndarray, n: int) -> np.ndarray:
    return np.interp(np.linspace(0, 1, n), np.linspace(0, 1, len(x)), x)


def _transform(x: np.ndarray, rng: np.random.RandomState) -> np.ndarray:
    template_len, (low, high), final_len = 12, (36, 60), 40
    p = low + int(rng.rand() * (high - low + 1))
    x = np.concatenate([x + 1e-8, np.zeros(p)])  # pad
    x = _resample(x, template_len + high)  # dilate
    x = x * (1 + 0.4 * (rng.rand() - 0.5))  # scale
    k = rng.choice(48)  # translate
    x = np.concatenate([x[-k:], x[:-k]])
    mask = x != 0
    x = mask * x + (1 - mask) * gaussian_filter(0.25 * rng.randn(*x.shape), 2)
    x = x + 2e-2 * rng.randn(*x.shape)
    x = x - 0.75 * (rng.rand() - 0.5) * np.linspace(-0.5, 0.5, len(x))  # shear
    return _resample(x, final_len)


def mnist1d(num_samples: int = 5000, *, train_split: float = 0.8, seed: int = 42) -> Dataset:
    """The MNIST-1D dataset (``num_samples`` examples, 40 features, 10 balanced classes).

    Args:
      num_samples: examples in all (a multiple of 10 keeps classes balanced).
      train_split: the leading fraction that forms the training split.
      seed: the generator's seed (42 reproduces the published arrays).

    Returns:
      :class:`Dataset`, standardised to zero mean and unit standard deviation overall.
    """
    rng = np.random.RandomState(seed)
    templates = _templates()
    per_class = num_samples // 10
    xs = [_transform(templates[c], rng) for c in range(10) for _ in range(per_class)]
    ys = [c for c in range(10) for _ in range(per_class)]
    order = rng.permutation(len(ys))
    x, y = np.stack(xs)[order], np.asarray(ys)[order]
    x = (x - x.mean()) / x.std()
    split = int(len(y) * train_split)
    x, y = x.astype(np.float32), y.astype(np.int32)
    return Dataset(x[:split], y[:split], x[split:], y[split:])
