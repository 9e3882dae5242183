"""The Eulerian PINN baseline and the two-branch Lagrangian PINN (Flax NNX).

Both take the periodic embedding (cos x, sin x, t) ("POLAR" in the official code), so periodic
boundary conditions hold exactly and no boundary loss is needed: the baseline's failure at large
speed c is not a boundary-condition problem, which is the paper's point.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

__all__ = ["EulerianPINN", "LagrangianPINN", "MLP"]


def _embed(x: jax.Array, t: jax.Array) -> jax.Array:
    return jnp.stack([jnp.cos(x), jnp.sin(x), t], axis=-1)


class MLP(nnx.Module):
    """tanh MLP (3 -> width x depth -> 1) with Glorot-normal weights and zero biases."""

    def __init__(self, width: int, depth: int, *, rngs: nnx.Rngs):
        if width < 1 or depth < 1:
            raise ValueError(f"`width` and `depth` must be >= 1, got width={width}, depth={depth}.")
        init = nnx.initializers.glorot_normal()
        sizes = [3] + [width] * depth
        self.hidden = nnx.List(
            [
                nnx.Linear(a, b, kernel_init=init, rngs=rngs)
                for a, b in zip(sizes[:-1], sizes[1:], strict=True)
            ]
        )
        self.out = nnx.Linear(width, 1, kernel_init=init, rngs=rngs)

    def __call__(self, features: jax.Array) -> jax.Array:
        h = features
        for layer in self.hidden:
            h = jnp.tanh(layer(h))
        return self.out(h)[..., 0]


class EulerianPINN(nnx.Module):
    """u(x, t) = net(cos x, sin x, t): the physics-informed network of the failure-mode studies.

    Args:
      width: hidden units (paper: 50).
      depth: hidden layers (the CPU reproduction uses 4).
      rngs: ``nnx.Rngs`` for the initialisation.
    """

    def __init__(self, width: int = 50, depth: int = 4, *, rngs: nnx.Rngs):
        self.net = MLP(width, depth, rngs=rngs)

    def __call__(self, x: jax.Array, t: jax.Array) -> jax.Array:
        """``x``, ``t``: arrays of one shape (points); returns u at each point."""
        return self.net(_embed(x, t))


class LagrangianPINN(nnx.Module):
    """Two branches on the labels x0 (Sec. 3): the state U(x0, t) and the characteristic X(x0, t).

    Args:
      width: hidden units of both branches (paper: 50).
      u_depth: hidden layers of the U branch (official: 5; the CPU reproduction uses 4).
      x_depth: hidden layers of the X branch (official: 2).
      residual_x: ``X = x0 + net(...)`` (default) instead of ``X = net(...)`` (official). The
        characteristic is not periodic in x0 (X(x0 + 2 pi) = X(x0) + 2 pi), so asking a net of
        (cos x0, sin x0, t) for X itself forces it to rebuild x0 with a jump at 2 pi; the
        residual form removes that. A named variant, not the paper's parametrisation.
      share_trunk: the official code's quirk of sharing the first two hidden layers between the
        branches (the paper describes parallel branches; default False).
      rngs: ``nnx.Rngs``.
    """

    def __init__(
        self,
        width: int = 50,
        u_depth: int = 4,
        x_depth: int = 2,
        *,
        residual_x: bool = True,
        share_trunk: bool = False,
        rngs: nnx.Rngs,
    ):
        if share_trunk and min(u_depth, x_depth) < 2:
            raise ValueError(
                f"`share_trunk` shares two hidden layers: `u_depth` and `x_depth` "
                f"must be >= 2, got {u_depth} and {x_depth}."
            )
        self.residual_x = residual_x
        self.share_trunk = share_trunk
        self.u_net = MLP(width, u_depth, rngs=rngs)
        self.x_net = MLP(width, x_depth, rngs=rngs)
        if share_trunk:  # the same two Linear objects in both branches: NNX shares the weights
            self.x_net.hidden[0] = self.u_net.hidden[0]
            self.x_net.hidden[1] = self.u_net.hidden[1]

    def __call__(self, x0: jax.Array, t: jax.Array) -> tuple[jax.Array, jax.Array]:
        """``x0``, ``t``: arrays of one shape; returns ``(U, X)`` at each (label, time)."""
        features = _embed(x0, t)
        x = self.x_net(features)
        return self.u_net(features), (x0 + x if self.residual_x else x)
