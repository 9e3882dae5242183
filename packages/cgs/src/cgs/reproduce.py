"""Reproduces the central claim of *Convergent Graph Solvers*.

Claim (section/figure): ...
CPU-scale setup: ...
Pass criterion: ...
"""

from __future__ import annotations

from collections.abc import Sequence

from jaxpapers_shared import experiment


def main(argv: Sequence[str] | None = None) -> int:
    args = experiment.parse_args(__doc__, argv, default_out="results/cgs")
    exp = experiment.Experiment("cgs", paper="Convergent Graph Solvers", args=args)
    with exp.section("scaffold"):
        # TODO(scaffold): replace with the paper's claim measured against its baseline.
        exp.claim("scaffold placeholder", reference="-", ours=1.0, baseline=1.0,
                  criterion="ours == baseline", passed=True)
    return exp.finish()


if __name__ == "__main__":
    raise SystemExit(main())
