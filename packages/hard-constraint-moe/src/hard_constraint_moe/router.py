"""The fixed router: a uniform split of the ``(t, x)`` grid into disjoint equal subdomains."""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np


def check_splits(splits: Sequence[int], shape: Sequence[int]) -> tuple[int, ...]:
    """Validates ``splits`` (parts per grid axis) against the grid ``shape``."""
    splits = tuple(splits)
    if len(splits) != len(shape):
        raise ValueError(
            f"`splits` must have one entry per grid axis {tuple(shape)}, got {splits}."
        )
    for i, (s, n) in enumerate(zip(splits, shape, strict=True)):
        if not isinstance(s, (int,)) or isinstance(s, bool) or s < 1:
            raise ValueError(
                f"`splits[{i}]` must be an integer >= 1 (no empty subdomains), got {s!r}."
            )
        if n % s:
            raise ValueError(
                f"`splits[{i}]` = {s} must divide the grid axis of size {n} exactly "
                "(subdomains must be equal so the experts can be vmapped)."
            )
    return splits


def splits_from_bounds(bounds: Sequence[Sequence[int]], shape: Sequence[int]) -> tuple[int, ...]:
    """``splits`` from explicit cut indices per axis, e.g. ``[(0, 17), (0, 8, 16, 24, 32)]``.

    Raises ``ValueError`` for overlapping, empty, gapped or unequal subdomains.
    """
    if len(bounds) != len(shape):
        raise ValueError(
            f"`bounds` must have one entry per grid axis {tuple(shape)}, got {bounds}."
        )
    splits = []
    for i, (b, n) in enumerate(zip(bounds, shape, strict=True)):
        b = [int(v) for v in b]
        if len(b) < 2 or b[0] != 0 or b[-1] != n:
            raise ValueError(f"`bounds[{i}]` must start at 0 and end at {n}, got {b}.")
        widths = [hi - lo for lo, hi in zip(b[:-1], b[1:], strict=True)]
        if any(w < 0 for w in widths):
            raise ValueError(
                f"`bounds[{i}]` = {b} has overlapping subdomains (cuts must increase)."
            )
        if any(w == 0 for w in widths):
            raise ValueError(f"`bounds[{i}]` = {b} has an empty subdomain.")
        if len(set(widths)) != 1:
            raise ValueError(f"`bounds[{i}]` = {b} must cut equal subdomains, got widths {widths}.")
        splits.append(len(widths))
    return check_splits(splits, shape)


def partition(array: jax.Array, splits: Sequence[int]) -> jax.Array:
    """``[nt, nx, ...] -> [K, nt / st, nx / sx, ...]`` with experts in row-major (t, x) order."""
    nt, nx = array.shape[:2]
    st, sx = check_splits(splits, (nt, nx))
    rest = array.shape[2:]
    xp = np if isinstance(array, np.ndarray) else jnp
    a = array.reshape(st, nt // st, sx, nx // sx, *rest)
    a = xp.moveaxis(a, 2, 1)
    return a.reshape(st * sx, nt // st, nx // sx, *rest)


def unpartition(blocks: jax.Array, splits: Sequence[int]) -> jax.Array:
    """Inverse of :func:`partition`."""
    st, sx = tuple(splits)
    k, bt, bx = blocks.shape[:3]
    if k != st * sx:
        raise ValueError(f"`blocks` has {k} experts but `splits` {tuple(splits)} needs {st * sx}.")
    rest = blocks.shape[3:]
    xp = np if isinstance(blocks, np.ndarray) else jnp
    a = blocks.reshape(st, sx, bt, bx, *rest)
    a = xp.moveaxis(a, 1, 2)
    return a.reshape(st * bt, sx * bx, *rest)
