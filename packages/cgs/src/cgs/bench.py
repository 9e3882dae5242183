"""Benchmarks of CGS, measured in one run (ratios, never asserts): ``python -m cgs.bench``.

1. IFT backward vs unrolled backprop through K forward iterations (K = 25..200): time per
   gradient and compiled temp memory, on a batch of 50-node graphs and on one large sparse graph.
2. Forward solvers: dense direct solve vs plain iteration vs Anderson, for gamma in
   {0.5, 0.9, 0.99}: time and iterations.
3. Graph value iteration training step at the paper's batch (64 graphs) and model size: CGS vs
   its gamma = 0 ablation vs the parameter-matched MPNN, and CGS before/after this package's
   speed-ups (dense LU solve, edge MLP on the concatenated [e, h_j, h_i], head-major scatter ->
   fixed-point iteration, node-side projections, head-minor scatter); an "epoch" is the 32
   updates between two regenerations of the training batch.

Compile time is reported apart from the step times and never enters a ratio. The official PyTorch/DGL code is not compared: torch and dgl are not dependencies here.
"""

from __future__ import annotations

import contextlib
import functools
import time

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from jaxpapers_shared import experiment, timing

from . import _layers, _solve
from ._baselines import MPNN, count_parameters
from ._data import graph_value_iteration
from ._layers import build_cgs
from ._solve import solve_transition, unrolled_fixed_point
from ._transition import build_transition

with experiment.reproduce_imports("cgs"):
    import optax


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
        times = timing.compare({"ift": ift, "unrolled": unr}, w, b, rounds=2, repeat=3)
        t_ift, t_unr = times["ift"], times["unrolled"]
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
        fns, its = {}, {}
        for solver in ("direct", "iterate", "anderson"):

            @jax.jit
            def fwd(w, b, solver=solver, gamma=gamma):
                def one(w, b, s, r):
                    t = build_transition(w, b, s, r, gamma)
                    return solve_transition(t, solver=solver, tol=1e-4, max_iter=3000, throw=False)

                sol = jax.vmap(one)(w, b, s, r)
                return sol.value, sol.iterations

            fns[solver] = fwd
            its[solver] = int(jnp.max(fwd(w, b)[1]))
        times = timing.compare(fns, w, b, rounds=2, repeat=3)
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


@contextlib.contextmanager
def _before_speedups():
    """The implementation before the speed-ups: concatenated edge-MLP inputs and a head-major
    dense scatter (traced while this is active; compiled programs keep it)."""

    def concat_edge_mlp(mlp, edges, nodes, senders, receivers):
        return mlp(jnp.concatenate([edges, nodes[senders], nodes[receivers]], axis=-1))

    def head_major_dense(t):
        m, n = t.edge_values.shape[1], t.num_nodes
        zeros = jnp.zeros((m, n, n), t.edge_values.dtype)
        return zeros.at[:, t.receivers, t.senders].add(t.edge_values.T)

    saved = _layers._edge_mlp, _solve.dense_matrix
    _layers._edge_mlp, _solve.dense_matrix = concat_edge_mlp, head_major_dense
    try:
        yield
    finally:
        _layers._edge_mlp, _solve.dense_matrix = saved


def _train_step(model):
    graphdef, params = nnx.split(model, nnx.Param)
    tx = optax.adam(1e-3)

    @jax.jit
    def step(p, o, g, y):
        def loss(p):
            m = g.node_mask[..., None]
            return jnp.sum((nnx.merge(graphdef, p)(g) - y) ** 2 * m) / jnp.sum(m)

        grads = jax.grad(loss)(p)
        u, o = tx.update(grads, o, p)
        return optax.apply_updates(p, u), o

    return step, params, tx.init(params)


def bench_gvi_step(batch: int = 64):
    """Training-step time on one GVI batch (official model size), all variants interleaved."""
    task = graph_value_iteration(0, batch)
    size = dict(num_heads=64, hidden=64, mlp_hidden=(128,), decoder_hidden=(64, 32))
    iterate = dict(solver="iterate", tol=1e-4, max_iter=50)
    cgs_model = build_cgs(1, 1, 1, rngs=nnx.Rngs(0), **size, **iterate)
    variants = {
        "CGS before (dense LU, concat edge MLP)": (
            build_cgs(1, 1, 1, rngs=nnx.Rngs(0), **size),
            True,
        ),
        "CGS dense LU, after other speed-ups": (
            build_cgs(1, 1, 1, rngs=nnx.Rngs(0), **size),
            False,
        ),
        "CGS after (iteration + IFT, node projections)": (cgs_model, False),
        "ablation gamma = 0": (
            build_cgs(1, 1, 1, ablate=True, rngs=nnx.Rngs(0), **size, **iterate),
            False,
        ),
        "MPNN, 4 layers hidden 48": (
            MPNN(1, 1, 1, num_layers=4, hidden=48, mlp_hidden=(128,), rngs=nnx.Rngs(0)),
            False,
        ),
    }
    fns, compile_s, params = {}, {}, {}
    args = (task.graph, task.targets)
    for name, (model, before) in variants.items():
        step, p, o = _train_step(model)
        with _before_speedups() if before else contextlib.nullcontext():
            start = time.perf_counter()
            compiled = step.lower(p, o, *args).compile()
            compile_s[name] = time.perf_counter() - start
        fns[name] = functools.partial(compiled, p, o)
        params[name] = count_parameters(model)
    start = time.perf_counter()
    graph_value_iteration(1, batch)
    data_s = time.perf_counter() - start
    times = timing.compare(fns, *args, rounds=3, repeat=3)
    ref = times["CGS after (iteration + IFT, node projections)"]
    rows = [
        [name, params[name], 1e3 * t, 32 * t + data_s, t / ref, compile_s[name]]
        for name, t in times.items()
    ]
    return rows, data_s


def main(argv=None) -> None:
    args = experiment.parse_bench_args(__doc__, argv)
    batch = 16 if args.quick else 64
    print(f"## GVI training step, official model size, batch {batch} graphs\n")
    rows, data_s = bench_gvi_step(batch)
    print(
        timing.format_table(
            [
                "model",
                "params",
                "step ms",
                "epoch s (32 steps + data)",
                "step / CGS after",
                "compile s",
            ],
            rows,
        )
    )
    print(f"\n(generating one batch of {batch} GVI graphs: {data_s:.2f} s)")
    if args.quick:
        return
    print("\n## IFT vs unrolled backward (gamma 0.5, exactly K forward iterations)\n")
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


if __name__ == "__main__":
    main()
