"""Per-example gradients and their coherence (m-coherence ``alpha_m / alpha_m^perp``).

For per-example gradients ``g_1 .. g_m`` at fixed parameters ``w`` (Chatterjee & Zielinski 2022,
arXiv:2203.10036; introduced in arXiv:2008.01217), the plug-in coherence of the sample is

    alpha_m = ||(1/m) sum_i g_i||^2 / ((1/m) sum_i ||g_i||^2)

(the i = j terms included), whose value for pairwise orthogonal gradients is ``1/m``. The paper
reports the ratio ``alpha_m / alpha_m^perp = ||sum_i g_i||^2 / sum_i ||g_i||^2``, the
*m-coherence*: 1 for orthogonal gradients, ``m`` for identical ones, below 1 when they cancel.
It costs one summed gradient and ``m`` squared norms (``O(m)``), never an ``m x m`` Gram matrix.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from jaxpapers_shared import checks

PyTree = Any


def _batch_size(tree: PyTree, name: str) -> int:
    """The common leading axis of every leaf of ``tree``; rejects trees that disagree."""
    leaves = jax.tree.leaves(tree)
    if not leaves:
        raise ValueError(f"`{name}` must hold at least one array, got an empty pytree.")
    sizes = {jnp.shape(leaf)[0] if jnp.ndim(leaf) else None for leaf in leaves}
    if None in sizes or len(sizes) != 1:
        shapes = [jnp.shape(leaf) for leaf in leaves]
        raise ValueError(
            f"`{name}` must carry one leading batch axis shared by every leaf, got leaf shapes "
            f"{shapes}."
        )
    return int(sizes.pop())


def per_example_grads(
    loss_fn: Callable[[PyTree, PyTree], jax.Array],
    params: PyTree,
    batch: PyTree,
    *,
    chunk_size: int | None = None,
) -> PyTree:
    """The gradient of ``loss_fn`` at ``params`` for every example of ``batch`` (``vmap(grad)``).

    Args:
      loss_fn: ``loss_fn(params, example) -> scalar`` on ONE example (a pytree of arrays without
        the batch axis), e.g. ``lambda p, ex: cross_entropy(model(p, ex[0]), ex[1])``.
      params: the parameters (any pytree).
      batch: a pytree of arrays whose leaves share a leading axis of ``m`` examples.
      chunk_size: ``None`` vectorises over all ``m`` examples at once (memory ``O(m P)`` for the
        backward pass); an integer computes ``chunk_size`` examples at a time with ``lax.map``
        (the same result; peak scratch memory ``O(chunk_size P)`` besides the output).

    Returns:
      A pytree shaped like ``params`` whose leaves have an extra leading axis ``m``.

    Raises:
      ValueError: the leaves of ``batch`` disagree on the leading axis, or ``chunk_size`` < 1.
    """
    _batch_size(batch, "batch")
    grad = jax.grad(loss_fn)
    if chunk_size is None:
        return jax.vmap(grad, in_axes=(None, 0))(params, batch)
    chunk_size = checks.integer(chunk_size, "chunk_size", minimum=1)
    return jax.lax.map(lambda example: grad(params, example), batch, batch_size=chunk_size)


def _sums(per_example: PyTree) -> tuple[jax.Array, jax.Array]:
    """``(||sum_i g_i||^2, sum_i ||g_i||^2)`` over all leaves, accumulated in the widest float."""
    dtype = jnp.promote_types(jnp.float32, jax.dtypes.canonicalize_dtype(jnp.float64))
    leaves = [jnp.asarray(leaf, dtype) for leaf in jax.tree.leaves(per_example)]
    total = sum(jnp.sum(jnp.sum(leaf, axis=0) ** 2) for leaf in leaves)
    diagonal = sum(jnp.sum(leaf**2) for leaf in leaves)
    return total, diagonal


def _check_sample(per_example: PyTree, name: str) -> int:
    m = _batch_size(per_example, name)
    if m < 2:
        raise ValueError(f"`{name}` must hold at least 2 examples (leading axis m >= 2), got {m}.")
    checks.finite(per_example, name)
    return m


def _ratio(total: jax.Array, diagonal: jax.Array, name: str) -> jax.Array:
    """``total / diagonal``; a concrete all-zero sample (coherence undefined) raises."""
    if checks.is_concrete(diagonal) and not float(diagonal) > 0:
        raise ValueError(
            f"`{name}`: every per-example gradient is zero (sum_i ||g_i||^2 = 0), so coherence is "
            "undefined."
        )
    return total / diagonal


def m_coherence(per_example: PyTree) -> jax.Array:
    """The m-coherence ``alpha_m / alpha_m^perp = ||sum_i g_i||^2 / sum_i ||g_i||^2``.

    Args:
      per_example: per-example gradients, a pytree whose leaves share a leading axis ``m >= 2``
        (the output of :func:`per_example_grads`); all leaves count as one parameter vector.

    Returns:
      A scalar in ``[0, m]``: 1 for pairwise orthogonal gradients, ``m`` for identical ones.
      Under ``jit`` an all-zero sample gives NaN (it cannot raise there).

    Raises:
      ValueError: fewer than 2 examples, leaves disagree on ``m``, non-finite gradients, or every
        gradient is zero.

    References:
      Chatterjee & Zielinski, arXiv:2203.10036; Chatterjee & Zielinski, arXiv:2008.01217.
    """
    _check_sample(per_example, "per_example")
    return _ratio(*_sums(per_example), "per_example")


def coherence_alpha(per_example: PyTree, *, unbiased: bool = False) -> jax.Array:
    """The coherence ``alpha`` of a sample: the plug-in ``alpha_m`` or the unbiased estimate.

    ``alpha_m = ||mean g||^2 / mean ||g||^2 = m_coherence / m`` (i = j terms included; the
    orthogonal limit is ``1/m``). With ``unbiased=True``, only distinct pairs:
    ``(||sum g||^2 - sum ||g||^2) / ((m - 1) sum ||g||^2)``, an estimate of the population
    ``alpha(D) = E[g_z . g_z'] / E[g_z . g_z]`` that is 0 for orthogonal gradients.

    Raises:
      ValueError: as :func:`m_coherence`.
    """
    m = _check_sample(per_example, "per_example")
    total, diagonal = _sums(per_example)
    if unbiased:
        return _ratio(total - diagonal, diagonal, "per_example") / (m - 1)
    return _ratio(total, diagonal, "per_example") / m


def layerwise_m_coherence(per_example: PyTree) -> PyTree:
    """:func:`m_coherence` of every leaf on its own (a pytree of scalars shaped like params).

    A leaf whose gradients are all zero (a layer nothing flows through) gives NaN.
    """
    _check_sample(per_example, "per_example")

    def leaf_ratio(leaf):
        total, diagonal = _sums(leaf)
        return jnp.where(diagonal > 0, total / jnp.where(diagonal > 0, diagonal, 1.0), jnp.nan)

    return jax.tree.map(leaf_ratio, per_example)


def streaming_m_coherence(
    loss_fn: Callable[[PyTree, PyTree], jax.Array],
    params: PyTree,
    batch: PyTree,
    *,
    chunk_size: int = 64,
) -> jax.Array:
    """:func:`m_coherence` of ``per_example_grads(loss_fn, params, batch)`` without storing them.

    Accumulates ``sum_i g_i`` and ``sum_i ||g_i||^2`` over chunks of ``chunk_size`` examples, so
    memory is ``O(chunk_size P)`` instead of ``O(m P)``; the result equals :func:`m_coherence`
    up to rounding (float64 accumulation when ``jax_enable_x64`` is on).

    Raises:
      ValueError: ``m < 2``, leaves of ``batch`` disagree on ``m``, ``chunk_size`` < 1, or every
        gradient is zero.
    """
    m = _batch_size(batch, "batch")
    if m < 2:
        raise ValueError(f"`batch` must hold at least 2 examples (leading axis m >= 2), got {m}.")
    chunk_size = checks.integer(chunk_size, "chunk_size", minimum=1)
    total, diagonal = _streaming_sums(loss_fn, params, batch, min(chunk_size, m))
    return _ratio(total, diagonal, "batch")


def _streaming_sums(loss_fn, params, batch, chunk_size: int):
    m = _batch_size(batch, "batch")
    grad = jax.grad(loss_fn)
    acc_dtype = jnp.promote_types(jnp.float32, jax.dtypes.canonicalize_dtype(jnp.float64))
    full, rest = divmod(m, chunk_size)

    def chunk_sums(chunk):
        g = jax.vmap(grad, in_axes=(None, 0))(params, chunk)
        g = jax.tree.map(lambda leaf: leaf.astype(acc_dtype), g)
        summed = jax.tree.map(lambda leaf: jnp.sum(leaf, axis=0), g)
        return summed, sum(jnp.sum(leaf**2) for leaf in jax.tree.leaves(g))

    def body(carry, chunk):
        summed, diagonal = chunk_sums(chunk)
        return (jax.tree.map(jnp.add, carry[0], summed), carry[1] + diagonal), None

    zeros = jax.tree.map(lambda leaf: jnp.zeros(jnp.shape(leaf), acc_dtype), params)
    carry = (zeros, jnp.zeros((), acc_dtype))
    if full:
        head = jax.tree.map(
            lambda x: x[: full * chunk_size].reshape(full, chunk_size, *x.shape[1:]), batch
        )
        carry, _ = jax.lax.scan(body, carry, head)
    if rest:
        carry, _ = body(carry, jax.tree.map(lambda x: x[full * chunk_size :], batch))
    summed, diagonal = carry
    total = sum(jnp.sum(leaf**2) for leaf in jax.tree.leaves(summed))
    return total, diagonal


def pairwise_m_coherence(per_example: PyTree) -> jax.Array:
    """The same ratio from the ``m x m`` Gram matrix ``G_ij = g_i . g_j``: ``sum G / tr G``.

    ``O(m^2 P)`` work and ``O(m^2)`` memory: what a cosine-similarity analysis of all pairs
    costs. Kept as the reference the O(m) route is tested and benchmarked against.
    """
    m = _check_sample(per_example, "per_example")
    flat = jnp.concatenate([jnp.reshape(leaf, (m, -1)) for leaf in jax.tree.leaves(per_example)], 1)
    gram = flat @ flat.T
    return _ratio(jnp.sum(gram), jnp.trace(gram), "per_example")
