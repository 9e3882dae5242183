"""The data-parallel, resumable training loop gives the single-device loop's parameters."""

import functools
import os
import subprocess
import sys
import textwrap

import jax
import numpy as np
import optax
import pytest
from flax import nnx

import dcdm
from jaxpapers_shared import devices
from jaxpapers_shared.checkpoint import Checkpointer

A16 = dcdm.laplacian((16, 16))
STEPS, CHUNK, BATCH = 6, 2, 8


def _net():
    return dcdm.DCDMNet(2, features=4, levels=1, rngs=nnx.Rngs(0))


def _rhs():
    return dcdm.ritz_rhs(A16, 64, jax.random.key(2))


def _single_device_params():
    """The loop before data parallelism: one jitted step on one device that draws its own batch
    from fold_in(key, t)."""
    net, rhs, key = _net(), _rhs(), jax.random.key(3)
    graphdef, params, rest = nnx.split(net, nnx.Param, ...)
    tx = optax.adam(1e-3)
    opt_state = tx.init(params)

    @functools.partial(jax.jit, donate_argnums=(0, 1))
    def step(p, s, k):
        idx = jax.random.randint(k, (BATCH,), 0, rhs.shape[0])
        loss_fn = lambda p, b: dcdm.scaled_residual_loss(nnx.merge(graphdef, p, rest)(b), b, A16)
        loss, g = jax.value_and_grad(loss_fn)(p, rhs[idx])
        upd, s = tx.update(g, s, p)
        return optax.apply_updates(p, upd), s, loss

    for t in range(STEPS):
        params, opt_state, _ = step(params, opt_state, jax.random.fold_in(key, t))
    return [np.asarray(x) for x in jax.tree.leaves(params)]


def _train(**kw):
    net, _ = dcdm.train(
        _net(), A16, _rhs(), jax.random.key(3), steps=STEPS, chunk=CHUNK, batch_size=BATCH, **kw
    )
    return [np.asarray(x) for x in jax.tree.leaves(nnx.state(net, nnx.Param))]


_SIMULATED = textwrap.dedent(
    """
    import sys, numpy as np
    sys.path.insert(0, {tests!r})
    import jax, test_train
    assert jax.device_count() == 8, jax.devices()
    np.savez(sys.argv[1], *test_train._train())
    """
)


def _assert_close(got, want):
    assert len(got) == len(want)
    for a, b in zip(got, want, strict=True):
        np.testing.assert_allclose(a, b, rtol=2e-5, atol=2e-6)


def test_data_parallel_training_matches_the_single_device_loop(tmp_path):
    want = _single_device_params()
    _assert_close(_train(mesh=devices.make_mesh(1)), want)
    # 8 simulated CPU devices in a fresh process: each holds one row of the batch of 8.
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=8")
    env["JAX_PLATFORMS"] = "cpu"
    script = _SIMULATED.format(tests=os.path.dirname(__file__))
    out = tmp_path / "params.npz"
    subprocess.run([sys.executable, "-c", script, str(out)], env=env, check=True, timeout=300)
    with np.load(out) as saved:
        _assert_close([saved[f"arr_{i}"] for i in range(len(saved.files))], want)


def test_training_reduces_the_loss():
    # Same network, operator and batch size as above: the compiled step is reused.
    _, losses = dcdm.train(
        _net(), A16, _rhs(), jax.random.key(3), steps=60, chunk=20, batch_size=BATCH
    )
    assert losses.shape == (3,) and losses[-1] < losses[0]


def test_interrupted_training_resumes_to_the_uninterrupted_result(tmp_path):
    whole = _train()

    class Stop(Exception):
        pass

    class StopAfter4(Checkpointer):
        def save(self, step, state, *, force=False):
            saved = super().save(step, state, force=force)
            if step == 4:
                raise Stop
            return saved

    with StopAfter4(tmp_path, every=2) as ckpt, pytest.raises(Stop):
        _train(checkpointer=ckpt)
    with Checkpointer(tmp_path, every=2, resume=True) as ckpt:
        assert ckpt.latest_step == 4
        resumed = _train(checkpointer=ckpt)
    for a, b in zip(resumed, whole, strict=True):
        np.testing.assert_array_equal(a, b)
    with Checkpointer(tmp_path / "bad", every=3) as ckpt, pytest.raises(ValueError, match="chunk"):
        _train(checkpointer=ckpt)
    with pytest.raises(ValueError, match="divisible by the mesh"):
        dcdm.train(_net(), A16, _rhs(), jax.random.key(3), steps=1, batch_size=3, mesh=FakeMesh())


class FakeMesh:
    class devices:  # noqa: N801  (a mesh's devices array has a .size)
        size = 2
