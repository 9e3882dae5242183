"""The input-dependent contracting linear map ``T(H) = gamma * A H + b`` (paper Sec. 3, Eq. 3-4).

For each of ``m`` heads, ``A_h`` has the sparsity of the graph: the entry for edge ``j -> i`` is
the encoder's edge weight ``a^h_ji`` in [0, 1] divided by the out-degree of the edge's source
``j`` (the official ``prepare_degree_A_b``). Every column of ``A_h`` then sums to at most 1, so
its induced 1-norm is at most 1 and ``T`` is a ``gamma``-contraction in the 1-norm for *every*
input: Banach's theorem gives a unique fixed point ``H* = (I - gamma A)^{-1} b``.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from jaxpapers_shared import checks


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class Transition:
    """One graph's transition map ``T(H) = gamma * A H + b`` with ``m`` heads.

    Attributes:
      edge_values: (e, m) float, the normalised entries ``A_h[i, j]`` of every edge ``j -> i``
        (zero on padded edges); column sums of each ``A_h`` are <= 1.
      bias: (n, m) float, ``b_h`` (zero on padded nodes).
      senders: (e,) int, ``j`` of each edge.
      receivers: (e,) int, ``i`` of each edge.
      gamma: the contraction factor in (0, 1) (static).
    """

    edge_values: jax.Array
    bias: jax.Array
    senders: jax.Array
    receivers: jax.Array
    gamma: float = dataclasses.field(metadata=dict(static=True), default=0.5)

    @property
    def num_nodes(self) -> int:
        return self.bias.shape[-2]


def check_gamma(gamma: float) -> float:
    """Raises unless ``0 < gamma < 1`` (the contraction factor of Eq. 4)."""
    if not checks.is_concrete(gamma) or not np.ndim(gamma) == 0:
        raise TypeError(f"`gamma` must be a Python float in (0, 1), got {gamma!r}.")
    if not 0.0 < float(gamma) < 1.0:
        raise ValueError(f"`gamma` must be in (0, 1) for the map to be a contraction, got {gamma}.")
    return float(gamma)


def out_degree(senders: jax.Array, edge_mask: jax.Array, num_nodes: int) -> jax.Array:
    """(n,) out-degree of every node over real edges, floored at 1 (isolated nodes are safe)."""
    deg = jax.ops.segment_sum(edge_mask.astype(jnp.float32), senders, num_segments=num_nodes)
    return jnp.maximum(deg, 1.0)


def build_transition(
    edge_weight: jax.Array,
    node_bias: jax.Array,
    senders: jax.Array,
    receivers: jax.Array,
    gamma: float = 0.5,
    *,
    edge_mask: jax.Array | None = None,
    node_mask: jax.Array | None = None,
    clip: bool = True,
) -> Transition:
    r"""Builds the contracting map of one graph from encoder outputs (Eq. 3-4).

    .. math:: A_h[i, j] = \frac{\mathrm{clip}(a^h_{ji}, 0, 1)}{\max(\deg^{out}(j), 1)},
              \qquad T_h(H) = \gamma A_h H_h + b_h

    Args:
      edge_weight: (e, m) raw per-head edge weights ``a^h_ji`` (the encoder's edge logits).
      node_bias: (n, m) per-head node biases ``b^h_i``.
      senders: (e,) int source ``j`` of each edge.
      receivers: (e,) int destination ``i`` of each edge.
      gamma: contraction factor in (0, 1); the paper uses 0.5 everywhere.
      edge_mask: (e,) bool, real edges (padded ones get weight 0 and do not count in degrees).
      node_mask: (n,) bool, real nodes (padded ones get bias 0, hence H* = 0 there).
      clip: clip ``edge_weight`` to [0, 1] as the official code does (the gradient is zero
        outside the interval). With ``clip=False`` weights outside [0, 1] are rejected.

    Returns:
      A :class:`Transition`.

    Raises:
      ValueError: ``gamma`` outside (0, 1); shapes that disagree; NaN/inf; with ``clip=False``,
        (concrete) weights outside [0, 1].
      TypeError: ``gamma`` not a Python number, indices not integers.
    """
    gamma = check_gamma(gamma)
    edge_weight, node_bias = jnp.asarray(edge_weight), jnp.asarray(node_bias)
    if edge_weight.ndim != 2:
        raise ValueError(
            f"`edge_weight` must be (e, m), got edge_weight.shape={edge_weight.shape}."
        )
    if node_bias.ndim != 2 or node_bias.shape[1] != edge_weight.shape[1]:
        raise ValueError(
            f"`node_bias` must be (n, {edge_weight.shape[1]}) to match edge_weight's heads, got "
            f"node_bias.shape={node_bias.shape}."
        )
    e, n = edge_weight.shape[0], node_bias.shape[0]
    for name, idx in (("senders", senders), ("receivers", receivers)):
        if jnp.shape(idx) != (e,):
            raise ValueError(
                f"`{name}` must have shape ({e},), one index per edge_weight row, got "
                f"{name}.shape={jnp.shape(idx)}."
            )
        if not jnp.issubdtype(jnp.asarray(idx).dtype, jnp.integer):
            raise TypeError(f"`{name}` must be integers, got dtype {jnp.asarray(idx).dtype}.")
        # np.asarray first: a jnp method call on a concrete array would be staged under jit.
        if checks.is_concrete(idx) and e:
            lo, hi = int(np.asarray(idx).min()), int(np.asarray(idx).max())
            if lo < 0 or hi >= n:
                raise ValueError(
                    f"`{name}` must index nodes in [0, {n}), got values in [{lo}, {hi}]."
                )
    for name, x in (("edge_weight", edge_weight), ("node_bias", node_bias)):
        if checks.is_concrete(x) and not np.all(np.isfinite(np.asarray(x))):
            raise ValueError(f"`{name}` contains NaN or inf.")
    edge_mask = jnp.ones((e,), bool) if edge_mask is None else jnp.asarray(edge_mask, bool)
    node_mask = jnp.ones((n,), bool) if node_mask is None else jnp.asarray(node_mask, bool)
    if edge_mask.shape != (e,):
        raise ValueError(f"`edge_mask` must have shape ({e},), got {edge_mask.shape}.")
    if node_mask.shape != (n,):
        raise ValueError(f"`node_mask` must have shape ({n},), got {node_mask.shape}.")
    if clip:
        weight = jnp.clip(edge_weight, 0.0, 1.0)
    else:
        if checks.is_concrete(edge_weight):
            w = np.asarray(edge_weight)[np.asarray(edge_mask)]
            if w.size and (w.min() < 0 or w.max() > 1):
                raise ValueError(
                    "`edge_weight` must lie in [0, 1] when clip=False (the norm bound needs it), "
                    f"got values in [{w.min():.4g}, {w.max():.4g}]."
                )
        weight = edge_weight
    deg = out_degree(senders, edge_mask, n).astype(weight.dtype)
    values = jnp.where(edge_mask[:, None], weight / deg[senders][:, None], 0.0)
    bias = jnp.where(node_mask[:, None], node_bias, 0.0)
    return Transition(values, bias, jnp.asarray(senders), jnp.asarray(receivers), gamma)


def propagate(values: jax.Array, h: jax.Array, senders, receivers) -> jax.Array:
    """``A H`` for every head by a sparse matvec: ``(A H)_i = sum_{j->i} A[i, j] H_j``."""
    return jax.ops.segment_sum(values * h[senders], receivers, num_segments=h.shape[0])


def propagate_transposed(values: jax.Array, v: jax.Array, senders, receivers) -> jax.Array:
    """``A^T v`` for every head: ``(A^T v)_j = sum_{j->i} A[i, j] v_i`` (the adjoint's matvec)."""
    return jax.ops.segment_sum(values * v[receivers], senders, num_segments=v.shape[0])


def apply_transition(transition: Transition, h: jax.Array) -> jax.Array:
    """``T(H) = gamma * A H + b`` (Eq. 3), (n, m) -> (n, m)."""
    t = transition
    return t.gamma * propagate(t.edge_values, h, t.senders, t.receivers) + t.bias


def dense_matrix(transition: Transition) -> jax.Array:
    """(m, n, n) dense ``A_h`` (without ``gamma``); duplicate edges add up, as in the sparse form."""
    t = transition
    m, n = t.edge_values.shape[1], t.num_nodes
    # Scatter whole (m,) rows into an (n, n, m) array (one contiguous update per edge instead of
    # m strided scalars: about 2x faster on CPU), then put the head axis first.
    dense = jnp.zeros((n, n, m), t.edge_values.dtype).at[t.receivers, t.senders].add(t.edge_values)
    return jnp.moveaxis(dense, -1, 0)
