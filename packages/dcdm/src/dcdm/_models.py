"""The residual U-Net that approximates ``A^{-1}`` up to a scale (Sec. 4, Fig. 2)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx


def _pool(x: jax.Array, nd: int) -> jax.Array:
    return nnx.avg_pool(x, (2,) * nd, strides=(2,) * nd)


def _upsample(x: jax.Array, nd: int) -> jax.Array:
    for axis in range(1, 1 + nd):
        x = jnp.repeat(x, 2, axis=axis)
    return x


class _ResPair(nnx.Module):
    """Two ReLU convolutions with a skip: ``x + relu(conv(relu(conv(x))))``."""

    def __init__(self, features: int, nd: int, rngs: nnx.Rngs):
        k = (3,) * nd
        self.c1 = nnx.Conv(features, features, k, padding="SAME", rngs=rngs)
        self.c2 = nnx.Conv(features, features, k, padding="SAME", rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        return x + jax.nn.relu(self.c2(jax.nn.relu(self.c1(x))))


class DCDMNet(nnx.Module):
    """``f_theta``: residual U-Net on the grid, ``(batch, *grid) -> (batch, *grid)``.

    First conv linear; ``depth`` residual pairs at full resolution; ``levels`` 2x average-pool
    levels each with residual pairs; nearest upsampling with skip adds; a final linear 1x1
    convolution (the paper's Dense(1)). Zero "SAME" padding matches Dirichlet boundaries. With a
    solid mask the mask is a second input channel and the output is zeroed on solid cells.

    Args:
        ndim: 2 or 3 (grid dimension).
        features: filters per conv (paper: 16).
        levels: pooling levels (paper 3-D: 1; our 2-D reproduction: 2).
        depth: residual pairs per level.
        use_mask: take the solid mask as a second channel.
        rngs: ``nnx.Rngs`` for the initialisation.

    Raises:
        ValueError: ``ndim`` not 2/3, ``features``/``levels``/``depth`` < 1 (levels >= 0).

    Differs from the paper: fewer residual convs (CPU budget); 2-D by default.
    """

    def __init__(
        self,
        ndim: int = 2,
        *,
        features: int = 16,
        levels: int = 2,
        depth: int = 1,
        use_mask: bool = False,
        rngs: nnx.Rngs,
    ):
        if ndim not in (2, 3):
            raise ValueError(f"`ndim` must be 2 or 3, got {ndim}.")
        if features < 1 or depth < 1 or levels < 0:
            raise ValueError(
                f"`features`, `depth` must be >= 1 and `levels` >= 0, got "
                f"features={features}, depth={depth}, levels={levels}."
            )
        self.ndim, self.levels, self.use_mask = ndim, levels, use_mask
        k = (3,) * ndim
        cin = 2 if use_mask else 1
        self.inp = nnx.Conv(cin, features, k, padding="SAME", rngs=rngs)
        self.down = nnx.List(
            [
                nnx.List([_ResPair(features, ndim, rngs) for _ in range(depth)])
                for _ in range(levels + 1)
            ]
        )
        self.up = nnx.List(
            [nnx.Conv(features, features, k, padding="SAME", rngs=rngs) for _ in range(levels)]
        )
        self.out = nnx.Conv(features, 1, (1,) * ndim, rngs=rngs)

    def __call__(self, r: jax.Array, mask: jax.Array | None = None) -> jax.Array:
        nd = self.ndim
        if r.ndim != nd + 1:
            raise ValueError(
                f"`r` must have shape (batch, *grid) with {nd} grid axes, got {r.shape}."
            )
        if any(s % (2**self.levels) for s in r.shape[1:]):
            raise ValueError(
                f"grid sides must be divisible by 2**levels={2**self.levels}, got {r.shape[1:]}."
            )
        x = r[..., None]
        if self.use_mask:
            if mask is None:
                raise ValueError("`mask` is required: this network was built with use_mask=True.")
            x = jnp.concatenate([x, jnp.broadcast_to(mask, r.shape)[..., None]], axis=-1)
        h = self.inp(x)
        skips = []
        for i, stage in enumerate(self.down):
            if i > 0:
                skips.append(h)
                h = _pool(h, nd)
            for block in stage:
                h = block(h)
        for conv, skip in zip(self.up, reversed(skips), strict=True):
            h = jax.nn.relu(conv(_upsample(h, nd) + skip))
        q = self.out(h)[..., 0]
        if mask is not None:
            q = q * mask
        return q
