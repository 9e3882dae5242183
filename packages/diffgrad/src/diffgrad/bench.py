"""Benchmarks diffGrad against ``optax.adam``: time per jitted update and optimizer-state bytes.

All optimizers update the same ~1M-parameter pytree (an MLP-shaped dict of matrices) with the
same gradients, in one process; the update is ``tx.update`` + ``optax.apply_updates`` under one
``jax.jit``, compiled before timing (compile time is reported in its own column) and timed in
interleaved rounds. Ratios are printed, nothing is asserted. ``--quick``: one round.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Sequence

import jax
import optax

from jaxpapers_shared import experiment, timing

from ._transform import diffgrad

# Layer shapes of a 784-1024-256-10 MLP plus biases: 1,068,810 parameters.
SHAPES = {
    "w1": (784, 1024),
    "b1": (1024,),
    "w2": (1024, 256),
    "b2": (256,),
    "w3": (256, 10),
    "b3": (10,),
}


def make_pytree(seed: int = 0) -> dict[str, jax.Array]:
    keys = jax.random.split(jax.random.key(seed), len(SHAPES))
    return {
        name: 0.01 * jax.random.normal(k, shape)
        for k, (name, shape) in zip(keys, SHAPES.items(), strict=True)
    }


def tree_bytes(tree) -> int:
    return sum(x.nbytes for x in jax.tree.leaves(tree))


def _step(tx: optax.GradientTransformation):
    def step(params, state, grads):
        updates, state = tx.update(grads, state, params)
        return optax.apply_updates(params, updates), state

    return step


def main(argv: Sequence[str] | None = None) -> None:
    args = experiment.parse_bench_args(__doc__, argv)
    rounds = 1 if args.quick else 3
    params, grads = make_pytree(0), make_pytree(1)  # the same inputs for every optimizer
    n = sum(x.size for x in jax.tree.leaves(params))
    optimizers = {
        "optax.adam": optax.adam(1e-3),
        "diffgrad": diffgrad(1e-3),
        "diffgrad (amsgrad)": diffgrad(1e-3, amsgrad=True),
    }
    states = {name: tx.init(params) for name, tx in optimizers.items()}
    jitted, compile_s = {}, {}
    for name, tx in optimizers.items():
        start = time.perf_counter()
        jitted[name] = jax.jit(_step(tx)).lower(params, states[name], grads).compile()
        compile_s[name] = time.perf_counter() - start
    # Warm (compiled above), interleaved rounds on the same inputs: ratios survive a noisy host.
    seconds = timing.compare(
        {name: functools.partial(fn, params, states[name]) for name, fn in jitted.items()},
        grads,
        rounds=rounds,
    )
    memory = {
        name: timing.compiled_memory(_step(tx), params, states[name], grads)["peak"]
        for name, tx in optimizers.items()
    }
    base = "optax.adam"
    rows = [
        [
            name,
            1e3 * seconds[name],
            seconds[name] / seconds[base],
            tree_bytes(states[name]) / 2**20,
            tree_bytes(states[name]) / tree_bytes(states[base]),
            memory[name] / memory[base] if memory[base] > 0 else float("nan"),
            compile_s[name],
        ]
        for name in optimizers
    ]
    print(f"jitted update of a {n:,}-parameter pytree ({jax.default_backend()}, float32)")
    header = [
        "optimizer",
        "ms/update",
        "time ratio",
        "state MiB",
        "state ratio",
        "peak ratio",
        "compile s (apart)",
    ]
    print(timing.format_table(header, rows))


if __name__ == "__main__":
    main()
