"""Benchmarks of optimistic-omd against optax, measured in one run (ratios; asserts nothing).

``python -m optimistic_omd.bench [--quick]``.

1. Where the two coincide (unconstrained, constant step, last-gradient hint): optimistic OMD's
   ``lax.scan`` of rounds against ``optax.optimistic_gradient_descent(eta)`` in the same scan,
   on the quadratic losses ``0.5 x^T H x - <b, x>`` (one ``d x d`` matrix-vector product per
   round), d = 10 and 1000.
2. On a ball with the adaptive step: optimistic OMD against projected online gradient descent
   written with optax (``optax.sgd`` at a constant step + the projection).
3. Optimistic ONS (``O(d^3)`` per round: an eigendecomposition and the A-norm projection) against
   optimistic OMD, d = 10, 30, 100 (50 rounds per call).

Times are medians of compiled, warm calls of T rounds on the same inputs (``timing.compare``,
interleaved); compile time is reported apart.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp

from jaxpapers_shared import experiment, timing

from ._domains import Ball, Unconstrained
from ._omd import optimistic_omd
from ._ons import optimistic_ons

with experiment.reproduce_imports("optimistic-omd"):
    import optax


def _problem(d: int):
    key_h, key_b = jax.random.split(jax.random.PRNGKey(0))
    m = jax.random.normal(key_h, (d, d)) / jnp.sqrt(d)
    hessian = m @ m.T / 4 + 0.1 * jnp.eye(d)
    b = jax.random.normal(key_b, (d,))
    return hessian, b


def _ours(learner, rounds: int) -> Callable:
    def go(hessian, b, x0):
        def round_(state, _):
            x = learner.play(state)
            return learner.update(state, hessian @ x - b), None

        state, _ = jax.lax.scan(round_, learner.init(x0), None, rounds)
        return learner.play(state)

    return go


def _optax(tx: optax.GradientTransformation, rounds: int, project=lambda x: x) -> Callable:
    def go(hessian, b, x0):
        def round_(carry, _):
            x, state = carry
            updates, state = tx.update(hessian @ x - b, state, x)
            return (project(optax.apply_updates(x, updates)), state), None

        (x, _), _ = jax.lax.scan(round_, (x0, tx.init(x0)), None, rounds)
        return x

    return go


def _rows(
    fns: dict[str, Callable], args: tuple, baseline: str, rounds: int, label: str
) -> list[list]:
    compile_s = {}
    jitted = {}
    for name, fn in fns.items():
        start = time.perf_counter()
        jitted[name] = jax.jit(fn).lower(*args).compile()
        compile_s[name] = time.perf_counter() - start
    seconds = timing.compare(jitted, *args, rounds=2, repeat=3)
    return [
        [label, name, rounds / t, seconds[baseline] / t, compile_s[name]]
        for name, t in seconds.items()
    ]


def main(argv: Sequence[str] | None = None) -> None:
    args = experiment.parse_bench_args(__doc__, argv)
    rounds = 200 if args.quick else 2000
    eta = 0.05
    rows = []
    for d in (10,) if args.quick else (10, 1000):
        hessian, b = _problem(d)
        inputs = (hessian, b, jnp.zeros(d))
        rows += _rows(
            {
                "optax.optimistic_gradient_descent": _optax(
                    optax.optimistic_gradient_descent(eta), rounds
                ),
                "optimistic OMD (unconstrained)": _ours(
                    optimistic_omd(Unconstrained(d), step=eta), rounds
                ),
            },
            inputs,
            "optax.optimistic_gradient_descent",
            rounds,
            f"d={d}, R^d, eta={eta}",
        )
        ball = Ball(1.0, d)
        ogd_step = 0.05
        rows += _rows(
            {
                "optax.sgd + projection": _optax(optax.sgd(ogd_step), rounds, ball.project),
                "optimistic OMD (ball, adaptive)": _ours(
                    optimistic_omd(ball, smoothness=1.0), rounds
                ),
            },
            inputs,
            "optax.sgd + projection",
            rounds,
            f"d={d}, unit ball",
        )
    print(f"{rounds} rounds per call, {jax.devices()[0].device_kind}, jax {jax.__version__}\n")
    print(
        timing.format_table(
            ["setting", "learner", "rounds / s", "speed / baseline", "compile s"], rows
        )
    )

    ons_rows = []
    for d in (10,) if args.quick else (10, 30, 100):
        hessian, b = _problem(d)
        ball = Ball(1.0, d)
        ons_rounds = 50
        ons_rows += _rows(
            {
                "optimistic OMD (ball, adaptive)": _ours(
                    optimistic_omd(ball, smoothness=1.0), ons_rounds
                ),
                "optimistic ONS": _ours(
                    optimistic_ons(ball, exp_concavity=1.0, grad_bound=10.0), ons_rounds
                ),
            },
            (hessian, b, jnp.zeros(d)),
            "optimistic OMD (ball, adaptive)",
            ons_rounds,
            f"d={d}, unit ball",
        )
    print()
    print(
        timing.format_table(
            ["setting", "learner", "rounds / s", "speed / OMD", "compile s"], ons_rows
        )
    )


if __name__ == "__main__":
    main()
