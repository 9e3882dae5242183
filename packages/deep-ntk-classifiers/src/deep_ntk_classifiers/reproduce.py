"""Reproduces the central claim of *Wide and Deep Neural Networks Achieve Optimality for Classification*.

Claim (section/figure): ...
CPU-scale setup: ...
Pass criterion: ...
"""

from __future__ import annotations

from collections.abc import Sequence

from jaxpapers_shared import experiment
from jaxpapers_shared.experiment import at_most


def main(argv: Sequence[str] | None = None) -> int:
    args = experiment.parse_args(__doc__, argv, default_out="results/deep-ntk-classifiers")
    exp = experiment.Experiment(
        "deep-ntk-classifiers",
        paper="Wide and Deep Neural Networks Achieve Optimality for Classification",
        args=args,
    )
    with exp.section("scaffold"):
        # Fails (NaN never satisfies a bound) until replaced by the paper's claim, measured
        # against its baseline on the same seeds.
        exp.claim(
            "placeholder: replace with the paper's central claim",
            reference="-",
            ours=float("nan"),
            expect=at_most(0.0),
        )
    return exp.finish()


if __name__ == "__main__":
    raise SystemExit(main())
