"""Benchmarks of gradient-coherence, measured in one run (time and memory ratios; asserts nothing).

``python -m gradient_coherence.bench [--quick]``.

1. One training step on a batch of 100 digits-sized examples (3 x 256 MLP, the official
   architecture; quick: 3 x 64). Baseline: plain SGD on the batch-mean loss (one backward pass,
   per-example gradients never formed). Against it: per-example gradients (``vmap(grad)``)
   reduced by the plain mean, by the winsorized mean (fraction 0.1) and by the median of 5
   group means; and RM3 (running median of 3 minibatch gradients).
2. The m-coherence of m examples (m = 256, 1024; quick: 64). Baseline: materialized
   ``vmap(grad)`` then the ratio. Against it: chunked per-example gradients (``chunk_size=64``,
   ``lax.map``), the streaming route (sums over chunks of 64, nothing of size m x P stored), and
   the ``m x m`` Gram matrix of all pairs (what a cosine-similarity analysis computes; m = 256
   only).

Times are medians of compiled, warm calls on the same inputs (``timing.compare``, interleaved);
compile time and XLA's scratch memory (``timing.compiled_memory``) are reported apart.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import optax
from flax import nnx

from jaxpapers_shared import experiment, timing

from ._aggregate import median_of_means_aggregate, per_example_mean, rm3, winsorized_aggregate
from ._coherence import (
    m_coherence,
    pairwise_m_coherence,
    per_example_grads,
    streaming_m_coherence,
)
from ._train import MLP, classification_loss


def _compile_seconds(fn: Callable, *args) -> float:
    start = time.perf_counter()
    jax.jit(fn).lower(*args).compile()
    return time.perf_counter() - start


def _inputs(width: int, m: int):
    graphdef, params = nnx.split(MLP((64, width, width, width, 10), rngs=nnx.Rngs(0)))
    x = jax.random.uniform(jax.random.PRNGKey(1), (m, 64))
    y = jax.random.randint(jax.random.PRNGKey(2), (m,), 0, 10)
    return classification_loss(graphdef), params, (x, y)


def _rows(fns: dict[str, Callable], args: tuple, baseline: str) -> list[list]:
    compile_s = {name: _compile_seconds(fn, *args) for name, fn in fns.items()}
    memory = {name: timing.compiled_memory(fn, *args)["temp"] for name, fn in fns.items()}
    jitted = {name: jax.jit(fn) for name, fn in fns.items()}
    seconds = timing.compare(jitted, *args, rounds=2, repeat=2)
    return [
        [name, 1e3 * t, t / seconds[baseline], memory[name] / 2**20, compile_s[name]]
        for name, t in seconds.items()
    ]


def bench_steps(width: int, batch: int = 100) -> list[list]:
    loss, params, data = _inputs(width, batch)
    sgd = optax.sgd(0.1)

    def step(tx: optax.GradientTransformation, per_example: bool):
        def run(p, s, data):
            if per_example:
                grads = per_example_grads(loss, p, data)
            else:
                mean_loss = lambda q: jnp.mean(jax.vmap(loss, in_axes=(None, 0))(q, data))  # noqa: E731
                grads = jax.grad(mean_loss)(p)
            updates, s = tx.update(grads, s, p)
            return optax.apply_updates(p, updates), s

        return run, tx.init(params)

    variants = {
        "plain SGD (mean-loss gradient)": (sgd, False),
        "per-example grads + mean": (optax.chain(per_example_mean(), sgd), True),
        "per-example grads + winsorized (0.1)": (optax.chain(winsorized_aggregate(0.1), sgd), True),
        "per-example grads + median of 5 means": (
            optax.chain(median_of_means_aggregate(5), sgd),
            True,
        ),
        "RM3 (minibatch gradients)": (optax.chain(rm3(), sgd), False),
    }
    fns, states = {}, {}
    for name, (tx, per_example) in variants.items():
        run, states[name] = step(tx, per_example)
        fns[name] = (lambda run, name: lambda p, s, d: run(p, s[name], d))(run, name)
    return _rows(fns, (params, states, data), "plain SGD (mean-loss gradient)")


def bench_coherence(width: int, m: int, chunk: int = 64) -> list[list]:
    loss, params, data = _inputs(width, m)
    fns = {
        "materialized vmap(grad)": lambda p, d: m_coherence(per_example_grads(loss, p, d)),
        f"chunked vmap (chunk {chunk})": lambda p, d: m_coherence(
            per_example_grads(loss, p, d, chunk_size=chunk)
        ),
        f"streaming sums (chunk {chunk})": lambda p, d: streaming_m_coherence(
            loss, p, d, chunk_size=chunk
        ),
    }
    if m <= 256:  # O(m^2 P): minutes at m = 1024 on a CPU
        fns["pairwise Gram (m x m)"] = lambda p, d: pairwise_m_coherence(
            per_example_grads(loss, p, d)
        )
    return [[m, *row] for row in _rows(fns, (params, data), "materialized vmap(grad)")]


def main(argv: Sequence[str] | None = None) -> None:
    args = experiment.parse_bench_args(__doc__, argv)
    width = 64 if args.quick else 256
    params = sum(leaf.size for leaf in jax.tree.leaves(_inputs(width, 2)[1]))
    print(f"\nOne training step, batch 100, 3 x {width} MLP ({params} parameters)\n")
    header = ["step", "ms", "time / plain SGD", "scratch MiB", "compile s"]
    print(timing.format_table(header, bench_steps(width)))
    print(f"\nm-coherence of m examples, 3 x {width} MLP\n")
    rows = [
        row for m in ((64,) if args.quick else (256, 1024)) for row in bench_coherence(width, m)
    ]
    header = ["m", "route", "ms", "time / materialized", "scratch MiB", "compile s"]
    print(timing.format_table(header, rows))


if __name__ == "__main__":
    main()
