"""Benchmarks of target-surrogates, measured in one run (time ratios; asserts nothing).

``python -m target_surrogates.bench [--quick]``.

Problem: the reproduction's logistic regression on breast cancer (569 x 31), full batch.

1. Cost of one outer step: SSO with m GD inner steps (``SmoothGD``: 20 power iterations for
   the step, then m steps) (m = 1, 10, 100) against one SGD step
   (one gradient of the loss). The expensive target gradient is as cheap as the model here.
2. Time to a target loss when the target gradient is expensive: the target loss is wrapped in
   a stand-in simulator, a compiled loop of ``cost`` 64 x 64 ``tanh`` matrix-vector products that
   every call of the loss (and so every expensive gradient) runs and the surrogate's inner steps
   never do. Target: the loss tuned SGD (step 3) reaches after 50 steps. Steps to reach it,
   times the measured seconds per step, for SGD and SSO (eta = 30, m = 10 and 100); the
   break-even simulator cost is where the two totals meet (per-step times are linear in the
   cost).

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

from ._sso import SmoothGD, sso_update
from ._surrogate import TargetProblem
from ._train import run_optax, run_sso

with experiment.reproduce_imports("target-surrogates"):
    from .reproduce import breast_cancer

SGD_STEP, ETA = 3.0, 30.0


def costly_problem(cost: int) -> TargetProblem:
    """Logistic loss whose every evaluation (value or gradient) first runs ``cost`` steps of a
    stand-in simulator. Its result scales the loss by ``1 + 1e-30 * sum``, exactly 1 in float32,
    so the loss and its gradient are unchanged, but the compiler cannot drop the loop."""
    w = jax.random.normal(jax.random.PRNGKey(7), (64, 64)) / 8.0

    def target_loss(z, s):
        state = jax.lax.stop_gradient(z[:64])
        state = jax.lax.fori_loop(0, cost, lambda i, c: jnp.tanh(w @ c), state)
        return jax.nn.softplus(-s * z) * (1.0 + 1e-30 * jnp.sum(state))

    return TargetProblem(lambda theta, x: x @ theta, target_loss)


def _step_fns(problem: TargetProblem, ms: Sequence[int]) -> dict:
    inner = SmoothGD()

    def sgd(theta, data):
        grad = jax.grad(
            lambda t: jnp.mean(problem.target_loss(problem.apply_fn(t, data[0]), data[1]))
        )(theta)
        return theta - SGD_STEP * grad

    fns = {"SGD step": sgd}
    for m in ms:
        fns[f"SSO step, m = {m}"] = (
            lambda m: lambda theta, data: sso_update(problem, theta, data, ETA, m, inner)[0]
        )(m)
    return fns


def _time(fns: dict, *args) -> tuple[dict, dict]:
    compile_s = {}
    for name, fn in fns.items():
        start = time.perf_counter()
        jax.jit(fn).lower(*args).compile()
        compile_s[name] = time.perf_counter() - start
    seconds = timing.compare({k: jax.jit(f) for k, f in fns.items()}, *args, rounds=2, repeat=3)
    return seconds, compile_s


def steps_to_target(data, ms: Sequence[int], horizon: int) -> tuple[float, dict]:
    problem = costly_problem(0)
    theta = jnp.zeros(data[0].shape[1])
    kw = dict(key=jax.random.PRNGKey(0), outer_steps=horizon, batch_size=data[0].shape[0])
    sgd = np.asarray(run_optax(problem, theta, data, learning_rate=SGD_STEP, **kw).losses)
    target = float(sgd[50])
    curves = {"SGD step": sgd}
    for m in ms:
        run = run_sso(problem, theta, data, eta=ETA, inner_steps=m, inner=SmoothGD(),
                      **kw)  # fmt: skip
        curves[f"SSO step, m = {m}"] = np.asarray(run.losses)
    steps = {k: int(np.argmax(c <= target)) if np.any(c <= target) else None
             for k, c in curves.items()}  # fmt: skip
    return target, steps


def main(argv: Sequence[str] | None = None) -> None:
    args = experiment.parse_bench_args(__doc__, argv)
    data = breast_cancer()
    n = data[0].shape[0]
    ms = (1, 10, 100)
    theta = jnp.zeros(data[0].shape[1])

    print(f"\nOne outer step, full batch ({n} x {data[0].shape[1]}), no simulator\n")
    seconds, compile_s = _time(_step_fns(costly_problem(0), ms), theta, data)
    base = seconds["SGD step"]
    rows = [[k, 1e6 * t, t / base, compile_s[k]] for k, t in seconds.items()]
    print(timing.format_table(["step", "us", "time / SGD step", "compile s"], rows))

    target, steps = steps_to_target(data, (10, 100), horizon=200)
    print(f"\nTime to the loss SGD reaches in 50 steps ({target:.4f}); steps: {steps}\n")
    costs = (0, 1000) if args.quick else (0, 1000, 10000)
    rows, per_step = [], {}
    for cost in costs:
        seconds, _ = _time(_step_fns(costly_problem(cost), (10, 100)), theta, data)
        per_step[cost] = seconds
        for k, t in seconds.items():
            total = None if steps[k] is None else steps[k] * t
            ratio = None if total is None else total / (steps["SGD step"] * seconds["SGD step"])
            rows.append([cost, k, steps[k], 1e3 * t, 1e3 * total, ratio])
    print(timing.format_table(
        ["simulator cost", "method", "steps to target", "ms / step", "ms to target",
         "time / SGD time"], rows))  # fmt: skip

    # Per-step time = a + b * cost for each method (two cost levels); break-even cost where
    # steps_sso * t_sso(cost) = steps_sgd * t_sgd(cost).
    lo, hi = costs[0], costs[-1]
    print()
    for k in per_step[lo]:
        if k == "SGD step" or steps[k] is None:
            continue
        slope = {j: (per_step[hi][j] - per_step[lo][j]) / (hi - lo) for j in (k, "SGD step")}
        a = {j: per_step[lo][j] for j in (k, "SGD step")}
        num = steps["SGD step"] * a["SGD step"] - steps[k] * a[k]
        den = steps[k] * slope[k] - steps["SGD step"] * slope["SGD step"]
        if den >= 0:
            print(f"{k}: no break-even (SSO needs at least as many steps per unit of cost)")
            continue
        print(f"{k}: break-even simulator cost {max(num / den, 0.0):.0f} loop steps "
              f"(SSO faster in wall-clock above it)")  # fmt: skip


if __name__ == "__main__":
    main()
