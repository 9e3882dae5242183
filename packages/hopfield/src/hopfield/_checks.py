"""Input checks of the memory functions and the layers, on top of :mod:`jaxpapers_shared.checks`.

Value checks (finite entries, bounds) run on concrete inputs only; under ``jax.jit`` the shape
checks still run.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from jaxpapers_shared import checks


def check_beta(beta: Any, name: str = "beta") -> None:
    """``beta`` must be a finite scalar > 0 (checked only when it is not traced)."""
    checks.positive(beta, name)


def check_patterns(patterns: Any, name: str = "patterns") -> None:
    """Stored patterns are a non-empty ``(N, d)`` matrix of finite numbers."""
    shape = np.shape(patterns)
    if len(shape) != 2:
        raise ValueError(f"`{name}` must be (N, d) with one stored pattern per row, got {shape}.")
    if shape[0] == 0 or shape[1] == 0:
        raise ValueError(f"`{name}` must hold at least one pattern of dimension >= 1, got {shape}.")
    checks.finite(patterns, name)


def check_state(state: Any, dim: int, name: str = "xi", patterns_name: str = "patterns") -> None:
    """A state (query) is ``(..., d)`` with ``d`` equal to the stored patterns' dimension."""
    shape = np.shape(state)
    if len(shape) == 0 or shape[-1] != dim:
        raise ValueError(
            f"`{name}` must be (..., d) with d = {dim} (the dimension of `{patterns_name}`), "
            f"got {shape}."
        )
    checks.finite(state, name)


def check_positive_int(value: Any, name: str, *, minimum: int = 1) -> int:
    """An integer (not a bool) >= ``minimum``."""
    return checks.integer(value, name, minimum=minimum)


def check_positive_float(value: Any, name: str) -> float:
    """A finite real number > 0."""
    return checks.positive(value, name)
