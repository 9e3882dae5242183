"""Benchmarks of convex-relu, measured in one run (time ratios; asserts nothing).

``python -m convex_relu.bench [--quick]``.

1. Time to a given objective on breast_cancer (455 training rows, 31 columns with the bias,
   P_s = 20 sampled patterns, squared loss, beta = 1e-2). Target: the network objective ADMM
   reaches after 100 iterations. ADMM (Cholesky factor cached, rho = 0.01) against full-batch
   Adam (lr 1e-2) on the non-convex network of width 2 P_s from a random initialisation: the
   time of the compiled, warm call that runs exactly the iterations (steps) needed to reach the
   target. CVXPY (Clarabel) and pyscnn rows are added when they are installed.
2. Per-iteration time against n (synthetic Gaussian data, d = 10 + bias, P_s = 20): it should
   grow linearly in n. The iterations are timed with the factored system precomputed; the set-up
   (paid once) is timed apart.
3. Cholesky against matrix-free CG u-steps (``primal="cg"``, 20 CG iterations) as 2dP grows.

Times are medians of compiled, warm calls (``timing.time_fn``); compile time is never inside a
ratio.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jaxpapers_shared import experiment, timing

from ._admm import _inverse, _run, admm_solve
from ._patterns import sample_patterns
from ._problem import ConvexReLUProblem
from ._train import init_network, train_nonconvex

with experiment.reproduce_imports("convex-relu"):
    from sklearn.datasets import load_breast_cancer
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

BETA = 1e-2


def _cancer():
    x, y = load_breast_cancer(return_X_y=True)
    xtr, _, ytr, _ = train_test_split(x, 2.0 * y - 1, test_size=0.2, stratify=y, random_state=0)
    return np.c_[StandardScaler().fit_transform(xtr), np.ones(len(xtr))], ytr


def _first(trace: np.ndarray, target: float) -> int | None:
    hits = np.nonzero(trace <= target)[0]
    return int(hits[0]) + 1 if hits.size else None


def time_to_objective(quick: bool) -> list[list]:
    X, y = _cancer()
    D = sample_patterns(jax.random.PRNGKey(0), X, 20)
    problem = ConvexReLUProblem(X, y, D, BETA)
    long = admm_solve(problem, tol=0.0, max_iter=100)
    target = float(long.network_objective_trace[-1])
    k = _first(np.asarray(long.network_objective_trace), target)
    admm = timing.time_fn(lambda: admm_solve(problem, tol=0.0, max_iter=k), repeat=3)
    rows = [["ADMM (Cholesky cached)", k, 1e3 * admm, 1.0]]
    steps = 500 if quick else 5000
    p0 = init_network(jax.random.PRNGKey(1), X.shape[1], 2 * problem.num_patterns)
    Xj, yj = jnp.asarray(X), jnp.asarray(y)
    _, trace = train_nonconvex(p0, Xj, yj, BETA, 1e-2, steps=steps)
    s = _first(np.asarray(trace), target)
    if s is None:
        rows.append([f"Adam (not reached in {steps} steps; best {float(trace.min()):.3f})",
                     steps, float("nan"), float("nan")])  # fmt: skip
    else:
        adam = timing.time_fn(lambda: train_nonconvex(p0, Xj, yj, BETA, 1e-2, steps=s), repeat=3)
        rows.append(["Adam, non-convex net", s, 1e3 * adam, adam / admm])
    for name in ("cvxpy", "scnn"):
        if importlib.util.find_spec(name) is None:
            rows.append([f"{name} (not installed)", "-", float("nan"), float("nan")])
    print(f"target objective {target:.4f} (ADMM, 100 iterations)")
    return rows


def _iterations(problem: ConvexReLUProblem, k: int, primal: str) -> tuple[float, float]:
    """Seconds per iteration (set-up excluded) and seconds of the one-time set-up."""
    dtype = problem.X.dtype
    rho = jnp.asarray(0.01, dtype)
    setup = 0.0
    inverse = jnp.zeros((0,), dtype)
    if primal == "cholesky":
        setup = timing.time_fn(_inverse, problem.X, problem.patterns, rho, repeat=3)
        inverse = _inverse(problem.X, problem.patterns, rho)
    args = (problem.X, problem.y, problem.patterns, jnp.asarray(BETA, dtype), rho,
            jnp.asarray(1.0, dtype), jnp.asarray(0.0, dtype), inverse)  # fmt: skip
    run = lambda: _run(*args, loss="squared", max_iter=k, primal=primal, cg_iter=20)  # noqa: E731
    return timing.time_fn(run, repeat=3) / k, setup


def per_iteration(quick: bool) -> list[list]:
    rows = []
    for n in (200, 500) if quick else (200, 500, 1000, 2000):
        rng = np.random.default_rng(0)
        X = np.c_[rng.normal(size=(n, 10)), np.ones(n)]
        y = np.sign(rng.normal(size=n))
        problem = ConvexReLUProblem(X, y, sample_patterns(jax.random.PRNGKey(0), X, 20), BETA)
        per_it, setup = _iterations(problem, 200, "cholesky")
        rows.append([n, problem.num_patterns, 1e3 * per_it, setup])
    return rows


def cholesky_vs_cg(quick: bool) -> list[list]:
    X, y = _cancer()
    rows = []
    for P in (10, 40) if quick else (10, 40, 100):
        problem = ConvexReLUProblem(X, y, sample_patterns(jax.random.PRNGKey(0), X, P), BETA)
        chol, setup = _iterations(problem, 100, "cholesky")
        cg, _ = _iterations(problem, 100, "cg")
        dim = 2 * problem.num_patterns * X.shape[1]
        rows.append([dim, 1e3 * chol, setup, 1e3 * cg, cg / chol])
    return rows


def main(argv: Sequence[str] | None = None) -> None:
    args = experiment.parse_bench_args(__doc__, argv)
    jax.config.update("jax_enable_x64", True)
    print("\nTime to ADMM's 100-iteration objective, breast_cancer, P_s = 20\n")
    header = ["method", "iterations/steps", "ms", "time / ADMM"]
    print(timing.format_table(header, time_to_objective(args.quick)))
    print("\nADMM per-iteration time against n (d = 11, P_s = 20)\n")
    header = ["n", "P", "ms / iteration", "set-up s (once)"]
    print(timing.format_table(header, per_iteration(args.quick)))
    print("\nCholesky (cached) against CG u-steps, breast_cancer\n")
    header = ["2dP", "Cholesky ms / it", "set-up s (once)", "CG ms / it", "CG / Cholesky"]
    print(timing.format_table(header, cholesky_vs_cg(args.quick)))


if __name__ == "__main__":
    main()
