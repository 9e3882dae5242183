"""The residual U-Net that approximates ``A^{-1}`` up to a scale (Sec. 4, Fig. 2)."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import jax
import jax.numpy as jnp
from flax import nnx

from jaxpapers_shared import checks

#: A CPU-efficient configuration for :class:`DCDMNet` (``DCDMNet(2, **CPU_CONFIG, rngs=...)``):
#: two channels and no residual pair at full and half resolution, 4 and 8 channels with one
#: residual pair at the two coarsest of 3 levels, and every convolution computed as fused
#: shifted multiply-adds (``conv="stencil"``) instead of XLA:CPU's convolution, which is slow at a
#: few channels. Not the paper's network: the cheapest configuration tried for solving on a CPU,
#: where a forward pass of the 16-filter network costs 80-270 CG iterations. One apply costs
#: 14-30 CG iterations, but trained at 32^2 its DCDM iteration stalls near a 1e-2 relative
#: residual (README, Benchmarks): fast, not yet a converging solver.
CPU_CONFIG = {"features": (2, 2, 4, 8), "levels": 3, "depth": (0, 0, 1, 1), "conv": "stencil"}


def _pool(x: jax.Array, nd: int) -> jax.Array:
    return nnx.avg_pool(x, (2,) * nd, strides=(2,) * nd)


def _upsample(x: jax.Array, nd: int) -> jax.Array:
    for axis in range(1, 1 + nd):
        x = jnp.repeat(x, 2, axis=axis)
    return x


def _widen(x: jax.Array, features: int) -> jax.Array:
    """Zero channels appended up to ``features`` (no parameters; a no-op at equal width)."""
    extra = features - x.shape[-1]
    return x if extra == 0 else jnp.pad(x, [(0, 0)] * (x.ndim - 1) + [(0, extra)])


def _stencil_conv(conv: nnx.Conv, x: jax.Array) -> jax.Array:
    """``conv(x)`` (zero "SAME" padding, odd kernel) as a sum of shifted planes times scalars.

    Every output channel is one elementwise expression over the input channels' shifted copies,
    which XLA fuses into a single loop; at 2-8 channels this is 5-20x faster than XLA:CPU's
    convolution (measured at 128^2 and 256^2). Same weights, same function.
    """
    kernel, bias = conv.kernel[...], conv.bias[...]
    ksize = kernel.shape[:-2]
    planes = [x[..., i] for i in range(x.shape[-1])]
    grid = x.shape[1:-1]
    pads = [(0, 0)] + [(k // 2, k // 2) for k in ksize]
    padded = [jnp.pad(p, pads) for p in planes]
    offsets = list(itertools.product(*[range(k) for k in ksize]))
    shifted = [
        [
            p[(slice(None), *[slice(o, o + n) for o, n in zip(off, grid, strict=True)])]
            for p in padded
        ]
        for off in offsets
    ]
    out = []
    for o in range(kernel.shape[-1]):
        acc = bias[o]
        for off, views in zip(offsets, shifted, strict=True):
            for i, v in enumerate(views):
                acc = acc + kernel[(*off, i, o)] * v
        out.append(jnp.broadcast_to(acc, planes[0].shape))
    return jnp.stack(out, axis=-1)


class _ResPair(nnx.Module):
    """Two ReLU convolutions with a skip: ``x + relu(conv(relu(conv(x))))``."""

    def __init__(self, features: int, nd: int, rngs: nnx.Rngs):
        k = (3,) * nd
        self.c1 = nnx.Conv(features, features, k, padding="SAME", rngs=rngs)
        self.c2 = nnx.Conv(features, features, k, padding="SAME", rngs=rngs)

    def __call__(self, x: jax.Array, conv) -> jax.Array:
        return x + jax.nn.relu(conv(self.c2, jax.nn.relu(conv(self.c1, x))))


def _per_level(value, levels: int, name: str) -> tuple[int, ...]:
    values = (value,) * (levels + 1) if isinstance(value, int) else tuple(value)
    if len(values) != levels + 1:
        raise ValueError(
            f"`{name}` must be an int or one value per level ({levels + 1} for levels={levels}), "
            f"got {value!r}."
        )
    for v in values:
        checks.integer(v, name, minimum=0)
    return values


class DCDMNet(nnx.Module):
    """``f_theta``: residual U-Net on the grid, ``(batch, *grid) -> (batch, *grid)``.

    First conv linear; ``depth`` residual pairs at full resolution; ``levels`` 2x average-pool
    levels each with residual pairs; nearest upsampling with skip adds; a final linear 1x1
    convolution (the paper's Dense(1)). Zero "SAME" padding matches Dirichlet boundaries. With a
    solid mask the mask is a second input channel and the output is zeroed on solid cells.

    ``features`` and ``depth`` may vary by level (full resolution first). A wider coarse level
    starts from the finer level's channels padded with zeros; its up convolution maps back to the
    finer width (``relu(conv(upsample(h) + skip))``, the skip zero-padded). :data:`CPU_CONFIG`
    is a narrow, stencil-evaluated configuration for CPUs.

    Args:
        ndim: 2 or 3 (grid dimension).
        features: filters per conv (paper: 16), or one width per level, non-decreasing, >= 2 at
            full resolution.
        levels: pooling levels (paper 3-D: 1; our 2-D reproduction: 2).
        depth: residual pairs per level, or one count per level.
        use_mask: take the solid mask as a second channel.
        conv: ``"xla"`` (``nnx.Conv``; the default) or ``"stencil"`` (the same convolutions
            computed as fused shifted multiply-adds: faster on CPU at a few channels, slower at
            16).
        rngs: ``nnx.Rngs`` for the initialisation.

    Raises:
        ValueError: ``ndim`` not 2/3, ``features``/``depth`` < 1 (levels >= 0), per-level
            values of the wrong length or decreasing widths, unknown ``conv``.

    Differs from the paper: fewer residual convs (CPU budget); 2-D by default.
    """

    def __init__(
        self,
        ndim: int = 2,
        *,
        features: int | Sequence[int] = 16,
        levels: int = 2,
        depth: int | Sequence[int] = 1,
        use_mask: bool = False,
        conv: str = "xla",
        rngs: nnx.Rngs,
    ):
        if ndim not in (2, 3):
            raise ValueError(f"`ndim` must be 2 or 3, got {ndim}.")
        if isinstance(features, int) and isinstance(depth, int):
            if features < 1 or depth < 1 or levels < 0:
                raise ValueError(
                    f"`features`, `depth` must be >= 1 and `levels` >= 0, got "
                    f"features={features}, depth={depth}, levels={levels}."
                )
        checks.integer(levels, "levels", minimum=0)
        widths = _per_level(features, levels, "features")
        depths = _per_level(depth, levels, "depth")
        if widths[0] < 2 or any(b < a for a, b in zip(widths, widths[1:], strict=False)):
            raise ValueError(
                f"`features` must be non-decreasing with >= 2 at full resolution, got {features}."
            )
        if conv not in ("xla", "stencil"):
            raise ValueError(f"`conv` must be 'xla' or 'stencil', got {conv!r}.")
        self.ndim, self.levels, self.use_mask, self.conv = ndim, levels, use_mask, conv
        self.widths = widths
        k = (3,) * ndim
        cin = 2 if use_mask else 1
        self.inp = nnx.Conv(cin, widths[0], k, padding="SAME", rngs=rngs)
        self.down = nnx.List(
            [
                nnx.List([_ResPair(widths[i], ndim, rngs) for _ in range(depths[i])])
                for i in range(levels + 1)
            ]
        )
        # Coarsest first: up[j] maps level levels - j to the level above it.
        self.up = nnx.List(
            [
                nnx.Conv(widths[i + 1], widths[i], k, padding="SAME", rngs=rngs)
                for i in reversed(range(levels))
            ]
        )
        self.out = nnx.Conv(widths[0], 1, (1,) * ndim, rngs=rngs)

    def __call__(
        self, r: jax.Array, mask: jax.Array | None = None, *, conv: str | None = None
    ) -> jax.Array:
        """``q = f(r)``; ``conv`` overrides the network's convolution implementation (the
        function is the same; :func:`dcdm.train` trains through ``"xla"``, whose gradient
        compiles fast)."""
        nd = self.ndim
        if r.ndim != nd + 1:
            raise ValueError(
                f"`r` must have shape (batch, *grid) with {nd} grid axes, got {r.shape}."
            )
        if any(s % (2**self.levels) for s in r.shape[1:]):
            raise ValueError(
                f"grid sides must be divisible by 2**levels={2**self.levels}, got {r.shape[1:]}."
            )
        conv = self.conv if conv is None else conv
        if conv not in ("xla", "stencil"):
            raise ValueError(f"`conv` must be 'xla' or 'stencil', got {conv!r}.")
        conv = _stencil_conv if conv == "stencil" else (lambda c, x: c(x))
        x = r[..., None]
        if self.use_mask:
            if mask is None:
                raise ValueError("`mask` is required: this network was built with use_mask=True.")
            x = jnp.concatenate([x, jnp.broadcast_to(mask, r.shape)[..., None]], axis=-1)
        h = conv(self.inp, x)
        skips = []
        for i, stage in enumerate(self.down):
            if i > 0:
                skips.append(h)
                h = _widen(_pool(h, nd), self.widths[i])
            for block in stage:
                h = block(h, conv)
        for up, skip in zip(self.up, reversed(skips), strict=True):
            h = jax.nn.relu(conv(up, _upsample(h, nd) + _widen(skip, h.shape[-1])))
        q = conv(self.out, h)[..., 0]
        if mask is not None:
            q = q * mask
        return q
