"""Benchmarks of hard-constraint-moe against its baseline, measured in one run (ratios, never asserts).

``python -m hard_constraint_moe.bench [--quick]``.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax.numpy as jnp

from jaxpapers_shared import experiment, timing


def main(argv: Sequence[str] | None = None) -> None:
    args = experiment.parse_bench_args(__doc__, argv)
    # Replace with the method timed against its baseline (both warm, same inputs).
    x = jnp.ones((64, 64) if args.quick else (256, 256))
    seconds = timing.time_fn(lambda a: a @ a, x)
    print(timing.format_table(["what", "ms"], [["placeholder matmul", 1e3 * seconds]]))


if __name__ == "__main__":
    main()
