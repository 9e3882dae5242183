"""Benchmarks of Lion-K against optax.lion and optax.adamw, measured in one run (ratios, no asserts).

Times one jitted ``update + apply_updates`` step on a ~1M-parameter MLP-shaped pytree (float32) for
K = l1 (must match optax.lion), l2 per leaf, l2 global and nuclear, and compares optimizer-state bytes
with optax.adamw (one momentum buffer vs two moments). Every step is compiled and warmed up
before it is timed (``timing.time_fn``); the optimizers are timed round-robin, best of two
passes. ``--quick`` leaves out the nuclear-norm rows (an exact SVD per matrix, seconds per step).
Asserts nothing about time.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import optax

from jaxpapers_shared import experiment, timing
from lion_kappa._kappa import l1, l2, nuclear
from lion_kappa._transform import lion_kappa

SHAPES = {"w1": (784, 1024), "b1": (1024,), "w2": (1024, 256), "b2": (256,), "w3": (256, 10)}


def _params(key: jax.Array) -> dict[str, jax.Array]:
    keys = jax.random.split(key, len(SHAPES))
    return {
        n: 0.01 * jax.random.normal(k, s) for (n, s), k in zip(SHAPES.items(), keys, strict=True)
    }


def _state_bytes(state) -> int:
    return sum(x.size * x.dtype.itemsize for x in jax.tree.leaves(state))


def main(argv: Sequence[str] | None = None) -> None:
    args = experiment.parse_bench_args(__doc__, argv)
    params = _params(jax.random.key(0))
    grads = _params(jax.random.key(1))
    matrices = {n: p for n, p in params.items() if p.ndim == 2}
    matrix_grads = {n: g for n, g in grads.items() if g.ndim == 2}
    n_params = sum(p.size for p in jax.tree.leaves(params))

    def step_fn(opt):
        @jax.jit
        def step(params, state, grads):
            updates, state = opt.update(grads, state, params)
            return optax.apply_updates(params, updates), state

        return step

    lr, lam = 1e-4, 0.1
    runs = {
        "optax.lion": (optax.lion(lr, weight_decay=lam), params, grads),
        "lion_kappa l1": (lion_kappa(lr, l1(), weight_decay=lam), params, grads),
        "lion_kappa l2 (leaf)": (lion_kappa(lr, l2("leaf"), weight_decay=lam), params, grads),
        "lion_kappa l2 (global)": (lion_kappa(lr, l2("global"), weight_decay=lam), params, grads),
        "optax.adamw": (optax.adamw(lr, weight_decay=lam), params, grads),
        "optax.lion (matrices only)": (optax.lion(lr, weight_decay=lam), matrices, matrix_grads),
        "lion_kappa nuclear (matrices only)": (
            lion_kappa(lr, nuclear(), weight_decay=lam),
            matrices,
            matrix_grads,
        ),
    }
    if args.quick:
        runs = {name: run for name, run in runs.items() if "nuclear" not in name}
    seconds, bytes_ = {}, {}
    # Two round-robin passes, best of both: on a shared machine a load spike then hits one pass
    # of every optimizer instead of skewing one ratio. The exact SVD of nuclear() costs seconds
    # per step on CPU, so it is timed with a single call.
    for _ in range(2):
        for name, (opt, p, g) in runs.items():
            state = opt.init(p)
            kwargs = {"repeat": 1, "number": 1} if "nuclear" in name else {}
            t = timing.time_fn(step_fn(opt), p, state, g, **kwargs)
            seconds[name] = min(t, seconds.get(name, float("inf")))
            bytes_[name] = _state_bytes(state)
    rows = []
    for name in runs:
        base = "optax.lion (matrices only)" if "matrices" in name else "optax.lion"
        rows.append(
            [
                name,
                1e3 * seconds[name],
                seconds[name] / seconds[base],
                bytes_[name] / 2**20,
                bytes_[name] / bytes_["optax.adamw"],
            ]
        )
    print(
        f"pytree: {n_params:,} float32 parameters ({n_params - sum(m.size for m in matrices.values()):,} in biases)"
    )
    print(
        timing.format_table(
            ["optimizer", "ms / step", "time vs optax.lion", "state MiB", "state vs adamw"], rows
        )
    )


if __name__ == "__main__":
    main()
