"""Toy distributions of the reproduction: N(0, I) and 8 Gaussians on a circle."""

from __future__ import annotations

import jax
import jax.numpy as jnp


def standard_normal(key: jax.Array, n: int, dim: int = 2) -> jax.Array:
    """``(n, dim)`` samples of N(0, I)."""
    return jax.random.normal(key, (n, dim))


def eight_gaussians(key: jax.Array, n: int, radius: float = 4.0, std: float = 0.3) -> jax.Array:
    """``(n, 2)`` samples of 8 equal-weight Gaussians centred on a circle."""
    kc, kn = jax.random.split(key)
    ang = 2 * jnp.pi * jax.random.randint(kc, (n,), 0, 8) / 8
    centres = radius * jnp.stack([jnp.cos(ang), jnp.sin(ang)], axis=-1)
    return centres + std * jax.random.normal(kn, (n, 2))
