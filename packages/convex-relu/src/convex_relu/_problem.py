"""The convex program of a two-layer ReLU network and the map back to the network.

Non-convex problem (width ``m``, ``beta > 0``)::

    min_{u_j, alpha_j}  l(sum_j (X u_j)_+ alpha_j, y) + beta / 2 sum_j (||u_j||^2 + alpha_j^2)

Convex reformulation (Pilanci & Ergen 2020; the paper's eq. for the exact and sampled programs),
with ``F_i = D_i X`` and ``G_i = (2 D_i - I) X``::

    min_{v_i, w_i}  l(sum_i F_i (v_i - w_i), y) + beta sum_i (||v_i||_2 + ||w_i||_2)
    s.t.            G_i v_i >= 0,  G_i w_i >= 0.

Losses are sums over examples: squared ``1/2 ||yhat - y||^2``, hinge ``sum (1 - y yhat)_+``,
logistic ``sum log(1 + exp(-y yhat))``; the same convention in both problems, so a feasible
convex point and its recovered network have equal objectives.
"""

from __future__ import annotations

import dataclasses
from typing import Literal, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxpapers_shared import checks

from ._patterns import dedupe_patterns

Loss = Literal["squared", "hinge", "logistic"]
LOSSES = ("squared", "hinge", "logistic")


class ReLUNetParams(NamedTuple):
    """A two-layer ReLU network ``x -> sum_j alpha_j (x^T U[:, j])_+``."""

    U: jax.Array  # [d, m]
    alpha: jax.Array  # [m]


def loss_value(yhat: jax.Array, y: jax.Array, loss: Loss) -> jax.Array:
    """Summed loss over examples (squared carries the 1/2)."""
    if loss == "squared":
        return 0.5 * jnp.sum((yhat - y) ** 2)
    if loss == "hinge":
        return jnp.sum(jax.nn.relu(1.0 - y * yhat))
    return jnp.sum(jax.nn.softplus(-y * yhat))


def check_targets(y, n: int, loss: Loss) -> jax.Array:
    y = checks.array(y, "y", ndim=1, dtype="float")
    if y.shape[0] != n:
        raise ValueError(f"`y` must have length n = {n} (rows of X), got y.shape={y.shape}.")
    if loss != "squared" and checks.is_concrete(y):
        bad = ~np.isin(np.asarray(y), (-1.0, 1.0))
        if bad.any():
            raise ValueError(
                f"`y` must hold labels in {{-1, +1}} for loss={loss!r}, got "
                f"{np.asarray(y)[bad][:3].tolist()}."
            )
    return y


def check_patterns(patterns, n: int) -> jax.Array:
    arr = np.asarray(patterns)
    if arr.dtype != np.bool_:
        raise TypeError(f"`patterns` must be a boolean array [P, n], got dtype {arr.dtype}.")
    if arr.ndim != 2 or arr.shape[1] != n:
        raise ValueError(f"`patterns` must have shape (P, {n}), got patterns.shape={arr.shape}.")
    if arr.shape[0] == 0:
        raise ValueError("`patterns` must hold at least one pattern, got patterns.shape=(0, n).")
    arr = np.asarray(dedupe_patterns(arr))
    if arr.shape[0] == 0:
        raise ValueError("`patterns` holds only all-zero patterns; at least one nonzero needed.")
    return jnp.asarray(arr)


@dataclasses.dataclass(frozen=True)
class ConvexReLUProblem:
    """The convex program over fixed patterns ``D_i`` (exact if all patterns, else sampled).

    Args:
      X: data ``[n, d]`` (with the bias column if one is wanted).
      y: targets ``[n]``: real values, or ``+-1`` for ``hinge``/``logistic``.
      patterns: boolean ``[P, n]``; duplicates and all-zero rows are dropped with a warning.
      beta: weight decay ``beta > 0``.
      loss: ``"squared"``, ``"hinge"`` or ``"logistic"`` (summed over examples).

    The operators ``F u = sum_i D_i X (v_i - w_i)`` and ``G u`` act on ``u`` of shape
    ``[2P, d]`` (the ``v_i`` then the ``w_i``) without forming the ``2nP x 2dP`` matrix ``G``.

    Raises:
      ValueError: non-finite or mis-shaped ``X``/``y``/``patterns``, ``beta <= 0``, an unknown
        ``loss``, or labels outside ``{-1, +1}`` for a classification loss.
    """

    X: jax.Array
    y: jax.Array
    patterns: jax.Array
    beta: float
    loss: Loss = "squared"

    def __post_init__(self):
        X = checks.array(self.X, "X", ndim=2, dtype="float")
        checks.one_of(self.loss, "loss", LOSSES)
        y = check_targets(self.y, X.shape[0], self.loss).astype(X.dtype)
        checks.positive(self.beta, "beta")
        object.__setattr__(self, "X", X)
        object.__setattr__(self, "y", y)
        object.__setattr__(self, "patterns", check_patterns(self.patterns, X.shape[0]))

    @property
    def num_patterns(self) -> int:
        return int(self.patterns.shape[0])

    @property
    def masks(self) -> jax.Array:
        """``D`` as floats ``[P, n]``."""
        return self.patterns.astype(self.X.dtype)

    def F(self, u: jax.Array) -> jax.Array:
        """``sum_i D_i X (v_i - w_i)`` for ``u = [v; w]`` of shape ``[2P, d]``."""
        P = self.num_patterns
        return jnp.sum(self.masks * (self.X @ (u[:P] - u[P:]).T).T, axis=0)

    def FT(self, r: jax.Array) -> jax.Array:
        """The adjoint of :meth:`F`: ``[X^T D_i r; -X^T D_i r]``, shape ``[2P, d]``."""
        top = (self.masks * r) @ self.X
        return jnp.concatenate([top, -top])

    def G(self, u: jax.Array) -> jax.Array:
        """``(2 D_i - I) X u_j`` for every block ``j`` (``i = j mod P``), shape ``[2P, n]``."""
        signs = jnp.tile(2.0 * self.masks - 1.0, (2, 1))
        return signs * (u @ self.X.T)

    def GT(self, s: jax.Array) -> jax.Array:
        """The adjoint of :meth:`G`, shape ``[2P, d]``."""
        signs = jnp.tile(2.0 * self.masks - 1.0, (2, 1))
        return (signs * s) @ self.X

    def F_dense(self) -> jax.Array:
        """``F`` as an ``[n, 2Pd]`` matrix (for the cached factorisation)."""
        n, d = self.X.shape
        blocks = self.masks[:, :, None] * self.X[None]  # [P, n, d]
        pos = jnp.transpose(blocks, (1, 0, 2)).reshape(n, -1)
        return jnp.concatenate([pos, -pos], axis=1)

    def objective(self, u: jax.Array) -> jax.Array:
        """The convex objective at ``u = [v; w]`` (ignores the cone constraints)."""
        return loss_value(self.F(u), self.y, self.loss) + self.beta * jnp.sum(
            jnp.linalg.norm(u, axis=1)
        )

    def network_objective(self, u: jax.Array) -> jax.Array:
        """Objective of the network recovered from ``u``: ``(X v_i)_+`` replaces ``D_i X v_i``.

        Always an upper bound on the global optimum of the non-convex problem; equal to
        :meth:`objective` when ``u`` satisfies the cone constraints.
        """
        P = self.num_patterns
        out = jax.nn.relu(self.X @ u[:P].T).sum(1) - jax.nn.relu(self.X @ u[P:].T).sum(1)
        return loss_value(out, self.y, self.loss) + self.beta * jnp.sum(jnp.linalg.norm(u, axis=1))

    def constraint_violation(self, u: jax.Array) -> jax.Array:
        """``max(0, -min G u)``: how far ``u`` is from the cones."""
        return jnp.maximum(0.0, -jnp.min(self.G(u)))


def to_relu_network(v, w, *, tol: float = 0.0) -> ReLUNetParams:
    """Recovers the ReLU network from a convex solution (paper, the map after the convex program).

    Each block ``v_i`` with ``||v_i|| > tol`` gives a neuron ``u = v_i / sqrt(||v_i||)``,
    ``alpha = +sqrt(||v_i||)``; each ``w_i`` one with ``alpha = -sqrt(||w_i||)``. Blocks at or
    below ``tol`` are dropped, so the width is the number of nonzero blocks (static shapes: the
    arrays are concrete, not traced).

    Args:
      v, w: ``[P, d]`` each.
      tol: norm below which a block counts as zero (``>= 0``).

    Returns:
      :class:`ReLUNetParams` with ``U`` of shape ``[d, m]`` and ``alpha`` ``[m]``.
    """
    v = checks.array(v, "v", ndim=2, dtype="float")
    w = checks.array(w, "w", ndim=2, dtype="float")
    checks.same_shape(v, w, ("v", "w"))
    checks.positive(tol, "tol", allow_zero=True)
    blocks = jnp.concatenate([v, w])
    signs = jnp.concatenate([jnp.ones(v.shape[0]), -jnp.ones(w.shape[0])]).astype(v.dtype)
    norms = jnp.linalg.norm(blocks, axis=1)
    keep = np.asarray(norms > tol)
    if not keep.any():
        return ReLUNetParams(jnp.zeros((v.shape[1], 0), v.dtype), jnp.zeros((0,), v.dtype))
    root = jnp.sqrt(norms[keep])
    return ReLUNetParams((blocks[keep] / root[:, None]).T, signs[keep] * root)


def relu_network_apply(params: ReLUNetParams, X: jax.Array) -> jax.Array:
    """``yhat = (X U)_+ alpha``, shape ``[n]``."""
    return jax.nn.relu(X @ params.U) @ params.alpha


def nonconvex_objective(params: ReLUNetParams, X, y, beta: float, loss: Loss = "squared"):
    """``l(relu(X U) alpha, y) + beta / 2 (||U||_F^2 + ||alpha||^2)`` with the summed loss."""
    reg = 0.5 * beta * (jnp.sum(params.U**2) + jnp.sum(params.alpha**2))
    return loss_value(relu_network_apply(params, X), y, loss) + reg


def convex_predict(v: jax.Array, w: jax.Array, X: jax.Array) -> jax.Array:
    """The recovered network's output ``sum_i (X v_i)_+ - (X w_i)_+`` without building it."""
    return jax.nn.relu(X @ v.T).sum(1) - jax.nn.relu(X @ w.T).sum(1)
