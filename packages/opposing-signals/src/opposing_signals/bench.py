"""Benchmarks of the opposing-signals tracker, measured in one run (time ratios; asserts nothing).

``python -m opposing_signals.bench [--quick]``.

Per-step cost of tracking against a plain full-batch GD step on the same data, for the two
reproduction models: the two-layer linear toy (n = 1000, d = 20, width 50, square loss) and the
digits MLP (n = 1797, 64-64-64-10 tanh, cross-entropy). Each variant runs ``steps`` updates in
one compiled ``lax.scan``; the time is per update.

* plain: ``value_and_grad`` of the mean loss and the optax update.
* tracked (this package): per-example losses as the auxiliary output of that same forward pass;
  the loss change of the previous update is their difference with the carried losses, then
  ``top_k`` and the group means.
* tracked, two extra passes (the direct recipe): per-example losses before and after every
  update, from two separate forward passes.
* one sharpness measurement (Lanczos, 20 Hessian-vector products), in units of a plain step.

Times are medians of compiled calls (``timing.compare``, interleaved); compile time is reported
apart.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import optax
from flax import nnx

from jaxpapers_shared import experiment, timing

from ._data import opposing_signals_toy
from ._models import MLP, TwoLayerLinear
from ._sharpness import _MeanLoss, _top_eigenpair
from ._train import _chunk, _ModelLoss


def _plain(fn, optimizer, steps, carry, x, y):
    def step(carry, _):
        params, opt_state = carry
        loss, grads = jax.value_and_grad(lambda p: jnp.mean(fn(p, x, y)))(params)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return (optax.apply_updates(params, updates), opt_state), loss

    return jax.lax.scan(step, carry, length=steps)


def _two_passes(fn, optimizer, steps, k, carry, x, y, masks):
    counts = jnp.sum(masks, axis=1)

    def step(carry, _):
        params, opt_state = carry
        before = fn(params, x, y)
        loss, grads = jax.value_and_grad(lambda p: jnp.mean(fn(p, x, y)))(params)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        params = optax.apply_updates(params, updates)
        ranked = jax.lax.top_k(jnp.abs(fn(params, x, y) - before), k)[1]
        return (params, opt_state), (loss, (masks @ before) / counts, ranked)

    return jax.lax.scan(step, carry, length=steps)


def _problems(quick: bool):
    key = jax.random.PRNGKey(0)
    x, y, groups = opposing_signals_toy(key, 1000, 20)
    yield (
        "toy: linear 20-50-1, n = 1000",
        TwoLayerLinear(20, 50, rngs=nnx.Rngs(0)),
        x,
        y,
        groups,
        "square",
    )
    if not quick:
        x = jax.random.normal(key, (1797, 64))
        y = jax.random.randint(key, (1797,), 0, 10)
        masks = {
            "A": jnp.arange(1797) < 18,
            "B": (jnp.arange(1797) >= 18) & (jnp.arange(1797) < 36),
        }
        model = MLP(64, [64, 64], 10, rngs=nnx.Rngs(0))
        yield "digits: MLP 64-64-64-10, n = 1797", model, x, y, masks, "cross_entropy"


def _compile_seconds(fn, *args) -> float:
    start = time.perf_counter()
    fn.lower(*args).compile()
    return time.perf_counter() - start


def main(argv: Sequence[str] | None = None) -> None:
    args = experiment.parse_bench_args(__doc__, argv)
    steps, k = (20 if args.quick else 100), 40
    optimizer = optax.sgd(0.1)
    rows = []
    for name, model, x, y, groups, loss in _problems(args.quick):
        graphdef, params = nnx.split(model)
        fn = _ModelLoss(graphdef, loss)
        masks = jnp.stack(list(groups.values())).astype(x.dtype)
        opt_state = optimizer.init(params)
        plain = jax.jit(functools.partial(_plain, fn, optimizer, steps))
        tracked = jax.jit(
            lambda carry, x, y, m: _chunk(
                fn, optimizer, carry, x, y, m, steps=steps, k=k, signed=False
            )
        )
        direct = jax.jit(functools.partial(_two_passes, fn, optimizer, steps, k))
        measure = jax.jit(
            lambda p, x, y: (
                _top_eigenpair(_MeanLoss(fn), p, x, y, jax.random.PRNGKey(1), "lanczos", 20).value
            )
        )
        carry = (params, opt_state)
        tracked_carry = (params, opt_state, fn(params, x, y))
        compile_s = {
            "plain": _compile_seconds(plain, carry, x, y),
            "tracked": _compile_seconds(tracked, tracked_carry, x, y, masks),
            "two passes": _compile_seconds(direct, carry, x, y, masks),
            "sharpness": _compile_seconds(measure, params, x, y),
        }
        fns = {
            "plain": lambda: plain(carry, x, y),
            "tracked": lambda: tracked(tracked_carry, x, y, masks),
            "two passes": lambda: direct(carry, x, y, masks),
            "sharpness": lambda: measure(params, x, y),
        }
        times = timing.compare(fns)
        per_step = {key: t / steps for key, t in times.items() if key != "sharpness"}
        per_step["sharpness"] = times["sharpness"]
        base = per_step["plain"]
        for what in ("plain", "tracked", "two passes", "sharpness"):
            rows.append([name, what, 1e3 * per_step[what], per_step[what] / base, compile_s[what]])
    print(
        timing.format_table(
            ["model", "per update (or per measurement)", "ms", "x plain step", "compile s"], rows
        )
    )


if __name__ == "__main__":
    main()
