"""The data-parallel step on one device, and bad meshes and batches.

That 8 devices (4 simulated CPU devices in each of 2 processes) train exactly like one, with a
batch-mean and with a per-example loss, is checked in ``test_distributed.py``: one launch
covers both.
"""

import jax
import jax.numpy as jnp
import numpy as np
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


def test_pad_batch_weights_give_the_mean_over_real_rows():
    mesh = devices.make_mesh(1)
    batch = {"x": jnp.arange(5.0), "y": jnp.arange(10.0).reshape(5, 2)}
    same, weights = devices.pad_batch(batch, mesh)
    assert same["x"].shape == (5,) and float(weights.sum()) == 5.0
    # For 4 devices: 5 rows -> 8, three weight-0 copies of the first rows.
    padded, weights = devices.pad_batch(batch, 4)
    np.testing.assert_array_equal(padded["x"], [0, 1, 2, 3, 4, 0, 1, 2])
    assert padded["y"].shape == (8, 2)
    np.testing.assert_array_equal(weights, [1, 1, 1, 1, 1, 0, 0, 0])
    assert float(jnp.sum(weights * padded["x"]) / jnp.sum(weights)) == 2.0
    with pytest.raises(ValueError, match="leading size"):
        devices.pad_batch({"x": jnp.ones(3), "y": jnp.ones(4)}, mesh)
    with pytest.raises(ValueError, match=r"`batch`\['x'\].*non-empty"):
        devices.pad_batch({"x": jnp.ones((0, 2))}, mesh)
