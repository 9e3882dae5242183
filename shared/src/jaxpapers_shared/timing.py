"""Measuring compiled JAX code for ``bench.py`` files: wall time, compiled memory, ratio tables.

Every bench times the method and its baseline in the same process, after compilation, with
``block_until_ready``, and prints ratios; nothing here asserts anything about time.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

import jax

__all__ = ["compare", "compiled_memory", "format_table", "time_fn"]


def time_fn(
    fn: Callable[..., Any],
    *args: Any,
    repeat: int = 5,
    number: int | None = None,
    min_time: float = 0.2,
) -> float:
    """Median seconds per call of ``fn(*args)`` after one warm-up call (which compiles).

    Args:
      fn: usually a ``jax.jit``-ed function; its output is blocked on.
      repeat: how many timed batches; the median batch is reported.
      number: calls per batch; by default chosen so a batch takes about ``min_time`` seconds.
    """
    if repeat < 1:
        raise ValueError(f"`repeat` must be >= 1, got {repeat}.")
    jax.block_until_ready(fn(*args))
    if number is None:
        start = time.perf_counter()
        jax.block_until_ready(fn(*args))
        once = max(time.perf_counter() - start, 1e-7)
        number = max(1, int(min_time / once))
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(number):
            out = fn(*args)
        jax.block_until_ready(out)
        samples.append((time.perf_counter() - start) / number)
    return statistics.median(samples)


def compare(
    fns: dict[str, Callable[..., Any]], *args: Any, rounds: int = 3, repeat: int = 3
) -> dict[str, float]:
    """Times several functions on the same ``args``, interleaved: ``rounds`` round-robin passes
    of :func:`time_fn`, keeping each function's fastest median.

    Interleaving spreads a noisy machine's slow spells over all candidates, so their *ratios*
    stay meaningful when the absolute times are not.
    """
    if rounds < 1:
        raise ValueError(f"`rounds` must be >= 1, got {rounds}.")
    best = dict.fromkeys(fns, float("inf"))
    for _ in range(rounds):
        for name, fn in fns.items():
            best[name] = min(best[name], time_fn(fn, *args, repeat=repeat))
    return best


def compiled_memory(fn: Callable[..., Any], *args: Any) -> dict[str, int]:
    """XLA's memory analysis of ``jax.jit(fn)`` compiled for ``args`` (bytes).

    Returns ``temp`` (scratch the program allocates: where activations saved for a backward pass
    live), ``argument``, ``output`` and ``peak`` = temp + argument + output. Backends that give no
    analysis return ``-1`` entries.
    """
    compiled = jax.jit(fn).lower(*args).compile()
    analysis = compiled.memory_analysis()
    if analysis is None:
        return {"temp": -1, "argument": -1, "output": -1, "peak": -1}
    temp = int(analysis.temp_size_in_bytes)
    argument = int(analysis.argument_size_in_bytes)
    output = int(analysis.output_size_in_bytes)
    return {"temp": temp, "argument": argument, "output": output, "peak": temp + argument + output}


def format_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A Markdown table (prints well in a terminal and pastes into a README)."""

    def cell(value: Any) -> str:
        if isinstance(value, float):
            return f"{value:.3g}" if abs(value) < 1e5 else f"{value:.3e}"
        return str(value)

    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)
