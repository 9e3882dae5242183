"""Offline synthetic data: graph value iteration (paper Sec. 6.2) and a PageRank-style linear problem.

Both generators are NumPy, seeded by an explicit ``seed`` (a ``numpy.random.Generator`` seed),
and return padded :class:`cgs.GraphBatch` batches with node targets.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import networkx as nx
import numpy as np

from ._graphs import GraphBatch, pad_graphs


class NodeTask(NamedTuple):
    """A batch of graphs with one target per node.

    Attributes:
      graph: the padded :class:`GraphBatch`.
      targets: (G, n, 1) float32 node targets (0 on padded nodes).
    """

    graph: GraphBatch
    targets: jax.Array


def _check_range(name: str, bounds: tuple[int, int], minimum: int) -> tuple[int, int]:
    lo, hi = (int(b) for b in bounds)
    if not minimum <= lo < hi:
        raise ValueError(
            f"`{name}` must be a half-open range (lo, hi) with {minimum} <= lo < hi, got {bounds}."
        )
    return lo, hi


def value_iteration(
    senders: np.ndarray,
    receivers: np.ndarray,
    rewards: np.ndarray,
    num_nodes: int,
    *,
    discount: float = 0.9,
    atol: float = 1e-3,
    max_iter: int = 200,
) -> np.ndarray:
    """Values of the official GVI MDP: ``V(i) <- max_{j->i} r_ji + discount * V(j)`` from V = 0.

    An action of state ``i`` follows one of its in-edges ``j -> i`` (it moves to ``j`` and
    collects ``r_ji``). Sweeps until the largest change is below ``atol`` (official 1e-3).

    Returns:
      (num_nodes,) float64 values.

    Raises:
      ValueError: a node without in-edges, ``discount`` outside [0, 1), or no convergence.
    """
    if not 0 <= discount < 1:
        raise ValueError(f"`discount` must be in [0, 1), got {discount}.")
    if np.bincount(receivers, minlength=num_nodes).min() == 0:
        raise ValueError("every node needs at least one in-edge (action) for value iteration.")
    values = np.zeros(num_nodes)
    for _ in range(max_iter):
        q = rewards + discount * values[senders]
        new = np.full(num_nodes, -np.inf)
        np.maximum.at(new, receivers, q)
        change = np.abs(new - values).max()
        values = new
        if change < atol:
            return values
    raise ValueError(f"value iteration did not converge within max_iter={max_iter} sweeps.")


def _gvi_graph(rng: np.random.Generator, num_states: int, num_actions: int, discount: float):
    # Each state draws its actions' source states among the *other* states, with replacement.
    others = np.stack([np.delete(np.arange(num_states), i) for i in range(num_states)])
    picks = rng.integers(0, num_states - 1, size=(num_states, num_actions))
    senders = np.take_along_axis(others, picks, axis=1).reshape(-1)
    receivers = np.repeat(np.arange(num_states), num_actions)
    rewards = rng.uniform(-1.0, 1.0, size=senders.shape)
    values = value_iteration(senders, receivers, rewards, num_states, discount=discount)
    nodes = np.ones((num_states, 1))
    return (nodes, rewards[:, None], senders, receivers), values


def graph_value_iteration(
    seed: int,
    num_graphs: int,
    num_states: tuple[int, int] = (20, 50),
    num_actions: tuple[int, int] = (5, 10),
    discount: float = 0.9,
) -> NodeTask:
    """Random GVI problems with the official recipe (``CGS/experiments/gvi/generate_graph.py``).

    Node feature: the constant 1. Edge feature: the reward ``r ~ U[-1, 1]``. Target: the
    converged value ``V``. Graphs are padded to ``num_states[1] - 1`` nodes.

    Args:
      seed: NumPy seed.
      num_graphs: batch size G.
      num_states: half-open range of ``n_S`` (official [20, 50)).
      num_actions: half-open range of ``n_A`` (official [5, 10)); needs ``n_A < n_S - 1``.
      discount: the MDP's discount (official 0.9).

    Returns:
      A :class:`NodeTask` with targets (G, n, 1).
    """
    s_lo, s_hi = _check_range("num_states", num_states, 3)
    a_lo, a_hi = _check_range("num_actions", num_actions, 1)
    if a_hi - 1 >= s_lo - 1:
        raise ValueError(
            f"`num_actions` {num_actions} must stay below num_states[0] - 1 = {s_lo - 1}."
        )
    if num_graphs < 1:
        raise ValueError(f"`num_graphs` must be >= 1, got {num_graphs}.")
    rng = np.random.default_rng(seed)
    graphs, targets = [], []
    for _ in range(num_graphs):
        g, v = _gvi_graph(
            rng, int(rng.integers(s_lo, s_hi)), int(rng.integers(a_lo, a_hi)), discount
        )
        graphs.append(g)
        targets.append(v)
    max_nodes = s_hi - 1
    batch = pad_graphs(graphs, max_nodes=max_nodes, max_edges=max_nodes * (a_hi - 1))
    padded = np.zeros((num_graphs, max_nodes, 1), np.float32)
    for i, v in enumerate(targets):
        padded[i, : len(v), 0] = v
    return NodeTask(batch, padded)


def pagerank_problem(
    seed: int,
    num_graphs: int,
    num_nodes: tuple[int, int] = (80, 81),
    *,
    neighbours: int = 4,
    rewire: float = 0.1,
    alpha: float = 0.9,
) -> NodeTask:
    r"""Personalised PageRank on Watts-Strogatz graphs: a linear stationary problem.

    .. math:: x = \alpha P x + (1 - \alpha) u, \qquad P_{ij} = 1/\deg^{out}(j) \text{ for } j \to i

    with a random teleport vector ``u_i ~ U[0, 1]`` as the node feature (edge feature: 1).
    CGS with ``gamma = alpha`` represents the solution exactly (all edge weights 1, ``b`` a
    multiple of ``u``); a model that sees only a few hops (the ablation, an n-step GNN) cannot.

    Args:
      seed: NumPy seed (also seeds networkx).
      num_graphs: batch size G.
      num_nodes: half-open range of graph sizes (padded to ``num_nodes[1] - 1``).
      neighbours, rewire: Watts-Strogatz ``k`` and ``p``.
      alpha: damping factor in (0, 1).

    Returns:
      A :class:`NodeTask` with targets (G, n, 1).
    """
    lo, hi = _check_range("num_nodes", num_nodes, neighbours + 2)
    if not 0 < alpha < 1:
        raise ValueError(f"`alpha` must be in (0, 1), got {alpha}.")
    rng = np.random.default_rng(seed)
    graphs, targets = [], []
    for _ in range(num_graphs):
        n = int(rng.integers(lo, hi))
        g = nx.connected_watts_strogatz_graph(n, neighbours, rewire, seed=int(rng.integers(2**31)))
        edges = np.array(list(g.edges()))
        senders = np.concatenate([edges[:, 0], edges[:, 1]])
        receivers = np.concatenate([edges[:, 1], edges[:, 0]])
        u = rng.uniform(0.0, 1.0, size=n)
        deg = np.bincount(senders, minlength=n)
        transition = np.zeros((n, n))
        np.add.at(transition, (receivers, senders), 1.0 / deg[senders])
        x = np.linalg.solve(np.eye(n) - alpha * transition, (1 - alpha) * u)
        graphs.append((u[:, None], np.ones((len(senders), 1)), senders, receivers))
        targets.append(x)
    max_nodes = hi - 1
    max_edges = max(len(g[2]) for g in graphs)
    batch = pad_graphs(graphs, max_nodes=max_nodes, max_edges=max_edges)
    padded = np.zeros((num_graphs, max_nodes, 1), np.float32)
    for i, v in enumerate(targets):
        padded[i, : len(v), 0] = v
    return NodeTask(batch, padded)
