"""Hyperplane-arrangement patterns ``D = diag(1[X h >= 0])``: sampled and exactly enumerated."""

from __future__ import annotations

import itertools
import warnings

import jax
import jax.numpy as jnp
import numpy as np

from jaxpapers_shared import checks


def _data(X, name: str = "X") -> jax.Array:
    return checks.array(X, name, ndim=2, dtype="float")


def dedupe_patterns(patterns, *, warn: bool = True) -> jax.Array:
    """Drops duplicate and all-zero rows of a boolean ``[P, n]`` pattern array (order kept).

    An all-zero pattern ``D = 0`` contributes nothing (``D X v = 0``); a duplicate adds a copy of
    a block that changes neither the optimum nor the recovered network.
    """
    arr = np.asarray(patterns)
    if arr.dtype != np.bool_:
        raise TypeError(f"`patterns` must be a boolean array, got dtype {arr.dtype}.")
    if arr.ndim != 2:
        raise ValueError(f"`patterns` must have 2 axes [P, n], got patterns.shape={arr.shape}.")
    _, first = np.unique(arr, axis=0, return_index=True)
    keep = np.sort(first)
    keep = keep[arr[keep].any(axis=1)]
    dropped = arr.shape[0] - keep.size
    if dropped and warn:
        warnings.warn(
            f"dropped {dropped} duplicate or all-zero pattern(s) of {arr.shape[0]}.", stacklevel=3
        )
    return jnp.asarray(arr[keep])


def sample_patterns(key: jax.Array, X, num_patterns: int, *, dedupe: bool = True) -> jax.Array:
    """Samples activation patterns ``1[X h >= 0]`` with ``h ~ N(0, I_d)`` (the approximate program).

    Args:
      key: a PRNG key.
      X: data ``[n, d]``; append the bias column of ones *before* sampling.
      num_patterns: how many directions ``h`` to draw (``P_s``).
      dedupe: drop duplicate and all-zero patterns (so ``P <= num_patterns``).

    Returns:
      a boolean array ``[P, n]``.

    Raises:
      ValueError: ``X`` is not a finite 2-D array, or ``num_patterns < 1``.
    """
    X = _data(X)
    num_patterns = checks.integer(num_patterns, "num_patterns", minimum=1)
    h = jax.random.normal(key, (X.shape[1], num_patterns), X.dtype)
    patterns = (X @ h >= 0).T
    return dedupe_patterns(patterns, warn=False) if dedupe else patterns


def enumerate_patterns_2d(X) -> jax.Array:
    """Every distinct pattern ``1[X h >= 0]`` over ``h in R^3`` for 2-D data plus a bias column.

    For each pair of rows ``(j, k)`` the direction ``h0 = x_j x x_k`` lies on both of their
    hyperplanes; ``+-h0`` fixes the signs of all other rows and the four sign choices of rows
    ``j, k`` are each realised nearby. Every region of the arrangement touches such a ray, so the
    union is the whole arrangement. In general position there are ``2 (1 + (n - 1) + (n - 1)(n - 2) / 2)``
    patterns including the empty one, which is dropped here (it contributes nothing).

    Args:
      X: ``[n, 3]`` data whose rows are points ``(a, b, 1)`` (the last column may be any
        nonzero constant).

    Returns:
      a boolean array ``[P, n]`` without the all-zero pattern.

    Raises:
      ValueError: ``X`` is not ``[n, 3]`` or not finite.
    """
    X = np.asarray(_data(X), dtype=np.float64)
    if X.shape[1] != 3:
        raise ValueError(f"`X` must have shape (n, 3) (2-D points + bias), got X.shape={X.shape}.")
    n = X.shape[0]
    found = {tuple([True] * n), tuple([False] * n)}
    scale = np.max(np.abs(X)) or 1.0
    for j, k in itertools.combinations(range(n), 2):
        h0 = np.cross(X[j], X[k])
        if np.linalg.norm(h0) < 1e-12 * scale**2:
            continue
        for sign in (1.0, -1.0):
            base = sign * (X @ h0) >= 0
            for sj, sk in itertools.product((False, True), repeat=2):
                pattern = base.copy()
                pattern[j], pattern[k] = sj, sk
                found.add(tuple(pattern))
    arr = np.array(sorted(found), dtype=bool)
    return jnp.asarray(arr[arr.any(axis=1)])


def arrangement_size_2d(n: int) -> int:
    """Number of nonzero patterns of ``n`` points in general position in the plane (with bias)."""
    return 2 * (1 + (n - 1) + (n - 1) * (n - 2) // 2) - 1
