"""An interrupted, resumed run ends with exactly the numbers of an uninterrupted one."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxpapers_shared import checkpoint

OPT = optax.adam(0.05)


def initial_state():
    params = {"w": jnp.zeros((3,)), "b": jnp.zeros(())}
    return {
        "params": params,
        "opt_state": OPT.init(params),
        "step": jnp.asarray(0),
        "key": jax.random.key(0),
    }


@jax.jit
def train_step(state):
    key, sub = jax.random.split(state["key"])
    x = jax.random.normal(sub, (16, 3))
    y = x @ jnp.array([1.0, -2.0, 0.5]) + 0.3

    def loss(p):
        return jnp.mean((x @ p["w"] + p["b"] - y) ** 2)

    grads = jax.grad(loss)(state["params"])
    updates, opt_state = OPT.update(grads, state["opt_state"])
    params = optax.apply_updates(state["params"], updates)
    return {"params": params, "opt_state": opt_state, "step": state["step"] + 1, "key": key}


def run(directory, stop_at, total, resume):
    with checkpoint.Checkpointer(directory, every=5, resume=resume) as ckpt:
        state = ckpt.restore(initial_state())
        for step in range(int(state["step"]), min(stop_at, total)):
            state = train_step(state)
            ckpt.save(step + 1, state)
    return state


def test_resume_matches_an_uninterrupted_run(tmp_path):
    uninterrupted = run(tmp_path / "a", stop_at=23, total=23, resume=False)
    run(tmp_path / "b", stop_at=12, total=23, resume=False)  # stopped after step 12 (saved 10)
    resumed = run(tmp_path / "b", stop_at=23, total=23, resume=True)
    assert int(resumed["step"]) == 23
    for a, b in zip(
        jax.tree.leaves(jax.random.key_data(uninterrupted["key"])),
        jax.tree.leaves(jax.random.key_data(resumed["key"])),
        strict=True,
    ):
        np.testing.assert_array_equal(a, b)
    uninterrupted.pop("key"), resumed.pop("key")
    jax.tree.map(np.testing.assert_array_equal, uninterrupted, resumed)


def test_a_fresh_run_clears_old_checkpoints(tmp_path):
    run(tmp_path, stop_at=10, total=10, resume=False)
    ckpt = checkpoint.Checkpointer(tmp_path, every=5, resume=False)
    assert ckpt.latest_step is None
    assert int(ckpt.restore(initial_state())["step"]) == 0
    ckpt.close()


def test_rejects_bad_interval(tmp_path):
    with pytest.raises(ValueError, match="`every` must be an integer in \\[1, inf\\], got 0"):
        checkpoint.Checkpointer(tmp_path, every=0)
