"""Benchmarks diffGrad against ``optax.adam``: time per jitted update and optimizer-state bytes.

Both optimizers update the same ~1M-parameter pytree (an MLP-shaped dict of matrices) in the same
process; the update is ``tx.update`` + ``optax.apply_updates`` under one ``jax.jit``. Ratios are printed, nothing is asserted.
"""

from __future__ import annotations

import jax
import optax

from jaxpapers_shared import timing

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


def measure(
    tx: optax.GradientTransformation, params, grads, rounds: int = 3
) -> tuple[float, int, int]:
    """(seconds per jitted update, state bytes, compiled peak bytes).

    The time is the best of ``rounds`` medians: on a shared machine the minimum is the estimate
    least inflated by other processes.
    """

    def step(params, state, grads):
        updates, state = tx.update(grads, state, params)
        return optax.apply_updates(params, updates), state

    state = tx.init(params)
    jitted = jax.jit(step)
    seconds = min(timing.time_fn(jitted, params, state, grads) for _ in range(rounds))
    peak = timing.compiled_memory(step, params, state, grads)["peak"]
    return seconds, tree_bytes(state), peak


def main() -> None:
    params = make_pytree(0)
    grads = make_pytree(1)
    n = sum(x.size for x in jax.tree.leaves(params))
    results = {
        "optax.adam": measure(optax.adam(1e-3), params, grads),
        "diffgrad": measure(diffgrad(1e-3), params, grads),
        "diffgrad (amsgrad)": measure(diffgrad(1e-3, amsgrad=True), params, grads),
    }
    base_s, base_bytes, base_peak = results["optax.adam"]
    rows = [
        [
            name,
            1e3 * s,
            s / base_s,
            state_bytes / 2**20,
            state_bytes / base_bytes,
            peak / base_peak if base_peak > 0 else float("nan"),
        ]
        for name, (s, state_bytes, peak) in results.items()
    ]
    print(f"jitted update of a {n:,}-parameter pytree ({jax.default_backend()}, float32)")
    header = ["optimizer", "ms/update", "time ratio", "state MiB", "state ratio", "peak ratio"]
    print(timing.format_table(header, rows))


if __name__ == "__main__":
    main()
