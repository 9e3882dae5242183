"""Solver status shared by :mod:`~jaxpapers_shared.implicit` and :mod:`~jaxpapers_shared.linear_solve`.

* :class:`Solution`: what every solve returns (value, iterations, residual, converged).
* :class:`Tolerance`: ``residual <= atol + rtol * scale`` in a chosen norm (max-norm by default).
* :class:`ConvergenceError` and :func:`report`: a failed solve raises, eagerly or, inside ``jit``,
  from a host callback when the compiled program runs.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

PyTree = Any


class ConvergenceError(jax.errors.JaxRuntimeError):
    """A solve stopped above its tolerance or met NaN/inf (forward solve or adjoint solve).

    Raised as this type when the failed solve runs eagerly. Inside ``jax.jit`` the check runs in a
    host callback and XLA re-raises it as its base class ``jax.errors.JaxRuntimeError`` with the
    same message (it contains ``"ConvergenceError: "``), so ``except jax.errors.JaxRuntimeError``
    catches a failed solve in both cases.
    """


class Solution(NamedTuple):
    """The result of a solve (a fixed point, a root, a minimiser, or a linear system).

    Attributes:
      value: the solution, a pytree shaped like the initial guess / right-hand side.
      iterations: () int32, iterations the solver took.
      residual: () float, the solver's residual in its norm (see each solver).
      converged: () bool, ``residual <= atol + rtol * scale`` and finite.
    """

    value: PyTree
    iterations: jax.Array
    residual: jax.Array
    converged: jax.Array


# ----------------------------------------------------------------------------- tolerances

NORMS: dict[str, Callable[[jax.Array], jax.Array]] = {
    "max": lambda v: jnp.max(jnp.abs(v), initial=0.0),
    "l2": lambda v: jnp.linalg.norm(v),
    "rms": lambda v: jnp.sqrt(jnp.mean(jnp.abs(v) ** 2)) if v.size else jnp.zeros((), v.dtype),
}


@dataclasses.dataclass(frozen=True)
class Tolerance:
    """Stop when ``norm(residual) <= atol + rtol * scale`` (hashable: a static solver option)."""

    rtol: float
    atol: float
    norm: str = "max"

    def __call__(self, v: jax.Array) -> jax.Array:
        return NORMS[self.norm](v)

    def threshold(self, scale: jax.Array) -> jax.Array:
        return self.atol + self.rtol * scale

    def describe(self) -> str:
        return f"atol={self.atol:g} + rtol={self.rtol:g} * scale ({self.norm} norm)"


def _nonnegative(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.number):
        raise TypeError(f"`{name}` must be a real number, got {type(value).__name__} {value!r}.")
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(f"`{name}` must be a finite number >= 0, got {value!r}.")
    return float(value)


def tolerance(
    tol: float | None,
    rtol: float | None,
    atol: float | None,
    norm: str | None,
    *,
    default_rtol: float,
    default_atol: float,
    tol_is: str,
) -> Tolerance:
    """Resolves the ``tol`` / ``rtol``, ``atol``, ``norm`` options of a solver.

    ``tol`` is the older single tolerance, kept with its old meaning: ``tol_is="atol"`` (nonlinear
    solvers: ``||residual||_2 <= tol``) or ``"rtol"`` (linear solves: ``<= tol * ||b||_2``).
    """
    if norm is not None and norm not in NORMS:
        raise ValueError(f"`norm` must be one of {sorted(NORMS)}, got {norm!r}.")
    if tol is not None:
        if rtol is not None or atol is not None:
            raise ValueError(
                f"pass either `tol` (got {tol!r}) or `rtol`/`atol` (got {rtol!r}/{atol!r}), "
                "not both."
            )
        tol = _nonnegative(tol, "tol")
        if tol == 0:
            raise ValueError(f"`tol` must be > 0, got {tol}.")
        norm = norm or "l2"
        return Tolerance(tol, 0.0, norm) if tol_is == "rtol" else Tolerance(0.0, tol, norm)
    rtol = default_rtol if rtol is None else _nonnegative(rtol, "rtol")
    atol = default_atol if atol is None else _nonnegative(atol, "atol")
    if rtol == 0 and atol == 0:
        raise ValueError("`rtol` and `atol` are both 0: the solve could never stop converged.")
    return Tolerance(rtol, atol, norm or "max")


def check_max_iter(max_iter: Any, name: str = "max_iter") -> None:
    if isinstance(max_iter, bool) or int(max_iter) != max_iter or max_iter < 1:
        raise ValueError(f"`{name}` must be an integer >= 1, got {max_iter!r}.")


# ----------------------------------------------------------------------------- reporting

_CHECKS = [True]


@contextlib.contextmanager
def checks_disabled() -> Iterator[None]:
    """Traces solves without the adjoint status check (the bench measures what it costs)."""
    _CHECKS.append(False)
    try:
        yield
    finally:
        _CHECKS.pop()


def checks_enabled() -> bool:
    return _CHECKS[-1]


def is_concrete(*leaves: Any) -> bool:
    return not any(isinstance(a, jax.core.Tracer) for a in leaves)


def failure_message(
    what: str,
    criterion: str,
    max_iter: int | None,
    hint: str,
    iterations: np.ndarray,
    residual: np.ndarray,
    converged: np.ndarray,
) -> str:
    failed = ~np.asarray(converged, dtype=bool)
    res = np.asarray(residual)[failed] if np.ndim(residual) else np.asarray([residual])
    its = np.asarray(iterations)[failed] if np.ndim(iterations) else np.asarray([iterations])
    count = f"{failed.sum()} of {failed.size} batched solves" if failed.size > 1 else "the solve"
    if not np.all(np.isfinite(res)):
        return (
            f"{what} did not converge: {count} produced a NaN/inf residual after "
            f"{int(its.max())} iterations. The input contains NaN/inf or the iteration "
            f"diverged. {hint}"
        )
    of = f" of max_iter={max_iter}" if max_iter is not None else ""
    return (
        f"{what} did not converge: {count} stopped at residual {float(res.max()):.3e} above "
        f"the tolerance ({criterion}) after {int(its.max())}{of} iterations. {hint}"
    )


def report(
    iterations: jax.Array,
    residual: jax.Array,
    converged: jax.Array,
    *,
    what: str,
    criterion: str,
    max_iter: int | None,
    hint: str,
) -> None:
    """Raises :class:`ConvergenceError` unless every ``converged`` flag is set.

    Concrete flags are checked now; traced ones (inside ``jit``/``vmap``) by a host callback when
    the program runs, where the error reaches the caller as ``jax.errors.JaxRuntimeError``.
    """
    message = lambda *fields: failure_message(what, criterion, max_iter, hint, *fields)
    if is_concrete(iterations, residual, converged):
        if not bool(np.all(np.asarray(converged))):
            raise ConvergenceError(message(iterations, residual, converged))
        return

    def raise_if_failed(iterations, residual, converged):
        if not np.all(converged):
            raise ConvergenceError(message(iterations, residual, converged))

    # Unbatched, the callback runs only on failure; under vmap the cond becomes a select that
    # calls it every time, and the callback checks the flags itself.
    iterations, residual, converged = jax.lax.stop_gradient((iterations, residual, converged))
    jax.lax.cond(
        jnp.min(converged.astype(jnp.int32), initial=1) > 0,
        lambda *fields: None,
        lambda *fields: jax.debug.callback(raise_if_failed, *fields),
        iterations,
        residual,
        converged,
    )
