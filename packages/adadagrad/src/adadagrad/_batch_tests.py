"""Adaptive batch-size tests on per-example gradients (norm, inner product, orthogonality).

Every test estimates, from the ``n`` per-example gradients ``g_i`` of the current batch, how
large a batch would have made the minibatch gradient accurate enough, and proposes that size.
``gbar = mean_i g_i``; variances are unbiased (``ddof = 1``) and sums run over every coordinate
of the parameter tree, as in the official implementation.
"""

from __future__ import annotations

import math
import sys
from functools import partial
from typing import Literal, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxpapers_shared import checks

TestName = Literal["norm", "inner_product", "orthogonality", "augmented", "coordinate"]
TESTS: tuple[str, ...] = ("norm", "inner_product", "orthogonality", "augmented", "coordinate")


class BatchSizeProposal(NamedTuple):
    """What a test asks for.

    Attributes:
      batch_size: ``ceil(statistic)`` as a Python int, at least 1, at most ``max_batch``.
      statistic: the real-valued batch size the test asks for (``inf`` when ``gbar = 0``).
      grad_norm_sq: ``||gbar||^2`` of the batch the test saw.
      degenerate: ``gbar`` was exactly zero (a stationary point or an all-zero batch); the
        proposal is then ``max_batch`` instead of a division by zero.
    """

    batch_size: int
    statistic: float
    grad_norm_sq: float
    degenerate: bool


def flatten_per_example(per_example_grads, name: str = "per_example_grads") -> jax.Array:
    """Stacks a tree of per-example gradients (leading axis = examples) into ``(n, P)``.

    Raises:
      ValueError: an empty tree, leaves that disagree on the number of examples, fewer than 2
        examples (a sample variance needs two), or NaN/inf in a leaf (named by its path).
    """
    leaves_with_path = jax.tree_util.tree_leaves_with_path(per_example_grads)
    if not leaves_with_path:
        raise ValueError(f"`{name}` must hold at least one array, got an empty tree.")
    sizes = {}
    for path, leaf in leaves_with_path:
        shape = jnp.shape(leaf)
        if len(shape) == 0:
            raise ValueError(
                f"`{name}{jax.tree_util.keystr(path)}` must have a leading example axis, "
                "got a scalar."
            )
        sizes[jax.tree_util.keystr(path)] = shape[0]
    if len(set(sizes.values())) != 1:
        raise ValueError(
            f"every leaf of `{name}` must have the same leading (example) axis, got {sizes}."
        )
    n = next(iter(sizes.values()))
    if n < 2:
        raise ValueError(f"`{name}` must hold >= 2 examples (a sample variance), got {n}.")
    checks.finite(per_example_grads, name)
    leaves = [jnp.reshape(leaf, (n, -1)).astype(jnp.float32) for _, leaf in leaves_with_path]
    return jnp.concatenate(leaves, axis=1)


@partial(jax.jit, static_argnames=("kind",))
def required_batch_size(
    flat: jax.Array,
    kind: str,
    eta: float = 0.1,
    theta: float = 0.5,
    nu: float = 1.0,
    coordinate_floor: float = 1e-2,
) -> tuple[jax.Array, jax.Array]:
    """The real-valued batch size a test asks for, from ``(n, P)`` per-example gradients.

    Returns ``(statistic, ||gbar||^2)``; ``statistic`` is ``inf`` when ``gbar = 0``. Jittable,
    with no input checks: the public tests (:func:`norm_test`, ...) check and call this.

    * ``norm``: ``sum_j Var_i(g_ij) / (eta^2 ||gbar||^2)`` (Byrd et al. 2012).
    * ``inner_product``: ``Var_i(<g_i, gbar>) / (theta^2 ||gbar||^4)`` (Bollapragada et al. 2018).
    * ``orthogonality``: ``sum_j Var_i(r_ij) / (nu^2 ||gbar||^2)`` with
      ``r_i = g_i - (<g_i, gbar> / ||gbar||^2) gbar``.
    * ``augmented``: the larger of inner product and orthogonality.
    * ``coordinate``: ``max_j Var_i(g_ij) / (eta^2 gbar_j^2)`` over the coordinates whose
      ``gbar_j^2 >= coordinate_floor * ||gbar||^2 / P`` (our guard: a coordinate whose mean is
      ~0 would otherwise ask for an unbounded batch at once).
    """
    n = flat.shape[0]
    # Reductions over the example axis are written as products with a vector of ones: XLA's CPU
    # backend is much slower at reducing the major axis of a (n, P) array than at a mat-vec.
    ones = jnp.full((n,), 1.0 / n, flat.dtype)
    gbar = ones @ flat
    gsq = jnp.sum(jnp.square(gbar))
    safe = jnp.where(gsq > 0, gsq, 1.0)
    centered = flat - gbar
    row_sq = jnp.sum(jnp.square(centered), axis=1)  # ||g_i - gbar||^2
    if kind == "norm":
        stat = jnp.sum(row_sq) / ((n - 1) * eta**2 * safe)
    elif kind in ("inner_product", "orthogonality", "augmented"):
        proj = centered @ gbar  # <g_i, gbar> - ||gbar||^2; its variance is that of <g_i, gbar>
        ip = jnp.sum(jnp.square(proj)) / ((n - 1) * theta**2 * jnp.square(safe))
        # r_i = g_i - (<g_i, gbar> / ||gbar||^2) gbar has mean 0 and ||r_i||^2 =
        # ||g_i - gbar||^2 - (<g_i - gbar, gbar>)^2 / ||gbar||^2 (Pythagoras)
        orth = jnp.sum(row_sq - jnp.square(proj) / safe) / ((n - 1) * nu**2 * safe)
        stat = {"inner_product": ip, "orthogonality": orth}.get(kind, jnp.maximum(ip, orth))
    elif kind == "coordinate":
        var = (n / (n - 1)) * (ones @ jnp.square(centered))  # (P,) unbiased variances
        gj = jnp.square(gbar)
        keep = gj >= coordinate_floor * gsq / gbar.shape[0]
        ratio = jnp.where(keep, var / (eta**2 * jnp.where(gj > 0, gj, 1.0)), 0.0)
        stat = jnp.max(ratio)
    else:
        raise ValueError(f"`kind` must be one of {TESTS}; got {kind!r}.")
    return jnp.where(gsq > 0, stat, jnp.inf), gsq


def _propose(stat: float, gsq: float, max_batch: int | None) -> BatchSizeProposal:
    cap = sys.maxsize if max_batch is None else max_batch
    if not math.isfinite(stat):
        return BatchSizeProposal(cap, stat, gsq, True)
    return BatchSizeProposal(int(min(cap, max(1, math.ceil(stat)))), stat, gsq, False)


def _check_cap(max_batch):
    if max_batch is not None:
        checks.integer(max_batch, "max_batch", minimum=1)


def _run(per_example_grads, kind, max_batch, **constants) -> BatchSizeProposal:
    _check_cap(max_batch)
    flat = flatten_per_example(per_example_grads)
    stat, gsq = required_batch_size(flat, kind, **constants)
    return _propose(float(np.asarray(stat)), float(np.asarray(gsq)), max_batch)


def _unit(value, name):
    return checks.in_range(value, name, 0.0, 1.0, closed="neither")


def norm_test(per_example_grads, eta: float = 0.1, *, max_batch: int | None = None):
    """Norm test: the batch size with ``E||g_B - grad F||^2 <= eta^2 ||grad F||^2``.

    ``b = ceil( sum_j Var_i(g_ij) / (eta^2 ||gbar||^2) )`` (arXiv:2402.11215, Sec. 3; Byrd et
    al. 2012), since ``E||g_B - grad F||^2 = tr(Cov) / b``.

    Args:
      per_example_grads: a pytree whose leaves have a leading axis of ``n >= 2`` examples.
      eta: the tolerance ``eta in (0, 1)``.
      max_batch: cap on the proposal (also returned when ``gbar = 0``).

    Returns:
      :class:`BatchSizeProposal`.

    Raises:
      ValueError: ``eta`` not in (0, 1), bad ``max_batch``, or bad per-example gradients.
    """
    _unit(eta, "eta")
    return _run(per_example_grads, "norm", max_batch, eta=eta)


def inner_product_test(per_example_grads, theta: float = 0.5, *, max_batch: int | None = None):
    """Inner product test: ``b = ceil( Var_i(<g_i, gbar>) / (theta^2 ||gbar||^4) )``.

    Bollapragada, Byrd, Nocedal (2018): the minibatch gradient is a descent direction with high
    probability. ``theta in (0, 1)``. See :func:`norm_test` for the arguments.
    """
    _unit(theta, "theta")
    return _run(per_example_grads, "inner_product", max_batch, theta=theta)


def orthogonality_test(per_example_grads, nu: float = 0.5, *, max_batch: int | None = None):
    """Orthogonality test: ``b = ceil( sum_j Var_i(r_ij) / (nu^2 ||gbar||^2) )``.

    ``r_i = g_i - (<g_i, gbar> / ||gbar||^2) gbar`` is the part of ``g_i`` orthogonal to
    ``gbar``. ``nu in (0, 1)``.

    Differs from the paper: the official CIFAR runs use ``nu = 1``; we keep every test constant
    in the open interval (0, 1).
    """
    _unit(nu, "nu")
    return _run(per_example_grads, "orthogonality", max_batch, nu=nu)


def augmented_inner_product_test(
    per_example_grads,
    theta: float = 0.5,
    nu: float = 0.5,
    *,
    max_batch: int | None = None,
) -> BatchSizeProposal:
    """Augmented inner product test: the larger of the inner product and orthogonality sizes."""
    _unit(theta, "theta")
    _unit(nu, "nu")
    return _run(per_example_grads, "augmented", max_batch, theta=theta, nu=nu)


def coordinate_norm_test(
    per_example_grads,
    eta: float = 0.1,
    *,
    coordinate_floor: float = 1e-2,
    max_batch: int | None = None,
) -> BatchSizeProposal:
    """Coordinate-wise norm test (for coordinate-wise AdaGrad).

    Asks every coordinate for ``Var_i(g_ij) / b <= eta^2 gbar_j^2``:
    ``b = ceil( max_j Var_i(g_ij) / (eta^2 gbar_j^2) )``.

    Args:
      coordinate_floor: a coordinate takes part only when ``gbar_j^2 >= coordinate_floor *
        ||gbar||^2 / P`` (``P`` = number of coordinates), in ``[0, 1]``.

    Differs from the paper: the guard on near-zero coordinates is our choice (the paper states
    the per-coordinate condition for every coordinate; without a guard one coordinate whose
    mean gradient is ~0 asks for an unbounded batch).
    """
    _unit(eta, "eta")
    checks.in_range(coordinate_floor, "coordinate_floor", 0.0, 1.0)
    return _run(
        per_example_grads, "coordinate", max_batch, eta=eta, coordinate_floor=coordinate_floor
    )
