"""Input checks for public functions: each error names the argument, the value and what was expected.

Every paper package validates its inputs at the boundary a user calls. These helpers are the one
place the common checks live, so their messages read the same everywhere::

    from jaxpapers_shared import checks

    def step(x, learning_rate):
        checks.positive(learning_rate, "learning_rate")   # rejects 0, -0.1, nan, inf, True
        x = checks.array(x, "x", ndim=2, dtype="float")   # (batch, d) floats, finite
        ...

Checks on array *values* (finiteness, ranges) run only on concrete arrays: inside ``jax.jit`` a
traced value cannot be inspected, so value checks are skipped there and the shape and dtype checks
still run (they are static). Errors are ``ValueError`` for a wrong value or shape and ``TypeError``
for a wrong kind of object.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal

import jax
import jax.numpy as jnp
import numpy as np

__all__ = [
    "array",
    "finite",
    "in_range",
    "integer",
    "is_concrete",
    "one_of",
    "positive",
    "same_shape",
]

PyTree = Any


def is_concrete(value: Any) -> bool:
    """True unless ``value`` is a JAX tracer (its numbers are unknown while tracing)."""
    return not isinstance(value, jax.core.Tracer)


def _scalar(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(
        value, int | float | np.number | np.ndarray | jax.Array
    ):
        raise TypeError(f"`{name}` must be a real number, got {type(value).__name__} {value!r}.")
    arr = np.asarray(value)
    if arr.ndim != 0:
        raise ValueError(f"`{name}` must be a scalar, got an array of shape {arr.shape}.")
    if not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        raise TypeError(f"`{name}` must be a real number, got dtype {arr.dtype}.")
    return float(arr)


def positive(value: Any, name: str, *, allow_zero: bool = False) -> Any:
    """``value`` is a finite real scalar ``> 0`` (``>= 0`` with ``allow_zero``); returns it.

    A traced scalar (a learning rate under ``jit``) passes unchecked.
    """
    if not is_concrete(value):
        return value
    number = _scalar(value, name)
    bound = ">= 0" if allow_zero else "> 0"
    if not math.isfinite(number) or number < 0 or (number == 0 and not allow_zero):
        raise ValueError(f"`{name}` must be a finite number {bound}, got {number!r}.")
    return value


def in_range(
    value: Any,
    name: str,
    low: float = -math.inf,
    high: float = math.inf,
    *,
    closed: Literal["both", "left", "right", "neither"] = "both",
) -> Any:
    """``value`` is a finite real scalar in the interval ``low .. high``; returns it."""
    if not is_concrete(value):
        return value
    number = _scalar(value, name)
    left_ok = number >= low if closed in ("both", "left") else number > low
    right_ok = number <= high if closed in ("both", "right") else number < high
    if not (math.isfinite(number) and left_ok and right_ok):
        lb = "[" if closed in ("both", "left") else "("
        rb = "]" if closed in ("both", "right") else ")"
        raise ValueError(f"`{name}` must be in {lb}{low:g}, {high:g}{rb}, got {number!r}.")
    return value


def integer(
    value: Any, name: str, *, minimum: int | None = None, maximum: int | None = None
) -> int:
    """``value`` is a Python/NumPy integer (not a bool) within ``[minimum, maximum]``; returns an int."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise TypeError(f"`{name}` must be an integer, got {type(value).__name__} {value!r}.")
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        lo = "-inf" if minimum is None else minimum
        hi = "inf" if maximum is None else maximum
        raise ValueError(f"`{name}` must be an integer in [{lo}, {hi}], got {int(value)}.")
    return int(value)


def one_of(value: Any, name: str, options: Sequence[Any]) -> Any:
    """``value`` is one of ``options`` (a method name, a mode); returns it."""
    if value not in options:
        choices = ", ".join(repr(o) for o in options)
        raise ValueError(f"`{name}` must be one of {choices}; got {value!r}.")
    return value


def finite(tree: PyTree, name: str) -> PyTree:
    """Every concrete inexact leaf of ``tree`` is free of NaN/inf; returns ``tree``.

    Python floats count (``float('nan')`` is rejected); traced leaves are skipped.
    """
    for path, leaf in jax.tree_util.tree_leaves_with_path(tree):
        if not is_concrete(leaf):
            continue
        if isinstance(leaf, bool) or not isinstance(
            leaf, int | float | complex | np.ndarray | np.generic | jax.Array
        ):
            continue
        arr = np.asarray(leaf)
        if np.issubdtype(arr.dtype, np.inexact) and not np.all(np.isfinite(arr)):
            where = jax.tree_util.keystr(path)
            bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
            raise ValueError(
                f"`{name}{where}` contains {bad} NaN/inf value{'s' if bad != 1 else ''}; "
                "finite numbers are expected."
            )
    return tree


def array(
    value: Any,
    name: str,
    *,
    ndim: int | Sequence[int] | None = None,
    shape: Sequence[int | None] | None = None,
    dtype: Literal["float", "int", "any"] = "any",
    nonempty: bool = True,
    check_finite: bool = True,
) -> jax.Array:
    """Converts ``value`` to a ``jax.Array`` and checks it; returns the array.

    Args:
      value: an array-like.
      name: the argument's name, for the message.
      ndim: the allowed number of axes (an int or a set of ints).
      shape: the expected shape; ``None`` entries match any size (``(None, 3)``).
      dtype: ``"float"`` (an integer array is promoted to the default float), ``"int"``, ``"any"``.
      nonempty: reject arrays with a zero-sized axis.
      check_finite: reject NaN/inf (concrete arrays only).
    """
    if isinstance(value, str | bytes) or value is None:
        raise TypeError(f"`{name}` must be an array, got {type(value).__name__} {value!r}.")
    arr = value if isinstance(value, jax.Array) else jnp.asarray(value)
    if dtype == "float" and not jnp.issubdtype(arr.dtype, jnp.inexact):
        if jnp.issubdtype(arr.dtype, jnp.bool_):
            raise TypeError(f"`{name}` must hold floats, got dtype {arr.dtype}.")
        arr = arr.astype(jnp.result_type(float))
    if dtype == "int" and not jnp.issubdtype(arr.dtype, jnp.integer):
        raise TypeError(f"`{name}` must hold integers, got dtype {arr.dtype}.")
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if arr.ndim not in allowed:
            want = allowed[0] if len(allowed) == 1 else " or ".join(map(str, allowed))
            raise ValueError(f"`{name}` must have {want} axes, got {name}.shape={arr.shape}.")
    if shape is not None:
        expected = tuple(shape)
        if arr.ndim != len(expected) or any(
            e is not None and e != s for e, s in zip(expected, arr.shape, strict=True)
        ):
            pretty = "(" + ", ".join("?" if e is None else str(e) for e in expected) + ")"
            raise ValueError(f"`{name}` must have shape {pretty}, got {name}.shape={arr.shape}.")
    if nonempty and arr.size == 0:
        raise ValueError(f"`{name}` must not be empty, got {name}.shape={arr.shape}.")
    if check_finite:
        finite(arr, name)
    return arr


def same_shape(a: Any, b: Any, names: tuple[str, str]) -> None:
    """``a`` and ``b`` (arrays or pytrees of arrays) have the same structure and shapes."""
    sa = [jnp.shape(leaf) for leaf in jax.tree.leaves(a)]
    sb = [jnp.shape(leaf) for leaf in jax.tree.leaves(b)]
    if jax.tree.structure(a) != jax.tree.structure(b) or sa != sb:
        show = lambda shapes: shapes[0] if len(shapes) == 1 else shapes
        raise ValueError(
            f"`{names[0]}` and `{names[1]}` must have the same shape, "
            f"got {show(sa)} and {show(sb)}."
        )
