"""What a claim expects of its number: one object gives both the criterion text and the verdict.

A reproduction states a claim as ``ours`` (our method's number, one per seed), an optional
``baseline`` from the same run, and an :class:`Expectation` built by :func:`below`,
:func:`at_most`, :func:`above`, :func:`at_least`, :func:`between` or :func:`near`. The bound may
be a number or an affine function of the baseline (``0.1 * BASELINE``, ``BASELINE + 0.03``) or of
the paper's printed value (``PAPER``). The verdict is computed here from ``ours``; nobody passes a
boolean in, so the text and the verdict cannot drift apart.

With several seeds the comparison is on the mean, and a one-sided comparison must clear the seed
noise: the mean margin has to exceed ``noise`` standard errors of the per-seed margins (2 by
default). A win on a 0.1% margin across three noisy seeds is not a win.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Literal

import numpy as np

__all__ = [
    "BASELINE",
    "PAPER",
    "Bound",
    "Expectation",
    "Verdict",
    "above",
    "at_least",
    "at_most",
    "below",
    "between",
    "near",
]


def _num(x: float) -> str:
    if x == 0 or 1e-3 <= abs(x) < 1e5:
        return f"{x:.4g}"
    return f"{x:.3g}"


@dataclasses.dataclass(frozen=True)
class Bound:
    """``scale * source + offset``, where source is the baseline, the paper's value, or 1."""

    source: Literal["baseline", "paper", "constant"] = "constant"
    scale: float = 1.0
    offset: float = 0.0

    @staticmethod
    def of(value: Any) -> Bound:
        if isinstance(value, Bound):
            return value
        if isinstance(value, bool) or not isinstance(value, int | float | np.number):
            raise TypeError(
                f"a claim's bound must be a number, BASELINE or PAPER (times/plus numbers), "
                f"got {type(value).__name__} {value!r}."
            )
        return Bound("constant", 0.0, float(value))

    def __mul__(self, k: float) -> Bound:
        return Bound(self.source, self.scale * float(k), self.offset * float(k))

    __rmul__ = __mul__

    def __truediv__(self, k: float) -> Bound:
        return self * (1.0 / float(k))

    def __add__(self, c: float) -> Bound:
        return Bound(self.source, self.scale, self.offset + float(c))

    __radd__ = __add__

    def __sub__(self, c: float) -> Bound:
        return self + (-float(c))

    @property
    def uses_baseline(self) -> bool:
        return self.source == "baseline" and self.scale != 0

    def text(self) -> str:
        if self.source == "constant" or self.scale == 0:
            return _num(self.offset)
        term = self.source if self.scale == 1 else f"{_num(self.scale)} x {self.source}"
        if self.offset == 0:
            return term
        sign = "+" if self.offset > 0 else "-"
        return f"{term} {sign} {_num(abs(self.offset))}"

    def resolve(self, baseline: np.ndarray | None, paper: Any) -> np.ndarray:
        if self.source == "constant" or self.scale == 0:
            return np.asarray(self.offset)
        if self.source == "baseline":
            if baseline is None:
                raise ValueError("the expectation refers to BASELINE but the claim has none.")
            return self.scale * baseline + self.offset
        if paper is None or isinstance(paper, str):
            raise ValueError(
                "the expectation refers to PAPER but the claim's `paper` is not a number."
            )
        return np.asarray(self.scale * float(paper) + self.offset)


BASELINE = Bound("baseline")
PAPER = Bound("paper")


@dataclasses.dataclass(frozen=True)
class Verdict:
    passed: bool
    criterion: str
    margin: float  # > 0 on the passing side of the bound (mean over seeds); NaN if undefined


@dataclasses.dataclass(frozen=True)
class Expectation:
    """A relation between ``ours`` and a bound; build it with :func:`below` and friends."""

    relation: Literal["<", "<=", ">", ">=", "between", "near"]
    bounds: tuple[Bound, ...]
    rtol: float = 0.0
    atol: float = 0.0
    noise: float = 2.0

    @property
    def uses_baseline(self) -> bool:
        return any(b.uses_baseline for b in self.bounds)

    def text(self, n: int = 1) -> str:
        if self.relation == "between":
            core = f"{self.bounds[0].text()} <= ours <= {self.bounds[1].text()}"
        elif self.relation == "near":
            tol = []
            if self.rtol:
                tol.append(f"{_num(100 * self.rtol)}% of it")
            if self.atol:
                tol.append(_num(self.atol))
            core = f"|ours - {self.bounds[0].text()}| <= {' + '.join(tol) or '0'}"
        else:
            core = f"ours {self.relation} {self.bounds[0].text()}"
        if n > 1:
            core = f"mean of {n}: {core}"
            if self.relation in ("<", "<=", ">", ">=") and self.noise > 0:
                core += f", by > {_num(self.noise)} s.e."
        return core

    def evaluate(self, ours: np.ndarray, baseline: np.ndarray | None, paper: Any) -> Verdict:
        """``ours`` (n,) per-seed values; ``baseline`` (n,) or () or None."""
        n = ours.size
        text = self.text(n)
        if not np.all(np.isfinite(ours)):
            return Verdict(False, text, math.nan)
        targets = [np.broadcast_to(b.resolve(baseline, paper), ours.shape) for b in self.bounds]
        if not all(np.all(np.isfinite(t)) for t in targets):
            return Verdict(False, text, math.nan)
        if self.relation in ("<", "<="):
            return self._one_sided(targets[0] - ours, strict=self.relation == "<", text=text)
        if self.relation in (">", ">="):
            return self._one_sided(ours - targets[0], strict=self.relation == ">", text=text)
        mean = float(np.mean(ours))
        if self.relation == "between":
            lo, hi = float(np.mean(targets[0])), float(np.mean(targets[1]))
            return Verdict(lo <= mean <= hi, text, min(mean - lo, hi - mean))
        target = float(np.mean(targets[0]))
        slack = self.rtol * abs(target) + self.atol - abs(mean - target)
        return Verdict(slack >= 0, text, slack)

    def _one_sided(self, margins: np.ndarray, *, strict: bool, text: str) -> Verdict:
        mean = float(np.mean(margins))
        n = margins.size
        spread = float(np.std(margins, ddof=1) / math.sqrt(n)) if n > 1 else 0.0
        clear = mean - self.noise * spread
        passed = clear > 0 if strict else clear >= 0
        return Verdict(bool(passed), text, mean)


def _expect(relation, bound, noise) -> Expectation:
    if not (isinstance(noise, int | float) and noise >= 0 and math.isfinite(noise)):
        raise ValueError(f"`noise` must be a finite number >= 0, got {noise!r}.")
    return Expectation(relation, (Bound.of(bound),), noise=float(noise))


def below(bound: Any, *, noise: float = 2.0) -> Expectation:
    """``ours < bound`` (mean over seeds, clearing ``noise`` standard errors)."""
    return _expect("<", bound, noise)


def at_most(bound: Any, *, noise: float = 2.0) -> Expectation:
    """``ours <= bound`` (mean over seeds, clearing ``noise`` standard errors)."""
    return _expect("<=", bound, noise)


def above(bound: Any, *, noise: float = 2.0) -> Expectation:
    """``ours > bound`` (mean over seeds, clearing ``noise`` standard errors)."""
    return _expect(">", bound, noise)


def at_least(bound: Any, *, noise: float = 2.0) -> Expectation:
    """``ours >= bound`` (mean over seeds, clearing ``noise`` standard errors)."""
    return _expect(">=", bound, noise)


def between(low: Any, high: Any) -> Expectation:
    """``low <= mean(ours) <= high`` (a slope in a band, a rate in an interval)."""
    return Expectation("between", (Bound.of(low), Bound.of(high)))


def near(target: Any, *, rtol: float = 0.0, atol: float = 0.0) -> Expectation:
    """``|mean(ours) - target| <= rtol * |target| + atol``.

    Put the tolerance on the quantity the paper states: for a decay rate ``r`` close to 1,
    compare the decay constant ``1 - r``, not ``r``.
    """
    for value, name in ((rtol, "rtol"), (atol, "atol")):
        if not (isinstance(value, int | float) and value >= 0 and math.isfinite(value)):
            raise ValueError(f"`{name}` must be a finite number >= 0, got {value!r}.")
    if rtol == 0 and atol == 0:
        raise ValueError("`near` needs a tolerance: give `rtol` or `atol` > 0.")
    return Expectation("near", (Bound.of(target),), rtol=float(rtol), atol=float(atol))
