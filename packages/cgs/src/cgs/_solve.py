"""Fixed points of the contracting map and their gradients (paper Sec. 3.2, Eq. 5-7).

Three forward solvers, one answer ``H* = (I - gamma A)^{-1} b``:

* ``"direct"``: a dense LU solve per head, for small graphs (the paper's overview figure: "via
  matrix inversion"). Exact and differentiable by ordinary autodiff.
* ``"iterate"``: ``H_{k+1} = gamma A H_k + b`` from ``H_0 = 0`` with a sparse ``segment_sum``
  matvec (the official ``FixedPointLayer``), through :func:`jaxpapers_shared.implicit.fixed_point`.
* ``"anderson"``: the same map, Anderson-accelerated (useful as ``gamma -> 1``).

The iterative paths differentiate by the implicit function theorem (Eq. 6-7): the backward
pass solves ``(I - gamma A)^T v = dL/dH*`` by the iteration ``v <- gamma A^T v + g``, and then
``dL/db = v`` and ``dL/dA_ij = gamma v_i H*_j``; it never unrolls the forward iterations.
"""

from __future__ import annotations

import functools
import math
from typing import Literal

import jax
import jax.numpy as jnp

from jaxpapers_shared import implicit, linear_solve

from ._transition import Transition, apply_transition, dense_matrix, propagate

Solver = Literal["direct", "iterate", "anderson"]


def _check_solver_options(solver: str, tol: float, max_iter: int) -> None:
    if solver not in ("direct", "iterate", "anderson"):
        raise ValueError(f"`solver` must be 'direct', 'iterate' or 'anderson', got {solver!r}.")
    if not tol > 0:
        raise ValueError(f"`tol` must be > 0, got {tol}.")
    if int(max_iter) != max_iter or max_iter < 1:
        raise ValueError(f"`max_iter` must be an integer >= 1, got {max_iter}.")


def _map(h, values, bias, senders, receivers, *, gamma):
    # Integer index arrays are passed as arguments, not closed over, so the solve also works
    # under vmap over graphs (see the README's note on jaxpapers_shared.implicit).
    return gamma * propagate(values, h, senders, receivers) + bias


def solve_transition(
    transition: Transition,
    *,
    solver: Solver = "direct",
    tol: float = 1e-6,
    max_iter: int = 50,
    adjoint: str = "neumann",
    throw: bool = True,
) -> implicit.Solution:
    r"""Solves ``H = gamma A H + b`` for one graph (Eq. 5), all heads at once.

    Args:
      transition: the map of one graph (``bias`` (n, m)); vmap this function over a batch.
      solver: ``"direct"`` (dense LU, O(n^3 m)), ``"iterate"`` or ``"anderson"``.
      tol: stop when ``||H_{k+1} - H_k||_2 <= tol`` over all nodes and heads (official 1e-6).
      max_iter: most map applications (official 50; enough for ``gamma = 0.5``, since the
        a priori bound needs about ``log(tol) / log(gamma)`` of them).
      adjoint: linear solver of the IFT backward: ``"neumann"`` is the paper's iteration
        ``v <- gamma A^T v + g``; ``"gmres"``/``"dense"``/... from
        :mod:`jaxpapers_shared.linear_solve`.
      throw: raise :class:`jaxpapers_shared.implicit.ConvergenceError` when an iterative solve
        stops above ``tol`` (also under ``jit``); else read ``converged``.

    Returns:
      ``jaxpapers_shared.implicit.Solution``: ``value`` (n, m), ``iterations``, ``residual``
      (``||T(H) - H||_2``), ``converged``.

    Raises:
      ValueError: unknown ``solver``, ``tol <= 0``, ``max_iter < 1``.
    """
    _check_solver_options(solver, tol, max_iter)
    t = transition
    if solver == "direct":
        eye = jnp.eye(t.num_nodes, dtype=t.bias.dtype)
        system = eye - t.gamma * dense_matrix(t)  # (m, n, n)
        h = jnp.linalg.solve(system, t.bias.T[..., None])[..., 0].T
        residual = jnp.linalg.norm(apply_transition(t, h) - h)
        return implicit.Solution(h, jnp.asarray(1, jnp.int32), residual, jnp.isfinite(residual))
    adjoint_solve = adjoint
    if adjoint == "neumann":
        # The adjoint iteration contracts at the forward's rate, so it needs as many steps.
        adjoint_solve = functools.partial(linear_solve.neumann, tol=tol, max_iter=max_iter)
    return implicit.fixed_point(
        functools.partial(_map, gamma=t.gamma),
        jnp.zeros_like(t.bias),
        t.edge_values,
        t.bias,
        t.senders,
        t.receivers,
        solver=solver,
        tol=tol,
        max_iter=max_iter,
        adjoint=adjoint_solve,
        throw=throw,
    )


def unrolled_fixed_point(transition: Transition, num_iter: int) -> jax.Array:
    """``H_K`` after ``K = num_iter`` plain iterations from 0, differentiated by unrolling.

    The reference the IFT gradient is checked against; its backward stores every iterate, so
    its memory grows linearly with ``num_iter``.
    """
    if int(num_iter) != num_iter or num_iter < 1:
        raise ValueError(f"`num_iter` must be an integer >= 1, got {num_iter}.")

    def step(h, _):
        return apply_transition(transition, h), None

    h, _ = jax.lax.scan(step, jnp.zeros_like(transition.bias), None, length=int(num_iter))
    return h


def banach_iteration_bound(gamma: float, first_step: float, tol: float) -> int:
    r"""The a priori iteration count that guarantees ``||H_K - H*||_1 <= tol`` (Banach).

    .. math:: K = \left\lceil \frac{\log(\mathrm{tol}\,(1-\gamma) / \|H_1 - H_0\|_1)}
              {\log\gamma} \right\rceil

    From ``H_0 = 0`` the first step is ``H_1 - H_0 = b``, so ``first_step = ||b||_1`` (all heads).
    The 1-norm is the one ``A`` contracts in (column sums <= 1); since ``||.||_2 <= ||.||_1``,
    the plain iteration's stop ``||H_{k+1} - H_k||_2 <= tol`` is met no later than this ``K``.

    Args:
      gamma: contraction factor in (0, 1).
      first_step: ``||H_1 - H_0||_1 >= 0``.
      tol: target accuracy > 0.

    Returns:
      ``K >= 1``.
    """
    if not 0 < gamma < 1:
        raise ValueError(f"`gamma` must be in (0, 1), got {gamma}.")
    if not tol > 0 or not first_step >= 0:
        raise ValueError(f"`tol` must be > 0 and `first_step` >= 0, got {tol}, {first_step}.")
    if first_step <= tol * (1 - gamma):
        return 1
    return max(1, math.ceil(math.log(tol * (1 - gamma) / first_step) / math.log(gamma)))
