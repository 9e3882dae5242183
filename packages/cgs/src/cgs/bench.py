"""Benchmarks of CGS, measured in one run (ratios, never asserts): ``python -m cgs.bench``.

1. IFT backward vs unrolled backprop through K forward iterations (K = 25..200): time per
   gradient and compiled temp memory, on a batch of 50-node graphs and on one large sparse graph.
2. Forward solvers: dense direct solve vs plain iteration vs Anderson, for gamma in
   {0.5, 0.9, 0.99}: time and iterations.
3. Graph value iteration training step at the paper's batch (64 graphs) and model size (the
   reproduction's three models): CGS vs its gamma = 0 ablation vs the parameter-matched MPNN,
   and CGS and the MPNN before/after packing the batch (every graph padded to the largest one
   -> 8 balanced disjoint unions, ``cgs.pack_graphs``); an "epoch" is the 32 updates between
   two regenerations of the training batch. Also the forward's fixed-point iterations and the
   wall time of the paper's GVI budget at the measured step times.

Compile time is reported apart from the step times and never enters a ratio. The official PyTorch/DGL code is not compared: torch and dgl are not dependencies here.
"""

from __future__ import annotations

import dataclasses
import functools
import time

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from jaxpapers_shared import experiment, timing

from . import reproduce
from ._baselines import count_parameters
from ._data import graph_value_iteration
from ._graphs import pack_graphs
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


def bench_gvi_step(batch: int = 64, packs: int = 8):
    """Training-step time on one GVI batch (official model size), all variants interleaved.

    "Before": the batch padded graph by graph (every graph to 49 states and 441 edges), the
    solve stopped per graph at 1e-4. "After": the same graphs repacked into ``packs`` balanced
    disjoint unions (``cgs.pack_graphs``, as the reproduction trains), stopped per pack at the
    reproduction's tolerance. Also the process CPU seconds per step (both cores counted)."""
    cfg = reproduce.Config()
    task = graph_value_iteration(0, batch)
    per_pack = -(-batch // packs)
    packed, (packed_targets,) = pack_graphs(
        task.graph, packs, task.targets, max_nodes=per_pack * task.graph.max_nodes
    )
    packed_args = (jax.tree.map(jnp.asarray, packed), jnp.asarray(packed_targets))
    padded_args = (task.graph, task.targets)
    models = reproduce._gvi_models(cfg, 0)
    before = dataclasses.replace(cfg, gvi_tol=1e-4)
    mpnn_name = f"MPNN ({cfg.mpnn_layers} GN blocks, parameter-matched)"
    variants = {
        "CGS, padded graphs (before)": (reproduce._gvi_models(before, 0)["CGS"], padded_args),
        f"CGS, {packs} packs (after)": (models["CGS"], packed_args),
        f"ablation gamma = 0, {packs} packs": (models["ablation (gamma=0)"], packed_args),
        f"{mpnn_name}, padded graphs (before)": (models["MPNN"], padded_args),
        f"{mpnn_name}, {packs} packs (after)": (models["MPNN"], packed_args),
    }
    fns, compile_s, params, cpu = {}, {}, {}, {}
    for name, (model, args) in variants.items():
        step, p, o = _train_step(model)
        start = time.perf_counter()
        compiled = step.lower(p, o, *args).compile()
        compile_s[name] = time.perf_counter() - start
        fns[name] = functools.partial(compiled, p, o, *args)
        params[name] = count_parameters(model)
    for name, fn in fns.items():
        jax.block_until_ready(fn())
        start = time.process_time()
        for _ in range(3):
            jax.block_until_ready(fn())
        cpu[name] = (time.process_time() - start) / 3
    start = time.perf_counter()
    fresh = graph_value_iteration(1, batch)
    pack_graphs(fresh.graph, packs, fresh.targets, max_nodes=per_pack * fresh.graph.max_nodes)
    data_s = time.perf_counter() - start
    times = timing.compare(fns, rounds=3, repeat=3)
    ref = times[f"CGS, {packs} packs (after)"]
    rows = [
        [name, params[name], 1e3 * t, cpu[name], 32 * t + data_s, t / ref, compile_s[name]]
        for name, t in times.items()
    ]
    iterations = {}
    for label, model, (graph, _) in (
        ("padded, per graph, tol 1e-4", variants["CGS, padded graphs (before)"][0], padded_args),
        (f"{packs} packs, per pack, tol {cfg.gvi_tol:g}", models["CGS"], packed_args),
    ):
        iterations[label] = int(
            jnp.max(jax.jit(lambda g, m=model: m.fixed_point(g))(graph).iterations)
        )
    return rows, data_s, times, cpu, iterations


def paper_budget_hours(seconds: dict, packs: int = 8) -> float:
    """Hours of the paper's GVI budget (5000 updates x 3 models x 3 seeds) at these seconds per
    step (wall or CPU) of the packed CGS, ablation and MPNN, plus a validation forward every
    8 updates (about a third of a step)."""
    per_update = sum(
        seconds[k]
        for k in seconds
        if k.endswith(f"{packs} packs (after)") or k.startswith("ablation")
    )
    return 5000 * 3 * per_update * (1 + 1 / 24) / 3600


def main(argv=None) -> None:
    args = experiment.parse_bench_args(__doc__, argv)
    batch = 16 if args.quick else 64
    print(f"## GVI training step, official model size, batch {batch} graphs\n")
    rows, data_s, times, cpu, iterations = bench_gvi_step(batch)
    print(
        timing.format_table(
            [
                "model",
                "params",
                "step ms",
                "CPU s / step",
                "epoch s (32 steps + data)",
                "step / CGS after",
                "compile s",
            ],
            rows,
        )
    )
    print(f"\n(one batch of {batch} GVI graphs, generated and packed: {data_s:.2f} s)")
    for label, its in iterations.items():
        print(f"forward fixed-point iterations, {label}: {its}")
    if batch == 64:
        print(
            "paper budget (5000 updates x batch 64 x 3 models x 3 seeds): "
            f"{paper_budget_hours(times):.1f} h wall at this load, "
            f"{paper_budget_hours(cpu):.1f} CPU hours (about half that on 2 idle cores)"
        )
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
