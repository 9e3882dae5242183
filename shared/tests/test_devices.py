"""Data parallelism on 8 simulated CPU devices equals the single-device step."""

import os
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import pytest

from jaxpapers_shared import devices

EIGHT_DEVICE_SCRIPT = textwrap.dedent(
    """
    import jax, jax.numpy as jnp, numpy as np, optax
    jax.config.update("jax_enable_x64", True)
    from jaxpapers_shared import devices

    assert len(jax.devices()) == 8, jax.devices()
    k1, k2, k3 = jax.random.split(jax.random.PRNGKey(0), 3)
    params = {"w": jax.random.normal(k1, (5, 3)), "b": jnp.zeros(3)}
    batch = {"x": jax.random.normal(k2, (32, 5)), "y": jax.random.normal(k3, (32, 3))}

    def per_example(p, ex):
        return jnp.sum((jnp.tanh(ex["x"] @ p["w"] + p["b"]) - ex["y"]) ** 2)

    optimizer = optax.adam(1e-2)
    results = {}
    for n in (1, 8):
        mesh = devices.make_mesh(n)
        step = devices.data_parallel_step(per_example, optimizer, mesh, per_example=True)
        p, s = devices.replicate((params, optimizer.init(params)), mesh)
        for _ in range(3):
            p, s, loss = step(p, s, devices.shard_batch(batch, mesh))
        results[n] = (p, loss)
        if n == 8:
            sharding = devices.shard_batch(batch, mesh)["x"].sharding
            assert len(sharding.device_set) == 8
            assert p["w"].sharding.is_fully_replicated
    for a, b in zip(jax.tree.leaves(results[1]), jax.tree.leaves(results[8])):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    print("sharded == single-device")
    """
)


def test_eight_device_step_equals_single_device_step():
    env = dict(
        os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=8", JAX_PLATFORMS="cpu"
    )
    proc = subprocess.run(
        [sys.executable, "-c", EIGHT_DEVICE_SCRIPT],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "sharded == single-device" in proc.stdout


def test_batch_loss_and_aux_on_one_device():
    import optax

    mesh = devices.make_mesh(1)
    loss = lambda p, batch: (jnp.mean((batch * p) ** 2), jnp.max(batch))
    step = devices.data_parallel_step(loss, optax.sgd(0.1), mesh, has_aux=True)
    p, _, (value, aux) = step(jnp.asarray(1.0), optax.sgd(0.1).init(1.0), jnp.arange(4.0))
    assert float(value) == pytest.approx(3.5) and float(aux) == 3.0
    assert float(p) == pytest.approx(1.0 - 0.1 * 7.0)  # d/dp mean((x p)^2) = 2 p mean(x^2)


def test_shard_batch_rejects_indivisible_batch():
    mesh = devices.make_mesh(1)
    with pytest.raises(ValueError, match=r"`batch`\['x'\].*leading \(batch\) axis"):
        devices.shard_batch({"x": jnp.asarray(1.0)}, mesh)


def test_make_mesh_rejects_too_many_devices():
    with pytest.raises(ValueError, match="num_devices"):
        devices.make_mesh(len(jax.devices()) + 1)
