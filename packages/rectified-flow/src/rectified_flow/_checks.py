"""Argument validation shared by the public functions (errors name the argument)."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np


def is_traced(x: Any) -> bool:
    return isinstance(x, jax.core.Tracer)


def check_float(name: str, x: Any) -> jax.Array:
    x = jnp.asarray(x)
    if not jnp.issubdtype(x.dtype, jnp.floating):
        raise TypeError(f"{name} must have a floating dtype, got {x.dtype}")
    return x


def check_num_steps(num_steps: Any, name: str = "num_steps") -> int:
    if isinstance(num_steps, bool) or not isinstance(num_steps, int | np.integer):
        raise TypeError(f"{name} must be an int >= 1, got {num_steps!r}")
    if num_steps < 1:
        raise ValueError(f"{name} must be >= 1, got {num_steps}")
    return int(num_steps)


def check_pair(x0: Any, x1: Any) -> tuple[jax.Array, jax.Array]:
    x0, x1 = check_float("x0", x0), check_float("x1", x1)
    if x0.shape != x1.shape:
        raise ValueError(f"x0 and x1 must have the same shape, got x0 {x0.shape} and x1 {x1.shape}")
    if x0.ndim < 1:
        raise ValueError(f"x0 must have a leading batch axis, got shape {x0.shape}")
    return x0, x1


def check_time(t: Any, batch: int) -> jax.Array:
    t = check_float("t", t)
    if t.ndim > 1 or (t.ndim == 1 and t.shape[0] not in (1, batch)):
        raise ValueError(f"t must be a scalar or have shape ({batch},), got shape {t.shape}")
    if not is_traced(t):
        lo, hi = float(jnp.min(t)), float(jnp.max(t))
        if lo < 0.0 or hi > 1.0:
            raise ValueError(f"t must lie in [0, 1], got values in [{lo:.4g}, {hi:.4g}]")
    return jnp.broadcast_to(t, (batch,))


def check_finite(name: str, x: jax.Array) -> jax.Array:
    """Raises instead of silently returning NaN/inf samples (skipped under tracing)."""
    if not is_traced(x) and not bool(jnp.all(jnp.isfinite(x))):
        bad = int(jnp.sum(~jnp.isfinite(x)))
        raise FloatingPointError(
            f"{name} contains {bad} non-finite values (NaN/inf); the velocity model diverged"
        )
    return x
