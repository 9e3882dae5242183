"""Two JAX processes on 127.0.0.1 train exactly like one; a dead process never hangs the other.

One launch covers both: two processes with four simulated CPU devices each (a mesh of 8 devices
over 2 hosts) train four data-parallel steps, with a batch-mean loss and with a per-example loss
(process 0 prints the results, compared with the same training run in this process on one
device), write and read back a checkpoint together, then process 1 dies mid-training and the launcher must stop the survivor, which would
otherwise wait forever in a collective.
"""

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np

from jaxpapers_shared import devices

LAUNCH = Path(__file__).resolve().parents[2] / "tools" / "launch.py"

# float32 throughout, so this process (float64 enabled by conftest) trains bit-for-bit alike.
TRAIN_STEPS = textwrap.dedent(
    """
    import jax, jax.numpy as jnp, optax
    from jaxpapers_shared import devices

    k1, k2, k3 = jax.random.split(jax.random.key(0), 3)
    f32 = jnp.float32
    params = {"w": jax.random.normal(k1, (5, 3), f32), "b": jnp.zeros(3, f32)}
    batch = {"x": jax.random.normal(k2, (16, 5), f32), "y": jax.random.normal(k3, (16, 3), f32)}

    def loss_fn(p, b):  # the batch mean, or (per_example=True) one example's loss
        return jnp.mean((jnp.tanh(b["x"] @ p["w"] + p["b"]) - b["y"]) ** 2)

    optimizer = optax.adam(1e-2)
    mesh = devices.make_mesh()
    trained = {}
    for per_example in (False, True):
        step = devices.data_parallel_step(loss_fn, optimizer, mesh, per_example=per_example)
        p, s = devices.replicate((params, optimizer.init(params)), mesh)
        for i in range(4):
            p, s, loss = step(p, s, devices.shard_batch(batch, mesh))
        trained[per_example] = p
    """
)

SCRIPT = (
    "import json, os, sys\nimport numpy as np\nfrom jaxpapers_shared import devices\n"
    "multi = devices.initialize()\n"
    + TRAIN_STEPS
    + textwrap.dedent(
        """
        import numpy as np
        # A checkpoint with host-local leaves (a step counter, NumPy losses) and a key, written
        # by both processes together and read back.
        from jaxpapers_shared import checkpoint
        state = {"params": p, "step": 4, "losses": np.arange(4.0, dtype=np.float32),
                 "key": jax.random.key(7)}
        like = {"params": p, "step": 0, "losses": np.zeros(4, np.float32), "key": k1}
        with checkpoint.Checkpointer(os.environ["CKPT_DIR"], every=4) as ckpt:
            ckpt.save(4, state)
        with checkpoint.Checkpointer(os.environ["CKPT_DIR"], every=4, resume=True) as ckpt:
            back = ckpt.restore(like)
        assert int(back["step"]) == 4 and back["step"].is_fully_addressable
        np.testing.assert_array_equal(back["losses"], state["losses"])
        np.testing.assert_array_equal(jax.random.key_data(back["key"]),
                                      jax.random.key_data(state["key"]))
        if devices.is_main_process():
            assert len(devices.shard_batch(batch, mesh)["x"].sharding.device_set) == 8
            assert all(v.sharding.is_fully_replicated for v in p.values())
            out = {str(k): {n: np.asarray(v).tolist() for n, v in q.items()}
                   for k, q in trained.items()}
            print("RESULT " + json.dumps({"params": out, "processes": jax.process_count(),
                                          "devices": jax.device_count(), "multi": multi}))
        sys.stdout.flush()
        for i in range(4, 10_000):  # the survivor keeps stepping until the launcher stops it
            if i == int(os.environ["DIE_AT_STEP"]) and jax.process_index() == 1:
                os._exit(3)
            p, s, loss = step(p, s, devices.shard_batch(batch, mesh))
        """
    )
)


def test_two_processes_match_one_and_a_dead_process_stops_both(tmp_path):
    cmd = [sys.executable, str(LAUNCH), "--procs", "2", "--timeout", "240", "--"]
    start = time.monotonic()
    proc = subprocess.run(
        [*cmd, sys.executable, "-c", SCRIPT],
        capture_output=True,
        text=True,
        timeout=300,
        env=dict(
            os.environ,
            DIE_AT_STEP="6",
            CKPT_DIR=str(tmp_path / "checkpoints"),
            XLA_FLAGS=f"{os.environ.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count=4",
        ),
    )
    elapsed = time.monotonic() - start
    lines = [line for line in proc.stdout.splitlines() if "RESULT " in line]
    assert len(lines) == 1, proc.stdout[-3000:] + proc.stderr[-3000:]
    multi = json.loads(lines[0].split("RESULT ", 1)[1])
    assert multi["processes"] == 2 and multi["devices"] == 8 and multi["multi"]
    single = {}
    exec(TRAIN_STEPS, single)  # the same training runs on this process's one device
    for mode, want in single["trained"].items():
        for name in ("w", "b"):
            got = multi["params"][str(mode)][name]
            np.testing.assert_allclose(got, want[name], rtol=1e-5, atol=1e-6, err_msg=str(mode))
    assert proc.returncode == 3, proc.stderr[-3000:]
    assert "launch: process 1 exited with code 3; stopping the others." in proc.stderr
    assert elapsed < 120


def test_one_process_does_not_start_the_distributed_runtime():
    # What tools/launch.py --procs 1 passes: a no-op that reports a single-process run.
    assert devices.initialize("127.0.0.1:1", 1, 0) is False
