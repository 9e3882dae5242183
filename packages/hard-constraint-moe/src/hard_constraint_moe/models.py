"""Basis networks ``f_theta(inputs[nt, nx, 3]) -> [nt, nx, N]`` as pure functions of a params dict."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from jaxpapers_shared import checks


def inputs(u0: jax.Array, nt: int) -> jax.Array:
    """The 3 input channels: the IC broadcast over time, ``t / T`` and ``x`` (``[nt, nx, 3]``)."""
    nx = u0.shape[-1]
    t = jnp.broadcast_to(jnp.linspace(0.0, 1.0, nt)[:, None], (nt, nx))
    x = jnp.broadcast_to(jnp.linspace(0.0, 1.0, nx)[None, :], (nt, nx))
    return jnp.stack([jnp.broadcast_to(u0, (nt, nx)), t, x], axis=-1)


def _dense(key, n_in, n_out):
    return {"w": jax.random.normal(key, (n_in, n_out)) / jnp.sqrt(n_in), "b": jnp.zeros(n_out)}


@dataclasses.dataclass(frozen=True)
class BasisFNO:
    """A Fourier neural operator over ``(t, x)`` with ``num_basis`` output channels.

    Lift to ``width`` channels, ``layers`` blocks of (spectral convolution keeping ``modes``
    low frequencies + pointwise linear, GELU), then a two-layer pointwise projection.
    """

    num_basis: int
    width: int = 16
    modes: tuple[int, int] = (4, 8)
    layers: int = 3

    def __post_init__(self):
        checks.integer(self.num_basis, "num_basis", minimum=1)
        checks.integer(self.width, "width", minimum=1)
        checks.integer(self.layers, "layers", minimum=1)
        for i, m in enumerate(self.modes):
            checks.integer(m, f"modes[{i}]", minimum=1)

    def init(self, key: jax.Array) -> dict:
        keys = jax.random.split(key, 3 + 2 * self.layers)
        w, (mt, mx) = self.width, self.modes
        scale = 1.0 / (w * w)
        blocks = []
        for i in range(self.layers):
            k1, k2 = jax.random.split(keys[3 + 2 * i])
            shape = (2, mt, mx, w, w)  # low and high t-frequencies
            spec = scale * (jax.random.uniform(k1, shape) + 1j * jax.random.uniform(k2, shape))
            blocks.append(
                {"spec_re": spec.real, "spec_im": spec.imag, "lin": _dense(keys[4 + 2 * i], w, w)}
            )
        return {
            "lift": _dense(keys[0], 3, w),
            "blocks": blocks,
            "proj1": _dense(keys[1], w, 4 * w),
            "proj2": _dense(keys[2], 4 * w, self.num_basis),
        }

    def apply(self, params: dict, x: jax.Array) -> jax.Array:
        mt, mx = self.modes
        h = x @ params["lift"]["w"] + params["lift"]["b"]
        nt, nx = h.shape[:2]
        mt, mx = min(mt, nt // 2), min(mx, nx // 2 + 1)
        for i, blk in enumerate(params["blocks"]):
            spec = (blk["spec_re"] + 1j * blk["spec_im"])[:, :mt, :mx]
            f = jnp.fft.rfft2(h, axes=(0, 1))
            out = jnp.zeros_like(f)
            out = out.at[:mt, :mx].set(jnp.einsum("abi,abio->abo", f[:mt, :mx], spec[0]))
            out = out.at[-mt:, :mx].set(jnp.einsum("abi,abio->abo", f[-mt:, :mx], spec[1]))
            h = jnp.fft.irfft2(out, s=(nt, nx), axes=(0, 1)) + h @ blk["lin"]["w"] + blk["lin"]["b"]
            if i < len(params["blocks"]) - 1:
                h = jax.nn.gelu(h)
        h = jax.nn.gelu(h @ params["proj1"]["w"] + params["proj1"]["b"])
        return h @ params["proj2"]["w"] + params["proj2"]["b"]


@dataclasses.dataclass(frozen=True)
class BasisMLP:
    """A pointwise MLP basis (for tests): ``[nt, nx, 3] -> [nt, nx, num_basis]``."""

    num_basis: int
    hidden: int = 32

    def __post_init__(self):
        checks.integer(self.num_basis, "num_basis", minimum=1)
        checks.integer(self.hidden, "hidden", minimum=1)

    def init(self, key: jax.Array) -> dict:
        k1, k2, k3 = jax.random.split(key, 3)
        return {
            "l1": _dense(k1, 3, self.hidden),
            "l2": _dense(k2, self.hidden, self.hidden),
            "l3": _dense(k3, self.hidden, self.num_basis),
        }

    def apply(self, params: dict, x: jax.Array) -> jax.Array:
        h = jnp.tanh(x @ params["l1"]["w"] + params["l1"]["b"])
        h = jnp.tanh(h @ params["l2"]["w"] + params["l2"]["b"])
        return h @ params["l3"]["w"] + params["l3"]["b"]
