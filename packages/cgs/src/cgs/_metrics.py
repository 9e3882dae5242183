"""Metrics of the GVI experiment (paper Sec. 6.2): MAPE, policy accuracy, within-graph R^2."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from ._graphs import GraphBatch, flatten_union


def _node_values(x: jax.Array, mask: jax.Array) -> jax.Array:
    x = jnp.asarray(x)
    if x.shape == (*mask.shape, 1):
        x = x[..., 0]
    if x.shape != mask.shape:
        raise ValueError(
            f"values must have shape {mask.shape} (or with a trailing 1), got {x.shape}."
        )
    return x


@jax.jit
def mape(pred: jax.Array, target: jax.Array, mask: jax.Array) -> jax.Array:
    """Mean absolute percentage error (in %) over real nodes: ``100 * mean |pred - y| / |y|``."""
    pred, target = _node_values(pred, mask), _node_values(target, mask)
    err = jnp.abs(pred - target) / jnp.maximum(jnp.abs(target), 1e-8)
    return 100.0 * jnp.sum(err * mask) / jnp.sum(mask)


@jax.jit
def relative_l2(pred: jax.Array, target: jax.Array, mask: jax.Array) -> jax.Array:
    """Mean over graphs of ``||pred - y||_2 / ||y||_2`` on real nodes."""
    pred, target = _node_values(pred, mask), _node_values(target, mask)
    num = jnp.sqrt(jnp.sum(((pred - target) * mask) ** 2, axis=1))
    den = jnp.sqrt(jnp.sum((target * mask) ** 2, axis=1))
    return jnp.mean(num / jnp.maximum(den, 1e-12))


@jax.jit
def within_graph_r2(pred: jax.Array, target: jax.Array, mask: jax.Array) -> jax.Array:
    """Mean over graphs of ``1 - SSE / SS_tot`` with the per-graph target mean as reference.

    0 for the true per-graph mean, 1 for a perfect fit: it measures what a model gets right
    beyond each graph's level.
    """
    pred, target = _node_values(pred, mask), _node_values(target, mask)
    count = jnp.maximum(mask.sum(axis=1), 1)
    mean = jnp.sum(target * mask, axis=1) / count
    sse = jnp.sum(((pred - target) * mask) ** 2, axis=1)
    sst = jnp.sum(((target - mean[:, None]) * mask) ** 2, axis=1)
    return jnp.mean(1.0 - sse / jnp.maximum(sst, 1e-12))


def _greedy_edge(q, receivers, mask, num_nodes):
    """Index of each node's best in-edge; ties go to the lowest edge index (deterministic)."""
    q = jnp.where(mask, q, -jnp.inf)
    best = jax.ops.segment_max(q, receivers, num_segments=num_nodes)
    ids = jnp.arange(q.shape[0])
    candidates = jnp.where(mask & (q >= best[receivers]), ids, q.shape[0])
    return jax.ops.segment_min(candidates, receivers, num_segments=num_nodes), best


@functools.partial(jax.jit, static_argnames="discount")
def policy_accuracy(
    pred_values: jax.Array,
    true_values: jax.Array,
    graph: GraphBatch,
    discount: float = 0.9,
) -> jax.Array:
    """Fraction of real states whose greedy action under the predicted V is optimal under true V.

    The action of state ``i`` along in-edge ``j -> i`` has value ``r_ji + discount * V(j)``
    (reward = edge feature 0). An action counts as optimal if its true action value equals the
    true maximum (so ties in the true values are not penalised).
    """
    mask = graph.node_mask
    pred, true = _node_values(pred_values, mask).reshape(-1), _node_values(true_values, mask)
    true = true.reshape(-1)
    senders, receivers = flatten_union(graph)
    edge_mask = graph.edge_mask.reshape(-1)
    rewards = graph.edges[..., 0].reshape(-1)
    n = pred.shape[0]
    chosen, _ = _greedy_edge(rewards + discount * pred[senders], receivers, edge_mask, n)
    q_true = rewards + discount * true[senders]
    _, best_true = _greedy_edge(q_true, receivers, edge_mask, n)
    has_action = chosen < q_true.shape[0]
    q_chosen = jnp.where(has_action, q_true[jnp.minimum(chosen, q_true.shape[0] - 1)], -jnp.inf)
    optimal = q_chosen >= best_true - 1e-6 * jnp.maximum(jnp.abs(best_true), 1.0)
    real = mask.reshape(-1) & has_action
    return jnp.sum(optimal & real) / jnp.maximum(jnp.sum(real), 1)
