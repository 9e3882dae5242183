"""Velocity networks v(x, t) in Flax NNX, and the split into a pure ``apply_fn``."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx

from jaxpapers_shared import checks


def fourier_time(t: jax.Array, dim: int) -> jax.Array:
    """Sinusoidal embedding of ``t`` ``(n,)`` in [0, 1] -> ``(n, dim)``."""
    freqs = jnp.exp(jnp.linspace(0.0, jnp.log(1000.0), dim // 2))
    ang = t[:, None] * freqs[None, :]
    return jnp.concatenate([jnp.sin(ang), jnp.cos(ang)], axis=-1)


class VelocityMLP(nnx.Module):
    """MLP velocity v(x, t) for vectors: ``depth`` SiLU layers of width ``hidden``.

    Args:
      dim: data dimension d.
      hidden: layer width (128 in the 2D experiment of the reproduction).
      depth: number of hidden layers (3).
      time_embed: ``"concat"`` (t appended to x) or ``"fourier"`` (16 sinusoids appended).
      rngs: ``nnx.Rngs``.
    """

    def __init__(
        self, dim: int, hidden: int = 128, depth: int = 3, *, time_embed: str = "concat", rngs
    ):
        checks.one_of(time_embed, "time_embed", ("concat", "fourier"))
        dim = checks.integer(dim, "dim", minimum=1)
        hidden = checks.integer(hidden, "hidden", minimum=1)
        depth = checks.integer(depth, "depth", minimum=1)
        self.time_embed = time_embed
        t_dim = 1 if time_embed == "concat" else 16
        sizes = [dim + t_dim] + [hidden] * depth
        self.layers = nnx.List(
            [nnx.Linear(a, b, rngs=rngs) for a, b in zip(sizes, sizes[1:], strict=False)]
        )
        self.out = nnx.Linear(hidden, dim, rngs=rngs)

    def __call__(self, x: jax.Array, t: jax.Array) -> jax.Array:
        te = t[:, None] if self.time_embed == "concat" else fourier_time(t, 16)
        h = jnp.concatenate([x, te.astype(x.dtype)], axis=-1)
        for layer in self.layers:
            h = nnx.silu(layer(h))
        return self.out(h)


class SmallUNet(nnx.Module):
    """Two-level convolutional U-Net for ``(n, 8, 8, c)`` images (8x8 -> 4x4 -> 8x8).

    A much smaller stand-in for the paper's DDPM++ (no attention, no dropout). Time enters
    through a Fourier embedding added to every block.

    Args:
      channels: image channels c.
      width: base number of feature maps.
      rngs: ``nnx.Rngs``.
    """

    def __init__(self, channels: int = 1, width: int = 32, *, rngs):
        w = width
        self.t1 = nnx.Linear(32, w, rngs=rngs)
        self.t2 = nnx.Linear(32, 2 * w, rngs=rngs)
        self.inp = nnx.Conv(channels, w, (3, 3), rngs=rngs)
        self.down = nnx.Conv(w, 2 * w, (3, 3), strides=(2, 2), rngs=rngs)
        self.mid = nnx.Conv(2 * w, 2 * w, (3, 3), rngs=rngs)
        self.up = nnx.ConvTranspose(2 * w, w, (2, 2), strides=(2, 2), rngs=rngs)
        self.dec = nnx.Conv(2 * w, w, (3, 3), rngs=rngs)
        self.out = nnx.Conv(w, channels, (3, 3), rngs=rngs)

    def __call__(self, x: jax.Array, t: jax.Array) -> jax.Array:
        te = fourier_time(t, 32)
        h1 = nnx.silu(self.inp(x) + self.t1(te)[:, None, None, :])
        h2 = nnx.silu(self.down(h1) + self.t2(te)[:, None, None, :])
        h2 = nnx.silu(self.mid(h2))
        u = nnx.silu(self.up(h2))
        u = nnx.silu(self.dec(jnp.concatenate([u, h1], axis=-1)))
        return self.out(u)


def split(model: nnx.Module) -> tuple[Any, Any]:
    """Turns an NNX model into ``(apply_fn, params)`` with ``apply_fn(params, x, t) -> v`` pure.

    ``apply_fn`` is a fresh closure per call; reuse the returned one so jitted samplers (which
    take it as a static argument) compile once.
    """
    graphdef, params = nnx.split(model)

    def apply_fn(params, x, t):
        return nnx.merge(graphdef, params)(x, t)

    return apply_fn, params
