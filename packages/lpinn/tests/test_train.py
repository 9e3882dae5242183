"""Data-parallel training equals the plain single-device loop, on one device and on 8
simulated ones; an interrupted run resumes to the uninterrupted result; training converges.

The training runs happen in ``run_checks``, in a process with 8 simulated CPU devices that
``conftest.py`` starts in the background; the tests compare what it saved.
"""

import functools
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

import lpinn

STEPS, CHUNK, LR = 20, 10, 1e-2
PROBLEMS = ("LPINN", "LPINN official", "PINN")


@functools.cache
def problem(name):
    """``(model, loss, points)``: the LPINN with mean-squared residuals (the reproduction's loss)
    or the official form (square roots of sums, not means), or the PINN.

    Random labels: on a uniform grid the odd networks of the initialisation (zero biases) give
    gradients that vanish by symmetry, whose rounding noise Adam would scale up to full steps.
    """
    x = jnp.sort(jax.random.uniform(jax.random.key(0), (16,), maxval=lpinn.PERIOD))
    t = jnp.linspace(0.0, 1.0, 4)
    u0, pde = jnp.sin(x), lpinn.Convection(8.0)
    points = lpinn.collocation_points(x, t)
    if name == "PINN":
        loss = lambda m, p=None: lpinn.eulerian_loss(m, pde, x, t, u0, points=p)
        return lpinn.EulerianPINN(8, 2, rngs=nnx.Rngs(0)), loss, points
    form = {"LPINN": "mse", "LPINN official": "official"}[name]
    loss = lambda m, p=None: lpinn.lagrangian_loss(m, pde, x, t, u0, form=form, points=p)
    return lpinn.LagrangianPINN(8, 2, 1, rngs=nnx.Rngs(0)), loss, points


def plain_fit(name):
    """The loop every model trained with before training went through the data-parallel step:
    the closed-over full-grid loss, value_and_grad and Adam in one lax.scan, on one device."""
    model, loss_fn, _ = problem(name)
    graphdef, params = nnx.split(model)
    loss_of = lambda p: loss_fn(nnx.merge(graphdef, p))
    adam = optax.adam(LR)

    def step(carry, _):
        params, state = carry
        loss, grads = jax.value_and_grad(loss_of)(params)
        updates, state = adam.update(grads, state, params)
        return (optax.apply_updates(params, updates), state), loss

    run = jax.jit(lambda p: jax.lax.scan(step, (p, adam.init(p)), length=STEPS))
    (params, _), losses = run(params)
    return jax.tree.leaves(params), losses


def data_parallel_fit(name, mesh, **kwargs):
    model, loss, points = problem(name)
    kwargs = dict(steps=STEPS, learning_rate=LR, chunk=CHUNK, batch=points, mesh=mesh) | kwargs
    run = lpinn.fit(loss, model, **kwargs)
    return jax.tree.leaves(nnx.state(run.model)), run.losses


def run_checks(folder: str) -> None:
    """The training runs (in a process with 8 simulated devices); saves ``folder/runs.npz``."""
    from jaxpapers_shared import devices
    from jaxpapers_shared.checkpoint import Checkpointer

    assert len(jax.devices()) == 8, jax.devices()
    saved = {}

    def put(key, leaves, losses):
        saved.update({f"{key}/losses": np.asarray(losses)})
        saved.update({f"{key}/{i}": np.asarray(a) for i, a in enumerate(leaves)})

    one, eight = devices.make_mesh(1), devices.make_mesh(8)
    for name in PROBLEMS:
        put(f"plain {name}", *plain_fit(name))
        put(f"1 device {name}", *data_parallel_fit(name, one))
        put(f"8 devices {name}", *data_parallel_fit(name, eight))
    saved["devices holding the points"] = np.asarray(
        len(devices.shard_batch(problem("LPINN")[2], eight)[0].sharding.device_set)
    )

    # Interrupted after the first chunk on 8 devices, then resumed (the chunk is compiled once).
    class Stop(Exception):
        pass

    class StopAfterOneChunk(Checkpointer):
        def save(self, step, state, *, force=False):
            saved = super().save(step, state, force=force)
            if step == CHUNK:
                raise Stop
            return saved

    folder = Path(folder)
    try:
        with StopAfterOneChunk(folder / "ckpt", every=CHUNK) as ckpt:
            data_parallel_fit("LPINN", eight, checkpointer=ckpt)
    except Stop:
        pass
    with Checkpointer(folder / "ckpt", every=CHUNK, resume=True) as ckpt:
        saved["resumed from step"] = np.asarray(ckpt.latest_step)
        put("resumed", *data_parallel_fit("LPINN", eight, checkpointer=ckpt))
        try:
            data_parallel_fit("LPINN", eight, checkpointer=ckpt, chunk=3)
        except ValueError as e:
            saved["chunk error"] = np.asarray(str(e))

    x, t = jnp.linspace(0, 6, 12), jnp.linspace(0, 1, 4)  # 12 labels do not split over 8
    try:
        data_parallel_fit("LPINN", eight, batch=lpinn.collocation_points(x, t))
    except ValueError as e:
        saved["indivisible error"] = np.asarray(str(e))

    # Convergence on 8 devices: Adam, then L-BFGS on the sharded points.
    x, t = lpinn.grid(16, 8)
    pde = lpinn.Convection(5.0)
    loss = lambda m, p: lpinn.lagrangian_loss(m, pde, x, t, jnp.sin(x), points=p)
    points = lpinn.collocation_points(x, t)
    model = lpinn.LagrangianPINN(16, 2, 2, rngs=nnx.Rngs(0))
    adam = lpinn.fit(loss, model, steps=300, learning_rate=3e-3, chunk=100, batch=points)
    lbfgs = lpinn.fit(loss, adam.model, steps=0, lbfgs_steps=20, batch=points)
    graphdef, state = nnx.split(adam.model)
    final = jax.jit(lambda state: loss(nnx.merge(graphdef, state), points))(state)
    saved |= {
        "adam losses": adam.losses,
        "loss of the Adam model": np.asarray(final),
        "lbfgs losses": lbfgs.losses,
    }
    np.savez(folder / "runs.npz", **saved)


def leaves_and_losses(runs, key):
    count = sum(k.startswith(f"{key}/") for k in runs) - 1
    return [runs[f"{key}/{i}"] for i in range(count)], runs[f"{key}/losses"]


def assert_same(runs, key, reference, exact=False):
    (leaves, losses), (ref_leaves, ref_losses) = (
        leaves_and_losses(runs, key),
        leaves_and_losses(runs, reference),
    )
    assert len(leaves) == len(ref_leaves) > 0
    rtol, atol = (0, 0) if exact else (1e-5, 1e-6)
    for a, b in zip(leaves, ref_leaves, strict=True):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol, err_msg=key)
    np.testing.assert_allclose(losses, ref_losses, rtol=rtol, err_msg=key)


@pytest.mark.parametrize("name", PROBLEMS)
def test_data_parallel_fit_on_one_device_equals_the_plain_loop(data_parallel_runs, name):
    assert_same(data_parallel_runs, f"1 device {name}", f"plain {name}")


@pytest.mark.parametrize("name", PROBLEMS)
def test_data_parallel_fit_on_eight_devices_equals_the_plain_loop(data_parallel_runs, name):
    assert int(data_parallel_runs["devices holding the points"]) == 8
    assert_same(data_parallel_runs, f"8 devices {name}", f"plain {name}")


def test_interrupted_fit_resumes_to_the_uninterrupted_result(data_parallel_runs):
    assert int(data_parallel_runs["resumed from step"]) == CHUNK
    assert_same(data_parallel_runs, "resumed", "8 devices LPINN", exact=True)
    assert "chunk" in str(data_parallel_runs["chunk error"])


def test_fit_rejects_points_the_mesh_cannot_split(data_parallel_runs):
    assert "multiple of 8" in str(data_parallel_runs["indivisible error"])


def test_training_reduces_the_lagrangian_loss(data_parallel_runs):
    adam = data_parallel_runs["adam losses"]
    assert adam.shape == (300,)
    assert adam[-1] < 0.05 * adam[0]
    np.testing.assert_allclose(data_parallel_runs["loss of the Adam model"], adam[-1], rtol=0.05)
    assert data_parallel_runs["lbfgs losses"][-1] <= adam[-1]


def test_fit_rejects_bad_steps_and_collocation_points():
    model, loss, points = problem("LPINN")
    with pytest.raises(ValueError, match="chunk"):
        lpinn.fit(loss, model, steps=1, chunk=0)
    with pytest.raises(ValueError, match="steps"):
        lpinn.fit(loss, model, steps=1.5)
    with pytest.raises(ValueError, match="points"):
        loss(model, (points[0][:, :2], points[1][:, :2]))
    with pytest.raises(ValueError, match="1-D"):
        lpinn.collocation_points(jnp.zeros((2, 2)), jnp.zeros(3))
