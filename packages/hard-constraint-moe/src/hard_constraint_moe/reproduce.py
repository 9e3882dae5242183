"""Reproduces the central claim of *Scaling physics-informed hard constraints with mixture-of-experts*.

Claim (section/figure): ...
CPU-scale setup: ...
Pass criterion: ...
"""

from __future__ import annotations

from collections.abc import Sequence

from jaxpapers_shared import experiment
from jaxpapers_shared.experiment import at_most


def main(argv: Sequence[str] | None = None) -> int:
    args = experiment.parse_args(__doc__, argv, default_out="results/hard-constraint-moe")
    exp = experiment.Experiment(
        "hard-constraint-moe",
        paper="Scaling physics-informed hard constraints with mixture-of-experts",
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
