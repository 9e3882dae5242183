"""Input checks shared by the public functions (eager, at trace time where possible)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np


def _is_concrete(x) -> bool:
    return not isinstance(x, jax.core.Tracer)


def check_finite(x, name: str) -> None:
    if _is_concrete(x) and not bool(np.all(np.isfinite(np.asarray(x)))):
        raise ValueError(f"`{name}` must be finite, got NaN or inf entries.")


def check_matrix(x, name: str) -> jax.Array:
    x = jnp.asarray(x)
    if x.ndim != 2:
        raise ValueError(f"`{name}` must be 2-D (batch, features), got {name}.shape={x.shape}.")
    if not jnp.issubdtype(x.dtype, jnp.floating):
        x = x.astype(jnp.result_type(float))
    check_finite(x, name)
    return x


def check_pair(x1, x2) -> tuple[jax.Array, jax.Array]:
    """Both inputs 2-D, finite, with the same feature dimension; ``x2=None`` means ``x1``."""
    x1 = check_matrix(x1, "x1")
    if x2 is None:
        return x1, x1
    x2 = check_matrix(x2, "x2")
    if x2.shape[1] != x1.shape[1]:
        raise ValueError(
            f"`x2` must have the feature dimension of `x1` ({x1.shape[1]}), "
            f"got x2.shape={x2.shape}."
        )
    return x1, x2
