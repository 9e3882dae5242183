"""Training through the shared data-parallel step: packing, device-count invariance, resume."""

import argparse
import dataclasses
import os
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import cgs
from cgs import reproduce
from jaxpapers_shared import experiment

# A tiny GVI setup (official recipe, small model): 4 graphs a batch in 2 packs of one shape (2 x
# 441 edges at most), new data every 2 updates.
TINY = dict(
    gvi_heads=4,
    gvi_hidden=8,
    gvi_mlp=(8,),
    gvi_decoder=(8,),
    gvi_layers=1,
    gvi_batch=4,
    gvi_packs=2,
    refresh=2,
    gvi_edge_multiple=1024,
)


def _tiny_model():
    return cgs.build_cgs(
        1, 1, 1, num_heads=4, hidden=8, mlp_hidden=(8,), decoder_hidden=(8,), num_layers=1,
        solver="iterate", tol=3e-4, rngs=nnx.Rngs(0),
    )  # fmt: skip


def test_packed_batch_has_the_padded_batch_fixed_points_and_targets():
    task = cgs.graph_value_iteration(0, 6)
    packed, (targets,) = cgs.pack_graphs(task.graph, 2, task.targets, edge_multiple=64)
    assert packed.nodes.shape[0] == 2 and packed.edges.shape[1] % 64 == 0
    assert packed.edge_mask.sum() == task.graph.edge_mask.sum()
    assert packed.edges.shape[1] < 3 * task.graph.edges.shape[1]  # less padding
    # A pack is a disjoint union: degrees, the contracting map and its fixed point per node are
    # those of the padded graphs (edge weights from the rewards, biases from the targets).
    layer = cgs.CGSLayer(2, 0.5, solver="iterate", tol=1e-6)

    @jax.jit
    def solve(graph, y):
        w = jnp.concatenate([jax.nn.sigmoid(graph.edges), jnp.ones_like(graph.edges)], -1)
        return layer(w, jnp.concatenate([y, y**2], -1), graph)

    def fixed_points(graph, y):
        h = solve(jax.tree.map(jnp.asarray, graph), jnp.asarray(y))
        return np.asarray(h)[np.asarray(graph.node_mask)]

    padded_h = fixed_points(task.graph, task.targets)
    packed_h = fixed_points(packed, targets)
    # Graphs keep their order inside a pack, so the nodes match once sorted.
    order = np.lexsort(padded_h.T)
    np.testing.assert_allclose(packed_h[np.lexsort(packed_h.T)], padded_h[order], rtol=1e-5)
    y_padded = np.asarray(task.targets)[np.asarray(task.graph.node_mask)]
    np.testing.assert_array_equal(np.sort(targets[packed.node_mask], 0), np.sort(y_padded, 0))


def test_pack_graphs_rejects_bad_arguments():
    task = cgs.graph_value_iteration(0, 4)
    with pytest.raises(ValueError, match="num_packs"):
        cgs.pack_graphs(task.graph, 5)
    with pytest.raises(ValueError, match="node_values"):
        cgs.pack_graphs(task.graph, 2, np.zeros((4, 3)))
    with pytest.raises(ValueError, match="max_nodes"):
        cgs.pack_graphs(task.graph, 2, max_nodes=10)


def test_resumed_gvi_run_ends_with_the_uninterrupted_numbers(tmp_path, monkeypatch):
    # One GVI run as `--gvi-run 0:cgs` trains it: uninterrupted for 6 updates, or stopped
    # (checkpointed) after 4 and resumed; the resumed run trains only the 2 missing updates,
    # and a run resumed once finished trains none (results.json says so).
    cfg = dataclasses.replace(
        reproduce.Config(), **TINY, gvi_val_graphs=4, gvi_eval_every=2, gvi_updates=6
    )
    ran = []

    def counting_fit(*args, **kwargs):
        out = fit(*args, **kwargs)
        ran.append(len(out[1]))
        return out

    fit = reproduce.fit
    monkeypatch.setattr(reproduce, "fit", counting_fit)

    trained_here = []

    def run(updates, out, resume=False):
        args = argparse.Namespace(quick=False, out=out, seed=0, resume=resume)
        exp = experiment.Experiment("cgs", paper=reproduce.PAPER, args=args, quiet=True)
        result = reproduce.gvi_run(exp, cfg, 0, "CGS", updates)
        trained_here.append(exp.metrics["gvi/updates_trained_here"]["seed0/CGS"])
        return result

    *_, full_params, _, _, full_curve = run(6, tmp_path / "full")
    run(4, tmp_path / "stopped")
    *_, params_, _, _, curve = run(6, tmp_path / "stopped", resume=True)
    run(6, tmp_path / "stopped", resume=True)  # finished: restored whole, nothing trains
    assert ran == [6, 4, 2, 0]
    assert trained_here == [6, 4, 2, 0]
    assert (tmp_path / "stopped" / "checkpoints" / "gvi-seed0-cgs" / "6").is_dir()
    assert [u for u, _ in curve] == [0, 2, 4, 6]
    np.testing.assert_allclose(np.asarray(curve), np.asarray(full_curve), rtol=1e-6)
    for a, b in zip(jax.tree.leaves(params_), jax.tree.leaves(full_params), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("run", ["3:cgs", "0:gcn", "cgs", "1:MPNN"])
def test_gvi_run_rejects_an_unknown_run(run, tmp_path):
    with pytest.raises(SystemExit, match="--gvi-run expects SEED:MODEL"):
        reproduce.main(["--gvi-run", run, "--out", str(tmp_path)])


TWO_DEVICE_SCRIPT = textwrap.dedent(
    """
    import dataclasses, jax, numpy as np, optax
    jax.config.update("jax_enable_x64", True)
    from flax import nnx
    from jaxpapers_shared import devices
    from cgs import reproduce
    from test_train import TINY, _tiny_model

    assert len(jax.devices()) == 2, jax.devices()
    cfg = dataclasses.replace(reproduce.Config(), **TINY)
    mean, std = reproduce.gvi_target_scale(0, cfg)
    batch_at = reproduce.gvi_batches(0, cfg, mean, std)
    graphdef, params = nnx.split(_tiny_model(), nnx.Param)
    # float64, so that Adam's first steps (which scale a near-cancelling gradient component up
    # to a full step of the learning rate) do not turn rounding noise into visible differences.
    params = jax.tree.map(lambda x: x.astype(np.float64), params)
    # The single-device loop (a plain jitted step, no mesh) on the same batches.
    tx = optax.adam(reproduce._lr_schedule(1e-3, cfg.refresh))

    @jax.jit
    def step(p, o, graph, target):
        def loss_fn(p):
            pred = nnx.merge(graphdef, p)(graph)
            return reproduce._masked_mse(pred, target, graph.node_mask)

        loss, grads = jax.value_and_grad(loss_fn)(p)
        u, o = tx.update(grads, o, p)
        return optax.apply_updates(p, u), o, loss

    p, o = params, tx.init(params)
    for i in range(4):
        p, o, _ = step(p, o, *batch_at(i))
    mesh = devices.make_mesh(2)
    q, _, _ = reproduce.fit(
        graphdef, params, batch_at, 4, learning_rate=1e-3, period=cfg.refresh, mesh=mesh
    )
    worst = 0.0
    for a, b in zip(jax.tree.leaves(q), jax.tree.leaves(p), strict=True):
        assert a.dtype == np.float64
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)
        worst = max(worst, float(np.abs(np.asarray(a) - np.asarray(b)).max()))
    print(f"data parallel == single-device loop (max |diff| {worst:.2g})")
    """
)


def test_data_parallel_training_equals_the_single_device_loop():
    # Two simulated CPU devices need their own process (the flag precedes JAX's start).
    env = dict(os.environ, JAX_PLATFORMS="cpu", JAXPAPERS_PROGRESS="0")
    env["XLA_FLAGS"] = f"{env.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count=2"
    env["PYTHONPATH"] = os.pathsep.join([os.path.dirname(__file__), env.get("PYTHONPATH", "")])
    proc = subprocess.run(
        [sys.executable, "-c", TWO_DEVICE_SCRIPT],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "data parallel == single-device loop" in proc.stdout
