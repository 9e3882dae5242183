"""Benchmarks of sgd-stability, measured in one run (time ratios and errors; asserts nothing).

``python -m sgd_stability.bench [--quick]``.

1. Sharpness of a two-layer ReLU network at an interpolating minimum (n = 50 points on the sphere
   in d = 10, targets y = f(x)), as the width and so the parameter count p grow. Baseline: the
   dense Hessian (``jax.hessian``, p x p) and ``eigvalsh``, up to p = 2200 (quick: 550). Against
   it: Lanczos (20 steps, ``curvature.top_eigenvalue``) and power iteration (``tol = 1e-3``,
   the PyHessian recipe) for lambda_max; Hutchinson (100 Rademacher probes) for tr H; and the
   exact Gram route (J J^T / n, ``sharpness(method="gram")``). Errors are relative to the dense
   values (to the Gram route beyond the dense sizes; the two agree to 1e-6 where both run).
2. The SGD stability edge ``eta*`` (``critical_lr``, B = 1) for n = 20 and 50 data points:
   the secular solver vs the dense operator on symmetric matrices (n(n+1)/2 square) vs Lanczos.

Times are medians of compiled calls (``timing.compare``, interleaved); compile time is reported
apart. Figures go to ``results/sgd-stability/bench_*.png``.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Sequence
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from jaxpapers_shared import curvature, experiment, timing

from ._models import TwoLayerReLU
from ._sharpness import _gram, _loss_of
from ._stability import _critical

with experiment.reproduce_imports("sgd-stability"):
    import matplotlib  # noqa: F401  (figures)

OUT = Path("results/sgd-stability")


def _compile_seconds(fn, *args) -> float:
    start = time.perf_counter()
    jax.jit(fn).lower(*args).compile()
    return time.perf_counter() - start


def _relu_problem(width: int, n: int = 50, d: int = 10):
    keys = jax.random.split(jax.random.PRNGKey(0), 2)
    x = jax.random.normal(keys[0], (n, d))
    x = x / jnp.linalg.norm(x, axis=1, keepdims=True)
    model = TwoLayerReLU(d, width, rngs=nnx.Rngs(1))
    graphdef, params = nnx.split(model)
    return graphdef, params, x, model(x)  # y = f(x): an interpolating minimum


def _methods(graphdef, with_dense: bool):
    loss = _loss_of(graphdef)
    key = jax.random.PRNGKey(2)

    def lanczos(params, x, y):
        return curvature.top_eigenvalue(curvature.hvp(loss, params, x, y), params, order=20).value

    def power(params, x, y):
        hvp = curvature.hvp(loss, params, x, y)
        return curvature.power_iteration(hvp, params, max_iter=1000, tol=1e-3).value

    def hutchinson(params, x, y):
        hvp = curvature.hvp(loss, params, x, y)
        return curvature.hutchinson_trace(hvp, key, params, num_probes=100).value

    def gram(params, x, y):
        eigs = jnp.linalg.eigvalsh(_gram(graphdef, params, x)) / x.shape[0]
        return eigs[-1], jnp.sum(eigs)

    def dense(params, x, y):
        flat, unravel = jax.flatten_util.ravel_pytree(params)
        eigs = jnp.linalg.eigvalsh(jax.hessian(lambda f: loss(unravel(f), x, y))(flat))
        return eigs[-1], jnp.sum(eigs)

    methods = {"lanczos": lanczos, "power": power, "hutchinson": hutchinson, "gram": gram}
    if with_dense:
        methods["dense"] = dense
    return {name: jax.jit(fn) for name, fn in methods.items()}


def bench_sharpness(widths: Sequence[int], dense_max: int) -> list[dict]:
    results = []
    for width in experiment.progress(widths, desc="widths"):
        graphdef, params, x, y = _relu_problem(width)
        p = sum(leaf.size for leaf in jax.tree.leaves(params))
        methods = _methods(graphdef, with_dense=p <= dense_max)
        compile_s = {name: _compile_seconds(fn, params, x, y) for name, fn in methods.items()}
        seconds = timing.compare(methods, params, x, y, rounds=2, repeat=3)
        ref_name = "dense" if "dense" in methods else "gram"
        ref_top, ref_trace = (float(v) for v in methods[ref_name](params, x, y))
        gram_top, gram_trace = (float(v) for v in methods["gram"](params, x, y))
        row = dict(width=width, p=p, reference=ref_name, seconds=seconds, compile=compile_s)
        row["error"] = {
            "lanczos": abs(float(methods["lanczos"](params, x, y)) / ref_top - 1),
            "power": abs(float(methods["power"](params, x, y)) / ref_top - 1),
            "hutchinson": abs(float(methods["hutchinson"](params, x, y)) / ref_trace - 1),
            "gram": max(abs(gram_top / ref_top - 1), abs(gram_trace / ref_trace - 1)),
        }
        results.append(row)
    return results


def bench_edge(sizes: Sequence[int]) -> list[dict]:
    results = []
    for n in sizes:
        rng = np.random.default_rng(n)
        jac = rng.normal(size=(n, 3 * n)) + rng.normal(size=(1, 3 * n))
        gram = jnp.asarray(jac @ jac.T, jnp.float32)
        fns = {
            m: jax.jit(functools.partial(_critical, method=m))
            for m in ("secular", "dense", "lanczos")
        }
        args = (gram, jnp.asarray(1), jnp.asarray(True))
        compile_s = {m: _compile_seconds(fn, *args) for m, fn in fns.items()}
        seconds = timing.compare(fns, *args, rounds=2, repeat=3)
        values = {m: float(fn(*args).sgd) for m, fn in fns.items()}
        errors = {m: abs(v / values["dense"] - 1) for m, v in values.items()}
        results.append(dict(n=n, seconds=seconds, compile=compile_s, error=errors))
    return results


METHODS = {  # name: (marker, colour), fixed so both panels match
    "dense": ("s", "tab:blue"),
    "gram": ("D", "tab:orange"),
    "lanczos": ("o", "tab:green"),
    "power": ("v", "tab:red"),
    "hutchinson": ("^", "tab:purple"),
}


def _figure(results: list[dict]) -> None:
    from matplotlib.ticker import NullFormatter

    fig, (ax_t, ax_e) = experiment.new_figure(1, 2, size=(4.2, 3.2))
    for name, (marker, color) in METHODS.items():
        timed = [(r["p"], r["seconds"][name]) for r in results if name in r["seconds"]]
        ax_t.plot(*zip(*timed, strict=True), marker=marker, color=color, label=name)
        # errors against dense; beyond the dense sizes the Gram route is the reference
        errs = [
            (r["p"], r["error"][name])
            for r in results
            if r["reference"] != name and name in r["error"]
        ]
        if name != "dense" and errs:
            ax_e.plot(*zip(*errs, strict=True), marker=marker, color=color, label=name)
    ps = [r["p"] for r in results]
    for ax in (ax_t, ax_e):
        ax.set(xscale="log", yscale="log", xlabel="parameters p")
        ax.set_xticks(ps, [str(p) for p in ps])
        ax.xaxis.set_minor_formatter(NullFormatter())
    ax_t.set(ylabel="seconds per call")
    ax_t.set_title("time (compiled, warm)", fontsize=9)
    ax_e.set(ylabel="relative error")
    ax_e.set_title("error vs dense eigendecomposition (Gram beyond)", fontsize=9)
    ax_t.legend(fontsize=7)
    fig.tight_layout()
    OUT.mkdir(parents=True, exist_ok=True)
    fig.savefig(OUT / "bench_sharpness.png", dpi=120, bbox_inches="tight")
    print(f"figure: {OUT / 'bench_sharpness.png'}")


def main(argv: Sequence[str] | None = None) -> None:
    args = experiment.parse_bench_args(__doc__, argv)
    widths = (25, 50) if args.quick else (25, 100, 200, 400, 800)
    dense_max = 600 if args.quick else 2300
    sharp = bench_sharpness(widths, dense_max)
    rows = []
    for r in sharp:
        ref = r["seconds"].get("dense")
        for name in METHODS:
            if name not in r["seconds"]:
                continue
            t = r["seconds"][name]
            rows.append(
                [
                    r["p"],
                    name,
                    1e3 * t,
                    "-" if ref is None else ref / t,
                    r["compile"][name],
                    "-" if name == "dense" else f"{r['error'][name]:.1e}",
                ]
            )
    header = ["p", "method", "ms", "dense / method", "compile s", "rel. error"]
    print("\nSharpness at an interpolating minimum (two-layer ReLU, n = 50)\n")
    print(timing.format_table(header, rows))
    edge = bench_edge((10, 20) if args.quick else (20, 50))
    rows = [
        [
            r["n"],
            m,
            1e3 * r["seconds"][m],
            r["seconds"]["dense"] / r["seconds"][m],
            r["compile"][m],
            f"{r['error'][m]:.1e}",
        ]  # fmt: skip
        for r in edge
        for m in ("dense", "secular", "lanczos")
    ]
    print("\nSGD stability edge eta* (B = 1), float32\n")
    header = ["n", "method", "ms", "dense / method", "compile s", "rel. error vs dense"]
    print(timing.format_table(header, rows))
    if not args.quick:
        _figure(sharp)


if __name__ == "__main__":
    main()
