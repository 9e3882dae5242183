"""Benchmarks of rectified-flow, measured in one run (ratios, never asserts).

1. Samples/s of the ``lax.scan`` Euler sampler (``euler_sample``) vs a Python loop over a
   jitted Euler step, N = 1, 8, 100 steps, 2000 samples, the 2D VelocityMLP (3x128). Both are
   compiled before timing (compile time in its own column), timed in interleaved rounds on the
   same ``z0``.
2. Training steps/s of ``train`` with 250 steps fused per ``lax.scan`` vs one step per dispatch.
   ``train`` caches its compiled chunk per model, optimizer and shapes: each variant is called
   three times on the same sampler; the first call (compiles) is reported apart, the best of the
   other two gives steps/s.
3. Quality vs NFE: N-step energy distance of a 1-RF and a 2-RF trained for 1000 steps each.
4. Data-parallel scaling of ``train`` on 1, 2, 4, 8 simulated CPU devices and 2 processes
   (:mod:`rectified_flow.bench_scaling`).

``--quick``: N = 1, 8 only, shorter training runs.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import optax
from flax import nnx

import rectified_flow as rf
from jaxpapers_shared import experiment, timing
from rectified_flow import bench_scaling

NUM_SAMPLES = 2000


def sampler_table(apply_fn, params, z0, step_counts: Sequence[int]) -> str:
    @functools.partial(jax.jit, static_argnums=3)
    def euler_step(params, z, t, dt):
        return z + dt * apply_fn(params, z, jnp.full((z.shape[0],), t, z.dtype))

    rows = []
    for n in step_counts:
        times = [1e-3 + i * (1 - 1e-3) / n for i in range(n)]

        def loop(params, z, times=times, n=n):
            for t in times:
                z = euler_step(params, z, t, 1.0 / n)
            return z

        start = time.perf_counter()
        jax.block_until_ready(rf.euler_sample(apply_fn, params, z0, n))
        compile_s = time.perf_counter() - start
        jax.block_until_ready(loop(params, z0))  # the loop's one step compiles here
        best = timing.compare(
            {"scan": lambda p, z, n=n: rf.euler_sample(apply_fn, p, z, n), "loop": loop},
            params,
            z0,
        )
        rows.append(
            [
                f"Euler N={n}",
                NUM_SAMPLES / best["scan"],
                NUM_SAMPLES / best["loop"],
                best["loop"] / best["scan"],
                compile_s,
            ]
        )
    header = [
        "sampler",
        "scan samples/s",
        "loop samples/s",
        "scan speed-up",
        "scan first call s (compiles)",
    ]
    return timing.format_table(header, rows)


def trainer_table(apply_fn, params, n: int) -> str:
    """Steps/s of the fused trainer against one step per dispatch, and the cost of a first call
    (compiles) against a second call with the same model, optimizer and shapes (cached)."""
    sampler = rf.independent_sampler(rf.standard_normal, rf.eight_gaussians, 512)
    opt = optax.adam(1e-3)
    rows = []
    for name, chunk in (("train, 250 steps per lax.scan", 250), ("one step per dispatch", 1)):
        elapsed = []
        for _ in range(3):  # the first call compiles; the best of the other two is the run time
            start = time.perf_counter()
            rf.train(apply_fn, params, sampler, opt, n, jax.random.PRNGKey(1), chunk=chunk)
            elapsed.append(time.perf_counter() - start)
        warm = min(elapsed[1:])
        rows.append([name, n / warm, elapsed[0], warm])
    rows.append(["fused / per-dispatch", rows[0][1] / rows[1][1], "-", "-"])
    header = ["trainer (batch 512)", "steps/s", f"first call s ({n} steps)", "second call s"]
    return timing.format_table(header, rows)


def quality_table(apply_fn, params, z0, steps: int, step_counts: Sequence[int]) -> str:
    sampler = rf.independent_sampler(rf.standard_normal, rf.eight_gaussians, 512)
    opt = optax.adam(1e-3)
    rf1 = rf.train(apply_fn, params, sampler, opt, steps, jax.random.PRNGKey(3)).params
    z0p, z1p = rf.reflow_pairs(apply_fn, rf1, jax.random.PRNGKey(4), 5000, rf.standard_normal)
    pairs = rf.paired_sampler(z0p, z1p, 512)
    rf2 = rf.train(apply_fn, rf1, pairs, opt, steps, jax.random.PRNGKey(5)).params
    target = rf.eight_gaussians(jax.random.PRNGKey(6), NUM_SAMPLES)
    rows = [
        [n]
        + [
            float(rf.energy_distance(rf.euler_sample(apply_fn, p, z0, n), target))
            for p in (rf1, rf2)
        ]
        for n in step_counts
    ]
    return timing.format_table(["Euler NFE", "ED 1-RF", "ED 2-RF"], rows)


def main(argv: Sequence[str] | None = None) -> None:
    args = experiment.parse_bench_args(__doc__, argv)
    apply_fn, params = rf.split(rf.VelocityMLP(2, 128, 3, rngs=nnx.Rngs(0)))
    z0 = jax.random.normal(jax.random.PRNGKey(0), (NUM_SAMPLES, 2))
    print(f"rectified-flow bench ({jax.default_backend()}, {NUM_SAMPLES} samples, MLP 3x128)")
    print(sampler_table(apply_fn, params, z0, (1, 8) if args.quick else (1, 8, 100)))
    print(trainer_table(apply_fn, params, 100 if args.quick else 250))
    print(quality_table(apply_fn, params, z0, 300 if args.quick else 1000, (1, 2, 4, 8, 100)))
    print(bench_scaling.scaling_table(50 if args.quick else 250))


if __name__ == "__main__":
    main()
