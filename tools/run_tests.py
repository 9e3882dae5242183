"""Runs the test suites of ``shared`` and every package, each in its own pytest process.

``python tools/run_tests.py [NAME ...] [--jobs N]``: ``shared`` or a package name picks one;
nothing picks all. Packages run ``--jobs`` at a time (default 2: on small test sizes a JAX
process keeps about one core busy, so two processes on two cores take ~0.6x the serial time).
Prints each package's time (flagging any over the 75 s contract, with its slowest tests), each
quick reproduction's time as pytest measured it (flagging any over 45 s), the output of failing
packages, and one closing line ``jaxpapers: N passed, N failed, N skipped``; exits 1 on failure.
Test processes compile with cheaper XLA CPU settings (see ``COMPILE_FLAGS`` and ``run_one``).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import os
import re
import subprocess
import sys
import time
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUDGET_S = 75.0
# Test programs are tiny and compiled once, so compile time dominates a test run. One codegen
# thread always (two test processes already share two cores). Two cheaper settings are on unless
# a package's `[tool.jaxpapers]` table turns them off: backend optimisation level 0
# (`fast-compile = false` turns it off) and XLA's legacy instead of its MLIR fusion emitters
# (`legacy-emitters = false`). Together they cut shared's test CPU time 93 -> 44 s; a package
# whose tests run long compiled loops runs them slower in such code (lpinn's quick reproduction:
# 27 s with XLA's defaults, 58 s with both) and turns them off.
COMPILE_FLAGS = "--xla_cpu_parallel_codegen_split_count=1"
CHEAP_COMPILE = {
    "fast-compile": "--xla_backend_optimization_level=0",
    "legacy-emitters": "--xla_cpu_use_fusion_emitters=false",
}
COUNT = re.compile(r"(\d+) (passed|failed|skipped|errors?|xfailed|xpassed)")


def targets(names: list[str]) -> list[Path]:
    available = {"shared": ROOT / "shared"}
    available |= {p.name: p for p in sorted((ROOT / "packages").glob("*/")) if p.is_dir()}
    if not names:
        return list(available.values())
    names = [n.replace("_", "-") for n in names]
    unknown = [n for n in names if n not in available]
    if unknown:
        raise SystemExit(f"unknown package(s) {unknown}; choose from {sorted(available)}")
    return [available[n] for n in names]


def xla_flags(path: Path) -> str:
    """The XLA flags for a package's test process (its ``[tool.jaxpapers]`` opt-outs applied)."""
    config = tomllib.loads((path / "pyproject.toml").read_text())
    options = config.get("tool", {}).get("jaxpapers", {})
    cheap = [flag for key, flag in CHEAP_COMPILE.items() if options.get(key, True)]
    return " ".join([COMPILE_FLAGS, *cheap])


def run_one(path: Path) -> tuple[str, int, float, dict[str, int], str]:
    start = time.perf_counter()
    env = dict(os.environ, JAXPAPERS_PROGRESS="0", PYTHONDONTWRITEBYTECODE="1")
    # Two test processes share two cores: a multi-threaded OpenBLAS in each makes them fight
    # (small eigenproblems measured 15-30x slower under load). One BLAS thread per process.
    env.setdefault("OPENBLAS_NUM_THREADS", "1")
    # Results agree up to float rounding; reproduce/bench runs keep XLA's defaults.
    env["XLA_FLAGS"] = f"{env.get('XLA_FLAGS', '')} {xla_flags(path)}".strip()
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            str(path / "tests"),
            "-q",
            "-p",
            "no:cacheprovider",
            "--durations=8",
            "--durations-min=2",
            "--rootdir",
            str(ROOT),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    elapsed = time.perf_counter() - start
    summary = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ""
    counts: dict[str, int] = {}
    for number, kind in COUNT.findall(summary):
        kind = "errors" if kind.startswith("error") else kind
        counts[kind] = counts.get(kind, 0) + int(number)
    return path.name, proc.returncode, elapsed, counts, proc.stdout + proc.stderr


def slowest_tests(output: str) -> str:
    """pytest's ``--durations`` lines from a run's output (the slowest tests and setups)."""
    _, found, tail = output.partition("slowest 8 durations")
    lines = [line for line in tail.splitlines() if re.match(r"^\d+\.\d+s ", line)]
    if not found or not lines:
        return "  (no test took 2 s or more)"
    return "  slowest tests:\n" + "\n".join(f"    {line}" for line in lines)


QUICK_BUDGET_S = 45.0


def quick_seconds(output: str) -> float | None:
    """The duration pytest reported for the package's quick reproduction test, if listed."""
    for line in output.splitlines():
        if "call" in line and "test_quick_reproduction" in line:
            return float(line.split()[0].rstrip("s"))
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*")
    parser.add_argument("--jobs", type=int, default=int(os.environ.get("JOBS", "2")))
    args = parser.parse_args(argv)
    paths = targets(args.names)
    results = []
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        futures = [pool.submit(run_one, p) for p in paths]
        for future in concurrent.futures.as_completed(futures):
            name, code, elapsed, counts, output = future.result()
            results.append((name, code, elapsed, counts, output))
            verdict = "ok" if code == 0 else f"FAILED (pytest exit {code})"
            print(
                f"{name:28s} {elapsed:6.1f} s  {counts.get('passed', 0):4d} passed  {verdict}",
                flush=True,
            )
    totals: dict[str, int] = {}
    for name, code, _, counts, output in sorted(results):
        for kind, number in counts.items():
            totals[kind] = totals.get(kind, 0) + number
        if code != 0:
            print(f"\n===== {name}: output =====\n{output[-6000:]}")
    slow = [(n, e, out) for n, _, e, _, out in results if e > BUDGET_S]
    for name, elapsed, output in slow:
        print(f"WARNING: {name} tests took {elapsed:.0f} s, over the {BUDGET_S:.0f} s contract.")
        print(slowest_tests(output))
    quick = {n: quick_seconds(out) for n, _, _, _, out in sorted(results)}
    for name, seconds in quick.items():
        if seconds is not None and seconds > QUICK_BUDGET_S:
            print(
                f"WARNING: {name} quick reproduction took {seconds:.0f} s, over the "
                f"{QUICK_BUDGET_S:.0f} s contract."
            )
    failed_packages = [n for n, code, *_ in results if code != 0]
    failed = totals.get("failed", 0) + totals.get("errors", 0)
    if failed_packages and not failed:
        failed = len(failed_packages)  # a crash or "no tests" still counts as a failure
    print(
        f"\ntest time per package: {', '.join(f'{n} {e:.0f}s' for n, _, e, _, _ in sorted(results))}"
    )
    timed = [f"{n} {q:.0f}s" for n, q in quick.items() if q is not None]
    if timed:
        print(f"quick reproduction per package: {', '.join(timed)}")
    print(
        f"jaxpapers: {totals.get('passed', 0)} passed, {failed} failed, "
        f"{totals.get('skipped', 0)} skipped"
    )
    return 1 if failed_packages else 0


if __name__ == "__main__":
    raise SystemExit(main())
