"""Reproduces Sec. 5 of *Optimizing NOTEARS Objectives via Topological Swaps* (TOPO).

Claim (Sec. 5, Tables 1-2, Figs. 3-4): on the least-squares NOTEARS objective, TOPO started from a
random order reaches a better score than NOTEARS itself; as a post-processor it lowers, and never
raises, another method's score; its structure is at least as accurate (SHD); its output is a
local optimum of the swap neighbourhood.
CPU-scale setup: ER2 linear-Gaussian SEMs with equal noise variances, n = 1000 (quick: n = 500);
d in {10, 20} x 5 seeds (quick: d = 8, 3 seeds). In the same run: TOPO from a random order
(default candidate sizes), NOTEARS-linear (SciPy L-BFGS-B) with lambda1 = 0 and 0.1, TOPO post-processing
each NOTEARS output, and the true-order oracle. Scores are refit scores: threshold |W| at 0.3,
break cycles, OLS refit on the support, F = (1/2n)||X - X W||^2. Full mode adds d = 50 (one
seed) and a score-vs-time figure (TOPO timed warm, its first-call time with compilation recorded
apart).
Pass criteria, per d: TOPO's refit score exceeds NOTEARS(lambda1 = 0)'s by at most 1e-3 in every
seed, and NOTEARS(lambda1 = 0.1)'s likewise; TOPO's SHD exceeds NOTEARS(lambda1 = 0.1)'s by at
most 1 in every seed. Over all runs: post-processing never raises NOTEARS's refit score (both
lambda1, by more than 1e-9); (full mode) post-processing lowers NOTEARS(lambda1 = 0.1)'s refit
score per node on average (by > 2 s.e. over seeds); TOPO's own F is within 1e-3 per node of the true-order
score; no single swap of TOPO's final order (found with the default candidate sizes, checked
against all d(d-1)/2 swaps) lowers F by more than 1e-9.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import jax
import numpy as np

from jaxpapers_shared import experiment
from jaxpapers_shared.experiment import above, at_most

with experiment.reproduce_imports("topo-swaps"):
    import matplotlib  # noqa: F401  (figures, through experiment.new_figure)

from . import _inner
from ._notears import notears_linear
from ._order import order_from_dag
from ._sem import count_accuracy, refit_score, simulate_dag, simulate_linear_sem, simulate_parameter
from ._topo import TOPO, fit_given_order, score_of, topo_fit

LAMBDAS = (0.0, 0.1)
SCORE_TOL = 1e-9


def _data(seed, d, n):
    k1, k2, k3, k4 = jax.random.split(jax.random.key(seed), 4)
    B = simulate_dag(k1, d, 2 * d)
    W = simulate_parameter(k2, B)
    return B, W, simulate_linear_sem(k3, W, n), k4


def _shd(B, W):
    return count_accuracy(B, np.abs(W) > 0.3)["shd"]


def _timed(fn, *args, **kwargs):
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t0


def _best_swap_decrease(X, res) -> float:
    """How much the best single swap of ``res.order`` (over all d(d-1)/2 pairs) lowers F."""
    d = X.shape[1]
    with jax.enable_x64(True):
        C = _inner.gram(X - X.mean(0))
        pos = np.argsort(res.order)
        pairs = np.array([(i, j) for i in range(d) for j in range(d) if pos[i] > pos[j]])
        best = float(np.min(np.asarray(_inner.swap_scores(C, pos, pairs))))
    return res.score - best


def _one_run(d, seed, n):
    """Every method on one dataset; returns a flat dict of scores, SHDs and times."""
    B, W_true, X, key = _data(seed, d, n)
    row = {"d": d, "seed": seed}
    row["oracle"] = score_of(X, fit_given_order(X, order_from_dag(W_true)))
    topo, row["topo_s"] = _timed(topo_fit, X, key=key)
    row["topo_own"] = topo.score
    row["best_swap_decrease"] = _best_swap_decrease(X, topo)
    row["topo"] = refit_score(X, topo.W)[0]
    row["topo_shd"] = _shd(B, topo.W)
    for lam in LAMBDAS:
        tag = f"notears{lam:g}"
        nt, row[f"{tag}_s"] = _timed(notears_linear, X, lam)
        row[tag] = refit_score(X, nt.W_raw)[0]
        row[f"{tag}_shd"] = _shd(B, nt.W)
        row[f"{tag}_converged"] = nt.converged
        post, row[f"post{lam:g}_s"] = _timed(TOPO(seed=seed).postprocess, X, nt.W_raw)
        row[f"post{lam:g}"] = refit_score(X, post.W_)[0]
        row[f"post{lam:g}_shd"] = _shd(B, post.W_)
    return row


def _score_vs_time(exp, d, seed, n):
    """TOPO's and NOTEARS's objective over wall-clock time on one d-node problem (figure)."""
    B, W_true, X, key = _data(seed, d, n)
    oracle = score_of(X, fit_given_order(X, order_from_dag(W_true)))
    # The first call at a new d compiles; the curve is the second (warm) call on the same data.
    first, first_s = _timed(topo_fit, X, key=key)
    topo = topo_fit(X, key=key)
    nt = notears_linear(X, 0.1)
    nt_curve = [(t, refit_score(X, W)[0]) for t, _, _, W in nt.history]
    exp.record(f"d{d}_topo_history", [list(p) for p in topo.history])
    exp.record(f"d{d}_notears_history", [list(p) for p in nt_curve])
    fig, ax = experiment.new_figure(size=(5.0, 3.4))
    t, s = zip(*topo.history, strict=True)
    ax.step(t, s, where="post", marker=".", label="TOPO (own score, random start, warm)")
    t, s = zip(*nt_curve, strict=True)
    ax.plot(t, s, marker="o", label="NOTEARS l1=0.1 (refit score per outer step)")
    ax.axhline(oracle, color="gray", ls=":", label="true order")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("wall-clock seconds")
    ax.set_ylabel("F = (1/2n)||X - XW||^2")
    ax.set_title(f"ER2, d = {d}, n = {n}")
    ax.legend(fontsize=7)
    fig.tight_layout()
    exp.save_figure(fig, "score_vs_time")
    return {
        "d": d,
        "oracle": oracle,
        "topo": refit_score(X, topo.W)[0],
        "topo_s": topo.history[-1][0],
        "topo_first_call_s": first_s,
        "topo_same_as_first_call": bool(
            np.array_equal(first.order, topo.order) and first.score == topo.score
        ),
        "topo_shd": _shd(B, topo.W),
        "notears0.1": nt_curve[-1][1],
        "notears0.1_s": nt.history[-1][0],
        "notears0.1_shd": _shd(B, nt.W),
    }


def main(argv: Sequence[str] | None = None) -> int:
    args = experiment.parse_args(__doc__, argv, default_out="results/topo-swaps")
    seeds = [args.seed + s for s in range(3 if args.quick else 5)]
    exp = experiment.Experiment(
        "topo-swaps",
        paper="Optimizing NOTEARS Objectives via Topological Swaps",
        args=args,
        seeds=seeds,
        quick_differences=(
            "d = 8 only, 3 seeds, n = 500 (full: d = 10 and 20, 5 seeds, n = 1000, plus the "
            "d = 50 score-vs-time run); the claim that post-processing lowers NOTEARS's score "
            "on average is full mode only (3 seeds of a heavy-tailed decrease cannot clear its "
            "2 s.e. bar); the other bars are the same."
        ),
    )
    dims, n = ([8], 500) if args.quick else ([10, 20], 1000)
    with exp.section("TOPO vs NOTEARS vs post-processing vs oracle"):
        runs = [(d, s) for d in dims for s in seeds]
        rows = [_one_run(d, s, n) for d, s in experiment.progress(runs, desc="runs")]
        exp.record("runs", rows)
        for d in dims:
            sub = [r for r in rows if r["d"] == d]
            for lam in LAMBDAS:
                tag = f"notears{lam:g}"
                excess = [r["topo"] - r[tag] for r in sub]
                lower = sum(e < -SCORE_TOL for e in excess)
                exp.claim(
                    f"d = {d}: TOPO's refit score is not above NOTEARS(l1={lam:g})'s in any seed "
                    "(max over seeds of TOPO - NOTEARS)",
                    reference="Sec. 5, Table 1",
                    ours=max(excess),
                    expect=at_most(1e-3),
                    seeds=seeds,
                    note=(
                        f"mean refit score TOPO {np.mean([r['topo'] for r in sub]):.4g} vs "
                        f"NOTEARS {np.mean([r[tag] for r in sub]):.4g}; TOPO lower in "
                        f"{lower}/{len(sub)} seeds"
                    ),
                )
            shd_excess = [r["topo_shd"] - r["notears0.1_shd"] for r in sub]
            exp.claim(
                f"d = {d}: TOPO's SHD is at most NOTEARS(l1=0.1)'s + 1 in every seed "
                "(max over seeds of TOPO - NOTEARS)",
                reference="Sec. 5, Table 1",
                ours=max(shd_excess),
                expect=at_most(1),
                seeds=seeds,
                note=(
                    f"mean SHD TOPO {np.mean([r['topo_shd'] for r in sub]):.2g} vs NOTEARS "
                    f"{np.mean([r['notears0.1_shd'] for r in sub]):.2g}"
                ),
            )
        diffs = [r[f"post{lam:g}"] - r[f"notears{lam:g}"] for r in rows for lam in LAMBDAS]
        exp.claim(
            "post-processing never raises NOTEARS's refit score (max over runs, both l1)",
            reference="Sec. 5, Table 2",
            ours=max(diffs),
            expect=at_most(SCORE_TOL),
            seeds=seeds,
        )
        if not args.quick:
            # Full mode only: with 3 quick seeds, a heavy-tailed decrease cannot clear 2 s.e.
            post = [
                np.mean([(r["notears0.1"] - r["post0.1"]) / r["d"] for r in rows if r["seed"] == s])
                for s in seeds
            ]
            exp.claim(
                "post-processing lowers NOTEARS(l1=0.1)'s refit score: decrease per node",
                reference="Sec. 5, Table 2",
                ours=post,
                expect=above(0.0),
                note=(
                    "per seed: mean over d of (NOTEARS - post-processed refit score) / d; "
                    f"NOTEARS's own refit score per node "
                    f"{np.mean([r['notears0.1'] / r['d'] for r in rows]):.3g}"
                ),
            )
        gaps = [
            max((r["topo_own"] - r["oracle"]) / r["d"] for r in rows if r["seed"] == s)
            for s in seeds
        ]
        exp.claim(
            "TOPO's F is within 1e-3 per node of the true-order score (max over d)",
            reference="Sec. 5",
            ours=gaps,
            expect=at_most(1e-3),
        )
        exp.claim(
            "TOPO's final order (default candidate sizes) is swap-optimal: largest decrease of F "
            "by any single swap, max over runs",
            reference="Sec. 4 (local optimality)",
            ours=max(r["best_swap_decrease"] for r in rows),
            expect=at_most(SCORE_TOL),
            seeds=seeds,
            note="all d(d-1)/2 swaps checked; TOPO itself only scored its candidate sets",
        )
    if not args.quick:
        with exp.section("d = 50: score vs time"):
            exp.record("d50", _score_vs_time(exp, 50, seeds[0], n))
    return exp.finish()


if __name__ == "__main__":
    raise SystemExit(main())
