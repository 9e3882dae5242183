"""Benchmarks of CGS, measured in one run (ratios, never asserts): ``python -m cgs.bench``.

1. IFT backward vs unrolled backprop through K forward iterations (K = 25..200): time per
   gradient and compiled temp memory, on a batch of 50-node graphs and on one large sparse graph.
2. Forward solvers: dense direct solve vs plain iteration vs Anderson, for gamma in
   {0.5, 0.9, 0.99}: time and iterations.
3. Throughput of the jitted model (forward and training step) in graphs/s on GVI batches.

The official PyTorch/DGL code is not compared: torch and dgl are not dependencies here.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from jaxpapers_shared import timing

from ._data import graph_value_iteration
from ._layers import build_cgs
from ._solve import solve_transition, unrolled_fixed_point
from ._transition import build_transition


def _random_batch(graphs: int, n: int, heads: int, degree: int = 6, seed: int = 0):
    rng = np.random.default_rng(seed)
    e = n * degree
    s = jnp.asarray(rng.integers(0, n, (graphs, e)), jnp.int32)
    r = jnp.asarray(rng.integers(0, n, (graphs, e)), jnp.int32)
    w = jnp.asarray(rng.uniform(0, 1, (graphs, e, heads)), jnp.float32)
    b = jnp.asarray(rng.normal(size=(graphs, n, heads)), jnp.float32)
    return w, b, s, r


def _grad_fn(solve, gamma, s, r):
    def loss(w, b):
        def one(w, b, s, r):
            return jnp.sum(jnp.tanh(solve(build_transition(w, b, s, r, gamma))))

        return jnp.sum(jax.vmap(one)(w, b, s, r))

    return jax.jit(jax.grad(loss, argnums=(0, 1)))


def bench_backward(label: str, graphs: int, n: int, heads: int, iters=(25, 50, 100, 200)):
    w, b, s, r = _random_batch(graphs, n, heads)
    rows = []
    for k in iters:
        # tol below float32 rounding: the forward (and the Neumann adjoint) run exactly K steps.
        ift = _grad_fn(
            lambda t, k=k: (
                solve_transition(t, solver="iterate", tol=1e-30, max_iter=k, throw=False).value
            ),
            0.5,
            s,
            r,
        )
        unr = _grad_fn(lambda t, k=k: unrolled_fixed_point(t, k), 0.5, s, r)
        t_ift, t_unr = timing.time_fn(ift, w, b, repeat=3), timing.time_fn(unr, w, b, repeat=3)
        m_ift = timing.compiled_memory(ift, w, b)["temp"]
        m_unr = timing.compiled_memory(unr, w, b)["temp"]
        rows.append(
            [
                label,
                k,
                1e3 * t_ift,
                1e3 * t_unr,
                t_unr / t_ift,
                m_ift / 2**20,
                m_unr / 2**20,
                m_unr / max(m_ift, 1),
            ]
        )
    return rows


def bench_forward(graphs: int = 8, n: int = 50, heads: int = 16):
    w, b, s, r = _random_batch(graphs, n, heads, seed=1)
    rows = []
    for gamma in (0.5, 0.9, 0.99):
        times, its = {}, {}
        for solver in ("direct", "iterate", "anderson"):

            @jax.jit
            def fwd(w, b, solver=solver, gamma=gamma):
                def one(w, b, s, r):
                    t = build_transition(w, b, s, r, gamma)
                    return solve_transition(t, solver=solver, tol=1e-4, max_iter=3000, throw=False)

                sol = jax.vmap(one)(w, b, s, r)
                return sol.value, sol.iterations

            times[solver] = timing.time_fn(fwd, w, b, repeat=3)
            its[solver] = int(jnp.max(fwd(w, b)[1]))
        rows.append(
            [
                gamma,
                1e3 * times["direct"],
                1e3 * times["iterate"],
                its["iterate"],
                1e3 * times["anderson"],
                its["anderson"],
                times["iterate"] / times["direct"],
                times["iterate"] / times["anderson"],
            ]
        )
    return rows


def bench_throughput(batch: int = 16):
    task = graph_value_iteration(0, batch)
    rows = []
    for name, kw in (
        ("official size (64 heads, hidden 64)", {}),
        ("CPU size (16 heads, hidden 32)", dict(num_heads=16, hidden=32, mlp_hidden=(64,))),
    ):
        for solver in ("direct", "iterate"):
            model = build_cgs(1, 1, 1, solver=solver, rngs=nnx.Rngs(0), **kw)
            graphdef, params = nnx.split(model, nnx.Param)
            tx = optax.adam(1e-3)
            opt = tx.init(params)
            fwd = jax.jit(lambda p, g: nnx.merge(graphdef, p)(g))

            @jax.jit
            def step(p, o, g, y):
                def loss(p):
                    return jnp.mean((nnx.merge(graphdef, p)(g) - y) ** 2)

                grads = jax.grad(loss)(p)
                u, o = tx.update(grads, o, p)
                return optax.apply_updates(p, u), o

            t_fwd = timing.time_fn(fwd, params, task.graph, repeat=3)
            t_step = timing.time_fn(step, params, opt, task.graph, task.targets, repeat=3)
            rows.append([name, solver, batch / t_fwd, batch / t_step, 1e3 * t_step])
    return rows


def main() -> None:
    print("## IFT vs unrolled backward (gamma 0.5, exactly K forward iterations)\n")
    rows = bench_backward("16 graphs x 50 nodes x 16 heads", 16, 50, 16)
    rows += bench_backward("1 graph x 2000 nodes x 16 heads", 1, 2000, 16, iters=(25, 100, 200))
    print(
        timing.format_table(
            [
                "batch",
                "K",
                "IFT ms",
                "unrolled ms",
                "time unrolled/IFT",
                "IFT MiB",
                "unrolled MiB",
                "memory unrolled/IFT",
            ],
            rows,
        )
    )
    print("\n## Forward solvers (8 graphs x 50 nodes x 16 heads, tol 1e-4, float32)\n")
    print(
        timing.format_table(
            [
                "gamma",
                "direct ms",
                "iterate ms",
                "iterate its",
                "anderson ms",
                "anderson its",
                "iterate/direct",
                "iterate/anderson",
            ],
            bench_forward(),
        )
    )
    print("\n## Throughput on GVI batches (16 graphs, n_S in [20, 50))\n")
    print(
        timing.format_table(
            ["model", "solver", "forward graphs/s", "train graphs/s", "train step ms"],
            bench_throughput(),
        )
    )


if __name__ == "__main__":
    main()
