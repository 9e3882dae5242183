"""Data-parallel scaling of ``train``: 1, 2, 4, 8 simulated devices and 2 processes, one run.

``python -m rectified_flow.bench_scaling [--quick]`` (also part of ``python -m
rectified_flow.bench``). Each configuration is a fresh Python process (the device count of the
CPU backend is fixed when JAX starts): ``XLA_FLAGS=--xla_force_host_platform_device_count=N``
for N simulated devices, and two processes joined through ``jax.distributed`` on 127.0.0.1
(``jaxpapers_shared.devices.initialize``, one CPU device each) for the multi-process row. The
model (VelocityMLP 3x128, 2D), the global batch (512) and the steps are the same in every row,
so the table reads as the cost of splitting one batch: on a machine with fewer cores than
devices it measures overhead (the collectives and the split), not speed-up. On accelerators the
same command measures the real scaling.

Throughput is the warm time of a second ``train`` call (the first compiles and is reported
apart); efficiency is throughput relative to one device.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Sequence

from jaxpapers_shared import devices, experiment, timing

BATCH = 512
_TIMEOUT_S = 300


def worker(steps: int, batch: int = BATCH) -> None:
    """One configuration, in this process: prints one JSON line (process 0 only)."""
    import jax
    import optax
    from flax import nnx

    import rectified_flow as rf

    devices.initialize()
    mesh = devices.make_mesh()
    apply_fn, params = rf.split(rf.VelocityMLP(2, 128, 3, rngs=nnx.Rngs(0)))
    sampler = rf.independent_sampler(rf.standard_normal, rf.eight_gaussians, batch)
    opt = optax.adam(1e-3)
    elapsed, losses = [], None
    for _ in range(3):
        start = time.perf_counter()
        state = rf.train(apply_fn, params, sampler, opt, steps, jax.random.key(1), mesh=mesh)
        elapsed.append(time.perf_counter() - start)
        losses = state.losses
    if devices.is_main_process():
        record = {
            "devices": mesh.size,
            "processes": jax.process_count(),
            "steps_per_s": steps / min(elapsed[1:]),
            "first_call_s": elapsed[0],
            "final_loss": float(losses[-1]),
        }
        print(json.dumps(record), flush=True)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _run(steps: int, *, num_devices: int, processes: int) -> dict:
    """Runs :func:`worker` as ``processes`` fresh processes with ``num_devices`` CPU devices each."""
    env = dict(os.environ, XLA_FLAGS=f"--xla_force_host_platform_device_count={num_devices}")
    env.pop("JAX_PLATFORMS", None)
    code = f"from rectified_flow.bench_scaling import worker; worker({steps})"
    port = _free_port()
    procs = []
    for i in range(processes):
        penv = dict(env)
        if processes > 1:
            penv[devices.ENV_COORDINATOR] = f"127.0.0.1:{port}"
            penv[devices.ENV_NUM_PROCESSES] = str(processes)
            penv[devices.ENV_PROCESS_ID] = str(i)
        procs.append(
            subprocess.Popen(
                [sys.executable, "-c", code],
                env=penv,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    try:
        outputs = [p.communicate(timeout=_TIMEOUT_S) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    for p, (_, err) in zip(procs, outputs, strict=True):
        if p.returncode:
            raise RuntimeError(
                f"scaling worker ({num_devices} device(s) x {processes} process(es)) exited with "
                f"{p.returncode}:\n{err[-2000:]}"
            )
    lines = [ln for ln in outputs[0][0].splitlines() if ln.startswith("{")]
    return json.loads(lines[-1])


def scaling_table(steps: int) -> str:
    """The table: one row per configuration, all measured in this run."""
    configs = [(n, 1) for n in (1, 2, 4, 8)] + [(1, 2)]
    records = []
    for n, procs in experiment.progress(configs, desc="scaling configurations"):
        records.append(_run(steps, num_devices=n, processes=procs))
    base = records[0]["steps_per_s"]
    rows = [
        [
            f"{r['devices']} device(s), {r['processes']} process(es)",
            r["steps_per_s"],
            r["steps_per_s"] / base,
            r["first_call_s"],
            r["final_loss"],
        ]
        for r in records
    ]
    header = [
        f"train, global batch {BATCH}",
        "steps/s",
        "vs 1 device",
        "first call s (compiles)",
        "final loss",
    ]
    return timing.format_table(header, rows)


def main(argv: Sequence[str] | None = None) -> None:
    args = experiment.parse_bench_args(__doc__, argv)
    steps = 50 if args.quick else 250
    print(f"rectified-flow data-parallel scaling ({steps} steps per call, CPU devices)")
    print(scaling_table(steps))


if __name__ == "__main__":
    main()
