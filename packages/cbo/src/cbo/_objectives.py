"""Test functions of the paper's illustrations and of the CBO literature.

Each maps one point ``x`` of shape ``(d,)`` to a scalar and is ``vmap``-able over particles.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import jax.numpy as jnp

from jaxpapers_shared import checks

__all__ = ["ackley", "grand_canyon3", "rastrigin"]


def grand_canyon3(c: float = 1.1625) -> Callable[[jnp.ndarray], jnp.ndarray]:
    """The two-dimensional "GrandCanyon3" landscape of the paper's Figures 1-2.

    A curved canyon from about ``(8, 8)`` down to the global minimizer ``x* = 0`` (where
    ``E = 0``; every term is ``>= 0``), with a barrier across the canyon floor and a cosine
    ripple of amplitude ``c`` that makes local minima along the way::

        q(v) = v2 - ((2/16) (v1 - 1) (v1 - 4)^2 + 2),   b(v) = -v1 - 1.6 v2
        E(v) = 25 (1 - exp(-1.4 q^2 exp(-0.002 v1^4))) + 0.4 v1^2 + 0.2 v2^2
               + c sum_i (1 - cos(0.75 pi v_i)) + 4 exp(1 - 2 q^4) max((1 - exp(-9 b^2)) sign(b), 0)

    Args:
      c: ripple amplitude: 1.1625 is "GrandCanyon3noisy" (the figures), 0.25 "GrandCanyon3".

    Returns:
      ``E(x)`` for ``x`` of shape ``(2,)``; the same function object for the same ``c`` (so
      compiled runs are reused).

    References:
      Riedl, Klock, Geldhauser, Fornasier, arXiv:2306.09778, Figs. 1-2 (objective of the
      official code, ``objective_function.m``).
    """
    checks.positive(c, "c", allow_zero=True)
    return _grand_canyon3(float(c))


@functools.lru_cache(maxsize=16)
def _grand_canyon3(c: float) -> Callable[[jnp.ndarray], jnp.ndarray]:
    def energy(x: jnp.ndarray) -> jnp.ndarray:
        if x.shape != (2,):
            raise ValueError(f"`x` must have shape (2,) for grand_canyon3, got {x.shape}.")
        v1, v2 = x[0], x[1]
        q = v2 - ((2.0 / 16.0) * (v1 - 1.0) * (v1 - 4.0) ** 2 + 2.0)
        b = -v1 - 1.6 * v2
        canyon = 25.0 * (1.0 - jnp.exp(-1.4 * q**2 * jnp.exp(-0.002 * v1**4)))
        bowl = 0.4 * v1**2 + 0.2 * v2**2
        # two scalar terms rather than a sum over a length-2 axis (slow under vmap on CPU)
        ripple = c * ((1.0 - jnp.cos(0.75 * jnp.pi * v1)) + (1.0 - jnp.cos(0.75 * jnp.pi * v2)))
        block = (
            4.0
            * jnp.exp(1.0 - 2.0 * q**4)
            * jnp.maximum((1.0 - jnp.exp(-9.0 * b**2)) * jnp.sign(b), 0.0)
        )
        return canyon + bowl + ripple + block

    return energy


def rastrigin(x: jnp.ndarray, amplitude: float = 10.0) -> jnp.ndarray:
    """Rastrigin: ``sum_i x_i^2 + A (1 - cos(2 pi x_i))``; global minimum 0 at ``x = 0``.

    ``A = 10`` is the usual benchmark; the official code of the paper uses ``A = 2.5``.
    """
    return jnp.sum(x**2 + amplitude * (1.0 - jnp.cos(2.0 * jnp.pi * x)))


def ackley(x: jnp.ndarray) -> jnp.ndarray:
    """Ackley: ``-20 exp(-0.2 sqrt(|x|^2 / d)) - exp(mean cos(2 pi x)) + e + 20``; minimum 0 at 0."""
    d = x.shape[-1]
    return (
        -20.0 * jnp.exp(-0.2 * jnp.sqrt(jnp.sum(x**2) / d))
        - jnp.exp(jnp.sum(jnp.cos(2.0 * jnp.pi * x)) / d)
        + jnp.e
        + 20.0
    )
