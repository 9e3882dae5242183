"""Benchmarks TOPO: candidate refits per second, runtime vs d, and time-to-score against NOTEARS.

``python -m topo_swaps.bench [--quick]``. Three Markdown tables, every ratio against a baseline
measured in the same run:

1. Candidate refits per second: all candidate swaps scored in one ``vmap`` (TOPO's vectorised
   inner step) vs a Python loop of span refits (re-regressing only the nodes between the swapped
   positions, one least-squares solve per node, as the official code does).
2. Runtime vs d (ER2, n = 1000; d = 10, 20: NOTEARS at d = 50 takes many minutes on a CPU, so
   the d = 50 comparison is the full reproduction's score-vs-time run): TOPO from a random order and NOTEARS-linear (l1 = 0.1), each
   timed on its first call (compilation included, a few seconds at most), with both refit scores and SHDs.
3. Time-to-score: how long TOPO needs to reach NOTEARS's final refit score (first outer
   iteration whose score is at most NOTEARS's), against NOTEARS's total time.
Asserts nothing.
"""

from __future__ import annotations

import sys
import time

import jax
import numpy as np

from jaxpapers_shared import experiment, timing

from . import _inner
from ._notears import notears_linear
from ._order import swap_order
from ._sem import count_accuracy, refit_score, simulate_dag, simulate_linear_sem, simulate_parameter
from ._topo import fit_given_order, refit_span, topo_fit


def _problem(d, n=1000, seed=None):
    k1, k2, k3, k4 = jax.random.split(jax.random.key(d if seed is None else seed), 4)
    B = simulate_dag(k1, d, 2 * d)
    return B, simulate_linear_sem(k3, simulate_parameter(k2, B), n), k4


def _candidates_table(dims):
    rows = []
    for d in dims:
        _, X, _ = _problem(d)
        order = np.arange(d)
        pairs = np.array([(i, j) for i in range(d) for j in range(i)])[: 4 * d]
        with jax.enable_x64(True):
            C = _inner.gram(X - X.mean(0))
            t_vec = timing.time_fn(lambda c, p, q: _inner.swap_scores(c, p, q), C, order, pairs)
        W = fit_given_order(X, order)
        t0 = time.perf_counter()
        for i, j in pairs:
            refit_span(X, W, order, swap_order(order, (i, j)), (i, j))
        t_loop = time.perf_counter() - t0
        rows.append([d, len(pairs), len(pairs) / t_vec, len(pairs) / t_loop, t_loop / t_vec])
    return timing.format_table(
        ["d", "candidates", "vmap cand/s", "loop cand/s", "vmap speed-up"], rows
    )


def _timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def _runtime_tables(dims):
    runtime, to_score = [], []
    for d in experiment.progress(dims, desc="runtime vs d"):
        B, X, key = _problem(d)
        topo, t_topo = _timed(lambda X=X, key=key: topo_fit(X, key=key))
        nt, t_nt = _timed(lambda X=X: notears_linear(X, 0.1))
        s_topo, s_nt = refit_score(X, topo.W)[0], refit_score(X, nt.W_raw)[0]
        shd = [count_accuracy(B, np.abs(W) > 0.3)["shd"] for W in (topo.W, nt.W)]
        runtime.append([d, t_topo, t_nt, t_nt / t_topo, s_topo, s_nt, shd[0], shd[1]])
        reach = [t for t, s in topo.history if s <= s_nt]
        t_reach = reach[0] if reach else float("nan")
        to_score.append([d, s_nt, t_reach, t_nt, t_nt / t_reach if reach else float("nan")])
    head = ["d", "TOPO s", "NOTEARS s", "NOTEARS/TOPO time", "TOPO score", "NOTEARS score"]
    return (
        timing.format_table(head + ["TOPO SHD", "NOTEARS SHD"], runtime),
        timing.format_table(
            ["d", "NOTEARS final score", "TOPO s to reach it", "NOTEARS s", "speed-up"], to_score
        ),
    )


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    quick = "--quick" in argv
    print("\nCandidate refits per second (4d candidate swaps):\n")
    print(_candidates_table([20] if quick else [20, 50]))
    runtime, to_score = _runtime_tables([10] if quick else [10, 20])
    print("\nRuntime vs d (ER2, n = 1000; first call, compilation included):\n")
    print(runtime)
    print("\nTime for TOPO to reach NOTEARS(l1 = 0.1)'s final refit score:\n")
    print(to_score)


if __name__ == "__main__":
    main()
