"""Input checks shared by the public functions (reject early, name the argument)."""

from __future__ import annotations

import numpy as np


def check_data(X, name: str = "X", *, center: bool = True) -> np.ndarray:
    """Returns ``X`` as a finite float64 ``(n, d)`` array, column-centred when ``center``.

    Raises:
      TypeError: ``X`` is not numeric.
      ValueError: not 2-D, ``n < 2``, ``d < 2``, non-finite values or a zero-variance column.
    """
    try:
        X = np.asarray(X, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise TypeError(f"`{name}` must be a numeric array, got {type(X).__name__}.") from err
    if X.ndim != 2:
        raise ValueError(f"`{name}` must be 2-D (n, d), got shape {X.shape}.")
    n, d = X.shape
    if n < 2:
        raise ValueError(f"`{name}` needs n >= 2 samples, got n = {n}.")
    if d < 2:
        raise ValueError(f"`{name}` needs d >= 2 variables, got d = {d}.")
    if not np.all(np.isfinite(X)):
        raise ValueError(f"`{name}` must be finite, got NaN or inf values.")
    std = X.std(axis=0)
    if np.any(std == 0):
        # A constant column makes every regression on it singular.
        bad = np.flatnonzero(std == 0).tolist()
        raise ValueError(f"`{name}` has zero-variance columns {bad}; expected none.")
    return X - X.mean(axis=0) if center else X


def check_order(order, d: int, name: str = "init_order") -> np.ndarray:
    """Returns ``order`` as an int array, checking it is a permutation of ``range(d)``."""
    arr = np.asarray(order)
    if arr.shape != (d,) or not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"`{name}` must be an integer permutation of range({d}), got {order!r}.")
    if not np.array_equal(np.sort(arr), np.arange(d)):
        raise ValueError(f"`{name}` must be a permutation of range({d}), got {arr.tolist()}.")
    return arr.astype(np.int64)


def check_square(W, name: str = "W") -> np.ndarray:
    W = np.asarray(W, dtype=np.float64)
    if W.ndim != 2 or W.shape[0] != W.shape[1]:
        raise ValueError(f"`{name}` must be a square (d, d) matrix, got shape {W.shape}.")
    if W.shape[0] < 2:
        raise ValueError(f"`{name}` needs d >= 2, got d = {W.shape[0]}.")
    if not np.all(np.isfinite(W)):
        raise ValueError(f"`{name}` must be finite, got NaN or inf values.")
    return W
