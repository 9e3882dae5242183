"""The reproduction harness every package's ``reproduce.py`` is written against.

A reproduction checks a paper's claims side by side with a baseline measured in the same run::

    from jaxpapers_shared import experiment
    from jaxpapers_shared.experiment import BASELINE, at_most

    def main(argv=None) -> int:
        args = experiment.parse_args(__doc__, argv)
        exp = experiment.Experiment("lion-kappa", paper="Lion Secretly Solves ...", args=args)
        with exp.section("box-constrained logistic regression"):
            gaps, adam_gaps = ...  # one number per seed, method and baseline on the same seeds
            exp.claim(
                "Lion reaches the box optimum: f - f*",
                reference="Thm. 3.1",
                ours=gaps, baseline=adam_gaps, baseline_name="AdamW",
                expect=at_most(1e-6),          # or below(0.1 * BASELINE), between(0.5, 1.3), ...
            )
        return exp.finish()  # table, results.json, exit code 1 if a claim failed

    if __name__ == "__main__":
        raise SystemExit(main())

A claim's verdict and its criterion text come from one :class:`Expectation` evaluated on
``ours``: no caller passes a boolean. ``ours`` is one number per seed of the experiment (the
comparison is on the mean and, for one-sided relations, must clear the seed noise), or a single
number with ``seeds=`` saying which seeds it pools or comes from. A fact about the baseline alone
("Adam leaves the box") is a :meth:`Experiment.control`: shown, never counted.

``results.json`` (schema version 2) holds ``package``, ``paper``, ``mode`` ("quick"/"full"),
``seed``, ``seeds``, ``claims`` (a list of :class:`Claim` dicts), ``controls``, ``metrics``
(free-form numbers a package records), ``quick_differences`` (how quick mode differs from full
mode), ``timings`` (seconds per section and ``total``), ``figures`` (file names), ``passed``,
``jax_version``, ``device``, ``python`` and ``created`` (UTC, ISO 8601).
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

from jaxpapers_shared._expect import (
    BASELINE,
    PAPER,
    Expectation,
    above,
    at_least,
    at_most,
    below,
    between,
    near,
)

__all__ = [
    "BASELINE",
    "PAPER",
    "Claim",
    "Control",
    "Expectation",
    "Experiment",
    "above",
    "at_least",
    "at_most",
    "below",
    "between",
    "claims_markdown",
    "near",
    "new_figure",
    "parse_args",
    "parse_bench_args",
    "progress",
    "reproduce_imports",
    "to_python",
]

SCHEMA_VERSION = 2


def to_python(value: Any) -> Any:
    """Converts jax/numpy scalars and arrays (also inside containers) to plain JSON-able Python."""
    if isinstance(value, dict):
        return {str(k): to_python(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_python(v) for v in value]
    if getattr(value, "is_fully_addressable", True) is False and not value.is_fully_replicated:
        from jax.experimental import multihost_utils

        value = multihost_utils.process_allgather(value, tiled=True)  # sharded over processes
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
    """One checked claim of a paper (built by :meth:`Experiment.claim`, never by hand).

    Attributes:
      name: what is claimed, in a few words ("2-RF is 10x straighter than 1-RF").
      reference: where the paper makes the claim ("Fig. 3", "Thm. 3.1", "Table 2").
      ours: mean over ``seeds`` of our method's number in this run.
      ours_std: its standard deviation over seeds (``None`` for one value).
      criterion: the pass criterion, written by the :class:`Expectation` that decided it.
      passed: whether the criterion holds for ``ours``.
      margin: how far the mean is on the passing side of the bound (negative: failing side).
      seeds: the seeds ``ours`` comes from.
      baseline: the baseline's mean from the same run (``None`` when the claim has none).
      baseline_std: its standard deviation over seeds.
      baseline_name: which baseline (``"Adam"``, ``"1-RF"``).
      paper: the number printed in the paper (cite it in ``reference``), else ``None``.
      note: anything a reader needs to interpret the row (scale, what differs from the paper).
      values: our per-seed values; ``baseline_values`` the baseline's.
    """

    name: str
    reference: str
    ours: Any
    criterion: str
    passed: bool
    margin: float
    seeds: list[int]
    ours_std: float | None = None
    baseline: Any = None
    baseline_std: float | None = None
    baseline_name: str = ""
    paper: Any = None
    note: str = ""
    values: list[float] | None = None
    baseline_values: list[float] | None = None

    def to_dict(self) -> dict[str, Any]:
        return to_python(dataclasses.asdict(self))


@dataclasses.dataclass(frozen=True)
class Control:
    """A fact about a baseline or a setup, shown next to the claims but never counted.

    ``holds`` is ``None`` when the control states a number without an expectation.
    """

    name: str
    reference: str
    value: Any
    criterion: str = ""
    holds: bool | None = None
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return to_python(dataclasses.asdict(self))


def _cell(value: Any, std: Any = None) -> str:
    text = _format(value)
    if std is not None and not (isinstance(std, float) and math.isnan(std)):
        text += f" ± {_format(std)}"
    return text


def _md_row(cells: Sequence[Any]) -> str:
    # A literal '|' (as in ||x||) would split a Markdown cell.
    return "| " + " | ".join(str(cell).replace("|", "\\|") for cell in cells) + " |"


def claims_markdown(results: dict[str, Any] | Sequence[Claim | dict[str, Any]]) -> str:
    """The claims (and controls) as Markdown tables, for package READMEs.

    Takes a ``results.json`` dict (claims, controls, seeds and ``quick_differences``), or a list
    of :class:`Claim` records or their dicts. Values over several seeds read ``mean ± std``.
    """
    if isinstance(results, dict):
        claims, controls = results["claims"], results.get("controls", [])
        quick = results.get("quick_differences", "")
    else:
        claims, controls, quick = list(results), [], ""
    rows = [
        "| claim | ref. | ours | baseline | paper | criterion | seeds | pass |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for claim in claims:
        c = claim.to_dict() if isinstance(claim, Claim) else claim
        baseline = _cell(c.get("baseline"), c.get("baseline_std"))
        if c.get("baseline_name") and c.get("baseline") is not None:
            baseline += f" ({c['baseline_name']})"
        seeds = c.get("seeds")
        rows.append(
            _md_row(
                [
                    c["name"],
                    c["reference"],
                    _cell(c["ours"], c.get("ours_std")),
                    baseline,
                    _format(c.get("paper")),
                    c["criterion"],
                    len(seeds) if seeds else "-",
                    "yes" if c["passed"] else "NO",
                ]
            )
        )
    text = "\n".join(rows)
    if controls:
        lines = ["", "Controls (facts about the baselines, not counted as claims):", ""]
        lines += ["| control | ref. | value | expected | holds |", "|---|---|---|---|---|"]
        for control in controls:
            c = control.to_dict() if isinstance(control, Control) else control
            holds = "-" if c.get("holds") is None else ("yes" if c["holds"] else "no")
            lines.append(
                _md_row(
                    [
                        c["name"],
                        c["reference"],
                        _format(c["value"]),
                        c.get("criterion") or "-",
                        holds,
                    ]
                )
            )
        text += "\n" + "\n".join(lines)
    if quick:
        text += f"\n\nQuick mode (`--quick`, what the tests run) differs: {quick}"
    return text


def _out_dir(text: str) -> Path:
    """``--out``: a folder that exists or can be created (no file in the way)."""
    path = Path(text)
    for part in (path, *path.parents):
        if part.exists() and not part.is_dir():
            what = "is a file" if part == path else f"lies under the file {part}"
            raise argparse.ArgumentTypeError(f"{text!r} {what}; give a folder path.")
    return path


def _parser(description: str | None) -> argparse.ArgumentParser:
    first = (description or "").strip().splitlines()
    return argparse.ArgumentParser(description=first[0] if first else None)


def parse_args(
    description: str | None = None,
    argv: Sequence[str] | None = None,
    *,
    default_out: str | None = None,
) -> argparse.Namespace:
    """The command line every ``reproduce.py`` shares: ``--quick``, ``--out DIR``, ``--seed N``."""
    parser = _parser(description)
    parser.add_argument(
        "--quick",
        action="store_true",
        help="CPU-scale sizes that finish in under 45 s (what the tests run).",
    )
    parser.add_argument(
        "--out",
        type=_out_dir,
        default=Path(default_out or "results"),
        help="Folder for results.json and figures (created if missing).",
    )
    parser.add_argument("--seed", type=int, default=0, help="Base PRNG seed.")
    parser.add_argument(
        "--resume",
        action="store_true",
        help="Continue long training runs from their last checkpoint under --out.",
    )
    return parser.parse_args(argv)


def parse_bench_args(
    description: str | None = None, argv: Sequence[str] | None = None
) -> argparse.Namespace:
    """The command line every ``bench.py`` shares: ``--quick`` (smaller sizes) and nothing else,
    so a mistyped flag is an error instead of a silent full-size run."""
    parser = _parser(description)
    parser.add_argument("--quick", action="store_true", help="Smaller sizes (a smoke run).")
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
    summary = f"{jax.default_backend()} x{len(devices)} ({', '.join(kinds)})"
    if jax.process_count() > 1:
        summary += f", {jax.process_count()} processes"
    return summary


def _values(value: Any, name: str, claim: str) -> np.ndarray:
    """A claim's number(s) as a 1-D float array (one entry per seed)."""
    if value is None:
        raise ValueError(f"claim {claim!r}: `{name}` is None; a claim needs our number.")
    try:
        arr = np.asarray(to_python(value), dtype=float)
    except (TypeError, ValueError) as error:
        raise TypeError(
            f"claim {claim!r}: `{name}` must be a number or one number per seed, got {value!r}."
        ) from error
    if arr.ndim > 1 or arr.size == 0:
        raise ValueError(
            f"claim {claim!r}: `{name}` must be a number or a 1-D list (one per seed), "
            f"got shape {arr.shape}."
        )
    return arr.reshape(-1)


def _std(arr: np.ndarray | None) -> float | None:
    return float(np.std(arr, ddof=1)) if arr is not None and arr.size > 1 else None


class Experiment:
    """Collects claims, controls, metrics, timings and figures of one reproduction run.

    Args:
      package: the distribution name (``"lion-kappa"``).
      paper: the paper's title.
      args: the namespace from :func:`parse_args` (``quick``, ``out``, ``seed``).
      seeds: the seeds the run averages over (defaults to ``[args.seed]``); a claim gives one
        value per seed, or says with ``seeds=`` which seeds its single value comes from.
      quick_differences: how ``--quick`` differs from the full mode (sizes, bars), written to
        results.json and under the README's claims table.
      quiet: do not print (tests that call ``main`` several times may want this).

    Creating the experiment joins a multi-process run when one was launched
    (:func:`jaxpapers_shared.devices.initialize`); then only process 0 prints and writes
    results.json, checkpoints' metadata and figures, while every process computes.
    """

    def __init__(
        self,
        package: str,
        *,
        paper: str,
        args: argparse.Namespace,
        seeds: Sequence[int] | None = None,
        quick_differences: str = "",
        quiet: bool = False,
    ):
        from jaxpapers_shared import devices

        devices.initialize()
        self.main_process = devices.is_main_process()
        self.package = package
        self.paper = paper
        self.quick = bool(args.quick)
        self.resume = bool(getattr(args, "resume", False))
        self.out = Path(args.out)
        self.seed = int(args.seed)
        self.seeds = [int(s) for s in seeds] if seeds is not None else [self.seed]
        if not self.seeds:
            raise ValueError("`seeds` must list at least one seed.")
        self.quick_differences = quick_differences
        self.quiet = quiet or not self.main_process
        self.claims: list[Claim] = []
        self.controls: list[Control] = []
        self.metrics: dict[str, Any] = {}
        self.timings: dict[str, float] = {}
        self.figures: list[str] = []
        self._start = time.perf_counter()
        try:
            if self.main_process:
                self.out.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError, PermissionError) as error:
            raise SystemExit(f"{package}: cannot write results to {self.out}: {error}") from None
        self.log(
            f"== {package}: {paper} ({'quick' if self.quick else 'full'} mode, "
            f"seeds {self.seeds}, {_device_summary()}) =="
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
        expect: Expectation,
        baseline: Any = None,
        baseline_name: str = "",
        paper: Any = None,
        seeds: Sequence[int] | None = None,
        note: str = "",
    ) -> Claim:
        """Records one claim; its verdict is ``expect`` evaluated on ``ours``.

        Args:
          name: what is claimed, in a few words.
          reference: where the paper claims it (section, table, figure).
          ours: our number: one per seed of the experiment, or one value with ``seeds=``.
          expect: the relation it must satisfy (:func:`below`, :func:`at_most`, ...), possibly
            against ``BASELINE`` or ``PAPER``.
          baseline: the baseline's number(s) from the same run, on the same seeds.
          baseline_name: which baseline.
          paper: the number printed in the paper (``None`` if it prints none).
          seeds: which seeds a single ``ours`` comes from (pooled or a subset); required when
            the experiment lists several seeds and ``ours`` is one number.
          note: context for a reader.

        Raises:
          TypeError: ``expect`` is not an :class:`Expectation`.
          ValueError: ``ours``/``baseline`` lengths do not match the seeds, or ``expect``
            refers to a missing baseline or paper value.
        """
        if not isinstance(expect, Expectation):
            raise TypeError(
                f"claim {name!r}: `expect` must be an Expectation (experiment.below(...), "
                f"at_most, above, at_least, between, near), got {type(expect).__name__}."
            )
        values = _values(ours, "ours", name)
        claim_seeds = self._claim_seeds(name, values, seeds)
        base = None
        if baseline is not None:
            base = _values(baseline, "baseline", name)
            if base.size not in (1, values.size):
                raise ValueError(
                    f"claim {name!r}: `baseline` has {base.size} values but `ours` has "
                    f"{values.size}; give one per seed, on the same seeds."
                )
        if expect.uses_baseline and base is None:
            raise ValueError(
                f"claim {name!r}: `expect` refers to BASELINE but no `baseline` given."
            )
        verdict = expect.evaluate(values, base, to_python(paper))
        claim = Claim(
            name=name,
            reference=reference,
            ours=float(np.mean(values)),
            ours_std=_std(values),
            criterion=verdict.criterion,
            passed=verdict.passed,
            margin=verdict.margin,
            seeds=claim_seeds,
            baseline=None if base is None else float(np.mean(base)),
            baseline_std=_std(base),
            baseline_name=baseline_name,
            paper=to_python(paper),
            note=note,
            values=values.tolist() if values.size > 1 else None,
            baseline_values=base.tolist() if base is not None and base.size > 1 else None,
        )
        self.claims.append(claim)
        vs = ""
        if base is not None:
            vs = f" vs {baseline_name or 'baseline'} {_cell(claim.baseline, claim.baseline_std)}"
        self.log(
            f"   [{'PASS' if claim.passed else 'FAIL'}] {name}: ours "
            f"{_cell(claim.ours, claim.ours_std)}{vs} ({claim.criterion})"
        )
        return claim

    def _claim_seeds(self, name: str, values: np.ndarray, seeds: Sequence[int] | None) -> list[int]:
        if seeds is not None:
            seeds = [int(s) for s in seeds]
            if values.size > 1 and len(seeds) != values.size:
                raise ValueError(
                    f"claim {name!r}: {values.size} values for seeds={seeds}; give one per seed."
                )
            unknown = sorted(set(seeds) - set(self.seeds))
            if unknown:
                raise ValueError(
                    f"claim {name!r}: seeds {unknown} are not among the experiment's {self.seeds}."
                )
            return seeds
        if values.size == len(self.seeds):
            return list(self.seeds)
        if values.size == 1:
            raise ValueError(
                f"claim {name!r}: one value, but the experiment lists seeds {self.seeds}; pass "
                f"one value per seed, or `seeds=` naming the seeds this value pools or uses."
            )
        raise ValueError(
            f"claim {name!r}: {values.size} values for the experiment's {len(self.seeds)} seeds "
            f"{self.seeds}; give one per seed, or `seeds=` naming them."
        )

    def control(
        self,
        name: str,
        *,
        reference: str,
        value: Any,
        expect: Expectation | None = None,
        note: str = "",
    ) -> Control:
        """Records a fact about a baseline or the setup ("Adam leaves the box"): shown in the
        table, never counted in the verdict. With ``expect``, whether it holds is shown too."""
        holds, criterion = None, ""
        if expect is not None:
            if expect.uses_baseline:
                raise ValueError(f"control {name!r}: a control's `expect` cannot use BASELINE.")
            verdict = expect.evaluate(_values(value, "value", name), None, None)
            holds, criterion = verdict.passed, verdict.criterion.replace("ours", "value")
        control = Control(name, reference, to_python(value), criterion, holds, note)
        self.controls.append(control)
        shown = "" if holds is None else (" holds" if holds else " does NOT hold")
        self.log(f"   [control] {name}: {_format(value)}{shown}")
        return control

    def checkpointer(self, name: str, *, every: int):
        """A :class:`~jaxpapers_shared.checkpoint.Checkpointer` under ``<out>/checkpoints/<name>``
        that restores only when the run was started with ``--resume``."""
        from jaxpapers_shared.checkpoint import Checkpointer

        return Checkpointer(self.out / "checkpoints" / name, every=every, resume=self.resume)

    def record(self, name: str, value: Any) -> None:
        """Stores a number (or nested list/dict of numbers) under ``metrics`` in results.json."""
        self.metrics[name] = to_python(value)

    def save_figure(self, fig: Any, name: str) -> Path:
        """Writes a matplotlib figure as ``<out>/<name>.png`` and closes it."""
        import matplotlib.pyplot as plt

        path = self.out / (name if name.endswith(".png") else f"{name}.png")
        if self.main_process:
            fig.savefig(path, dpi=120, bbox_inches="tight")
        plt.close(fig)
        self.figures.append(path.name)
        self.log(f"   figure: {path}")
        return path

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.claims)

    def table(self) -> str:
        """The claims (then the controls) as a fixed-width text table."""
        header = ("claim", "ref", "ours", "baseline", "criterion", "")
        rows = [header] + [
            (
                c.name,
                c.reference,
                _cell(c.ours, c.ours_std),
                _cell(c.baseline, c.baseline_std)
                + (f" ({c.baseline_name})" if c.baseline_name else ""),
                c.criterion,
                "PASS" if c.passed else "FAIL",
            )
            for c in self.claims
        ]
        rows += [
            (
                f"(control) {c.name}",
                c.reference,
                _format(c.value),
                "",
                c.criterion,
                "" if c.holds is None else ("holds" if c.holds else "does not hold"),
            )
            for c in self.controls
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
            "controls": [c.to_dict() for c in self.controls],
            "quick_differences": self.quick_differences,
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
        if self.main_process:
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


@contextlib.contextmanager
def reproduce_imports(package: str) -> Iterator[None]:
    """Wraps the imports only ``reproduce.py``/``bench.py`` need (figures, datasets).

    A package installs its method's dependencies only; figures and datasets come with its
    ``reproduce`` extra. Without it, ``python -m <package>.reproduce`` stops with the command
    that installs what is missing instead of a bare ``ModuleNotFoundError``::

        with experiment.reproduce_imports("rectified-flow"):
            import matplotlib
            from sklearn.datasets import load_digits
    """
    try:
        yield
    except ModuleNotFoundError as error:
        missing = (error.name or str(error)).split(".")[0]
        raise SystemExit(
            f"{package}: the reproduction needs `{missing}`, which is not installed. "
            f"Install the reproduce extra: pip install '{package}[reproduce]'"
        ) from None


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
