"""Two JAX processes on 127.0.0.1 train exactly like one; a dead process never hangs the other."""

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np

LAUNCH = Path(__file__).resolve().parents[2] / "tools" / "launch.py"

TRAIN = textwrap.dedent(
    """
    import json, os, sys
    from jaxpapers_shared import devices
    multi = devices.initialize()
    import jax, jax.numpy as jnp, numpy as np, optax

    k1, k2, k3 = jax.random.split(jax.random.key(0), 3)
    params = {"w": jax.random.normal(k1, (5, 3)), "b": jnp.zeros(3)}
    batch = {"x": jax.random.normal(k2, (8, 5)), "y": jax.random.normal(k3, (8, 3))}

    def loss_fn(p, b):
        return jnp.mean((jnp.tanh(b["x"] @ p["w"] + p["b"]) - b["y"]) ** 2)

    optimizer = optax.adam(1e-2)
    mesh = devices.make_mesh()
    step = devices.data_parallel_step(loss_fn, optimizer, mesh)
    p, s = devices.replicate((params, optimizer.init(params)), mesh)
    for i in range(4):
        p, s, loss = step(p, s, devices.shard_batch(batch, mesh))
        if os.environ.get("DIE_AFTER_STEP") == str(i) and jax.process_index() == 1:
            os._exit(3)
    if os.environ.get("DIE_AFTER_STEP"):
        for _ in range(10_000):  # the survivor keeps stepping until the launcher stops it
            p, s, loss = step(p, s, devices.shard_batch(batch, mesh))
    if devices.is_main_process():
        out = {k: np.asarray(v).tolist() for k, v in p.items()}
        print("RESULT " + json.dumps({"params": out, "processes": jax.process_count(),
                                      "devices": jax.device_count(), "multi": multi}))
    """
)


def run(procs, env=None, timeout=300):
    cmd = [sys.executable, str(LAUNCH), "--procs", str(procs), "--timeout", "240", "--"]
    cmd += [sys.executable, "-c", TRAIN]
    start = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    return proc, time.monotonic() - start


def result(proc):
    lines = [line for line in proc.stdout.splitlines() if "RESULT " in line]
    assert proc.returncode == 0 and len(lines) == 1, proc.stdout[-3000:] + proc.stderr[-3000:]
    return json.loads(lines[0].split("RESULT ", 1)[1])


def test_two_processes_match_one_process():
    one, _ = run(1)
    two, _ = run(2)
    single, multi = result(one), result(two)
    assert single["processes"] == 1 and not single["multi"]
    assert multi["processes"] == 2 and multi["devices"] == 2 and multi["multi"]
    for name in ("w", "b"):
        np.testing.assert_allclose(
            multi["params"][name], single["params"][name], rtol=1e-5, atol=1e-6
        )


def test_a_killed_process_stops_both_with_a_clear_error():
    import os

    proc, elapsed = run(2, env=dict(os.environ, DIE_AFTER_STEP="1"))
    assert proc.returncode == 3
    assert "launch: process 1 exited with code 3; stopping the others." in proc.stderr
    assert elapsed < 120
