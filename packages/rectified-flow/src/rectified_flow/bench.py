"""Benchmarks of rectified-flow against its baseline, measured in one run (ratios, never asserts)."""

from __future__ import annotations

import jax.numpy as jnp

from jaxpapers_shared import timing


def main() -> None:
    # TODO(scaffold): time the method against its baseline here.
    x = jnp.ones((256, 256))
    seconds = timing.time_fn(lambda a: a @ a, x)
    print(timing.format_table(["what", "ms"], [["placeholder matmul", 1e3 * seconds]]))


if __name__ == "__main__":
    main()
