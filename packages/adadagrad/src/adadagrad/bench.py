"""Benchmarks of adadagrad, measured in one run (time ratios; asserts nothing).

``python -m adadagrad.bench [--quick]``.

1. Cost of the batch-size test per step. A softmax-regression step on digits-sized inputs
   (64 -> 10) and a 64 -> 256 -> 10 MLP, at batch sizes 64 and 1024 (quick: 64). Baseline: a
   plain step (batch-mean gradient, one backward pass, AdaGrad-Norm update). Against it: the
   same step that also forms the per-example gradients (``vmap(grad)``) and evaluates the norm
   test, the augmented inner product test or the coordinate-wise test (what
   :func:`adadagrad.train` runs when a test is due), and the test on a sub-batch of 64.
2. AdaGrad-Norm's update against ``optax.adagrad`` on the MLP's parameters.
3. Compilations of :func:`adadagrad.train` in a 40-step adaptive run (quick: 15), with pow2 buckets and
   without bucketing.

Times are medians of compiled, warm calls on the same inputs (``timing.compare``, interleaved).
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import optax

from jaxpapers_shared import experiment, timing

from ._optimizers import adagrad_norm
from ._schedule import AdaptiveBatchSchedule
from ._train import _step_functions, train


def _mlp_loss(params, example):
    x, y = example
    h = x @ params["w1"] + params["b1"]
    if "w2" in params:
        h = jax.nn.relu(h) @ params["w2"] + params["b2"]
    return optax.softmax_cross_entropy_with_integer_labels(h, y)


def _params(hidden: int | None):
    k1, k2 = jax.random.split(jax.random.key(0))
    if hidden is None:
        return {"w1": 0.1 * jax.random.normal(k1, (64, 10)), "b1": jnp.zeros(10)}
    return {
        "w1": 0.1 * jax.random.normal(k1, (64, hidden)),
        "b1": jnp.zeros(hidden),
        "w2": 0.1 * jax.random.normal(k2, (hidden, 10)),
        "b2": jnp.zeros(10),
    }


def bench_test_cost(hidden: int | None, batch: int) -> list[list]:
    params = _params(hidden)
    x = jax.random.normal(jax.random.key(1), (batch, 64))
    y = jax.random.randint(jax.random.key(2), (batch,), 0, 10)
    opt = adagrad_norm(0.1)
    plain, tested = _step_functions(_mlp_loss, opt)
    state = opt.init(params)
    constants = AdaptiveBatchSchedule().constants
    fns = {"plain step": lambda p, s, d: plain(p, s, d)}
    for kind in ("norm", "augmented", "coordinate"):
        fns[f"step + {kind} test"] = (
            lambda kind: lambda p, s, d: tested(p, s, d, constants, batch, kind)
        )(kind)
    if batch > 64:
        fns["step + norm test on 64"] = lambda p, s, d: tested(p, s, d, constants, 64, "norm")
    seconds = timing.compare(fns, params, state, (x, y), rounds=2, repeat=3)
    base = seconds["plain step"]
    model = "softmax regression" if hidden is None else f"MLP 64-{hidden}-10"
    return [[model, batch, name, 1e3 * t, t / base, batch / t] for name, t in seconds.items()]


def bench_update() -> list[list]:
    params = _params(256)
    grads = jax.tree.map(lambda p: jnp.ones_like(p) * 0.01, params)
    rows = {}
    for name, tx in {
        "optax.adagrad": optax.adagrad(0.1),
        "adagrad_norm": adagrad_norm(0.1),
    }.items():
        rows[name] = jax.jit(lambda g, s, p, tx=tx: tx.update(g, s, p)), tx.init(params)
    fns = {name: (lambda f, s: lambda g, p: f(g, s, p))(f, s) for name, (f, s) in rows.items()}
    seconds = timing.compare(fns, grads, params, rounds=2, repeat=3)
    return [[n, 1e6 * t, t / seconds["optax.adagrad"]] for n, t in seconds.items()]


def bench_compilations(steps: int) -> list[list]:
    w_star = jnp.linspace(-1.0, 1.0, 10)

    def loss(w, ex):
        x, y = ex
        return 0.5 * (x @ w - y) ** 2

    def sampler(key, size):
        x = jax.random.normal(key, (size, 10))
        return x, x @ w_star + jax.random.normal(jax.random.fold_in(key, 1), (size,))

    rows = []
    for bucket in ("pow2", None):
        schedule = AdaptiveBatchSchedule(b0=8, max_batch=2**14, eta=0.5, bucket=bucket)
        result = train(
            loss,
            jnp.zeros(10),
            sampler,
            adagrad_norm(1.0),
            schedule,
            10**12,
            jax.random.key(0),
            max_steps=steps,
        )
        sizes = result.history["batch_size"]
        rows.append(
            [str(bucket), steps, result.compilations, sizes[-1], result.history["samples"][-1]]
        )
    return rows


def main(argv: Sequence[str] | None = None) -> None:
    args = experiment.parse_bench_args(__doc__, argv)
    cases = (
        [(None, 64), (256, 64)]
        if args.quick
        else [(None, 64), (None, 1024), (256, 64), (256, 1024)]
    )
    print("\nCost of the batch-size test per step (time / plain step)\n")
    rows = [row for hidden, batch in cases for row in bench_test_cost(hidden, batch)]
    header = ["model", "batch", "step", "ms", "time / plain step", "samples / s"]
    print(timing.format_table(header, rows))
    print("\nOptimizer update alone, MLP 64-256-10 parameters\n")
    print(timing.format_table(["update", "us", "time / optax.adagrad"], bench_update()))
    print("\nCompiled step shapes in an adaptive run (norm test, eta 0.5, b0 8, cap 2^14)\n")
    header = ["bucket", "steps", "compilations", "final batch", "samples"]
    print(timing.format_table(header, bench_compilations(15 if args.quick else 40)))


if __name__ == "__main__":
    main()
