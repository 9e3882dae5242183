"""Topological orders: the forbidden-edge mask Z_pi, swaps, and the path-weight candidate ranking."""

from __future__ import annotations

from typing import Literal

import networkx as nx
import numpy as np

from jaxpapers_shared import checks

from ._validate import check_order, check_square


def order_to_mask(order) -> np.ndarray:
    """The edge-absence set Z_pi of an order (Sec. 3 of the paper), as a boolean mask.

    Args:
      order: int ``(d,)`` permutation; ``order[0]`` is the first (source-most) node.

    Returns:
      bool ``(d, d)``; ``mask[i, j]`` is True when the edge i -> j is forbidden, i.e. when
      ``pos(i) >= pos(j)`` (the diagonal is always forbidden).
    """
    order = check_order(order, len(np.asarray(order)), "order")
    pos = np.argsort(order)
    return pos[:, None] >= pos[None, :]


def swap_order(order, pair) -> np.ndarray:
    """Exchanges the positions of nodes ``pair = (i, j)`` in ``order`` (returns a new array)."""
    order = check_order(order, len(np.asarray(order)), "order")
    i, j = (int(v) for v in pair)
    if not (0 <= i < len(order) and 0 <= j < len(order)) or i == j:
        raise ValueError(f"`pair` must hold two distinct nodes of range({len(order)}), got {pair}.")
    pos = np.argsort(order)
    new = order.copy()
    new[pos[i]], new[pos[j]] = j, i
    return new


def path_weights(W, h: Literal["logdet", "exp", "poly"] = "logdet") -> np.ndarray:
    """Gradient of the acyclicity function w.r.t. the adjacency A = |W| .

    Not w.r.t. W: the W-gradient of h(W o W) carries a factor 2W, which is zero on every
    forbidden entry of W_pi, so it cannot rank the candidates.

    For h_logdet(A) = -log det(I - A) the gradient is G = (I - A)^{-T}; G[i, j] is the total
    weight of the directed paths j ~> i, so it is 0 exactly when adding i -> j keeps a DAG.
    ``"exp"`` gives (e^A)^T and ``"poly"`` gives ((I + A/d)^{d-1})^T, with the same zero pattern.

    Raises:
      ValueError: ``W`` not square or ``h`` unknown; for ``"logdet"`` a cyclic ``W`` (the s = 1
        log-det is only defined for spectral radius < 1, always true for a DAG).
    """
    A = np.abs(check_square(W))
    d = A.shape[0]
    if h == "logdet":
        if np.max(np.abs(np.linalg.eigvals(A))) >= 1.0 - 1e-12 and not _is_dag(A):
            raise ValueError("`W` must be acyclic for h='logdet' with s = 1, got a cyclic W.")
        return np.linalg.inv(np.eye(d) - A).T
    if h == "exp":
        from scipy.linalg import expm

        return expm(A).T
    if h == "poly":
        return np.linalg.matrix_power(np.eye(d) + A / d, d - 1).T
    raise ValueError(f"`h` must be one of 'logdet', 'exp', 'poly', got {h!r}.")


def candidate_pairs(W, mask, size: int, h="logdet", grad=None) -> np.ndarray:
    """The ``size`` forbidden pairs (i, j) with the smallest path weight G[i, j].

    Ties (common: many zero path weights on a sparse graph) are broken by larger |grad[i, j]|
    (the loss gradient, the KKT residual of Wei et al.) and then by index, so runs are
    reproducible.

    Args:
      W: ``(d, d)`` weighted DAG. mask: bool ``(d, d)`` forbidden set (``order_to_mask``).
      size: how many pairs to return (at most the number of off-diagonal forbidden pairs).
      grad: optional ``(d, d)`` gradient of the score; None ranks ties by index only.

    Returns:
      int ``(k, 2)`` rows ``(i, j)`` with i currently after j in the order.
    """
    W = check_square(W)
    mask = np.asarray(mask, dtype=bool)
    if mask.shape != W.shape:
        raise ValueError(f"`mask` must have shape {W.shape}, got {mask.shape}.")
    size = checks.integer(size, "size", minimum=1)
    G = path_weights(W, h)
    off = mask & ~np.eye(W.shape[0], dtype=bool)
    ii, jj = np.nonzero(off)
    g = np.zeros_like(G) if grad is None else np.abs(np.asarray(grad))
    rank = np.lexsort((np.arange(len(ii)), -g[ii, jj], G[ii, jj]))
    rank = rank[: int(size)]
    return np.stack([ii[rank], jj[rank]], axis=1).astype(np.int64)


def _is_dag(A: np.ndarray) -> bool:
    return nx.is_directed_acyclic_graph(nx.DiGraph(np.asarray(A) != 0))


def order_from_dag(W, threshold: float = 0.0) -> np.ndarray:
    """A topological order of the graph ``|W| > threshold``.

    Raises:
      ValueError: the graph has a cycle (an order cannot be read from it), or threshold < 0.
    """
    W = check_square(W)
    checks.positive(threshold, "threshold", allow_zero=True)
    g = nx.DiGraph()
    g.add_nodes_from(range(W.shape[0]))
    g.add_edges_from(zip(*np.nonzero(np.abs(W) > threshold), strict=True))
    if not nx.is_directed_acyclic_graph(g):
        raise ValueError("`W` must be acyclic to define an order, got a graph with cycles.")
    return np.asarray(list(nx.lexicographical_topological_sort(g)), dtype=np.int64)


def break_cycles(W) -> np.ndarray:
    """Deletes the smallest-|w| edge on a cycle until the support of ``W`` is a DAG."""
    W = check_square(W).copy()
    g = nx.DiGraph()
    g.add_nodes_from(range(W.shape[0]))
    g.add_edges_from(zip(*np.nonzero(W), strict=True))
    while True:
        try:
            cycle = nx.find_cycle(g)
        except nx.NetworkXNoCycle:
            return W
        i, j = min(((u, v) for u, v in cycle), key=lambda e: abs(W[e]))
        W[i, j] = 0.0
        g.remove_edge(i, j)
