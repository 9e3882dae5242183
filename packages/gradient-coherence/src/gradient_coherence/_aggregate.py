"""Robust aggregation of gradients that suppresses weak directions (optax transformations).

Two kinds, with different inputs:

* **Per-example aggregators** (:func:`per_example_mean`, :func:`winsorized_aggregate`,
  :func:`median_of_means_aggregate`) consume *per-example* updates: a pytree shaped like the
  parameters whose every leaf carries one extra leading batch axis ``B`` (the output of
  :func:`gradient_coherence.per_example_grads`), and emit the reduced update shaped like the
  parameters. They go first in an ``optax.chain``, before the optimizer proper::

      tx = optax.chain(winsorized_aggregate(0.1), optax.sgd(0.1))
      updates, state = tx.update(per_example_grads(loss, params, batch), state, params)

  ``init`` takes the parameters (no batch axis). Calling one on updates without the batch axis
  raises a ``ValueError``.

* **Minibatch-gradient filters** (:func:`m3`, :func:`rm3`, :func:`ra3`) consume ordinary
  minibatch gradients (shaped like the parameters) and keep the last three in their state.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from jaxpapers_shared import checks

PyTree = Any


def _batch_axis(updates: PyTree, params: PyTree | None, name: str) -> int:
    """The leading batch axis of per-example ``updates``; checked against ``params`` if given."""
    leaves = jax.tree.leaves(updates)
    sizes = {jnp.shape(leaf)[0] if jnp.ndim(leaf) else None for leaf in leaves}
    if not leaves or None in sizes or len(sizes) != 1:
        raise ValueError(
            f"{name}: `updates` must be per-example, every leaf with one shared leading batch "
            f"axis, got leaf shapes {[jnp.shape(leaf) for leaf in leaves]}."
        )
    if params is not None:
        for u, p in zip(leaves, jax.tree.leaves(params), strict=True):
            if jnp.shape(u)[1:] != jnp.shape(p):
                raise ValueError(
                    f"{name}: `updates` must be per-example, shaped (batch, *param.shape); got a "
                    f"leaf of shape {jnp.shape(u)} for a parameter of shape {jnp.shape(p)}."
                )
    return int(sizes.pop())


def _stateless(reduce, name: str) -> optax.GradientTransformation:
    def init_fn(params):
        del params
        return optax.EmptyState()

    def update_fn(updates, state, params=None):
        _batch_axis(updates, params, name)
        return jax.tree.map(reduce, updates), state

    return optax.GradientTransformation(init_fn, update_fn)


def per_example_mean() -> optax.GradientTransformation:
    """The plain mean over the batch axis of per-example updates (what SGD on the mean loss
    uses): the baseline the robust aggregators are compared with in one pipeline."""
    return _stateless(lambda leaf: jnp.mean(leaf, axis=0), "per_example_mean")


def _largest(x: jax.Array, count: int) -> jax.Array:
    """The ``count`` largest values along axis 0, sorted descending (ties kept).

    Inserts the rows of ``x`` one at a time into a sorted buffer of ``count`` rows with
    elementwise min/max (``O(B count P)``, no sort): XLA's CPU sort and ``top_k`` along a short
    batch axis cost several times more on per-example gradients.
    """

    def insert(top, row):
        above = jnp.concatenate([jnp.full((1, *row.shape), jnp.inf, row.dtype), top[:-1]])
        return jnp.maximum(top, jnp.minimum(above, row)), None

    start = jnp.full((count, *x.shape[1:]), -jnp.inf, x.dtype)
    return jax.lax.scan(insert, start, x)[0]


def winsorized_mean(per_example: jax.Array, fraction: float) -> jax.Array:
    """Coordinate-wise winsorized mean over axis 0 of one array (see :func:`winsorized_aggregate`)."""
    b = per_example.shape[0]
    k = int(round(fraction * (b - 1)))  # nearest-rank percentile, numpy "nearest"
    if k == 0:
        return jnp.mean(per_example, axis=0)
    upper = _largest(per_example, k + 1)[-1]  # the (k+1)-th largest value of each coordinate
    lower = -_largest(-per_example, k + 1)[-1]
    return jnp.mean(jnp.clip(per_example, lower, upper), axis=0)


def _median(x: jax.Array) -> jax.Array:
    """Median along a short axis 0 (the mean of the two middle values for an even count)."""
    n = x.shape[0]
    top = _largest(x, n // 2 + 1)
    return top[n // 2] if n % 2 else 0.5 * (top[n // 2 - 1] + top[n // 2])


def winsorized_aggregate(fraction: float = 0.1) -> optax.GradientTransformation:
    """Winsorized mean of per-example updates, per coordinate (Coherent Gradients, ICLR 2020).

    For every parameter coordinate separately, the ``B`` per-example values are clipped to their
    own ``fraction``- and ``(1 - fraction)``-quantiles and averaged. The quantiles are nearest-rank
    order statistics, index ``k = round(fraction (B - 1))`` from each end (numpy's "nearest"
    interpolation, as the official code's percentile); ``fraction = 0`` (or any ``k = 0``) is the
    plain mean. The official ``winsorize_pct`` is ``100 * fraction`` (default 10).

    Args:
      fraction: the share clipped at each end, in ``[0, 0.5)``.

    Returns:
      A transformation from per-example updates (leaves ``(B, *param.shape)``) to the winsorized
      mean (leaves ``param.shape``); chain it with ``optax.sgd``.

    Raises:
      ValueError: ``fraction`` outside ``[0, 0.5)``; updates without a shared batch axis.
    """
    fraction = float(checks.in_range(fraction, "fraction", 0.0, 0.5, closed="left"))
    return _stateless(lambda leaf: winsorized_mean(leaf, fraction), "winsorized_aggregate")


def median_of_means_aggregate(num_groups: int = 3) -> optax.GradientTransformation:
    """Median of means of per-example updates (Chatterjee & Zielinski 2022).

    The ``B`` examples are split, in order, into ``num_groups`` groups of ``B / num_groups``; each
    group's updates are averaged and the coordinate-wise median of the group means is the update
    (the mean of the two middle ones when ``num_groups`` is even). ``num_groups = 1`` is the
    plain mean.

    Raises:
      ValueError: ``num_groups`` < 1; at update time, a batch smaller than ``num_groups`` or not
        divisible by it.
    """
    num_groups = checks.integer(num_groups, "num_groups", minimum=1)

    def reduce(leaf):
        b = leaf.shape[0]
        if b < num_groups or b % num_groups:
            raise ValueError(
                f"median_of_means_aggregate: the batch of {b} examples must be a multiple of "
                f"`num_groups`={num_groups} (at least one example per group)."
            )
        means = jnp.mean(leaf.reshape(num_groups, b // num_groups, *leaf.shape[1:]), axis=1)
        return _median(means)

    return _stateless(reduce, "median_of_means_aggregate")


class ScaleByMedianOf3State(NamedTuple):
    """The last three minibatch gradients (slot ``count % 3`` is overwritten next) and the
    number of gradients seen."""

    buffer: PyTree
    count: jax.Array


def _check_not_per_example(updates: PyTree, params: PyTree | None, name: str) -> None:
    if params is None:
        return
    for u, p in zip(jax.tree.leaves(updates), jax.tree.leaves(params), strict=True):
        if jnp.shape(u) != jnp.shape(p):
            raise ValueError(
                f"{name}: `updates` must be minibatch gradients shaped like the parameters; got "
                f"a leaf of shape {jnp.shape(u)} for a parameter of shape {jnp.shape(p)} (a "
                "per-example axis? reduce it first, or use a per-example aggregator)."
            )


def _median3(a, b, c):
    return a + b + c - jnp.minimum(jnp.minimum(a, b), c) - jnp.maximum(jnp.maximum(a, b), c)


def _scale_by_window_of_3(kind: str) -> optax.GradientTransformation:
    def init_fn(params):
        buffer = jax.tree.map(lambda p: jnp.zeros((3, *jnp.shape(p)), jnp.result_type(p)), params)
        return ScaleByMedianOf3State(buffer, jnp.zeros((), jnp.int32))

    def update_fn(updates, state, params=None):
        _check_not_per_example(updates, params, kind)
        slot = state.count % 3
        buffer = jax.tree.map(lambda buf, u: buf.at[slot].set(u), state.buffer, updates)
        seen = jnp.minimum(state.count + 1, 3)

        def reduce(buf, u):
            warm = jnp.sum(buf, axis=0) / seen  # fewer than 3 seen: their mean (zeros unused)
            full = _median3(buf[0], buf[1], buf[2]) if kind != "ra3" else jnp.mean(buf, axis=0)
            out = jnp.where(seen == 3, full, warm).astype(jnp.result_type(u))
            if kind == "m3":  # one update per 3 minibatches, from a freshly filled buffer
                out = jnp.where(slot == 2, _median3(buf[0], buf[1], buf[2]), jnp.zeros_like(out))
            return out

        out = jax.tree.map(reduce, buffer, updates)
        return out, ScaleByMedianOf3State(buffer, state.count + 1)

    return optax.GradientTransformation(init_fn, update_fn)


def rm3() -> optax.GradientTransformation:
    """Running median of 3 (Zielinski, Krishnan & Chatterjee 2020): every step emits the
    coordinate-wise median of the current and the two previous minibatch gradients.

    Consumes ordinary minibatch gradients (shaped like the parameters), no per-example axis.
    Differs from the paper: the first two steps, before three gradients exist, emit the mean of
    those seen. Chain with ``optax.sgd``.
    """
    return _scale_by_window_of_3("rm3")


def ra3() -> optax.GradientTransformation:
    """Running average of 3: the control for :func:`rm3` (same window, mean instead of median)."""
    return _scale_by_window_of_3("ra3")


def m3() -> optax.GradientTransformation:
    """Median of 3 as in the official code: a 3-slot buffer is filled by three minibatches, and
    every third step emits their coordinate-wise median; the two buffering steps emit zeros (so
    M3 makes a third of the updates of SGD at equal epochs)."""
    return _scale_by_window_of_3("m3")
