"""Benchmarks TOPO: candidate scoring (vmap vs a loop of span refits) and TOPO vs NOTEARS runtime.

``python -m topo_swaps.bench [--quick]``. Markdown tables; every ratio compares two warm runs
(compilation done) on the same precomputed inputs, and compile time is reported in its own
column, never inside a ratio:

1. Candidate swaps scored per second, both from the same Gram matrix ``C = X^T X / n``, order and
   candidate pairs: TOPO's vectorised step (all candidates in one jitted ``vmap``, every column
   re-solved) vs a NumPy loop of span refits (per candidate, only the nodes between the swapped
   positions are re-solved, as the official code does).
2. Runtime vs d (ER2, n = 1000): TOPO from a random order and NOTEARS-linear (l1 = 0.1) on the
   same data ``X``, each run twice; the second (warm) run is timed, first-run minus warm time is
   the compile time. Refit scores and SHDs of the warm runs.
3. Time-to-score: seconds until TOPO's warm run first reaches NOTEARS's final refit score,
   against NOTEARS's warm total.

Asserts nothing about time. NOTEARS at d = 50 takes many minutes on a CPU; the d = 50 comparison
is the full reproduction's score-vs-time run.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jaxpapers_shared import experiment, timing

from . import _inner
from ._notears import notears_linear
from ._order import swap_order
from ._sem import count_accuracy, refit_score, simulate_dag, simulate_linear_sem, simulate_parameter
from ._topo import topo_fit


def _problem(d, n=1000, seed=None):
    k1, k2, k3, k4 = jax.random.split(jax.random.key(d if seed is None else seed), 4)
    B = simulate_dag(k1, d, 2 * d)
    return B, simulate_linear_sem(k3, simulate_parameter(k2, B), n), k4


def _node_loss(C, node, parents):
    """Least-squares loss of ``node`` regressed on ``parents``: (C_jj - c^T C_pp^-1 c) / 2."""
    if len(parents) == 0:
        return 0.5 * C[node, node]
    c = C[parents, node]
    return 0.5 * (C[node, node] - c @ np.linalg.solve(C[np.ix_(parents, parents)], c))


def loop_swap_scores(C, order, pairs):
    """Scores of every candidate swap by span refits, one NumPy solve per node in the span."""
    d = len(order)
    base = np.array([_node_loss(C, order[p], order[:p]) for p in range(d)])  # by position
    total, pos = base.sum(), np.argsort(order)
    out = np.empty(len(pairs))
    for k, (i, j) in enumerate(pairs):
        new = swap_order(order, (i, j))
        lo, hi = sorted((pos[i], pos[j]))
        span = sum(_node_loss(C, new[p], new[:p]) for p in range(lo, hi + 1))
        out[k] = total - base[lo : hi + 1].sum() + span
    return out


def _candidates_table(dims):
    rows = []
    for d in dims:
        _, X, _ = _problem(d)
        order = np.arange(d)
        pairs = np.array([(i, j) for i in range(d) for j in range(i)])[: 4 * d]
        with jax.enable_x64(True):
            C = np.asarray(_inner.gram(X - X.mean(0)))
            Cj, pos, pj = jnp.asarray(C), jnp.asarray(np.argsort(order)), jnp.asarray(pairs)
            t0 = time.perf_counter()
            vec = np.asarray(jax.block_until_ready(_inner.swap_scores(Cj, pos, pj)))
            first = time.perf_counter() - t0
            loop = loop_swap_scores(C, order, pairs)
            t = timing.compare(
                {
                    "vmap": lambda: _inner.swap_scores(Cj, pos, pj),
                    "loop": lambda: loop_swap_scores(C, order, pairs),
                },
                rounds=2,
            )
        rows.append(
            [
                d,
                len(pairs),
                len(pairs) / t["vmap"],
                len(pairs) / t["loop"],
                t["loop"] / t["vmap"],
                max(first - t["vmap"], 0.0),
                float(np.max(np.abs(vec - loop))),
            ]
        )
    head = ["d", "candidates", "vmap cand/s", "loop cand/s", "vmap speed-up", "vmap compile s"]
    return timing.format_table([*head, "max score diff"], rows)


def _twice(fn):
    """Runs ``fn`` twice; returns the warm result, the warm seconds and the compile seconds."""
    t0 = time.perf_counter()
    fn()
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    out = fn()
    warm = time.perf_counter() - t0
    return out, warm, max(first - warm, 0.0)


def _runtime_tables(dims):
    runtime, to_score = [], []
    for d in experiment.progress(dims, desc="runtime vs d"):
        B, X, key = _problem(d)
        topo, t_topo, c_topo = _twice(lambda X=X, key=key: topo_fit(X, key=key))
        nt, t_nt, c_nt = _twice(lambda X=X: notears_linear(X, 0.1))
        s_topo, s_nt = refit_score(X, topo.W)[0], refit_score(X, nt.W_raw)[0]
        shd = [count_accuracy(B, np.abs(W) > 0.3)["shd"] for W in (topo.W, nt.W)]
        runtime.append([d, t_topo, t_nt, t_nt / t_topo, c_topo, c_nt, s_topo, s_nt, *shd])
        reach = [t for t, s in topo.history if s <= s_nt]
        t_reach = reach[0] if reach else float("nan")
        to_score.append([d, s_nt, t_reach, t_nt, t_nt / t_reach if reach else float("nan")])
    head = ["d", "TOPO s", "NOTEARS s", "NOTEARS/TOPO time", "TOPO compile s", "NOTEARS compile s"]
    head += ["TOPO score", "NOTEARS score", "TOPO SHD", "NOTEARS SHD"]
    return (
        timing.format_table(head, runtime),
        timing.format_table(
            ["d", "NOTEARS final score", "TOPO s to reach it", "NOTEARS s", "speed-up"], to_score
        ),
    )


def main(argv: Sequence[str] | None = None) -> None:
    args = experiment.parse_bench_args(__doc__, argv)
    print("\nCandidate swaps scored per second (4d candidates, same Gram matrix; warm):\n")
    print(_candidates_table([20] if args.quick else [20, 50]))
    runtime, to_score = _runtime_tables([10] if args.quick else [10, 20])
    print("\nRuntime vs d (ER2, n = 1000; warm runs, compile time apart):\n")
    print(runtime)
    print("\nTime for TOPO to reach NOTEARS(l1 = 0.1)'s final refit score (warm runs):\n")
    print(to_score)


if __name__ == "__main__":
    main()
