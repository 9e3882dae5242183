"""The data-parallel step on one device, and bad meshes and batches.

That 8 devices (4 simulated CPU devices in each of 2 processes) train exactly like one, with a
batch-mean and with a per-example loss, is checked in ``test_distributed.py``: one launch
covers both.
"""

import jax
import jax.numpy as jnp
import pytest

from jaxpapers_shared import devices


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
