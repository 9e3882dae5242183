"""Benchmarks of ntk, measured in one run (ratios, never asserts).

1. Empirical NTK of a depth-4 ReLU NTKMLP on N = 64 points, widths 256 and 512 (the Jacobian
   method takes ~40 s per call at width 1024 and would need about 4 GiB at 2048): Jacobian
   contraction vs NTK-vector products vs the structured MLP formula (time, compiled peak memory).
2. Analytic ReLU kernel: closed-form arc-cosine recursion vs the Gauss-Hermite quadrature path
   (64 x 64 nodes), N in {64, 256}.
3. Kernel gradient descent for 1000 steps: eigh-based prediction vs iterating the linear
   function-space update step by step.

Every candidate of a group runs on the same precomputed inputs, is compiled before it is timed
(compile time is its own column, never inside a ratio), and the candidates are timed interleaved
(``timing.compare``). ``--quick`` runs smaller sizes. neural-tangents is not benchmarked: it
does not import on current JAX.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx

from jaxpapers_shared import experiment, timing

from . import _analytic, _empirical
from ._activations import Activation
from ._dynamics import kernel_gd_predict
from ._model import NTKMLP

HEADER = ["task", "method", "ms", "compile s", "peak MiB", "time / first", "memory / first"]


def _circle(num: int) -> jax.Array:
    angles = jnp.linspace(0.0, 2 * jnp.pi, num, endpoint=False)
    return jnp.stack([jnp.cos(angles), jnp.sin(angles)], axis=1)


def _compile_seconds(fn: Callable[..., Any], *args: Any) -> float:
    start = time.perf_counter()
    jax.jit(fn).lower(*args).compile()
    return time.perf_counter() - start


def _group(
    task: str, fns: dict[str, Callable[..., Any]], *args: Any, memory: bool = True, repeat: int = 3
):
    """Rows for candidates that take the same ``args``: warm, interleaved, ratios to the first."""
    compile_s = {name: _compile_seconds(fn, *args) for name, fn in fns.items()}
    seconds = timing.compare(
        {name: jax.jit(fn) for name, fn in fns.items()}, *args, rounds=2, repeat=repeat
    )
    peak = {
        name: timing.compiled_memory(fn, *args)["peak"] / 2**20 if memory else None
        for name, fn in fns.items()
    }
    first = next(iter(fns))
    return [
        [
            task,
            name,
            1e3 * seconds[name],
            compile_s[name],
            "-" if peak[name] is None else peak[name],
            seconds[name] / seconds[first],
            "-" if peak[name] is None else peak[name] / peak[first],
        ]
        for name in fns
    ]


def bench_empirical(widths: Sequence[int], num_points: int = 64) -> list:
    x = _circle(num_points)
    rows = []
    for width in widths:
        net = NTKMLP([2, width, width, width, 1], rngs=nnx.Rngs(0))
        graphdef, params = nnx.split(net)
        apply = _empirical._MergedApply(graphdef)

        def mlp(p, x, net=net, graphdef=graphdef):
            weights = nnx.merge(graphdef, p).weights()
            return _empirical._structured_ntk(
                weights, x, x, activation=net.activation, beta=net.beta, trace_outputs=True
            )

        def jacobian(p, x, apply=apply):
            return _empirical._jacobian_ntk(apply, p, x, x, trace_outputs=True)

        def ntk_vp(p, x, apply=apply):
            return _empirical._ntk_vp(apply, p, x, x, trace_outputs=True, batch_size=8)

        fns = {"mlp": mlp, "jacobian": jacobian, "ntk_vp": ntk_vp}
        # The generic methods take seconds per call: one timed batch per round.
        rows += _group(f"empirical NTK, width {width}, N={num_points}", fns, params, x, repeat=1)
    return rows


def bench_analytic(sizes: Sequence[int]) -> list:
    relu_quadrature = Activation("relu_quadrature", jax.nn.relu)
    rows = []
    for n in sizes:
        x = _circle(n)
        fns = {
            label: functools.partial(
                _analytic._kernels, depth=4, activation=activation, beta=0.1, quadrature_points=64
            )
            for label, activation in (
                ("closed form", _analytic.resolve_activation("relu")),
                ("quadrature 64x64", relu_quadrature),
            )
        }
        rows += _group(f"analytic ReLU, N={n}", fns, x, x)
    return rows


def bench_dynamics(num_points: int, steps: int, lr: float = 1.0) -> list:
    x = _circle(num_points)
    kernel = _analytic.analytic_kernels(x, depth=4).ntk
    y = jnp.sin(2 * jnp.arange(num_points) * 2 * jnp.pi / num_points)

    def closed(k, y):
        return kernel_gd_predict(k, y, lr=lr, steps=steps).train

    def iterate(k, y):
        def step(f, _):
            return f - lr / k.shape[0] * k @ (f - y), None

        return jax.lax.scan(step, jnp.zeros_like(y), None, length=steps)[0]

    # kernel_gd_predict validates its inputs eagerly, so it is timed as a user calls it (its
    # jitted core is compiled by the warm-up call); only the iteration gets a compile column.
    compile_s = _compile_seconds(iterate, kernel, y)
    seconds = timing.compare(
        {"eigh closed form": closed, "step by step": jax.jit(iterate)}, kernel, y
    )
    task = f"kernel GD, N={num_points}, {steps} steps"
    base = seconds["eigh closed form"]
    return [
        [task, "eigh closed form", 1e3 * base, "-", "-", 1.0, "-"],
        [
            task,
            "step by step",
            1e3 * seconds["step by step"],
            compile_s,
            "-",
            seconds["step by step"] / base,
            "-",
        ],
    ]


def main(argv: Sequence[str] | None = None) -> None:
    args = experiment.parse_bench_args(__doc__, argv)
    print(f"device: {jax.devices()[0].device_kind}, jax {jax.__version__}\n")
    rows = bench_empirical((128,) if args.quick else (256, 512))
    rows += bench_analytic((64,) if args.quick else (64, 256))
    rows += bench_dynamics(64, 100 if args.quick else 1000)
    print(timing.format_table(HEADER, rows))


if __name__ == "__main__":
    main()
