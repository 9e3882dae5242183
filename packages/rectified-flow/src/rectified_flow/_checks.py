"""Argument checks of the public functions, on top of ``jaxpapers_shared.checks``.

Value checks (the range of ``t``, finiteness of samples) read concrete arrays with NumPy, so they
also work on constants closed over inside ``jax.jit``; traced values are skipped (their numbers
are unknown while tracing). Shape and dtype checks are static and always run.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxpapers_shared import checks


def float_batch(x: Any, name: str) -> jax.Array:
    """``x`` as a non-empty, finite float array with a leading batch axis (TypeError for int)."""
    if isinstance(x, str | bytes) or x is None:
        raise TypeError(f"`{name}` must be an array, got {type(x).__name__} {x!r}.")
    arr = x if isinstance(x, jax.Array) else jnp.asarray(x)
    if not jnp.issubdtype(arr.dtype, jnp.floating):
        raise TypeError(f"`{name}` must hold floats, got dtype {arr.dtype}.")
    if arr.ndim < 1:
        raise ValueError(f"`{name}` must have a leading batch axis, got {name}.shape={arr.shape}.")
    return checks.array(arr, name)


def pair(x0: Any, x1: Any, names: tuple[str, str] = ("x0", "x1")) -> tuple[jax.Array, jax.Array]:
    """Two float batches of the same shape (rows paired), named as the caller's arguments."""
    a, b = float_batch(x0, names[0]), float_batch(x1, names[1])
    checks.same_shape(a, b, names)
    return a, b


def time(t: Any, batch: int) -> jax.Array:
    """``t``: a scalar or ``(batch,)`` floats in [0, 1]; returned broadcast to ``(batch,)``."""
    if isinstance(t, int | float) and not isinstance(t, bool):
        t = jnp.float32(t)
    arr = t if isinstance(t, jax.Array) else jnp.asarray(t)
    if not jnp.issubdtype(arr.dtype, jnp.floating):
        raise TypeError(f"`t` must hold floats, got dtype {arr.dtype}.")
    if arr.ndim > 1 or (arr.ndim == 1 and arr.shape[0] not in (1, batch)):
        raise ValueError(f"`t` must be a scalar or have shape ({batch},), got t.shape={arr.shape}.")
    if checks.is_concrete(arr):
        values = np.asarray(arr)
        lo, hi = float(values.min()), float(values.max())
        if not (lo >= 0.0 and hi <= 1.0):
            raise ValueError(f"`t` must lie in [0, 1], got values in [{lo:.4g}, {hi:.4g}].")
    return jnp.broadcast_to(arr, (batch,))


def eps(value: Any) -> float:
    """The start time ``eps`` in [0, 1)."""
    return float(checks.in_range(value, "eps", 0.0, 1.0, closed="left"))


def steps(value: Any, name: str = "num_steps") -> int:
    return checks.integer(value, name, minimum=1)


def finite_samples(x: jax.Array, name: str = "samples") -> jax.Array:
    """Raises instead of returning NaN/inf samples (the velocity model diverged)."""
    if checks.is_concrete(x):
        values = np.asarray(x)
        bad = int(values.size - np.count_nonzero(np.isfinite(values)))
        if bad:
            raise FloatingPointError(
                f"{name} contain {bad} non-finite values (NaN/inf): the velocity model diverged."
            )
    return x
