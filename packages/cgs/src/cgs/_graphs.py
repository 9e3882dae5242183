"""Batches of padded graphs, stored as a disjoint union (block-diagonal adjacency).

Every graph of a batch is padded to the same ``num_nodes`` and ``num_edges`` so that a batch is a
handful of dense arrays with a leading graph axis; padded nodes and edges are switched off by
masks. Indices (``senders``/``receivers``) are local to each graph, so the batch is the disjoint
union of its graphs and every per-graph property (the contraction of the transition map) holds
block by block.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxpapers_shared import checks


class GraphBatch(NamedTuple):
    """A batch of ``G`` graphs padded to ``n`` nodes and ``e`` edges each.

    Attributes:
      nodes: (G, n, F) float node features.
      edges: (G, e, Fe) float edge features.
      senders: (G, e) int, local index of each edge's source node (edge j -> i has sender j).
      receivers: (G, e) int, local index of each edge's destination node.
      node_mask: (G, n) bool, True for real nodes.
      edge_mask: (G, e) bool, True for real edges.
    """

    nodes: jax.Array
    edges: jax.Array
    senders: jax.Array
    receivers: jax.Array
    node_mask: jax.Array
    edge_mask: jax.Array

    @property
    def num_graphs(self) -> int:
        return self.nodes.shape[0]

    @property
    def max_nodes(self) -> int:
        return self.nodes.shape[1]


def check_graph_batch(graph: GraphBatch) -> GraphBatch:
    """Validates shapes, index ranges and finiteness of a :class:`GraphBatch`.

    Shape checks always run; value checks (index ranges, NaN/inf) run when the arrays are
    concrete, i.e. at the boundary a user calls, before ``jit`` traces them.

    Returns:
      The batch, unchanged.

    Raises:
      TypeError: ``graph`` is not a GraphBatch, or indices are not integers.
      ValueError: inconsistent shapes, out-of-range indices, NaN/inf features.
    """
    if not isinstance(graph, GraphBatch):
        raise TypeError(f"`graph` must be a cgs.GraphBatch, got {type(graph).__name__}.")
    if graph.nodes.ndim != 3:
        raise ValueError(f"`nodes` must be (G, n, F), got nodes.shape={graph.nodes.shape}.")
    g, n, _ = graph.nodes.shape
    if graph.edges.ndim != 3 or graph.edges.shape[0] != g:
        raise ValueError(f"`edges` must be ({g}, e, Fe), got edges.shape={graph.edges.shape}.")
    e = graph.edges.shape[1]
    for name in ("senders", "receivers"):
        idx = getattr(graph, name)
        if idx.shape != (g, e):
            raise ValueError(
                f"`{name}` must have shape {(g, e)} (one index per edge feature row), "
                f"got {name}.shape={idx.shape}."
            )
        if not jnp.issubdtype(idx.dtype, jnp.integer):
            raise TypeError(f"`{name}` must be an integer array, got dtype {idx.dtype}.")
        if checks.is_concrete(idx) and idx.size:
            lo, hi = int(np.asarray(idx).min()), int(np.asarray(idx).max())
            if lo < 0 or hi >= n:
                raise ValueError(
                    f"`{name}` must index nodes in [0, {n}), got values in [{lo}, {hi}]."
                )
    if graph.node_mask.shape != (g, n):
        raise ValueError(
            f"`node_mask` must have shape {(g, n)}, got node_mask.shape={graph.node_mask.shape}."
        )
    if graph.edge_mask.shape != (g, e):
        raise ValueError(
            f"`edge_mask` must have shape {(g, e)}, got edge_mask.shape={graph.edge_mask.shape}."
        )
    for name in ("nodes", "edges"):
        x = getattr(graph, name)
        if checks.is_concrete(x) and not np.all(np.isfinite(np.asarray(x))):
            raise ValueError(f"`{name}` contains NaN or inf; node/edge features must be finite.")
    return graph


def pad_graphs(
    graphs: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]],
    *,
    max_nodes: int | None = None,
    max_edges: int | None = None,
    dtype=np.float32,
) -> GraphBatch:
    """Pads a list of graphs ``(nodes (n_i, F), edges (e_i, Fe), senders, receivers)`` into a batch.

    Padded edges point from node 0 to node 0 and are masked out; padded nodes have zero features.

    Raises:
      ValueError: a graph is larger than ``max_nodes``/``max_edges`` or inconsistent.
    """
    if not graphs:
        raise ValueError("`graphs` must hold at least one graph, got an empty sequence.")
    n = max_nodes or max(g[0].shape[0] for g in graphs)
    e = max_edges or max(g[1].shape[0] for g in graphs)
    f, fe = graphs[0][0].shape[1], graphs[0][1].shape[1]
    batch = len(graphs)
    nodes = np.zeros((batch, n, f), dtype)
    edges = np.zeros((batch, e, fe), dtype)
    senders = np.zeros((batch, e), np.int32)
    receivers = np.zeros((batch, e), np.int32)
    node_mask = np.zeros((batch, n), bool)
    edge_mask = np.zeros((batch, e), bool)
    for i, (x, ef, s, r) in enumerate(graphs):
        ni, ei = x.shape[0], ef.shape[0]
        if ni > n or ei > e:
            raise ValueError(
                f"graph {i} has {ni} nodes and {ei} edges, more than max_nodes={n} / max_edges={e}."
            )
        if len(s) != ei or len(r) != ei:
            raise ValueError(
                f"graph {i}: `senders` ({len(s)}) and `receivers` ({len(r)}) must both have "
                f"one entry per edge ({ei})."
            )
        nodes[i, :ni], edges[i, :ei] = x, ef
        senders[i, :ei], receivers[i, :ei] = s, r
        node_mask[i, :ni], edge_mask[i, :ei] = True, True
    return GraphBatch(
        *(jnp.asarray(a) for a in (nodes, edges, senders, receivers)),
        jnp.asarray(node_mask),
        jnp.asarray(edge_mask),
    )


def flatten_union(graph: GraphBatch) -> tuple[jax.Array, jax.Array]:
    """Global sender/receiver indices of the disjoint union: local index + graph offset.

    Returns:
      ``(senders, receivers)``, each (G * e,) int, indexing the (G * n,) union's nodes.
    """
    offsets = (jnp.arange(graph.num_graphs) * graph.max_nodes)[:, None]
    return (graph.senders + offsets).reshape(-1), (graph.receivers + offsets).reshape(-1)
