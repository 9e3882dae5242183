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


def _round_up(x: int, multiple: int) -> int:
    return -(-x // multiple) * multiple


def pack_graphs(
    graph: GraphBatch,
    num_packs: int,
    *node_values,
    max_nodes: int | None = None,
    edge_multiple: int = 256,
) -> tuple[GraphBatch, tuple[np.ndarray, ...]]:
    """Repacks a padded batch of ``G`` graphs into ``num_packs`` disjoint unions ("packs").

    Padding every graph to the largest one wastes the edges small graphs do not have (about
    45 % on GVI batches); a pack holds several whole graphs back to back and is padded once, so
    the encoder's cost follows the real edge count. Graphs go to packs largest first, each to
    the pack with the fewest edges so far (at most ``ceil(G / num_packs)`` graphs a pack), which
    balances the packs. A pack is the disjoint union of its graphs, so every per-node quantity
    (degrees, the contracting map, the fixed point, a node loss) is unchanged; only a solver's
    stopping test then runs per pack instead of per graph.

    Args:
      graph: the padded batch (concrete arrays).
      num_packs: number of packs (>= 1, at most ``G``); a multiple of the device count for
        data parallelism.
      *node_values: arrays with leading axes ``(G, n)`` (node targets, say), packed alike.
      max_nodes: nodes per pack (default: the largest pack's real node count).
      edge_multiple: the edges per pack are rounded up to a multiple of this, so that batches
        drawn from one distribution share a few shapes (each new shape compiles once).

    Returns:
      ``(packed GraphBatch with leading axis num_packs, tuple of packed node_values)``.

    Raises:
      ValueError: ``num_packs`` outside ``[1, G]``, a node array with the wrong leading axes,
        or a pack with more real nodes than ``max_nodes``.
    """
    g, n = graph.node_mask.shape
    if int(num_packs) != num_packs or not 1 <= num_packs <= g:
        raise ValueError(f"`num_packs` must be an integer in [1, {g}], got {num_packs}.")
    checks.integer(edge_multiple, "edge_multiple", minimum=1)
    host = GraphBatch(*(np.asarray(x) for x in graph))
    values = [np.asarray(v) for v in node_values]
    for i, v in enumerate(values):
        if v.shape[:2] != (g, n):
            raise ValueError(
                f"`node_values[{i}]` must have leading axes {(g, n)}, got shape {v.shape}."
            )
    nodes_of = host.node_mask.sum(1)
    edges_of = host.edge_mask.sum(1)
    capacity = -(-g // num_packs)
    members: list[list[int]] = [[] for _ in range(num_packs)]
    load = np.zeros(num_packs, np.int64)
    for i in sorted(range(g), key=lambda i: (-int(edges_of[i]), i)):
        open_packs = [p for p in range(num_packs) if len(members[p]) < capacity]
        p = min(open_packs, key=lambda p: (load[p], p))
        members[p].append(i)
        load[p] += edges_of[i]
    pack_nodes = [int(nodes_of[m].sum()) for m in members]
    size_n = max(pack_nodes) if max_nodes is None else int(max_nodes)
    if max(pack_nodes) > size_n:
        raise ValueError(
            f"a pack holds {max(pack_nodes)} real nodes, more than max_nodes={size_n}."
        )
    size_e = _round_up(max(int(load.max()), 1), edge_multiple)
    out_nodes = np.zeros((num_packs, size_n, host.nodes.shape[-1]), host.nodes.dtype)
    out_edges = np.zeros((num_packs, size_e, host.edges.shape[-1]), host.edges.dtype)
    senders = np.zeros((num_packs, size_e), host.senders.dtype)
    receivers = np.zeros((num_packs, size_e), host.receivers.dtype)
    node_mask = np.zeros((num_packs, size_n), bool)
    edge_mask = np.zeros((num_packs, size_e), bool)
    out_values = [np.zeros((num_packs, size_n, *v.shape[2:]), v.dtype) for v in values]
    for p, graphs in enumerate(members):
        at_n = at_e = 0
        for i in sorted(graphs):
            ni, ei = int(nodes_of[i]), int(edges_of[i])
            if not (host.node_mask[i, :ni].all() and host.edge_mask[i, :ei].all()):
                raise ValueError(
                    f"graph {i}: real nodes and edges must come before the padding "
                    "(the layout of pad_graphs)."
                )
            out_nodes[p, at_n : at_n + ni] = host.nodes[i, :ni]
            out_edges[p, at_e : at_e + ei] = host.edges[i, :ei]
            senders[p, at_e : at_e + ei] = host.senders[i, :ei] + at_n
            receivers[p, at_e : at_e + ei] = host.receivers[i, :ei] + at_n
            node_mask[p, at_n : at_n + ni] = True
            edge_mask[p, at_e : at_e + ei] = True
            for src, dst in zip(values, out_values, strict=True):
                dst[p, at_n : at_n + ni] = src[i, :ni]
            at_n, at_e = at_n + ni, at_e + ei
    packed = GraphBatch(out_nodes, out_edges, senders, receivers, node_mask, edge_mask)
    return packed, tuple(out_values)
