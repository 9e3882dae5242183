"""Input checks shared by the public functions, on top of :mod:`jaxpapers_shared.checks`."""

from __future__ import annotations

import jax

from jaxpapers_shared import checks


def check_pair(x1, x2) -> tuple[jax.Array, jax.Array]:
    """Both inputs 2-D (batch, features), finite, with the same feature dimension.

    ``x2=None`` means ``x1``. Integer inputs are promoted to the default float.
    """
    x1 = checks.array(x1, "x1", ndim=2, dtype="float")
    if x2 is None:
        return x1, x1
    x2 = checks.array(x2, "x2", ndim=2, dtype="float")
    if x2.shape[1] != x1.shape[1]:
        raise ValueError(
            f"`x2` must have the feature dimension of `x1` ({x1.shape[1]}), "
            f"got x2.shape={x2.shape}."
        )
    return x1, x2


def check_beta(beta) -> float:
    """The bias scale: a finite real number >= 0, returned as a float (a static jit argument)."""
    if not checks.is_concrete(beta):
        raise TypeError("`beta` must be a concrete float (it fixes the kernel), got a tracer.")
    return float(checks.positive(beta, "beta", allow_zero=True))
