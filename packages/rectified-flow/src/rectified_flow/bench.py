"""Benchmarks of rectified-flow, measured in one run (ratios, never asserts).

1. Samples/s of the ``lax.scan`` Euler sampler vs a Python loop over a jitted Euler step,
   N = 1, 8, 100 steps, 2000 samples, the 2D VelocityMLP (3x128).
2. Training steps/s of the fused (scanned) trainer vs one jitted step per Python iteration.
3. Quality vs NFE: one-step and N-step energy distance of a briefly trained 1-RF and 2-RF.
"""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp
import optax
from flax import nnx

import rectified_flow as rf
from jaxpapers_shared import timing
from rectified_flow._samplers import _euler


def main() -> None:
    apply_fn, params = rf.split(rf.VelocityMLP(2, 128, 3, rngs=nnx.Rngs(0)))
    z0 = jax.random.normal(jax.random.PRNGKey(0), (2000, 2))

    @jax.jit
    def step(params, z, t):
        return z + apply_fn(params, z, jnp.full((z.shape[0],), t)) / n_steps

    rows = []
    for n_steps in (1, 8, 100):
        ts = [1e-3 + i * (1 - 1e-3) / n_steps for i in range(n_steps)]

        def loop(params, z, ts=ts):
            for t in ts:
                z = step(params, z, t)
            return z

        scanned = timing.time_fn(
            lambda p, z, n=n_steps: _euler(apply_fn, p, z, n, 1e-3, False)[0], params, z0
        )
        looped = timing.time_fn(loop, params, z0)
        rows.append([f"Euler N={n_steps}", 2000 / scanned, 2000 / looped, looped / scanned])
    print(timing.format_table(["sampler", "scan samples/s", "loop samples/s", "speed-up"], rows))

    sampler = rf.independent_sampler(rf.standard_normal, rf.eight_gaussians, 512)
    opt = optax.adam(1e-3)
    rows = []
    for name, chunk in (("scan chunk 250", 250), ("1 step / dispatch", 1)):
        rf.train(apply_fn, params, sampler, opt, 250, jax.random.PRNGKey(1), chunk=chunk)
        start = time.perf_counter()
        rf.train(apply_fn, params, sampler, opt, 500, jax.random.PRNGKey(2), chunk=chunk)
        rows.append([name, 500 / (time.perf_counter() - start)])
    print(timing.format_table(["trainer", "steps/s (batch 512)"], rows))

    state = rf.train(apply_fn, params, sampler, opt, 1000, jax.random.PRNGKey(3))
    z0p, z1p = rf.reflow_pairs(
        apply_fn, state.params, jax.random.PRNGKey(4), 5000, rf.standard_normal
    )
    state2 = rf.train(
        apply_fn, state.params, rf.paired_sampler(z0p, z1p, 512), opt, 1000, jax.random.PRNGKey(5)
    )
    target = rf.eight_gaussians(jax.random.PRNGKey(6), 2000)
    rows = []
    for n in (1, 2, 4, 8, 100):
        rows.append(
            [n]
            + [
                float(rf.energy_distance(rf.euler_sample(apply_fn, p, z0, n), target))
                for p in (state.params, state2.params)
            ]
        )
    print(timing.format_table(["Euler NFE", "ED 1-RF", "ED 2-RF"], rows))


if __name__ == "__main__":
    main()
