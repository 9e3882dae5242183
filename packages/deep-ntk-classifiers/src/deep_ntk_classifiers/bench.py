"""Benchmarks of deep-ntk-classifiers, measured in one run (time ratios and stability; asserts nothing).

``python -m deep_ntk_classifiers.bench [--quick]``.

1. Deep NNGP kernel of ``n x n`` unit vectors (D = 3, the ``3d_opt`` dual) at depths 10 and 100:
   the jit-compiled log-domain recursion and the jit-compiled linear-domain recursion against
   the official structure (a NumPy loop over layers in float64). n = 500, 2000 (quick: 200).
2. Stability: the fraction of off-diagonal kernel entries that the linear float64 recursion
   still represents (nonzero and finite) and its largest relative error there, against the log
   domain, for duals whose deep kernels leave the float64 range.
3. Solving with the deep Gram matrix (n = 2000, quick: 300; ``3d_opt`` NNGP, depth 100, nearly
   the identity): the identity shortcut and Cholesky against ``jnp.linalg.solve`` (LU).

Times are medians of compiled, warm calls on the same inputs (``timing.compare``, interleaved);
compile time is reported apart.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jaxpapers_shared import experiment, timing

from ._duals import OPTIMAL_DUALS, polynomial_dual
from ._kernels import _iterate

DUAL = OPTIMAL_DUALS[2]


def _points(n: int, seed: int = 0) -> np.ndarray:
    x = np.abs(np.random.default_rng(seed).standard_normal((n, 3)))
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _numpy_loop(xi: np.ndarray, depth: int) -> np.ndarray:
    """The official ``nngp_kernel``: clip, then apply the dual layer by layer (NumPy float64)."""
    xi = np.clip(xi, -1.0, 1.0)
    for _ in range(depth):
        xi = np.clip(0.5 * xi**3 + 0.5 * xi, -1.0, 1.0)
    return xi


def bench_depth(sizes: Sequence[int], depths: Sequence[int]) -> list[list]:
    rows = []
    for n in sizes:
        x = _points(n)
        xi = jnp.asarray(x @ x.T)
        for depth in depths:
            fns = {
                "NumPy loop (official)": lambda a, d=depth: _numpy_loop(np.asarray(a), d),
                "jit, log domain": lambda a, d=depth: _iterate(a, d, DUAL, "nngp", "log"),
                "jit, linear domain": lambda a, d=depth: _iterate(a, d, DUAL, "nngp", "linear"),
            }
            compile_s = {}
            for name in ("jit, log domain", "jit, linear domain"):
                start = time.perf_counter()
                jax.block_until_ready(fns[name](xi))
                compile_s[name] = time.perf_counter() - start
            seconds = timing.compare(fns, xi, rounds=2, repeat=2)
            base = seconds["NumPy loop (official)"]
            for name, t in seconds.items():
                rows.append([n, depth, name, 1e3 * t, base / t, compile_s.get(name, 0.0)])
    return rows


def bench_stability() -> list[list]:
    x = _points(200, seed=1)
    xi = jnp.asarray(x @ x.T)
    off = ~np.eye(len(x), dtype=bool)
    cases = [
        (polynomial_dual([0, 0, 1], name="xi^2"), 10),
        (polynomial_dual([0, 0, 1], name="xi^2"), 30),
        (OPTIMAL_DUALS[8], 100),
        (OPTIMAL_DUALS[8], 300),
        (OPTIMAL_DUALS[1], 1000),
    ]
    rows = []
    for dual, depth in cases:
        log = _iterate(xi, depth, dual, "nngp", "log")
        lin = np.asarray(_iterate(xi, depth, dual, "nngp", "linear").value())[off]
        exact = np.asarray(log.value())[off]
        representable = np.isfinite(lin) & (lin != 0.0)
        ok = representable & (exact != 0.0)
        err = float(np.max(np.abs(lin[ok] / exact[ok] - 1.0))) if ok.any() else float("nan")
        smallest = float(np.min(np.asarray(log.log_abs)[off]) / np.log(10.0))
        rows.append([dual.name, depth, float(np.mean(representable)), err, f"1e{smallest:.0f}"])
    return rows


def bench_solve(n: int) -> list[list]:
    x = _points(n, seed=2)
    with jax.enable_x64(True):
        k = _iterate(jnp.asarray(x @ x.T), 100, DUAL, "nngp", "log").value()
        gram = k.at[jnp.diag_indices(n)].set(1.0)
        y = jnp.asarray(np.where(np.arange(n) % 2 == 0, 1.0, -1.0))

        def cholesky(g, y):
            return jax.scipy.linalg.cho_solve(jax.scipy.linalg.cho_factor(g, lower=True), y)

        fns = {
            "jnp.linalg.solve (LU)": jax.jit(jnp.linalg.solve),
            "Cholesky": jax.jit(cholesky),
            "identity shortcut (beta = y)": jax.jit(lambda g, y: y),
        }
        seconds = timing.compare(fns, gram, y, rounds=2, repeat=2)
        ref = np.asarray(fns["jnp.linalg.solve (LU)"](gram, y))
        base = seconds["jnp.linalg.solve (LU)"]
        off = float(jnp.max(jnp.abs(gram - jnp.eye(n))))
        rows = []
        for name, t in seconds.items():
            diff = float(np.max(np.abs(np.asarray(fns[name](gram, y)) - ref)))
            rows.append([name, 1e3 * t, base / t, diff, f"{off:.1e}"])
        return rows


def main(argv: Sequence[str] | None = None) -> None:
    args = experiment.parse_bench_args(__doc__, argv)
    sizes = (200,) if args.quick else (500, 2000)
    with jax.enable_x64(True):
        print(f"Deep NNGP kernel ({DUAL.name}, float64), n x n entries")
        print(
            timing.format_table(
                ["n", "depth", "implementation", "ms", "speed-up vs NumPy", "compile s"],
                bench_depth(sizes, (10, 100)),
            )
        )
        print("\nStability: linear float64 recursion vs log domain (200 points, off-diagonal)")
        print(
            timing.format_table(
                ["dual", "depth", "representable (linear)", "max rel. error there", "smallest |K|"],
                bench_stability(),
            )
        )
        n = 300 if args.quick else 2000
        print(f"\nSolving with the deep Gram matrix (n = {n}, depth 100)")
        print(
            timing.format_table(
                ["solve", "ms", "speed-up vs LU", "max |beta - beta_LU|", "max off-diagonal"],
                bench_solve(n),
            )
        )


if __name__ == "__main__":
    main()
