"""Runs one command as N cooperating JAX processes on this machine (development and tests).

``python tools/launch.py --procs 2 -- python -m rectified_flow.reproduce --quick``

Each process gets ``JAXPAPERS_COORDINATOR=127.0.0.1:<free port>``, ``JAXPAPERS_NUM_PROCESSES``
and ``JAXPAPERS_PROCESS_ID``, which ``jaxpapers_shared.devices.initialize`` (called by every
reproduction's ``Experiment``) reads to join ``jax.distributed``. Output lines are prefixed with
``[p<i>]``. The coordinator binds to the loopback address only. If one process fails, the others
are stopped at once and the launcher exits with the failing code; past ``--timeout`` seconds all
are stopped (exit 124). On a real cluster use the scheduler instead (``srun``, ``mpirun``, a TPU
pod): ``jax.distributed`` detects it without this launcher.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import threading
import time

LOOPBACK = "127.0.0.1"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


def _relay(stream, prefix: str, out) -> None:
    for line in iter(stream.readline, ""):
        out.write(f"{prefix}{line}")
        out.flush()
    stream.close()


def _stop(procs: list[subprocess.Popen], grace_s: float = 5.0) -> None:
    for proc in procs:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    for proc in procs:
        try:
            proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def launch(command: list[str], procs: int, timeout_s: float) -> int:
    """Runs ``command`` as ``procs`` processes; returns 0, the first failing code, or 124."""
    port = free_port()
    running: list[subprocess.Popen] = []
    relays = []
    for i in range(procs):
        env = dict(
            os.environ,
            JAXPAPERS_COORDINATOR=f"{LOOPBACK}:{port}",
            JAXPAPERS_NUM_PROCESSES=str(procs),
            JAXPAPERS_PROCESS_ID=str(i),
            PYTHONUNBUFFERED="1",
        )
        proc = subprocess.Popen(
            command,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,  # its own process group, so it is stopped with its children
        )
        running.append(proc)
        relay = threading.Thread(target=_relay, args=(proc.stdout, f"[p{i}] ", sys.stdout))
        relay.start()
        relays.append(relay)
    start = time.monotonic()
    code = 0
    try:
        while True:
            codes = [p.poll() for p in running]
            failed = [(i, c) for i, c in enumerate(codes) if c not in (None, 0)]
            if failed:
                i, code = failed[0]
                print(
                    f"launch: process {i} exited with code {code}; stopping the others.",
                    file=sys.stderr,
                    flush=True,
                )
                break
            if all(c == 0 for c in codes):
                break
            if time.monotonic() - start > timeout_s:
                print(
                    f"launch: still running after {timeout_s:.0f} s; stopping all {procs} "
                    "processes.",
                    file=sys.stderr,
                    flush=True,
                )
                code = 124
                break
            time.sleep(0.2)
    except KeyboardInterrupt:
        code = 130
    finally:
        _stop(running)
        for relay in relays:
            relay.join(timeout=5)
    return code


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--procs", type=int, required=True, help="number of processes (>= 1)")
    parser.add_argument(
        "--timeout", type=float, default=3600.0, help="seconds before all are stopped"
    )
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- the command to run")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if args.procs < 1:
        parser.error(f"--procs must be >= 1, got {args.procs}")
    if not command:
        parser.error("give the command after --")
    return launch(command, args.procs, args.timeout)


if __name__ == "__main__":
    raise SystemExit(main())
