"""Starts the data-parallel checks of ``test_train.py`` in the background once the tests are
collected, so that they run alongside the other tests; the ``data_parallel_runs`` fixture waits
for them.

They run in a separate process because XLA must simulate 8 CPU devices from its start, with
the cheap compile settings (backend optimisation level 0, legacy emitters): they compile a dozen
tiny training programs and compare them to float rounding, where the package's own tests keep
XLA's defaults for the long compiled training loops of the reproduction.
"""

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

FIXTURE = "data_parallel_runs"
SCRIPT = """
import importlib.util as u
spec = u.spec_from_file_location("lpinn_test_train", {path!r})
module = u.module_from_spec(spec)
spec.loader.exec_module(module)
module.run_checks({out!r})
"""
_background = {}


def pytest_collection_finish(session):
    if not any(FIXTURE in getattr(item, "fixturenames", ()) for item in session.items):
        return
    folder = Path(tempfile.mkdtemp(prefix="lpinn-data-parallel-"))
    flags = " ".join(
        [
            os.environ.get("XLA_FLAGS", ""),
            "--xla_force_host_platform_device_count=8",
            "--xla_backend_optimization_level=0",
            "--xla_cpu_use_fusion_emitters=false",
        ]
    )
    env = dict(os.environ, XLA_FLAGS=flags.strip(), JAX_PLATFORMS="cpu", JAXPAPERS_PROGRESS="0")
    script = SCRIPT.format(path=str(Path(__file__).with_name("test_train.py")), out=str(folder))
    log = open(folder / "log.txt", "w")  # noqa: SIM115  (closed in pytest_unconfigure)
    proc = subprocess.Popen(
        [sys.executable, "-c", script], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    _background.update(proc=proc, folder=folder, log=log)


def pytest_unconfigure(config):
    if not _background:
        return
    if _background["proc"].poll() is None:
        _background["proc"].kill()
        _background["proc"].wait()
    _background["log"].close()
    shutil.rmtree(_background["folder"], ignore_errors=True)


@pytest.fixture(scope="session")
def data_parallel_runs():
    """The arrays ``test_train.run_checks`` saved (waits up to 10 minutes for them)."""
    proc, folder = _background["proc"], _background["folder"]
    try:
        code = proc.wait(timeout=600)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail("the data-parallel checks did not finish within 600 s")
    _background["log"].flush()
    log = (folder / "log.txt").read_text()
    assert code == 0, f"the data-parallel checks failed (exit {code}):\n{log[-4000:]}"
    with np.load(folder / "runs.npz") as runs:
        return dict(runs)
