"""The classical binary Hopfield network with Hebbian weights: the paper's point of comparison.

Hopfield, "Neural networks and physical systems with emergent collective computational
abilities", PNAS 1982. It stores about 0.14 d random patterns with small error (Amit et al.
1985), against exponentially many for the modern network.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from jaxpapers_shared import checks

from ._checks import check_positive_int, check_state

__all__ = ["classical_retrieve"]


def _check_binary(value, name):
    if np.ndim(value) < 1:
        raise ValueError(f"`{name}` must have a last axis of pattern components, got a scalar.")
    if checks.is_concrete(value):
        entries = np.asarray(value)
        bad = entries[np.abs(entries) != 1]
        if bad.size:
            raise ValueError(
                f"`{name}` must hold only -1 and +1 entries (bipolar patterns), got "
                f"{bad.size} other entries such as {bad.flat[0]!r}."
            )


@functools.partial(jax.jit, static_argnames=("steps",))
def _classical_retrieve(patterns, xi, steps):
    weights = patterns.T @ patterns
    weights = weights - jnp.diag(jnp.diag(weights))

    def step(state, _):
        field = state @ weights
        # A zero local field keeps the current sign instead of producing a 0 component.
        return jnp.where(field == 0, state, jnp.sign(field)), None

    state, _ = jax.lax.scan(step, xi, None, length=steps)
    return state


def classical_retrieve(patterns: jax.Array, xi: jax.Array, steps: int = 20) -> jax.Array:
    r"""Retrieval in the classical Hopfield network (Hebbian weights, synchronous updates).

    .. math:: W = X^\top X - \mathrm{diag}(X^\top X), \qquad \xi \leftarrow \mathrm{sgn}(W \xi).

    A zero local field keeps the current component. Baseline only: used by the reproduction
    and the tests to contrast the classical capacity (about 0.14 d) with the modern one.

    Args:
      patterns: (N, d) stored bipolar patterns (entries +-1).
      xi: (..., d) bipolar initial states.
      steps: synchronous update sweeps.

    Returns:
      (..., d) the states after ``steps`` sweeps (entries +-1).

    Raises:
      ValueError: non-bipolar input, mismatched dimensions, ``steps`` < 1.
    """
    _check_binary(patterns, "patterns")
    if np.ndim(patterns) != 2 or np.shape(patterns)[0] == 0:
        raise ValueError(f"`patterns` must be (N, d) with N >= 1, got {np.shape(patterns)}.")
    _check_binary(xi, "xi")
    check_state(xi, np.shape(patterns)[1])
    check_positive_int(steps, "steps")
    dtype = jnp.result_type(float)
    return _classical_retrieve(jnp.asarray(patterns, dtype), jnp.asarray(xi, dtype), int(steps))
