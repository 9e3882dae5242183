"""Proves ``pip install <name>`` works alone: wheel -> fresh venv -> import -> quick reproduction.

``python tools/standalone.py NAME [NAME ...]`` (or ``--all``, or ``--rotate K`` for K packages
chosen by the day of the year, which is what CI runs once a full pass no longer fits its budget).
For each package: build its wheel and jaxpapers-shared's into a temporary folder, create a fresh
virtual environment, install the package's wheel with its declared dependencies only (the shared
wheel comes from the same folder, the rest from the package index), then, outside the repository,
import it; ``python -m <import>.reproduce --quick`` must then either run or stop naming
``pip install '<name>[reproduce]'``. Then the ``reproduce`` extra is installed and the quick
reproduction must run. Prints the venv size without and with the extra.
"""

from __future__ import annotations

import argparse
import datetime
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def uv() -> list[str]:
    found = shutil.which("uv")
    return [found] if found else [sys.executable, "-m", "uv"]


def run(cmd: list[str], **kwargs) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True, **kwargs)
    if proc.returncode != 0:
        raise RuntimeError(
            f"command failed ({proc.returncode}): {' '.join(cmd)}\n"
            f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        )


def du_mb(path: Path) -> float:
    return (
        sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink()) / 1e6
    )


def standalone(name: str, work: Path) -> float:
    start = time.perf_counter()
    module = name.replace("-", "_")
    wheels, venv = work / "wheels", work / "venv"
    for dist in ("jaxpapers-shared", name):
        run(
            [*uv(), "build", "--wheel", "--package", dist, "--out-dir", str(wheels), "--quiet"],
            cwd=ROOT,
        )
    run([*uv(), "venv", "--quiet", "--python", sys.executable, str(venv)])
    python = venv / "bin" / "python"
    # Install our wheel by its path: a same-named project on the package index (PyPI has an
    # unrelated "ntk") must never win; jaxpapers-shared comes from --find-links.
    (wheel,) = wheels.glob(f"{module}-*.whl")
    install = [*uv(), "pip", "install", "--quiet", "--python", str(python), "--find-links"]
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["JAXPAPERS_PROGRESS"] = "0"
    out = work / "results"
    reproduce = [str(python), "-m", f"{module}.reproduce", "--quick", "--out", str(out)]
    # 1. The bare install: the method imports; the reproduction either runs or names the extra.
    run([*install, str(wheels), str(wheel)])
    run([str(python), "-c", f"import {module}; print({module}.__all__)"], cwd=work, env=env)
    bare_mb = du_mb(venv)
    proc = subprocess.run(reproduce, cwd=work, env=env, capture_output=True, text=True)
    if proc.returncode != 0 and f"pip install '{name}[reproduce]'" not in proc.stderr + proc.stdout:
        raise RuntimeError(
            f"{name}: without the reproduce extra, the reproduction failed without naming "
            f"`pip install '{name}[reproduce]'`:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
        )
    # 2. With the extra: the quick reproduction runs.
    run([*install, str(wheels), f"{wheel}[reproduce]"])
    run(reproduce, cwd=work, env=env)
    if not (out / "results.json").exists():
        raise RuntimeError(f"{name}: the quick reproduction wrote no results.json")
    print(
        f"  {name}: venv {bare_mb:.0f} MB bare, {du_mb(venv):.0f} MB with [reproduce]", flush=True
    )
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*")
    parser.add_argument("--all", action="store_true", help="every package")
    parser.add_argument(
        "--rotate",
        type=int,
        default=0,
        metavar="K",
        help="K packages picked by the day of the year (CI)",
    )
    args = parser.parse_args(argv)
    available = sorted(
        p.name for p in (ROOT / "packages").glob("*/") if (p / "pyproject.toml").exists()
    )
    if args.all or args.rotate:
        names = available
        if args.rotate and len(available) > args.rotate:
            day = datetime.date.today().timetuple().tm_yday
            first = (day * args.rotate) % len(available)
            names = [available[(first + i) % len(available)] for i in range(args.rotate)]
    else:
        names = [n.replace("_", "-") for n in args.names]
    unknown = [n for n in names if n not in available]
    if unknown or not names:
        raise SystemExit(f"name package(s) from {available}, got {names}")
    print(f"standalone: {', '.join(names)}", flush=True)
    failures = 0
    for name in names:
        with tempfile.TemporaryDirectory(prefix=f"standalone-{name}-") as tmp:
            try:
                seconds = standalone(name, Path(tmp))
                print(f"standalone {name}: ok ({seconds:.0f} s)", flush=True)
            except RuntimeError as error:
                failures += 1
                print(f"standalone {name}: FAILED\n{error}", flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
