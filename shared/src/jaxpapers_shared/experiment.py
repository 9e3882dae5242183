"""The reproduction harness every package's ``reproduce.py`` is written against.

A reproduction checks a paper's claims side by side with a baseline measured in the same run::

    from jaxpapers_shared import experiment

    def main(argv=None) -> int:
        args = experiment.parse_args(__doc__, argv)
        exp = experiment.Experiment("lion-kappa", paper="Lion Secretly Solves ...", args=args)
        with exp.section("box-constrained logistic regression"):
            gap, adam_gap = ...
            exp.claim(
                "lion reaches the box optimum",
                reference="Thm. 3.1",
                ours=gap, baseline=adam_gap, baseline_name="Adam",
                criterion="gap <= 1e-6", passed=gap <= 1e-6,
            )
        return exp.finish()  # table, results.json, exit code 1 if a claim failed

    if __name__ == "__main__":
        raise SystemExit(main())

``results.json`` (schema version 1) holds ``package``, ``paper``, ``mode`` ("quick"/"full"),
``seed``, ``seeds``, ``claims`` (a list of :class:`Claim` dicts), ``metrics`` (free-form numbers
a package records), ``timings`` (seconds per section and ``total``), ``figures`` (file names),
``passed``, ``jax_version``, ``device``, ``python`` and ``created`` (UTC, ISO 8601).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime
import json
import math
import os
import platform
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "Claim",
    "Experiment",
    "claims_markdown",
    "new_figure",
    "parse_args",
    "progress",
    "to_python",
]

SCHEMA_VERSION = 1


def to_python(value: Any) -> Any:
    """Converts jax/numpy scalars and arrays (also inside containers) to plain JSON-able Python."""
    if isinstance(value, dict):
        return {str(k): to_python(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_python(v) for v in value]
    if hasattr(value, "__array__") and not isinstance(value, str | bytes):
        arr = np.asarray(value)
        if arr.ndim == 0:
            return to_python(arr.item())
        return [to_python(v) for v in arr.tolist()]
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # JSON has no NaN/inf; keep it visible instead of failing to write.
    if isinstance(value, np.generic):
        return value.item()
    return value


@dataclasses.dataclass(frozen=True)
class Claim:
    """One checked claim of a paper.

    Attributes:
      name: what is claimed, in a few words ("2-RF is 10x straighter than 1-RF").
      reference: where the paper makes the claim ("Fig. 3", "Thm. 3.1", "Table 2").
      ours: the value our implementation of the method reaches in this run.
      baseline: the baseline's value from the same run (``None`` when the claim has none).
      baseline_name: which baseline (``"Adam"``, ``"1-RF"``).
      criterion: the pass criterion in words/maths (``"ours < 0.1 * baseline"``).
      passed: whether the criterion holds.
      paper: the paper's own number, when it reports one.
      note: anything a reader needs to interpret the row (scale, what differs from the paper).
    """

    name: str
    reference: str
    ours: Any
    criterion: str
    passed: bool
    baseline: Any = None
    baseline_name: str = ""
    paper: Any = None
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return to_python(dataclasses.asdict(self))


def claims_markdown(claims: Sequence[Claim | dict[str, Any]]) -> str:
    """The claims as a Markdown table (ours / baseline / paper / criterion / pass), for READMEs.

    Accepts :class:`Claim` records or their dicts from ``results.json``.
    """
    rows = [
        "| claim | ref. | ours | baseline | paper | criterion | pass |",
        "|---|---|---|---|---|---|---|",
    ]
    for claim in claims:
        c = claim.to_dict() if isinstance(claim, Claim) else claim
        baseline = _format(c.get("baseline"))
        if c.get("baseline_name") and c.get("baseline") is not None:
            baseline += f" ({c['baseline_name']})"
        cells = [
            c["name"],
            c["reference"],
            _format(c["ours"]),
            baseline,
            _format(c.get("paper")),
            c["criterion"],
            "yes" if c["passed"] else "NO",
        ]
        # A literal '|' (as in ||x||) would split a Markdown cell.
        rows.append("| " + " | ".join(str(cell).replace("|", "\\|") for cell in cells) + " |")
    return "\n".join(rows)


def parse_args(
    description: str | None = None,
    argv: Sequence[str] | None = None,
    *,
    default_out: str | None = None,
) -> argparse.Namespace:
    """The command line every ``reproduce.py`` shares: ``--quick``, ``--out DIR``, ``--seed N``."""
    parser = argparse.ArgumentParser(
        description=(description or "").strip().splitlines()[0] if description else None
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="CPU-scale sizes that finish in under 45 s (what the tests run).",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path(default_out or "results"),
        help="Folder for results.json and figures (created if missing).",
    )
    parser.add_argument("--seed", type=int, default=0, help="Base PRNG seed.")
    return parser.parse_args(argv)


def _format(value: Any) -> str:
    value = to_python(value)
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value == 0 or 1e-3 <= abs(value) < 1e5:
            return f"{value:.4g}"
        return f"{value:.3e}"
    if isinstance(value, list):
        return (
            "["
            + ", ".join(_format(v) for v in value[:4])
            + (", ..." if len(value) > 4 else "")
            + "]"
        )
    return str(value)


def _device_summary() -> str:
    import jax

    devices = jax.devices()
    kinds = sorted({d.device_kind for d in devices})
    return f"{jax.default_backend()} x{len(devices)} ({', '.join(kinds)})"


class Experiment:
    """Collects claims, metrics, timings and figures of one reproduction run.

    Args:
      package: the distribution name (``"lion-kappa"``).
      paper: the paper's title.
      args: the namespace from :func:`parse_args` (``quick``, ``out``, ``seed``).
      seeds: the seeds the run averages over (defaults to ``[args.seed]``).
      quiet: do not print (tests that call ``main`` several times may want this).
    """

    def __init__(
        self,
        package: str,
        *,
        paper: str,
        args: argparse.Namespace,
        seeds: Sequence[int] | None = None,
        quiet: bool = False,
    ):
        self.package = package
        self.paper = paper
        self.quick = bool(args.quick)
        self.out = Path(args.out)
        self.seed = int(args.seed)
        self.seeds = list(seeds) if seeds is not None else [self.seed]
        self.quiet = quiet
        self.claims: list[Claim] = []
        self.metrics: dict[str, Any] = {}
        self.timings: dict[str, float] = {}
        self.figures: list[str] = []
        self._start = time.perf_counter()
        self.out.mkdir(parents=True, exist_ok=True)
        self.log(
            f"== {package}: {paper} ({'quick' if self.quick else 'full'} mode, "
            f"seed {self.seed}, {_device_summary()}) =="
        )

    @property
    def mode(self) -> str:
        return "quick" if self.quick else "full"

    def log(self, message: str) -> None:
        if not self.quiet:
            print(message, flush=True)

    @contextlib.contextmanager
    def section(self, name: str) -> Iterator[None]:
        """Times a part of the run (recorded in ``timings``) and announces it."""
        self.log(f"-- {name}")
        start = time.perf_counter()
        try:
            yield
        finally:
            elapsed = time.perf_counter() - start
            self.timings[name] = round(self.timings.get(name, 0.0) + elapsed, 3)
            self.log(f"   ({elapsed:.1f} s)")

    def claim(
        self,
        name: str,
        *,
        reference: str,
        ours: Any,
        criterion: str,
        passed: Any,
        baseline: Any = None,
        baseline_name: str = "",
        paper: Any = None,
        note: str = "",
    ) -> Claim:
        """Records one claim; ``passed`` may be a jax/numpy boolean scalar."""
        claim = Claim(
            name=name,
            reference=reference,
            ours=to_python(ours),
            criterion=criterion,
            passed=bool(np.asarray(passed)),
            baseline=to_python(baseline),
            baseline_name=baseline_name,
            paper=to_python(paper),
            note=note,
        )
        self.claims.append(claim)
        verdict = "PASS" if claim.passed else "FAIL"
        vs = (
            f" vs {baseline_name or 'baseline'} {_format(baseline)}" if baseline is not None else ""
        )
        self.log(f"   [{verdict}] {name}: ours {_format(ours)}{vs} ({criterion})")
        return claim

    def record(self, name: str, value: Any) -> None:
        """Stores a number (or nested list/dict of numbers) under ``metrics`` in results.json."""
        self.metrics[name] = to_python(value)

    def save_figure(self, fig: Any, name: str) -> Path:
        """Writes a matplotlib figure as ``<out>/<name>.png`` and closes it."""
        import matplotlib.pyplot as plt

        path = self.out / (name if name.endswith(".png") else f"{name}.png")
        fig.savefig(path, dpi=120, bbox_inches="tight")
        plt.close(fig)
        self.figures.append(path.name)
        self.log(f"   figure: {path}")
        return path

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.claims)

    def table(self) -> str:
        """The claims as a fixed-width text table (also used in package READMEs)."""
        header = ("claim", "ref", "ours", "baseline", "criterion", "")
        rows = [header] + [
            (
                c.name,
                c.reference,
                _format(c.ours),
                f"{_format(c.baseline)}" + (f" ({c.baseline_name})" if c.baseline_name else ""),
                c.criterion,
                "PASS" if c.passed else "FAIL",
            )
            for c in self.claims
        ]
        widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
        lines = [
            "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
            for row in rows
        ]
        lines.insert(1, "  ".join("-" * w for w in widths))
        return "\n".join(lines)

    def results(self) -> dict[str, Any]:
        import jax

        return {
            "schema": SCHEMA_VERSION,
            "package": self.package,
            "paper": self.paper,
            "mode": self.mode,
            "seed": self.seed,
            "seeds": self.seeds,
            "passed": self.passed,
            "claims": [c.to_dict() for c in self.claims],
            "metrics": self.metrics,
            "timings": self.timings,
            "figures": self.figures,
            "jax_version": jax.__version__,
            "device": _device_summary(),
            "python": platform.python_version(),
            "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        }

    def finish(self) -> int:
        """Prints the claim table and verdict, writes ``results.json``; returns the exit code."""
        self.timings["total"] = round(time.perf_counter() - self._start, 3)
        if not self.claims:
            raise RuntimeError(f"{self.package}: the reproduction recorded no claims.")
        path = self.out / "results.json"
        path.write_text(json.dumps(self.results(), indent=2) + "\n")
        failed = [c.name for c in self.claims if not c.passed]
        self.log("")
        self.log(self.table())
        self.log("")
        if failed:
            self.log(
                f"{self.package}: {len(failed)} of {len(self.claims)} claims FAILED "
                f"({'; '.join(failed)}). Results: {path}"
            )
        else:
            self.log(
                f"{self.package}: all {len(self.claims)} claims reproduced "
                f"in {self.timings['total']:.1f} s. Results: {path}"
            )
        return 0 if not failed else 1


def progress(
    iterable: Iterable[Any], *, desc: str = "", total: int | None = None, every_s: float = 5.0
) -> Iterator[Any]:
    """Wraps a loop with progress output: tqdm when installed, else a line every ``every_s``.

    Output goes to stderr; set ``JAXPAPERS_PROGRESS=0`` to silence it.
    """
    if os.environ.get("JAXPAPERS_PROGRESS", "1") == "0":
        yield from iterable
        return
    if total is None and hasattr(iterable, "__len__"):
        total = len(iterable)  # type: ignore[arg-type]
    try:
        from tqdm.auto import tqdm
    except ImportError:
        tqdm = None
    if tqdm is not None:
        yield from tqdm(
            iterable,
            desc=desc,
            total=total,
            mininterval=every_s / 5,
            leave=False,
            file=sys.stderr,
            dynamic_ncols=True,
        )
        return
    start = last = time.perf_counter()
    for i, item in enumerate(iterable):
        yield item
        now = time.perf_counter()
        if now - last >= every_s:
            last = now
            of = f"/{total}" if total else ""
            print(f"   {desc} {i + 1}{of} ({now - start:.0f} s)", file=sys.stderr, flush=True)


def new_figure(
    nrows: int = 1, ncols: int = 1, *, size: tuple[float, float] = (4.0, 3.2), **kwargs: Any
):
    """A matplotlib figure on the Agg backend (no display needed); returns ``(fig, axes)``.

    ``size`` is per panel; an explicit ``figsize=`` overrides it.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    kwargs.setdefault("figsize", (size[0] * ncols, size[1] * nrows))
    return plt.subplots(nrows, ncols, **kwargs)
