import jax.numpy as jnp
import pytest

from jaxpapers_shared import timing


def test_time_fn_and_memory():
    x = jnp.ones((64, 64))
    seconds = timing.time_fn(lambda a: a @ a, x, repeat=2, number=3)
    assert seconds > 0
    memory = timing.compiled_memory(lambda a: (a @ a).sum(), x)
    assert memory["argument"] == 64 * 64 * x.dtype.itemsize
    assert memory["peak"] >= memory["argument"]
    with pytest.raises(ValueError, match="repeat"):
        timing.time_fn(lambda: 0, repeat=0)


def test_format_table_is_markdown():
    table = timing.format_table(["a", "b"], [["x", 1.23456], ["y", 2]])
    assert table.splitlines() == ["| a | b |", "|---|---|", "| x | 1.23 |", "| y | 2 |"]


def test_compare_times_every_function():
    x = jnp.ones((32, 32))
    times = timing.compare({"matmul": lambda a: a @ a, "add": lambda a: a + a}, x, rounds=2)
    assert set(times) == {"matmul", "add"} and all(t > 0 for t in times.values())
    with pytest.raises(ValueError, match="rounds"):
        timing.compare({"add": lambda a: a + a}, x, rounds=0)
