"""Benchmarks of holomorphic-ep, measured in one run (time and memory ratios; asserts nothing).

``python -m holomorphic_ep.bench [--quick]``.

The cost of one parameter gradient of a recurrent MLP 64-128-128-10 (quick: 64-32-32-10),
sigmoid, symmetric weights (where EP is exact up to its finite-nudge bias), batch 50 digits-sized
inputs, free phase 150 steps, nudged phases 60 steps from the fixed point. Baseline: recurrent
backprop (the free phase by plain iteration, then one GMRES adjoint solve of
``jaxpapers_shared.implicit.fixed_point``). Against it: EP with the exact neuronal error (forward-
mode AD of the nudged phase), one-sided (N = 1), symmetric (N = 2) and Cauchy (N = 4, 6) nudges
at beta = 1, BPTT through the free phase, and the homeostatic loss's gradient (5 probes) added to
the N = 4 estimate. Each row also gives the gradient's relative error against recurrent backprop,
so the costs compare at a stated accuracy.

Times are medians of compiled, warm calls on the same inputs (``timing.compare``, interleaved);
compile time and XLA's scratch memory (``timing.compiled_memory``) are reported apart.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp

from jaxpapers_shared import experiment, implicit, timing

from ._ep import (
    VectorFieldMLP,
    _neuronal_error,
    _readout_loss,
    homeostatic_loss,
    relative_error,
    relax,
    surrogate_loss,
)

FREE, NUDGE, BETA = 150, 60, 1.0


def _fns(net: VectorFieldMLP) -> dict[str, Callable]:
    def free(p, x):
        y0 = jnp.zeros(x.shape[0], jnp.int32)
        return relax(net, p, net.zero_state(x.shape[0]), x, y0, 0.0, FREE)

    def ep(n, homeo=False):
        def grad(p, x, y):
            u = free(p, x)
            s = _neuronal_error(net, p, u, x, y, BETA, n, NUDGE)

            def total(q):
                out = surrogate_loss(net, q, u, s, x, y)
                if homeo:
                    out = out + homeostatic_loss(net, q, u, x, jax.random.PRNGKey(0))
                return out

            return jax.grad(total)(p)

        return grad

    def rbp(p, x, y):
        y0 = jnp.zeros(x.shape[0], jnp.int32)

        def loss(q):
            sol = implicit.fixed_point(
                lambda u, q: net.step(q, u, x, y0, 0.0), net.zero_state(x.shape[0]), q,
                solver="iterate", max_iter=FREE, throw=False,
            )  # fmt: skip
            return _readout_loss(net, q, net.phi(sol.value[-1]), y)

        return jax.grad(loss)(p)

    def bptt(p, x, y):
        return jax.grad(lambda q: _readout_loss(net, q, net.phi(free(q, x)[-1]), y))(p)

    return {
        "recurrent backprop (IFT, GMRES)": rbp,
        "BPTT (150 steps)": bptt,
        "EP exact error (jvp)": ep(0),
        "EP N = 1 (one-sided)": ep(1),
        "EP N = 2 (symmetric)": ep(2),
        "hEP N = 4 (Cauchy)": ep(4),
        "hEP N = 6 (Cauchy)": ep(6),
        "hEP N = 4 + homeostasis": ep(4, homeo=True),
    }


def bench(hidden: int, batch: int = 50) -> list[list]:
    net = VectorFieldMLP((64, hidden, hidden, 10))
    params = net.init(jax.random.PRNGKey(0), 0.0)
    x = jax.random.uniform(jax.random.PRNGKey(1), (batch, 64))
    y = jnp.arange(batch, dtype=jnp.int32) % 10
    fns = _fns(net)
    base = "recurrent backprop (IFT, GMRES)"
    compile_s, memory, jitted = {}, {}, {}
    for name, fn in fns.items():
        start = time.perf_counter()
        jax.jit(fn).lower(params, x, y).compile()
        compile_s[name] = time.perf_counter() - start
        memory[name] = timing.compiled_memory(fn, params, x, y)["temp"]
        jitted[name] = jax.jit(fn)
    reference = jitted[base](params, x, y)
    seconds = timing.compare(jitted, params, x, y, rounds=2, repeat=3)
    rows = []
    for name, t in seconds.items():
        g = jitted[name](params, x, y)
        # the homeostatic loss and its gradient vanish at symmetric weights: same error as N = 4
        err = relative_error(g, reference)
        rows.append([name, 1e3 * t, t / seconds[base], float(err), memory[name] / 2**20,
                     compile_s[name]])  # fmt: skip
    return rows


def main(argv: Sequence[str] | None = None) -> None:
    args = experiment.parse_bench_args(__doc__, argv)
    hidden = 32 if args.quick else 128
    print(f"\nOne gradient, MLP 64-{hidden}-{hidden}-10, batch 50, T1 = {FREE}, T2 = {NUDGE}, "
          f"beta = {BETA}, symmetric weights\n")  # fmt: skip
    header = ["gradient", "ms", "time / RBP", "rel. error vs RBP", "scratch MiB", "compile s"]
    print(timing.format_table(header, bench(hidden)))


if __name__ == "__main__":
    main()
