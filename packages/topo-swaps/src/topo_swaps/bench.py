"""Benchmarks TOPO's candidate scoring and run time against d, and NOTEARS against the official code.

``python -m topo_swaps.bench [--quick]``. Markdown tables; every ratio compares warm runs on the
same precomputed inputs, and compile time is reported in its own column, never inside a ratio:

1. Candidate swaps scored per second, all from the same Gram matrix, order and 4d candidate
   pairs: the span refit TOPO uses (only positions lo..hi re-solved, Cholesky of the span's
   Schur complement, batched by span length), the previous full refit (all d columns per
   candidate in one ``vmap``), and a NumPy loop of span refits (one solve per node).
2. TOPO run time against d (ER2, n = 1000, random start order, default sizes): each run twice,
   the second timed, first minus second = compile time; a least-squares fit of
   log(time) = a + b log(d) gives the exponent b; the same runs with the full refit (previous
   version) at the smaller d. Writes ``results/topo-swaps/topo_time_vs_d.png``.
3. NOTEARS-linear (lambda1 = 0.1) against a NumPy/SciPy transcription of the official code
   (``tests/official_notears.py``, present in a source checkout) on the same data: time ratio,
   refit scores, SHDs, whether the thresholded graphs agree; TOPO's warm time alongside.

Asserts nothing about time.
"""

from __future__ import annotations

import importlib.util
import time
from collections.abc import Sequence
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from jaxpapers_shared import experiment, timing

from . import _inner, _topo
from ._blas import single_thread
from ._notears import notears_linear
from ._order import swap_order
from ._sem import count_accuracy, refit_score, simulate_dag, simulate_linear_sem, simulate_parameter
from ._topo import topo_fit

OUT = Path("results/topo-swaps")
OFFICIAL = Path(__file__).resolve().parents[2] / "tests" / "official_notears.py"


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
        order = np.random.default_rng(d).permutation(d)
        pos = np.argsort(order)
        pairs = np.array([(i, j) for i in range(d) for j in range(i)])
        pairs = pairs[np.random.default_rng(d + 1).permutation(len(pairs))[: 4 * d]]
        with jax.enable_x64(True), single_thread():
            C = np.asarray(_inner.gram(X - X.mean(0)))
            Cj, posj, pj = jnp.asarray(C), jnp.asarray(pos), jnp.asarray(pairs)
            t0 = time.perf_counter()
            span = _inner.swap_scores(Cj, posj, pairs)
            first_span = time.perf_counter() - t0
            t0 = time.perf_counter()
            full = np.asarray(jax.block_until_ready(_inner.swap_scores_full(Cj, posj, pj)))
            first_full = time.perf_counter() - t0
            loop = loop_swap_scores(C, order, pairs)
            t = timing.compare(
                {
                    "span": lambda: _inner.swap_scores(Cj, posj, pairs),
                    "full": lambda: _inner.swap_scores_full(Cj, posj, pj),
                    "loop": lambda: loop_swap_scores(C, order, pairs),
                },
                rounds=2,
            )
        diff = max(np.max(np.abs(span - full)), np.max(np.abs(span - loop)))
        rows.append(
            [d, len(pairs), *(len(pairs) / t[k] for k in ("span", "full", "loop"))]
            + [t["full"] / t["span"], t["loop"] / t["span"]]
            + [max(first_span - t["span"], 0.0), max(first_full - t["full"], 0.0), diff]
        )
    head = ["d", "candidates", "span cand/s", "full cand/s", "loop cand/s", "full/span time"]
    head += ["loop/span time", "span compile s", "full compile s", "max score diff"]
    return timing.format_table(head, rows)


def _twice(fn):
    """Runs ``fn`` twice; returns the warm result, the warm seconds and the compile seconds."""
    t0 = time.perf_counter()
    fn()
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    out = fn()
    warm = time.perf_counter() - t0
    return out, warm, max(first - warm, 0.0)


def _topo_full_refit(X, key):
    """TOPO with the previous candidate scoring (all d columns refit per candidate)."""

    def full(stat, pos, pairs, loss):
        return np.asarray(_inner.swap_scores_full(stat, pos, jnp.asarray(pairs), loss))

    with jax.enable_x64(True), single_thread():
        saved, _inner.swap_scores = _inner.swap_scores, full
        try:
            return _topo._topo_fit(X, None, "l2", "logdet", None, None, 1, None, key)
        finally:
            _inner.swap_scores = saved


def _topo_scaling(dims, before_dims):
    rows, times = [], []
    for d in experiment.progress(dims, desc="TOPO vs d"):
        B, X, key = _problem(d)
        res, warm, comp = _twice(lambda X=X, key=key: topo_fit(X, key=key))
        row = [d, warm, comp, res.n_iter, count_accuracy(B, np.abs(res.W) > 0.3)["shd"]]
        if d in before_dims:
            old, warm_old, _ = _twice(lambda X=X, key=key: _topo_full_refit(X, key))
            same = bool(np.array_equal(old.order, res.order) and abs(old.score - res.score) < 1e-9)
            row += [warm_old, warm_old / warm, same]
        else:
            row += [float("nan"), float("nan"), "-"]
        rows.append(row)
        times.append(warm)
    slope, intercept = np.polyfit(np.log(dims), np.log(times), 1)
    head = ["d", "TOPO s", "compile s", "outer iters", "SHD", "full-refit TOPO s"]
    head += ["full/span time", "same order & score"]
    return timing.format_table(head, rows), dims, times, slope, intercept


def _figure(dims, times, slope, intercept):
    with experiment.reproduce_imports("topo-swaps"):
        fig, ax = experiment.new_figure(size=(4.5, 3.4))
    ax.loglog(dims, times, "o-", label="TOPO (warm)")
    fit = np.exp(intercept) * np.asarray(dims, float) ** slope
    ax.loglog(dims, fit, "--", label=f"fit: time ~ d^{slope:.2f}")
    ax.set_xlabel("d (ER2, n = 1000)")
    ax.set_ylabel("seconds per TOPO run")
    ax.legend()
    OUT.mkdir(parents=True, exist_ok=True)
    fig.savefig(OUT / "topo_time_vs_d.png", dpi=120, bbox_inches="tight")


def _official():
    if not OFFICIAL.exists():
        return None
    spec = importlib.util.spec_from_file_location("official_notears", OFFICIAL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.reference_notears_linear


def _notears_table(dims, topo_times):
    reference = _official()
    rows = []
    for d in experiment.progress(dims, desc="NOTEARS vs reference"):
        B, X, _ = _problem(d)
        t0 = time.perf_counter()
        nt = notears_linear(X, 0.1)
        t_nt = time.perf_counter() - t0
        row = [d, t_nt, refit_score(X, nt.W_raw)[0], count_accuracy(B, nt.W)["shd"]]
        if reference is not None:
            with single_thread():
                t0 = time.perf_counter()
                W_ref, W_ref_raw = reference(X, 0.1)
                t_ref = time.perf_counter() - t0
            row += [t_ref, t_nt / t_ref, refit_score(X, W_ref_raw)[0]]
            row += [count_accuracy(B, W_ref)["shd"], bool(np.array_equal(W_ref != 0, nt.W != 0))]
        else:
            row += [float("nan")] * 4 + ["-"]
        t_topo = topo_times.get(d, float("nan"))
        rows.append([*row, t_topo, t_nt / t_topo])
    head = ["d", "NOTEARS s", "NOTEARS score", "NOTEARS SHD", "official s", "ours/official time"]
    head += ["official score", "official SHD", "same graph", "TOPO s", "NOTEARS/TOPO time"]
    return timing.format_table(head, rows)


def main(argv: Sequence[str] | None = None) -> None:
    args = experiment.parse_bench_args(__doc__, argv)
    print("\nCandidate swaps scored per second (4d candidates, same Gram matrix; warm):\n")
    print(_candidates_table([20] if args.quick else [20, 50]))
    dims = [10, 20] if args.quick else [10, 20, 40, 70, 100]
    table, dims, times, slope, intercept = _topo_scaling(dims, [10] if args.quick else [10, 20, 40])
    print("\nTOPO run time vs d (ER2, n = 1000; warm runs, compile time apart):\n")
    print(table)
    print(f"\nFitted exponent: time ~ d^{slope:.2f} over d = {dims}.")
    if not args.quick:
        _figure(dims, times, slope, intercept)
    nt_dims = [10] if args.quick else [10, 20, 40]
    print("\nNOTEARS-linear (l1 = 0.1) vs the official algorithm (NumPy/SciPy), same data:\n")
    print(_notears_table(nt_dims, dict(zip(dims, times, strict=True))))


if __name__ == "__main__":
    main()
