"""Benchmarks of hopfield against its baselines, measured in one run (ratios, never asserts).

1. ``Hopfield`` (update_steps_max=0) vs ``flax.linen.MultiHeadDotProductAttention`` at equal
   shapes (B=32, N=S=256, d=64, 4 heads): forward and forward+backward. The Hopfield layer is
   timed with hflayers' default LayerNorms and without them (then it is the same math as MHA).
2. Retrieval from 10^5 stored patterns (d=64, 1024 queries): one dense ``update`` vs the
   chunked, memory-bounded ``update(..., chunk_size=...)``; queries/s and XLA temp memory.
3. Iterated updates (``update_steps_max`` in {0, 1, 3, None}): layer cost, and for the pure
   ``retrieve`` on correlated digit images (half the pixels erased) the distance to the stored
   image after 1, 2, 4 updates and at convergence.
4. The official PyTorch layer (``hflayers``) is timed by ``packages/hopfield/bench_official.py``,
   a script outside the package, in an environment that has torch and hflayers (see its
   docstring and the README); PyTorch is no dependency of this package.

Every candidate runs on the same precomputed inputs and is compiled before it is timed (compile
time is its own column, never inside a ratio); the candidates of a table are timed interleaved
(``timing.compare``). ``--quick`` runs smaller sizes.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from typing import Any

import flax.linen as linen
import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from jaxpapers_shared import experiment, timing

from ._layers import Hopfield
from ._memory import retrieve, update

with experiment.reproduce_imports("hopfield"):
    from ._digits import load_digits

NO_NORMS = dict(
    normalize_stored_pattern=False,
    normalize_stored_pattern_affine=False,
    normalize_state_pattern=False,
    normalize_state_pattern_affine=False,
    normalize_pattern_projection=False,
    normalize_pattern_projection_affine=False,
)


def _compile_seconds(fn: Callable[..., Any], *args: Any) -> float:
    start = time.perf_counter()
    jax.jit(fn).lower(*args).compile()
    return time.perf_counter() - start


def _layer_fns(layer):
    graphdef, params, rest = nnx.split(layer, nnx.Param, ...)

    def forward(params, x):
        return nnx.merge(graphdef, params, rest)(x)

    def grad(params, x):
        return jax.grad(lambda p: jnp.sum(forward(p, x)))(params)

    return forward, grad, params


def bench_layers(batch=32, length=256, dim=64, heads=4):
    x = jax.random.normal(jax.random.PRNGKey(0), (batch, length, dim))
    mha = linen.MultiHeadDotProductAttention(num_heads=heads, qkv_features=dim, out_features=dim)
    candidates = {}
    candidates["linen MultiHeadDotProductAttention"] = (
        lambda p, x: mha.apply(p, x),
        lambda p, x: jax.grad(lambda q: jnp.sum(mha.apply(q, x)))(p),
        mha.init(jax.random.PRNGKey(1), x),
    )
    for name, kwargs in (
        ("Hopfield (hflayers defaults: 3 LayerNorms)", {}),
        ("Hopfield (no LayerNorms: same math as MHA)", NO_NORMS),
        ("Hopfield, update_steps_max=1", {"update_steps_max": 1}),
        ("Hopfield, update_steps_max=3", {"update_steps_max": 3}),
        ("Hopfield, update_steps_max=None", {"update_steps_max": None}),
    ):
        fwd, grad, params = _layer_fns(Hopfield(dim, num_heads=heads, rngs=nnx.Rngs(0), **kwargs))
        # update_steps_max=None is a while loop: forward only (not reverse-differentiable).
        candidates[name] = (
            fwd,
            None if kwargs.get("update_steps_max", 0) is None else grad,
            params,
        )
    # Parameters differ per candidate, so each is timed on its own parameters and the same x;
    # the candidates are interleaved round by round.
    compile_s = {
        name: _compile_seconds(fwd, params, x)
        + (0.0 if grad is None else _compile_seconds(grad, params, x))
        for name, (fwd, grad, params) in candidates.items()
    }
    jitted = {
        name: (jax.jit(fwd), None if grad is None else jax.jit(grad), params)
        for name, (fwd, grad, params) in candidates.items()
    }
    rows = {name: [] for name in candidates}
    for _ in range(3):
        for name, (fwd, grad, params) in jitted.items():
            rows[name].append(
                (
                    timing.time_fn(fwd, params, x, repeat=3),
                    None if grad is None else timing.time_fn(grad, params, x, repeat=3),
                )
            )
    base_f = min(f for f, _ in rows["linen MultiHeadDotProductAttention"])
    base_b = min(b for _, b in rows["linen MultiHeadDotProductAttention"])
    table = []
    for name, (_, grad, _) in candidates.items():
        f = min(t for t, _ in rows[name])
        b = None if grad is None else min(t for _, t in rows[name])
        table.append(
            [
                name,
                1e3 * f,
                f / base_f,
                "-" if b is None else 1e3 * b,
                "-" if b is None else b / base_b,
                compile_s[name],
            ]
        )
    header = [
        f"layer (B={batch}, N=S={length}, d={dim}, {heads} heads)",
        "fwd ms",
        "fwd ratio",
        "fwd+bwd ms",
        "ratio",
        "compile s (fwd + bwd)",
    ]
    return timing.format_table(header, table)


def bench_retrieval(num_stored=100_000, dim=64, num_queries=1024, chunk_size=8192):
    kx, kq = jax.random.split(jax.random.PRNGKey(2))
    patterns = jax.random.normal(kx, (num_stored, dim)) / np.sqrt(dim)
    queries = jax.random.normal(kq, (num_queries, dim)) / np.sqrt(dim)

    def dense(q, x):
        return update(q, x, 8.0)

    def chunked(q, x):
        return update(q, x, 8.0, chunk_size=chunk_size)

    fns = {"dense update (one matmul + softmax)": dense, f"chunked update ({chunk_size})": chunked}
    compile_s = {name: _compile_seconds(fn, queries, patterns) for name, fn in fns.items()}
    seconds = timing.compare({name: jax.jit(fn) for name, fn in fns.items()}, queries, patterns)
    reference = dense(queries, patterns)
    rows = [
        [
            name,
            num_queries / seconds[name],
            timing.compiled_memory(fn, queries, patterns)["temp"] / 2**20,
            float(jnp.max(jnp.abs(jax.jit(fn)(queries, patterns) - reference))),
            compile_s[name],
        ]
        for name, fn in fns.items()
    ]
    header = [
        f"retrieval, N={num_stored:.0e}, d={dim}, {num_queries} queries",
        "queries/s",
        "XLA temp MiB",
        "max abs diff",
        "compile s",
    ]
    return timing.format_table(header, rows)


def bench_iterations(num_stored=1000, beta=2.0, step_counts=(1, 2, 4, 200)):
    images = load_digits()[0][:num_stored] / 16.0
    patterns = jnp.asarray(images)
    rng = np.random.default_rng(0)
    erase = rng.random(patterns.shape) < 0.5
    queries = jnp.where(erase, 0.0, patterns)[:200]
    targets = patterns[:200]
    fns = {
        steps: (lambda q, x, s=steps: retrieve(q, x, beta, max_steps=s, tol=1e-4).state)
        for steps in step_counts
    }
    compile_s = {steps: _compile_seconds(fn, queries, patterns) for steps, fn in fns.items()}
    seconds = timing.compare({s: jax.jit(fn) for s, fn in fns.items()}, queries, patterns)
    rows = []
    for steps in step_counts:
        res = retrieve(queries, patterns, beta, max_steps=steps, tol=1e-4)
        error = float(jnp.mean(jnp.linalg.norm(res.state - targets, axis=-1)))
        label = f"{steps}" if steps < max(step_counts) else f"until converged (<= {steps})"
        rows.append(
            [label, float(jnp.mean(res.steps)), 1e3 * seconds[steps], compile_s[steps], error]
        )
    header = [
        f"updates (digits, beta={beta:g}, 50% erased)",
        "mean steps",
        "ms",
        "compile s",
        "mean L2 error to stored image",
    ]
    return timing.format_table(header, rows)


def main(argv: Sequence[str] | None = None) -> None:
    args = experiment.parse_bench_args(__doc__, argv)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"device: {jax.devices()[0].device_kind}, {os.cpu_count()} CPUs, load average "
        f"{load:.1f}, jax {jax.__version__}\n"
    )
    if args.quick:
        print(bench_layers(batch=4, length=64), end="\n\n")
        print(bench_retrieval(num_stored=10_000, num_queries=128), end="\n\n")
        print(bench_iterations(num_stored=300, step_counts=(1, 4, 50)), end="\n\n")
    else:
        print(bench_layers(), end="\n\n")
        print(bench_retrieval(), end="\n\n")
        print(bench_iterations(), end="\n\n")
    print(
        "The official hflayers layer: run packages/hopfield/bench_official.py where torch and "
        "hflayers are importable (README, Benchmarks)."
    )


if __name__ == "__main__":
    main()
