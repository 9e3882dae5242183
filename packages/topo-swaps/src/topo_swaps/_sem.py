"""Linear SEM simulation (ER/SF graphs; Gaussian, exponential, Gumbel noise) and metrics."""

from __future__ import annotations

from typing import Literal

import jax
import jax.numpy as jnp
import networkx as nx
import numpy as np

from jaxpapers_shared import checks

from ._order import break_cycles
from ._validate import check_data, check_square


def simulate_dag(key, d: int, s0: int, graph_type: Literal["ER", "SF"] = "ER") -> np.ndarray:
    """A random DAG's binary adjacency ``(d, d)`` (B[i, j] = 1 means i -> j), nodes permuted.

    ``"ER"``: each of the d(d-1)/2 pairs of a random order is an edge with probability
    s0 / (d(d-1)/2). ``"SF"``: Barabasi-Albert with about s0 edges, oriented along the
    attachment order.

    Raises:
      ValueError: d < 2, s0 < 0 or s0 > d(d-1)/2, unknown graph_type.
    """
    d = checks.integer(d, "d", minimum=2)
    cap = d * (d - 1) // 2
    s0 = checks.integer(s0, "s0", minimum=0, maximum=cap)
    k_graph, k_perm = jax.random.split(key)
    if graph_type == "ER":
        low = jax.random.uniform(k_graph, (d, d)) < s0 / cap
        B = np.asarray(jnp.tril(low, k=-1), dtype=np.float64)
    elif graph_type == "SF":
        m = max(1, round(s0 / d))
        seed = int(jax.random.randint(k_graph, (), 0, 2**31 - 1))
        g = nx.barabasi_albert_graph(d, min(m, d - 1), seed=seed)
        B = np.zeros((d, d))
        for u, v in g.edges:
            B[max(u, v), min(u, v)] = 1.0
    else:
        checks.one_of(graph_type, "graph_type", ("ER", "SF"))
    P = np.asarray(jax.random.permutation(k_perm, d))
    # Lower-triangular B is a DAG in reverse index order; permute to hide the order.
    return B.T[np.ix_(P, P)]


def simulate_parameter(key, B, w_ranges=((-2.0, -0.5), (0.5, 2.0))) -> np.ndarray:
    """Weights on the support of ``B``, uniform on +-[0.5, 2] by default (NOTEARS convention)."""
    B = check_square(B, "B")
    k_sign, k_mag = jax.random.split(key)
    sign = np.asarray(jax.random.bernoulli(k_sign, 0.5, B.shape))
    (a0, b0), (a1, b1) = w_ranges
    u = np.asarray(jax.random.uniform(k_mag, B.shape))
    W = np.where(sign, a1 + (b1 - a1) * u, a0 + (b0 - a0) * u)
    return W * (B != 0)


def simulate_linear_sem(
    key, W, n: int, noise: Literal["gauss", "exp", "gumbel"] = "gauss", scale: float = 1.0
) -> np.ndarray:
    """Samples X = X W + E, i.e. X = E (I - W)^{-1}, with i.i.d. equal-variance noise.

    Returns:
      ``(n, d)`` float64 samples.

    Raises:
      ValueError: W not square or cyclic, n < 1, unknown noise.
    """
    W = check_square(W)
    n = checks.integer(n, "n", minimum=1)
    if not nx.is_directed_acyclic_graph(nx.DiGraph(W != 0)):
        raise ValueError("`W` must be a DAG, got a graph with cycles.")
    d = W.shape[0]
    samplers = {
        "gauss": jax.random.normal,
        "exp": jax.random.exponential,
        "gumbel": jax.random.gumbel,
    }
    checks.one_of(noise, "noise", tuple(samplers))
    E = scale * np.asarray(samplers[noise](key, (n, d)), dtype=np.float64)
    return np.linalg.solve((np.eye(d) - W).T, E.T).T


def count_accuracy(B_true, B_est) -> dict[str, float]:
    """SHD, TPR, FDR and nnz of an estimated graph (NOTEARS conventions).

    A reversed edge counts once in SHD and as a false discovery; nnz is the number of edges.
    """
    T = check_square(B_true, "B_true") != 0
    E = check_square(B_est, "B_est") != 0
    if T.shape != E.shape:
        raise ValueError(f"`B_est` must have shape {T.shape}, got {E.shape}.")
    true_pos = np.sum(E & T)
    reversed_ = np.sum(E & T.T & ~T)
    extra = np.sum(E & ~T & ~T.T)
    skel_e, skel_t = np.triu(E | E.T, 1), np.triu(T | T.T, 1)
    shd = int(np.sum(skel_e & ~skel_t) + np.sum(skel_t & ~skel_e) + reversed_)
    nnz = int(E.sum())
    return {
        "shd": shd,
        "tpr": float(true_pos / max(T.sum(), 1)),
        "fdr": float((reversed_ + extra) / max(nnz, 1)),
        "nnz": nnz,
    }


def refit_score(X, W, threshold: float = 0.3) -> tuple[float, np.ndarray]:
    """The comparison metric of the reproduction: threshold, break cycles, OLS refit on the
    support, F (the same least-squares objective for every method's output).

    Returns:
      ``(F, W_refit)`` with F = (1/2n)||X - X W_refit||^2 on centred X.
    """
    Xc = check_data(X)
    checks.positive(threshold, "threshold", allow_zero=True)
    W = check_square(W)
    support = break_cycles(np.where(np.abs(W) > threshold, W, 0.0)) != 0
    Wr = np.zeros_like(W)
    for j in range(W.shape[0]):
        pa = np.flatnonzero(support[:, j])
        if len(pa):
            Wr[pa, j] = np.linalg.lstsq(Xc[:, pa], Xc[:, j], rcond=None)[0]
    return float(0.5 / Xc.shape[0] * np.sum((Xc - Xc @ Wr) ** 2)), Wr
