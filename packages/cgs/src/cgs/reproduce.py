"""Reproduces the central claims of *Convergent Graph Solvers* (Park, Choo & Park, ICLR 2022).

Claim A (Sec. 3, Thm. 1 and Eq. 6-7; the mechanism, quick and full mode). For *every* input
graph the encoder's map ``T(H) = gamma A H + b`` is a gamma-contraction, so (i) plain iteration
converges within Banach's a priori bound, even with encoder logits scaled x100 (the clip keeps
the bound), while an unnormalised A (negative control) breaks it; (ii) the implicit-function-
theorem gradient w.r.t. the encoder's parameters equals autodiff unrolled through 300 iterations
(relative error < 1e-6, float64) and central finite differences (< 1e-4); (iii) the IFT
backward's compiled memory stays flat as ``max_iter`` grows while unrolled memory grows.

Claim B (Sec. 6.1-6.2; the task). (a) A PageRank-style linear stationary problem
(Watts-Strogatz, alpha 0.9; CPU-scale model: 16 heads, hidden 32, encoder MLP [64], 200 updates
at batch 8) stands in for the porous-network task. (b) Graph value iteration (GVI) with the
official recipe (``CGS/configs/gvi/cgs.yaml``): n_S in [20, 50), n_A in [5, 10); 64 heads, 4 GN
blocks (``num_hidden_gn: 3`` hidden ones + the output one), hidden 64, encoder MLP [128], decoder [64, 32], sum aggregator, Adam 1e-3 with cosine
warm restarts (T_0 = 32), a fresh batch of 64 graphs every 32 updates, 5000 updates. CGS is
compared with its gamma = 0 ablation (H* = b, "encoder only"), a parameter-matched 4-layer MPNN
and trivial predictors (global mean; the true per-graph mean), on fresh graphs and on larger
graphs (n_S in [50, 100); PageRank n in [120, 160)), over 3 seeds. Before GVI the run checks
that the official-size CGS fits one fixed training batch (a control).

Every training run goes through ``jaxpapers_shared.devices.data_parallel_step`` (:func:`fit`),
so the script runs unchanged on one device, on several (simulated) devices or as several
processes (``make reproduce PKG=cgs PROCS=2``); a GVI batch trains as 8 packs of 8 graphs.

``--updates N`` sets the number of GVI updates (default 5000, the paper's); ``--resume``
continues GVI training from the checkpoints under ``--out``. results.json records the number
used (``metrics["gvi/updates"]``; every claim's note repeats it) and how many of them each run
trained in this process (``metrics["gvi/updates_trained_here"]``; 0 for a run restored whole).
``--gvi-run SEED:MODEL`` (MODEL: ``cgs``, ``ablation`` or ``mpnn``) only trains that one of the
nine GVI runs into its checkpoint and exits: several can run at once (one per core), and a final
``--resume`` run restores the finished runs and evaluates them.

Pass criteria: GVI: CGS MAPE below the true per-graph mean's, and CGS policy accuracy >=
ablation + 0.03 (test and larger graphs). PageRank: CGS rel-L2 below the better of its
ablation and the MPNN per seed. Quick: CGS rel-L2 below its ablation's. With 3 seeds a
one-sided comparison must clear 2 standard errors of the per-seed margins.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import math
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from jaxpapers_shared import checks, devices, experiment, timing
from jaxpapers_shared.experiment import BASELINE, at_least, at_most, below

from ._baselines import MPNN, count_parameters
from ._data import NodeTask, graph_value_iteration, pagerank_problem
from ._graphs import GraphBatch, pack_graphs
from ._layers import GNStack, build_cgs
from ._metrics import mape, policy_accuracy, relative_l2, within_graph_r2
from ._solve import banach_iteration_bound, solve_transition, unrolled_fixed_point
from ._transition import build_transition

with experiment.reproduce_imports("cgs"):
    import matplotlib  # noqa: F401  (figures)
    import optax

PAPER = "Convergent Graph Solvers"


@dataclasses.dataclass(frozen=True)
class Config:
    # Claim A
    mech_graphs: int = 16
    mech_nodes: int = 30
    mech_memory_iters: tuple[int, ...] = (25, 50, 100, 200)
    grad_gammas: tuple[float, ...] = (0.5, 0.9)
    # Claim B (official: 64 heads, hidden 64, MLP [128], batch 64, 5000 updates)
    num_heads: int = 16
    hidden: int = 32
    mlp_hidden: tuple[int, ...] = (64,)
    num_layers: int = 3
    mpnn_layers: int = 4
    batch: int = 8
    refresh: int = 32  # official: a fresh batch every 32 updates
    learning_rate: float = 1e-3
    pagerank_steps: int = 200
    test_graphs: int = 100
    large_graphs: int = 30
    seeds: tuple[int, ...] = (0, 1, 2)
    run_gvi: bool = True
    # Graph value iteration: the official recipe (CGS/configs/gvi/cgs.yaml, gvi_train.py)
    gvi_heads: int = 64
    gvi_hidden: int = 64
    gvi_mlp: tuple[int, ...] = (128,)
    gvi_decoder: tuple[int, ...] = (64, 32)
    gvi_batch: int = 64
    gvi_updates: int = 5000
    gvi_layers: int = 4  # official num_hidden_gn = 3: 3 hidden GN blocks + the output block
    gvi_packs: int = 8  # a batch of 64 graphs trains as 8 packs of 8 (a multiple of the devices)
    gvi_edge_multiple: int = 256  # a pack's edge count is rounded up to a multiple of this
    # L2 stopping tolerance of the forward iteration per pack of 8 graphs (about 1e-4 per graph;
    # float32), also used per graph at evaluation
    gvi_tol: float = 3e-4
    gvi_val_graphs: int = 50
    gvi_test_graphs: int = 200
    gvi_large_graphs: int = 50
    gvi_eval_every: int = 8
    pagerank_nodes: tuple[int, int] = (60, 100)
    with_mpnn: bool = True
    eval_large: bool = True


QUICK = dict(
    mech_graphs=6,
    mech_memory_iters=(25, 100),
    grad_gammas=(0.9,),
    num_heads=8,
    hidden=16,
    mlp_hidden=(32,),
    num_layers=1,
    batch=8,
    pagerank_steps=120,
    pagerank_nodes=(30, 40),
    test_graphs=16,
    seeds=(0,),
    run_gvi=False,
    with_mpnn=False,
    eval_large=False,
)


# ----------------------------------------------------------------------------- Claim A


def _random_graph(rng: np.random.Generator, n: int):
    """A random directed graph with out-degrees in [1, 6] and no self-loops."""
    senders, receivers = [], []
    for j in range(n):
        k = int(rng.integers(1, 7))
        targets = rng.choice(np.delete(np.arange(n), j), size=k, replace=False)
        senders += [j] * k
        receivers += list(targets)
    return np.asarray(senders, np.int32), np.asarray(receivers, np.int32)


def _mechanism_graphs(seed: int, count: int, n: int, heads: int = 4):
    """``count`` random graphs padded to one edge count, with random encoder outputs (float64).

    Returns ``(senders, receivers, edge_mask, logits, bias)`` with a leading graph axis.
    """
    rng = np.random.default_rng(seed)
    graphs = [_random_graph(rng, n) for _ in range(count)]
    e = max(len(g[0]) for g in graphs)
    senders = np.zeros((count, e), np.int32)
    receivers = np.zeros((count, e), np.int32)
    mask = np.zeros((count, e), bool)
    for i, (s, r) in enumerate(graphs):
        senders[i, : len(s)], receivers[i, : len(r)], mask[i, : len(s)] = s, r, True
    logits = rng.normal(0.5, 0.5, size=(count, e, heads))
    bias = rng.normal(size=(count, n, heads))
    return senders, receivers, mask, logits, bias


def check_banach_bound(graphs, gamma: float, scale: float, tol: float, normalise: bool = True):
    """Per graph: (iterations, a priori bound, ||H_K - H*||_1, its bound) for plain iteration."""
    senders, receivers, mask, logits, bias = graphs

    def one(s, r, m, w, b):
        t = build_transition(w, b, s, r, gamma, edge_mask=m)
        if not normalise:  # negative control: clipped weights without the degree division
            t = dataclasses.replace(t, edge_values=jnp.where(m[:, None], jnp.clip(w, 0, 1), 0))
        sol = solve_transition(t, solver="iterate", tol=tol, max_iter=2000, throw=False)
        exact = solve_transition(t, solver="direct").value
        return sol.iterations, sol.converged, jnp.abs(sol.value - exact).sum()

    its, ok, err = jax.jit(jax.vmap(one))(senders, receivers, mask, scale * logits, bias)
    rows = []
    for i in range(len(its)):
        # Banach's bound needs only gamma and ||H_1 - H_0||_1 = ||b||_1 (H_0 = 0, H_1 = b).
        step = float(np.abs(bias[i]).sum())
        bound = banach_iteration_bound(gamma, step, tol)
        e = float(err[i]) if bool(ok[i]) else math.inf
        rows.append((int(its[i]), bound, e, gamma ** int(its[i]) / (1 - gamma) * step))
    return rows


def _float64_encoder(seed: int, cfg: Config):
    # SiLU (the official graph-classification activation) keeps the loss smooth, so central
    # differences are not spoiled by a LeakyReLU kink within eps of a pre-activation. The shapes
    # are those of Claim B's encoder, so the parameter initialisers compile once.
    encoder = GNStack(
        1,
        1,
        cfg.num_heads,
        cfg.num_heads,
        num_layers=1,
        hidden=cfg.hidden,
        mlp_hidden=cfg.mlp_hidden,
        activation=nnx.silu,
        rngs=nnx.Rngs(seed),
    )
    graphdef, params = nnx.split(encoder, nnx.Param)
    return graphdef, jax.tree.map(lambda x: x.astype(jnp.float64), params)


def _encoder_loss(params, graphdef, graph: GraphBatch, readout, gamma, solve):
    bias, weight = nnx.merge(graphdef, params)(graph)
    # Logits are shifted into (0, 1) so no weight sits on a clip kink during the FD check.
    t = build_transition(
        0.5 + 0.2 * jnp.tanh(weight[0]), bias[0], graph.senders[0], graph.receivers[0], gamma
    )
    return jnp.sum(readout * jnp.tanh(solve(t)))


def gradient_errors(seed: int, n: int, gamma: float, cfg: Config) -> dict[str, float]:
    """IFT gradient vs unrolled autodiff (300 iterations) and central finite differences."""
    with jax.enable_x64(True):
        rng = np.random.default_rng(seed)
        s, r = _random_graph(rng, n)
        graph = GraphBatch(
            jnp.asarray(rng.normal(size=(1, n, 1))),
            jnp.asarray(rng.normal(size=(1, len(s), 1))),
            jnp.asarray(s)[None],
            jnp.asarray(r)[None],
            jnp.ones((1, n), bool),
            jnp.ones((1, len(s)), bool),
        )
        graphdef, params = _float64_encoder(seed, cfg)
        heads = cfg.num_heads
        readout = jnp.asarray(rng.normal(size=(n, heads)))
        ift = functools.partial(
            solve_transition, solver="iterate", tol=1e-13, max_iter=1000, adjoint="neumann"
        )
        loss_ift = functools.partial(
            _encoder_loss,
            graphdef=graphdef,
            graph=graph,
            readout=readout,
            gamma=gamma,
            solve=lambda t: ift(t).value,
        )
        loss_unrolled = functools.partial(
            _encoder_loss,
            graphdef=graphdef,
            graph=graph,
            readout=readout,
            gamma=gamma,
            solve=lambda t: unrolled_fixed_point(t, 300),
        )
        g_ift = jax.jit(jax.grad(loss_ift))(params)
        g_unr = jax.jit(jax.grad(loss_unrolled))(params)
        flat_ift = jnp.concatenate([x.ravel() for x in jax.tree.leaves(g_ift)])
        flat_unr = jnp.concatenate([x.ravel() for x in jax.tree.leaves(g_unr)])
        rel_unrolled = float(jnp.linalg.norm(flat_ift - flat_unr) / jnp.linalg.norm(flat_unr))
        # Central differences along random directions of parameter space (NumPy draws: no
        # per-shape compilation of jax.random kernels).
        loss_jit = jax.jit(loss_ift)
        eps, fd_errs = 1e-5, []
        leaves, tree = jax.tree.flatten(params)
        grad_leaves = [np.asarray(g) for g in jax.tree.leaves(g_ift)]
        for _ in range(3):
            dirs = [rng.normal(size=x.shape) for x in leaves]
            d = jax.tree.unflatten(tree, dirs)
            plus = jax.tree.map(lambda p, v: p + eps * v, params, d)
            minus = jax.tree.map(lambda p, v: p - eps * v, params, d)
            fd = (float(loss_jit(plus)) - float(loss_jit(minus))) / (2 * eps)
            analytic = float(sum(np.vdot(a, b) for a, b in zip(grad_leaves, dirs, strict=True)))
            fd_errs.append(abs(fd - analytic) / max(abs(analytic), 1e-12))
        return {"rel_err_unrolled": rel_unrolled, "rel_err_fd": max(fd_errs)}


def backward_memory(iters: Sequence[int], n: int = 50, graphs: int = 8, heads: int = 16):
    """Compiled temp memory (bytes) of the IFT and unrolled backward for each ``max_iter``."""
    s, r, mask, logits, bias = _mechanism_graphs(0, graphs, n, heads)
    logits, bias = jnp.asarray(logits, jnp.float32), jnp.asarray(bias, jnp.float32)
    readout = jnp.asarray(np.random.default_rng(1).normal(size=bias.shape), jnp.float32)

    def make_loss(solve):
        def loss(w, b):
            def one(w, b, s, r, m):
                return solve(build_transition(w, b, s, r, 0.5, edge_mask=m))

            return jnp.sum(readout * jax.vmap(one)(w, b, s, r, mask))

        return jax.grad(loss, argnums=(0, 1))

    out = {"ift": [], "unrolled": []}
    for k in iters:
        # tol far below float32 rounding so both paths run exactly max_iter iterations.
        ift = make_loss(
            lambda t, k=k: (
                solve_transition(t, solver="iterate", tol=1e-30, max_iter=k, throw=False).value
            )
        )
        unr = make_loss(lambda t, k=k: unrolled_fixed_point(t, k))
        out["ift"].append(timing.compiled_memory(ift, logits, bias)["temp"])
        out["unrolled"].append(timing.compiled_memory(unr, logits, bias)["temp"])
    return out


def claim_mechanism(exp: experiment.Experiment, cfg: Config) -> None:
    tol = 1e-6
    with exp.section("Claim A(i): Banach bound on every input"):
        graphs = _mechanism_graphs(exp.seed, cfg.mech_graphs, cfg.mech_nodes)
        worst_slack, worst_err_ratio, total = math.inf, 0.0, 0
        with jax.enable_x64(True):
            for gamma in (0.5, 0.9):
                for scale in (1.0, 100.0):
                    rows = check_banach_bound(graphs, gamma, scale, tol)
                    total += len(rows)
                    worst_slack = min(worst_slack, min(b - k for k, b, _, _ in rows))
                    worst_err_ratio = max(worst_err_ratio, max(e / eb for _, _, e, eb in rows))
            broken = check_banach_bound(graphs, 0.9, 1.0, tol, normalise=False)
        broken_violations = sum(k > b or not math.isfinite(e) for k, b, e, _ in broken)
        exp.record("banach_min_slack_iterations", worst_slack)
        exp.record("banach_max_error_over_bound", worst_err_ratio)
        exp.record("unnormalised_violations", broken_violations)
        exp.claim(
            "forward iteration within Banach bound, all inputs",
            reference="Sec. 3.1, Thm. 1",
            ours=worst_slack,
            expect=at_least(0),
            seeds=[exp.seed],
            note=f"min over {total} (graph, gamma in {{0.5, 0.9}}, logits x1/x100) cases of "
            "(bound - iterations); float64, n=30",
        )
        exp.claim(
            "iterate error within Banach a priori bound",
            reference="Sec. 3.1, Thm. 1",
            ours=worst_err_ratio,
            expect=at_most(1.0),
            seeds=[exp.seed],
            note=f"max over {total} cases of ||H_K - H*||_1 / (gamma^K / (1 - gamma) ||b||_1)",
        )
        exp.control(
            "unnormalised A (no degree division) breaks the bound",
            reference="Sec. 3.1",
            value=broken_violations,
            expect=at_least(1),
            note=f"graphs (of {cfg.mech_graphs}, gamma 0.9) exceeding the bound or not converging",
        )
    with exp.section("Claim A(ii): IFT gradient = unrolled = finite differences"):
        errs = [
            gradient_errors(exp.seed + i, cfg.mech_nodes, g, cfg)
            for i, g in enumerate(cfg.grad_gammas)
        ]
        unrolled = max(e["rel_err_unrolled"] for e in errs)
        fd = max(e["rel_err_fd"] for e in errs)
        exp.record("grad_errors", errs)
        exp.claim(
            "IFT gradient matches unrolled autodiff",
            reference="Sec. 3.2, Eq. 6-7",
            ours=unrolled,
            expect=below(1e-6),
            seeds=[exp.seed],
            note="relative L2 error, float64, 300 unrolled iterations",
        )
        exp.claim(
            "IFT gradient matches finite differences",
            reference="Sec. 3.2, Eq. 6-7",
            ours=fd,
            expect=below(1e-4),
            seeds=[exp.seed],
            note="max relative error, central differences, eps 1e-5, 3 random directions",
        )
    with exp.section("Claim A(iii): backward memory vs max_iter"):
        iters = list(cfg.mech_memory_iters)
        mem = backward_memory(iters)
        exp.record("memory_iters", iters)
        exp.record("memory_temp_bytes", mem)
        ift_growth = mem["ift"][-1] / mem["ift"][0]
        unr_growth = mem["unrolled"][-1] / mem["unrolled"][0]
        exp.claim(
            "IFT backward memory flat in max_iter",
            reference="Sec. 3.2",
            ours=ift_growth,
            expect=at_most(1.1),
            seeds=[exp.seed],
            note=f"compiled temp memory at K={iters[-1]} / at K={iters[0]}",
        )
        exp.control(
            "unrolled backward memory grows with max_iter",
            reference="Sec. 3.2",
            value=unr_growth,
            expect=at_least(2.0),
            note=f"compiled temp memory at K={iters[-1]} / at K={iters[0]}",
        )
        fig, ax = experiment.new_figure()
        ax.plot(iters, np.asarray(mem["unrolled"]) / 2**20, "o-", label="unrolled backprop")
        ax.plot(iters, np.asarray(mem["ift"]) / 2**20, "s-", label="IFT (CGS)")
        ax.set_xlabel("forward iterations K")
        ax.set_ylabel("compiled temp memory (MiB)")
        ax.set_title("backward memory, 8 graphs x 50 nodes x 16 heads")
        ax.legend()
        exp.save_figure(fig, "backward_memory")


# ----------------------------------------------------------------------------- Claim B


def _lr_schedule(base: float, period: int = 32):
    """Cosine annealing with warm restarts every ``period`` updates (official T_0 = 32)."""

    def schedule(step):
        phase = (step % period) / period
        return 0.5 * base * (1 + jnp.cos(jnp.pi * phase))

    return schedule


def _masked_mse(pred, target, mask):
    m = mask[..., None].astype(pred.dtype)
    return jnp.sum((pred - target) ** 2 * m) / jnp.sum(m)


def _local(tree):
    """Single-device copies of (replicated, possibly multi-process) arrays, for evaluation
    outside the training mesh: every process then evaluates the same numbers on its own."""
    return jax.tree.map(lambda x: x.addressable_data(0) if isinstance(x, jax.Array) else x, tree)


@functools.cache
def _dp_step(graphdef, learning_rate: float, period: int | None, mesh):
    """``(optimizer, step)``: the data-parallel masked-MSE step of one model structure (cached,
    so seeds sharing an architecture compile once). ``period=None``: constant learning rate."""
    schedule = learning_rate if period is None else _lr_schedule(learning_rate, period)
    tx = optax.adam(schedule)
    # One device: the model runs on the flattened union of the whole batch. Several: on each
    # graph (or pack) under vmap, so the partitioner keeps every one on its own device and the
    # only collective is the gradient's all-reduce (the union's global gathers and scatters
    # would need collectives inside the model, which deadlock XLA:CPU's simulated devices).
    per_graph = mesh.devices.size > 1

    def predict_batch(params, graph):
        if not per_graph:
            return nnx.merge(graphdef, params)(graph)

        def one(g):
            return nnx.merge(graphdef, params)(jax.tree.map(lambda x: x[None], g))[0]

        return jax.vmap(one)(graph)

    def loss_fn(params, batch):
        graph, target = batch
        return _masked_mse(predict_batch(params, graph), target, graph.node_mask)

    return tx, devices.data_parallel_step(loss_fn, tx, mesh)


def fit(
    graphdef,
    params,
    batch_at,
    updates: int,
    *,
    learning_rate: float,
    period: int | None,
    mesh=None,
    checkpointer=None,
    evaluate=None,
    eval_every: int = 8,
    curve_slots: int | None = None,
    desc: str = "train",
):
    """Adam (cosine warm restarts every ``period`` updates) on a masked node MSE, every update
    one :func:`jaxpapers_shared.devices.data_parallel_step` over ``mesh`` (all devices of all
    processes by default): parameters are replicated, each batch's leading (graph or pack) axis
    is split over the devices, and the result equals the single-device loop to float rounding.

    ``batch_at(i)`` returns the host batch ``(GraphBatch, standardised targets)`` of update
    ``i``, the same object while the data does not change (it is sharded once per object).
    ``evaluate(params)`` (a float) runs every ``eval_every`` updates and at the end into a
    curve of ``curve_slots`` entries. With a ``checkpointer`` (``jaxpapers_shared.checkpoint``)
    the parameters, optimizer state, step and curve are saved every ``checkpointer.every``
    updates and at the end, and a checkpointer made with ``resume=True`` continues from its
    newest state with the same data stream and schedule (same final numbers).

    Returns ``(params, losses, curve)``: single-device parameters, the losses of the updates run
    by this call, and the curve (NaN where not evaluated).
    """
    mesh = devices.make_mesh() if mesh is None else mesh
    tx, step = _dp_step(graphdef, learning_rate, period, mesh)
    params, opt_state = devices.replicate((params, tx.init(params)), mesh)
    slots = curve_slots or updates // eval_every + 1
    curve = np.full(slots, np.nan, np.float32)
    start = 0

    def snapshot(done):
        small = devices.replicate({"step": np.asarray(done, np.int32), "curve": curve}, mesh)
        return {"params": params, "opt_state": opt_state, **small}

    if checkpointer is not None:
        state = checkpointer.restore(snapshot(0))
        params, opt_state = state["params"], state["opt_state"]
        start, curve = int(np.asarray(state["step"])), np.array(state["curve"])
    losses, current, sharded = [], None, None
    for i in experiment.progress(range(start, updates), desc=desc):
        if evaluate is not None and i % eval_every == 0 and np.isnan(curve[i // eval_every]):
            curve[i // eval_every] = evaluate(_local(params))
        host = batch_at(i)
        if host is not current:
            current, sharded = host, devices.shard_batch(host, mesh)
        params, opt_state, loss = step(params, opt_state, sharded)
        losses.append(loss)
        if checkpointer is not None and (i + 1) % checkpointer.every == 0:
            checkpointer.save(i + 1, snapshot(i + 1))
    if (
        evaluate is not None
        and updates % eval_every == 0
        and np.isnan(curve[updates // eval_every])
    ):
        curve[updates // eval_every] = evaluate(_local(params))
    if checkpointer is not None and checkpointer.latest_step != updates:
        checkpointer.save(updates, snapshot(updates), force=True)
    losses = np.asarray([float(x) for x in losses], np.float32)
    return _local(params), losses, curve


def train(
    model: nnx.Module,
    batches: Sequence[NodeTask],
    steps: int,
    cfg: Config,
    mean: float,
    std: float,
    refresh: int,
):
    """Adam + cosine warm restarts on standardised targets; a new batch every ``refresh`` steps
    (data parallel over all devices: the batch's graph axis is split)."""
    graphdef, params = nnx.split(model, nnx.Param)
    host = [(b.graph, (np.asarray(b.targets) - mean) / std) for b in batches]
    params, losses, _ = fit(
        graphdef,
        params,
        lambda i: host[(i // refresh) % len(host)],
        steps,
        learning_rate=cfg.learning_rate,
        period=cfg.refresh,
    )
    return graphdef, params, losses


@functools.cache
def _forward(graphdef):
    """One jitted forward per model structure (so repeated evaluations do not recompile)."""
    return jax.jit(lambda p, g: nnx.merge(graphdef, p)(g))


def predict(graphdef, params, task: NodeTask, mean: float, std: float, chunk: int = 50):
    fn = _forward(graphdef)
    outs = []
    for i in range(0, task.graph.num_graphs, chunk):
        g = jax.tree.map(lambda x, i=i: x[i : i + chunk], task.graph)
        outs.append(fn(params, g))
    return jnp.concatenate(outs) * std + mean


def _trivial(task: NodeTask, global_mean: float):
    mask = task.graph.node_mask
    y = task.targets[..., 0]
    per_graph = jnp.sum(y * mask, axis=1) / jnp.sum(mask, axis=1)
    return {
        "global mean": jnp.full_like(y, global_mean),
        "per-graph mean": jnp.broadcast_to(per_graph[:, None], y.shape),
    }


def _scores(task: NodeTask, pred, kind: str) -> dict[str, float]:
    mask = task.graph.node_mask
    y = task.targets
    out = {"r2": float(within_graph_r2(pred, y, mask)), "rel_l2": float(relative_l2(pred, y, mask))}
    if kind == "gvi":
        out["mape"] = float(mape(pred, y, mask))
        out["policy_acc"] = float(policy_accuracy(pred, y, task.graph))
    return out


def _matched_mpnn(
    target_params: int, cfg: Config, node_in: int, edge_in: int, seed: int, mlp_hidden=None
):
    """The MPNN whose width (8, 12, ..., 128) brings its parameter count closest to
    ``target_params``; widths are compared on abstract shapes, the chosen one is built once."""

    def make(hidden: int) -> MPNN:
        return MPNN(
            node_in,
            edge_in,
            1,
            num_layers=cfg.mpnn_layers,
            hidden=hidden,
            mlp_hidden=cfg.mlp_hidden if mlp_hidden is None else mlp_hidden,
            rngs=nnx.Rngs(seed),
        )

    best = None
    for hidden in range(8, 129, 4):
        size = count_parameters(nnx.eval_shape(lambda h=hidden: make(h)))
        if best is None or abs(size - target_params) < best[0]:
            best = (abs(size - target_params), hidden)
        if size > target_params:
            break
    return make(best[1])


def run_task(exp, cfg: Config, kind: str, steps: int):
    """Trains CGS, its ablation and the MPNN on one task over the seeds; returns mean scores."""
    if kind == "gvi":
        gen = graph_value_iteration
        gamma = 0.5
        large_range = dict(num_states=(50, 100))
        node_in = 1
    else:
        gen = functools.partial(pagerank_problem, num_nodes=cfg.pagerank_nodes)
        gamma = 0.9  # CGS's gamma set to the problem's damping alpha (see README)
        large_range = dict(num_nodes=(120, 160))
        node_in = 1
    results: dict[str, dict[str, list[float]]] = {}

    def add(model_name, split, scores):
        for key, val in scores.items():
            results.setdefault(f"{model_name}/{split}", {}).setdefault(key, []).append(val)

    for seed in cfg.seeds:
        base = 1000 * (seed + 1) + (0 if kind == "gvi" else 500)
        num_batches = max(1, math.ceil(steps / cfg.refresh))
        batches = [gen(base + i, cfg.batch) for i in range(num_batches)]
        splits = {"test": gen(base + 900, cfg.test_graphs)}
        if cfg.eval_large:
            splits["large"] = gen(base + 901, cfg.large_graphs, **large_range)
        ys = np.concatenate([np.asarray(b.targets)[np.asarray(b.graph.node_mask)] for b in batches])
        mean, std = float(ys.mean()), float(ys.std())
        common = dict(
            num_heads=cfg.num_heads,
            hidden=cfg.hidden,
            mlp_hidden=cfg.mlp_hidden,
            num_layers=cfg.num_layers,
            gamma=gamma,
            # The official forward (plain iteration, IFT backward): a dense LU solve inside a
            # program split over several XLA:CPU devices stalls their all-reduce.
            solver="iterate",
            tol=1e-4,
            max_iter=400,
        )
        models = {
            "CGS": build_cgs(node_in, 1, 1, rngs=nnx.Rngs(seed), **common),
            "ablation (gamma=0)": build_cgs(
                node_in, 1, 1, ablate=True, rngs=nnx.Rngs(seed), **common
            ),
        }
        if cfg.with_mpnn:
            models["MPNN"] = _matched_mpnn(count_parameters(models["CGS"]), cfg, node_in, 1, seed)
        for name, model in models.items():
            exp.log(f"   {kind} seed {seed}: {name} ({count_parameters(model)} params)")
            graphdef, params, losses = train(model, batches, steps, cfg, mean, std, cfg.refresh)
            exp.record(f"{kind}/seed{seed}/{name}/loss_curve", losses[:: max(1, steps // 50)])
            for split, data in splits.items():
                add(name, split, _scores(data, predict(graphdef, params, data, mean, std), kind))
        for split, data in splits.items():
            for name, pred in _trivial(data, mean).items():
                add(name, split, _scores(data, pred, kind))
    means = {k: {m: float(np.mean(v)) for m, v in d.items()} for k, d in results.items()}
    exp.record(f"{kind}/scores", means)
    exp.record(f"{kind}/scores_per_seed", results)
    for key, scores in means.items():
        exp.log(f"   {kind} {key}: " + ", ".join(f"{m}={v:.4g}" for m, v in scores.items()))
    return means, results


# ----------------------------------------------------------------------------- GVI (Sec. 6.2)

GVI_MODELS = ("CGS", "ablation (gamma=0)", "MPNN")


def _gvi_model(cfg: Config, seed: int, name: str) -> nnx.Module:
    """GVI model ``name`` (one of ``GVI_MODELS``) for ``seed``; the MPNN matches CGS's size."""
    common = dict(
        num_heads=cfg.gvi_heads,
        hidden=cfg.gvi_hidden,
        mlp_hidden=cfg.gvi_mlp,
        decoder_hidden=cfg.gvi_decoder,
        num_layers=cfg.gvi_layers,
        gamma=0.5,
        solver="iterate",  # the official forward (fixed-point iteration, IFT backward)
        tol=cfg.gvi_tol,
        max_iter=50,
    )

    if name not in GVI_MODELS:
        raise ValueError(f"`name` must be one of {GVI_MODELS}, got {name!r}")

    def make(ablate: bool) -> nnx.Module:
        return build_cgs(1, 1, 1, ablate=ablate, rngs=nnx.Rngs(seed), **common)

    if name == "MPNN":
        size = count_parameters(nnx.eval_shape(lambda: make(False)))
        return _matched_mpnn(size, cfg, 1, 1, seed, mlp_hidden=cfg.gvi_mlp)
    return make(ablate=name != "CGS")


def _gvi_models(cfg: Config, seed: int) -> dict[str, nnx.Module]:
    return {name: _gvi_model(cfg, seed, name) for name in GVI_MODELS}


def _gvi_batch_seed(seed: int, index: int) -> int:
    return 10_000 * (seed + 1) + index  # training batch ``index`` of ``seed``


def gvi_training_batch(seed: int, index: int, cfg: Config):
    """Training batch ``index`` of ``seed`` (``gvi_batch`` fresh graphs), raw (unpacked)."""
    return graph_value_iteration(_gvi_batch_seed(seed, index), cfg.gvi_batch)


def gvi_target_scale(seed: int, cfg: Config) -> tuple[float, float]:
    """Mean and std of the values of the first training batch (targets are standardised)."""
    first = gvi_training_batch(seed, 0, cfg)
    ys = np.asarray(first.targets)[np.asarray(first.graph.node_mask)]
    return float(ys.mean()), float(ys.std())


def gvi_batches(seed: int, cfg: Config, mean: float, std: float):
    """``batch_at(i)`` for :func:`fit`: a fresh batch every ``refresh`` updates, repacked into
    ``gvi_packs`` balanced disjoint unions (:func:`cgs.pack_graphs`) with standardised targets.
    The packs' node count is fixed and their edge count rounded up to ``gvi_edge_multiple``, so
    a run compiles a handful of shapes; the loss is the one of the padded batch (same nodes, same targets)."""
    per_pack = -(-cfg.gvi_batch // cfg.gvi_packs)

    @functools.lru_cache(maxsize=1)
    def load(index: int):
        task = gvi_training_batch(seed, index, cfg)
        graph, (target,) = pack_graphs(
            task.graph,
            cfg.gvi_packs,
            task.targets,
            max_nodes=per_pack * task.graph.max_nodes,
            edge_multiple=cfg.gvi_edge_multiple,
        )
        return graph, (target - mean) / std

    return lambda i: load(i // cfg.refresh)


def train_gvi(
    name: str, model: nnx.Module, cfg: Config, seed: int, updates: int, val, checkpointer=None
):
    """The official GVI loop: Adam(1e-3), cosine warm restarts (T_0 = 32), a fresh batch of
    ``gvi_batch`` graphs every ``refresh`` updates, MSE on standardised values, data parallel
    (:func:`fit`). Returns ``(graphdef, params, mean, std, curve)``; ``curve`` holds (update,
    validation MAPE) rows. Resumable through ``checkpointer`` (``--resume``)."""
    mean, std = gvi_target_scale(seed, cfg)
    graphdef, params = nnx.split(model, nnx.Param)
    every = cfg.gvi_eval_every

    def val_mape(p):
        return float(mape(predict(graphdef, p, val, mean, std), val.targets, val.graph.node_mask))

    # A fixed-size curve, so that a run resumed with a larger --updates (up to the paper's
    # 5000) restores the same checkpoint structure.
    params, _, values = fit(
        graphdef,
        params,
        gvi_batches(seed, cfg, mean, std),
        updates,
        learning_rate=cfg.learning_rate,
        period=cfg.refresh,
        checkpointer=checkpointer,
        evaluate=val_mape,
        eval_every=every,
        curve_slots=max(updates, 5000) // every + 1,
        desc=f"{name} seed {seed}",
    )
    curve = [(k * every, float(values[k])) for k in range(updates // every + 1)]
    if updates % every:
        curve.append((updates, val_mape(params)))
    return graphdef, params, mean, std, curve


def overfit_one_batch(cfg: Config, updates: int = 300, graphs: int = 8) -> dict:
    """Trains the official-size CGS on one fixed batch (constant lr): if it cannot drive the
    training error far below the true per-graph mean, the model or data pipeline is at fault."""
    task = graph_value_iteration(_gvi_batch_seed(99, 0), graphs)
    mask = np.asarray(task.graph.node_mask)
    ys = np.asarray(task.targets)[mask]
    mean, std = float(ys.mean()), float(ys.std())
    model = _gvi_model(cfg, 0, "CGS")
    graphdef, params = nnx.split(model, nnx.Param)
    batch = (task.graph, (np.asarray(task.targets) - mean) / std)
    every = 50

    def train_mape(p):
        return float(mape(predict(graphdef, p, task, mean, std), task.targets, mask))

    params, losses, curve = fit(
        graphdef,
        params,
        lambda i: batch,
        updates,
        learning_rate=cfg.learning_rate,
        period=None,
        evaluate=train_mape,
        eval_every=every,
        desc="one batch",
    )
    marks = list(range(0, updates + 1, every))
    mapes = [float(curve[k // every]) for k in marks]
    if updates % every:
        marks.append(updates)
        mapes.append(train_mape(params))
    per_graph = _trivial(task, mean)["per-graph mean"][..., None]
    return {
        "updates": updates,
        "graphs": graphs,
        "marks": marks,
        "mape": mapes,
        "final_loss_standardised": float(losses[-1]),
        "per_graph_mean_mape": float(mape(per_graph, task.targets, task.graph.node_mask)),
    }


def _short_name(name: str) -> str:
    """A GVI model's short name, as in ``--gvi-run`` and the checkpoint folders."""
    return name.split()[0].lower()


GVI_SHORT_NAMES = {_short_name(name): name for name in GVI_MODELS}


def gvi_run(exp, cfg: Config, seed: int, name: str, updates: int):
    """Trains (or, with ``--resume`` after it finished, restores) one GVI run: model ``name``
    (one of ``GVI_MODELS``) with seed ``seed``, checkpointed under
    ``<out>/checkpoints/gvi-seed<seed>-<short name>``. Runs are independent, so several can
    train at once in separate processes (``--gvi-run``) and a later ``--resume`` finds them
    done. Returns :func:`train_gvi`'s ``(graphdef, params, mean, std, curve)``."""
    model = _gvi_model(cfg, seed, name)
    exp.log(f"   gvi seed {seed}: {name} ({count_parameters(model)} params)")
    val = graph_value_iteration(1000 * (seed + 1) + 800, cfg.gvi_val_graphs)
    with exp.checkpointer(f"gvi-seed{seed}-{_short_name(name)}", every=cfg.gvi_eval_every) as ckpt:
        done = min(ckpt.latest_step or 0, updates) if ckpt.resume else 0
        if done == updates:
            exp.log(f"   restored from its checkpoint (trained to update {updates} earlier)")
        elif done:
            exp.log(f"   resumes from its checkpoint at update {done}")
        result = train_gvi(name, model, cfg, seed, updates, val, checkpointer=ckpt)
    # results.json says how much of each run this process trained (0: restored, trained by an
    # earlier run, e.g. with --gvi-run), so its timings are read for what they cover.
    trained = dict(exp.metrics.get("gvi/updates_trained_here", {}))
    trained[f"seed{seed}/{name}"] = updates - done
    exp.record("gvi/updates_trained_here", trained)
    return result


def _parse_gvi_run(text: str, cfg: Config) -> tuple[int, str]:
    seed, _, short = text.partition(":")
    if not seed.isdigit() or int(seed) not in cfg.seeds or short not in GVI_SHORT_NAMES:
        raise SystemExit(
            f"cgs.reproduce: --gvi-run expects SEED:MODEL with SEED in {list(cfg.seeds)} and "
            f"MODEL one of {sorted(GVI_SHORT_NAMES)}, got {text!r}"
        )
    return int(seed), GVI_SHORT_NAMES[short]


def run_gvi(exp, cfg: Config, updates: int):
    """Trains CGS, its ablation and the MPNN on GVI per seed; per-seed scores and curves."""
    per_seed: dict[str, dict[str, list[float]]] = {}
    curves: dict[str, list] = {}

    def add(model_name, split, scores):
        for key, val in scores.items():
            per_seed.setdefault(f"{model_name}/{split}", {}).setdefault(key, []).append(val)

    for seed in cfg.seeds:
        base = 1000 * (seed + 1)
        splits = {
            "test": graph_value_iteration(base + 900, cfg.gvi_test_graphs),
            "large": graph_value_iteration(base + 901, cfg.gvi_large_graphs, num_states=(50, 100)),
        }
        for name in GVI_MODELS:
            graphdef, params, mean, std, curve = gvi_run(exp, cfg, seed, name, updates)
            curves[f"seed{seed}/{name}"] = curve
            for split, data in splits.items():
                pred = predict(graphdef, params, data, mean, std)
                add(name, split, _scores(data, pred, "gvi"))
        for split, data in splits.items():
            for name, pred in _trivial(data, mean).items():
                add(name, split, _scores(data, pred, "gvi"))
    means = {k: {m: float(np.mean(v)) for m, v in d.items()} for k, d in per_seed.items()}
    exp.record("gvi/scores", means)
    exp.record("gvi/scores_per_seed", per_seed)
    exp.record("gvi/validation_mape_curves", curves)
    for key, scores in means.items():
        exp.log(f"   gvi {key}: " + ", ".join(f"{m}={v:.4g}" for m, v in scores.items()))
    _curve_figure(exp, cfg, curves, means, updates)
    return means, per_seed


def _curve_figure(exp, cfg: Config, curves, means, updates: int) -> None:
    fig, ax = experiment.new_figure(size=(5.0, 3.4))
    # Moving average over whole learning-rate cycles (32 updates; about 40 windows a run).
    span = cfg.refresh * max(1, updates // (40 * cfg.refresh))
    window = max(1, span // cfg.gvi_eval_every)
    smoothed = False
    for name, style in zip(GVI_MODELS, ("-", "--", ":"), strict=True):
        rows = [np.asarray(curves[f"seed{s}/{name}"]) for s in cfg.seeds]
        steps, values = rows[0][:, 0], np.stack([r[:, 1] for r in rows])
        if len(steps) > 4 * window:
            kernel = np.ones(window) / window
            steps = np.convolve(steps, kernel, "valid")
            values = np.stack([np.convolve(v, kernel, "valid") for v in values])
            smoothed = True
        (line,) = ax.plot(steps, values.mean(axis=0), style, label=name)
        if len(rows) > 1:  # the spread over seeds
            ax.fill_between(
                steps, values.min(0), values.max(0), color=line.get_color(), alpha=0.15, lw=0
            )
    ax.axhline(
        means["per-graph mean/test"]["mape"],
        color="gray",
        lw=0.8,
        label="true per-graph mean (test)",
    )
    average = f"; moving average over {span}" if smoothed else ""
    ax.set_xlabel(f"updates (batch of {cfg.gvi_batch} graphs{average})")
    ax.set_ylabel("validation MAPE (%)")
    ax.set_title(f"GVI, {updates} updates: mean of {len(cfg.seeds)} seeds (band: min-max)")
    ax.legend(fontsize=7)
    exp.save_figure(fig, "gvi_training_curves")


def claim_task(exp: experiment.Experiment, cfg: Config) -> None:
    with exp.section("Claim B: PageRank-style linear stationary problem"):
        s, per_seed = run_task(exp, cfg, "pagerank", cfg.pagerank_steps)
        if exp.quick:
            exp.claim(
                "PageRank: CGS beats its ablation (tiny run)",
                reference="Sec. 6.1 (linear system)",
                ours=per_seed["CGS/test"]["rel_l2"],
                baseline=per_seed["ablation (gamma=0)/test"]["rel_l2"],
                baseline_name="ablation gamma=0",
                expect=below(BASELINE),
                note=f"test rel-L2; {cfg.pagerank_steps} steps, no MPNN; global mean "
                f"{s['global mean/test']['rel_l2']:.3g}",
            )
        else:
            for split in ("test", "large"):
                abl = np.asarray(per_seed[f"ablation (gamma=0)/{split}"]["rel_l2"])
                mpnn = np.asarray(per_seed[f"MPNN/{split}"]["rel_l2"])
                exp.claim(
                    f"PageRank: CGS beats ablation and MPNN ({split})",
                    reference="Sec. 6.1",
                    ours=per_seed[f"CGS/{split}"]["rel_l2"],
                    baseline=np.minimum(abl, mpnn),
                    baseline_name="per seed, better of ablation/MPNN",
                    expect=below(BASELINE),
                    note=f"rel-L2; ablation {abl.mean():.3g}, MPNN {mpnn.mean():.3g}, global "
                    f"mean {s[f'global mean/{split}']['rel_l2']:.3g}",
                )
    if not cfg.run_gvi:
        return
    with exp.section("GVI: can the model fit one training batch?"):
        fit = overfit_one_batch(cfg)
        exp.record("gvi/overfit_one_batch", fit)
        exp.control(
            "GVI: CGS fits one batch of 8 training graphs (train MAPE %)",
            reference="learning-problem check",
            value=fit["mape"][-1],
            expect=below(fit["per_graph_mean_mape"]),
            note=f"{fit['updates']} updates, constant lr 1e-3, official model size; the true "
            f"per-graph mean scores {fit['per_graph_mean_mape']:.3g} % on that batch",
        )
    budget = f"{cfg.gvi_updates} updates x batch {cfg.gvi_batch} (paper: 5000 x 64)"
    with exp.section("Claim B: graph value iteration"):
        s, per_seed = run_gvi(exp, cfg, cfg.gvi_updates)
        for split in ("test", "large"):
            ours = per_seed[f"CGS/{split}"]
            abl = per_seed[f"ablation (gamma=0)/{split}"]
            mpnn = s[f"MPNN/{split}"]
            exp.claim(
                f"GVI: CGS MAPE below per-graph mean ({split})",
                reference="Sec. 6.2, Table 2",
                ours=ours["mape"],
                baseline=per_seed[f"per-graph mean/{split}"]["mape"],
                baseline_name="true per-graph mean",
                expect=below(BASELINE),
                note=f"MAPE %; ablation {s[f'ablation (gamma=0)/{split}']['mape']:.3g}, MPNN "
                f"{mpnn['mape']:.3g}, global mean {s[f'global mean/{split}']['mape']:.3g}; "
                + budget,
            )
            exp.claim(
                f"GVI: CGS policy accuracy >= ablation + 0.03 ({split})",
                reference="Sec. 6.2, Table 2",
                ours=ours["policy_acc"],
                baseline=abl["policy_acc"],
                baseline_name="ablation gamma=0",
                expect=at_least(BASELINE + 0.03),
                note=f"MPNN {mpnn['policy_acc']:.3g}; within-graph R2 CGS "
                f"{s[f'CGS/{split}']['r2']:.3g}, ablation "
                f"{s[f'ablation (gamma=0)/{split}']['r2']:.3g}; " + budget,
            )


def main(argv: Sequence[str] | None = None) -> int:
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--updates", type=int, default=None)
    pre.add_argument("--gvi-run", default=None)
    known, rest = pre.parse_known_args(argv)
    args = experiment.parse_args(__doc__, rest, default_out="results/cgs")
    cfg = Config(**QUICK) if args.quick else Config()
    if known.updates is not None:
        checks.integer(known.updates, "--updates", minimum=1)
        cfg = dataclasses.replace(cfg, gvi_updates=known.updates)
    if known.gvi_run is not None:
        if args.quick:
            raise SystemExit("cgs.reproduce: --gvi-run trains a full-mode run; drop --quick")
        seed, name = _parse_gvi_run(known.gvi_run, cfg)
    differences = (
        "Claim A at smaller sizes (6 graphs, gamma 0.9 gradients only, K in {25, 100}); a tiny "
        "PageRank run (1 seed, 8 heads, 1-layer encoder, 120 updates, n in [30, 40), CGS vs its "
        "ablation only); no graph value iteration."
    )
    exp = experiment.Experiment(
        "cgs", paper=PAPER, args=args, seeds=list(cfg.seeds), quick_differences=differences
    )
    if known.gvi_run is not None:
        *_, curve = gvi_run(exp, cfg, seed, name, cfg.gvi_updates)
        exp.log(
            f"   {name}, seed {seed}: validation MAPE {curve[-1][1]:.4g} % after "
            f"{cfg.gvi_updates} updates (checkpoint under {exp.out / 'checkpoints'})"
        )
        return 0
    exp.record("gvi/updates", cfg.gvi_updates)
    claim_mechanism(exp, cfg)
    claim_task(exp, cfg)
    return exp.finish()


if __name__ == "__main__":
    raise SystemExit(main())
