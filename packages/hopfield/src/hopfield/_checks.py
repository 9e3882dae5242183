"""Input checks shared by the memory functions and the layers (run eagerly, before tracing)."""

from __future__ import annotations

import math
from typing import Any

import jax
import numpy as np


def is_concrete(value: Any) -> bool:
    return not isinstance(value, jax.core.Tracer)


def check_beta(beta: Any, name: str = "beta") -> None:
    """``beta`` must be a finite positive scalar (checked only when it is not traced)."""
    if not is_concrete(beta):
        return
    arr = np.asarray(beta)
    if arr.ndim != 0:
        raise ValueError(f"`{name}` must be a scalar, got shape {arr.shape}.")
    value = float(arr)
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"`{name}` must be a finite number > 0, got {value}.")


def check_patterns(patterns: Any, name: str = "patterns") -> None:
    """Stored patterns are a non-empty ``(N, d)`` matrix of finite numbers."""
    shape = np.shape(patterns)
    if len(shape) != 2:
        raise ValueError(f"`{name}` must be (N, d) with one stored pattern per row, got {shape}.")
    if shape[0] == 0 or shape[1] == 0:
        raise ValueError(f"`{name}` must hold at least one pattern of dimension >= 1, got {shape}.")
    check_finite(patterns, name)


def check_state(state: Any, dim: int, name: str = "xi", patterns_name: str = "patterns") -> None:
    """A state (query) is ``(..., d)`` with ``d`` equal to the stored patterns' dimension."""
    shape = np.shape(state)
    if len(shape) == 0 or shape[-1] != dim:
        raise ValueError(
            f"`{name}` must be (..., d) with d = {dim} (the dimension of `{patterns_name}`), "
            f"got {shape}."
        )
    check_finite(state, name)


def check_finite(value: Any, name: str) -> None:
    if is_concrete(value) and not np.all(np.isfinite(np.asarray(value))):
        raise ValueError(f"`{name}` contains NaN or inf; the Hopfield update needs finite input.")


def check_positive_int(value: Any, name: str, *, minimum: int = 1) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ValueError(f"`{name}` must be an integer >= {minimum}, got {value!r}.")


def check_positive_float(value: Any, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float | np.floating):
        raise TypeError(f"`{name}` must be a float > 0, got {type(value).__name__} {value!r}.")
    if not math.isfinite(float(value)) or value <= 0:
        raise ValueError(f"`{name}` must be a finite float > 0, got {value}.")
