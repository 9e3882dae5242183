"""Finding outliers with opposing signals: per-example loss changes, the top changers, group
losses and whether two groups' losses move out of phase (the paper's Sec. 2 procedure)."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxpapers_shared import checks

__all__ = [
    "group_losses",
    "loss_change",
    "max_loss_increase",
    "oscillation_amplitude",
    "oscillation_score",
    "per_example_losses",
    "precision_at_k",
    "top_changers",
]

PyTree = Any
ExampleLoss = Callable[[PyTree, jax.Array, jax.Array], jax.Array]


@dataclasses.dataclass(frozen=True)
class _Vmapped:
    """``(params, x, y) -> (n,)`` for a per-example ``loss_fn``; hashed by ``loss_fn`` so that
    jitted callers compile once per loss."""

    loss_fn: ExampleLoss

    def __call__(self, params: PyTree, x: jax.Array, y: jax.Array) -> jax.Array:
        return jax.vmap(self.loss_fn, in_axes=(None, 0, 0))(params, x, y)


@functools.partial(jax.jit, static_argnums=0)
def _per_example(fn: _Vmapped, params, x, y):
    return fn(params, x, y)


def _check_loss_fn(loss_fn: Any) -> None:
    if not callable(loss_fn):
        raise TypeError(
            f"`loss_fn` must be a function loss_fn(params, x_i, y_i) -> scalar, got "
            f"{type(loss_fn).__name__}."
        )


def _check_batch(batch: Any) -> tuple[jax.Array, jax.Array]:
    if not isinstance(batch, tuple | list) or len(batch) != 2:
        raise ValueError(f"`batch` must be a pair (x, y), got {type(batch).__name__}.")
    x, y = (jnp.asarray(b) for b in batch)
    if x.ndim < 1 or y.ndim < 1 or x.shape[0] != y.shape[0] or x.shape[0] == 0:
        raise ValueError(
            f"`batch` must be (x, y) with the same nonzero leading size, got x.shape={x.shape} "
            f"and y.shape={y.shape}."
        )
    checks.finite(x, "batch[0]")
    return x, y


def _vmapped(loss_fn: ExampleLoss) -> _Vmapped:
    _check_loss_fn(loss_fn)
    return loss_fn if isinstance(loss_fn, _Vmapped) else _Vmapped(loss_fn)


def per_example_losses(loss_fn: ExampleLoss, params: PyTree, batch: tuple) -> jax.Array:
    """``l_i(theta)`` for every example of ``batch`` (``vmap`` of ``loss_fn``, jitted).

    Args:
      loss_fn: ``loss_fn(params, x_i, y_i) -> ()``, the loss of one example, in eval mode (no
        dropout, no batch statistics), so that a change of ``l_i`` reflects the update alone.
      params: the parameters, a pytree.
      batch: ``(x, y)`` with leading size ``n``.

    Returns:
      (n,) losses.
    """
    x, y = _check_batch(batch)
    return _per_example(_vmapped(loss_fn), params, x, y)


def loss_change(
    loss_fn: ExampleLoss, params_before: PyTree, params_after: PyTree, batch: tuple
) -> jax.Array:
    """``Delta l_i = l_i(theta_{t+1}) - l_i(theta_t)``: how one update changed each example's loss.

    Both losses are taken on the **same** examples (with minibatch training, a fixed probe set,
    not the current batch), so the change is due to the update alone.

    Raises:
      ValueError: ``params_before`` and ``params_after`` of different structure or shapes.
    """
    checks.same_shape(params_before, params_after, ("params_before", "params_after"))
    x, y = _check_batch(batch)
    fn = _vmapped(loss_fn)
    return _per_example(fn, params_after, x, y) - _per_example(fn, params_before, x, y)


def top_changers(deltas: jax.Array, k: int, *, signed: bool = False) -> jax.Array:
    """Indices of the ``k`` examples whose loss changed most in one update, largest first.

    The paper inspects the examples with the largest loss change between iterations; whether it
    ranks by ``|Delta l|`` or by the increase ``Delta l`` is not stated, so both are offered.

    Args:
      deltas: (n,) loss changes (:func:`loss_change`), finite.
      k: how many, in ``[1, n]``.
      signed: rank by the increase ``Delta l`` instead of ``|Delta l|``.

    Returns:
      (k,) int32 indices.

    Raises:
      ValueError: ``k`` outside ``[1, n]``; ``deltas`` not 1-D or non-finite.
    """
    deltas = checks.array(deltas, "deltas", ndim=1, dtype="float")
    k = checks.integer(k, "k", minimum=1)
    if k > deltas.shape[0]:
        raise ValueError(
            f"`k` must be at most the number of examples n = {deltas.shape[0]}, got {k}."
        )
    return jax.lax.top_k(deltas if signed else jnp.abs(deltas), k)[1]


def _check_groups(groups: Any, n: int) -> dict[str, jax.Array]:
    if not isinstance(groups, Mapping) or not groups:
        raise ValueError(f"`groups` must be a non-empty dict of name -> mask, got {groups!r}.")
    masks = {}
    for name, mask in groups.items():
        arr = jnp.asarray(mask)
        if arr.dtype != jnp.bool_ or arr.shape != (n,):
            raise ValueError(
                f"`groups[{name!r}]` must be a boolean mask of shape ({n},), got dtype "
                f"{arr.dtype} and shape {arr.shape}."
            )
        if checks.is_concrete(arr) and not bool(jnp.any(arr)):
            raise ValueError(f"`groups[{name!r}]` is empty: the mask selects no example.")
        masks[str(name)] = arr
    return masks


def group_losses(per_example: jax.Array, groups: Mapping[str, jax.Array]) -> dict[str, jax.Array]:
    """The mean loss of each group: ``{name: mean_{i in group} l_i}``.

    Args:
      per_example: (n,) finite losses.
      groups: name -> (n,) boolean mask, each selecting at least one example.

    Raises:
      ValueError: non-finite losses, a mask of the wrong shape or dtype, an empty group.
    """
    losses = checks.array(per_example, "per_example", ndim=1, dtype="float")
    masks = _check_groups(groups, losses.shape[0])
    return {name: jnp.sum(jnp.where(m, losses, 0.0)) / jnp.sum(m) for name, m in masks.items()}


def _series(values: Any, name: str) -> np.ndarray:
    arr = np.asarray(checks.array(values, name, ndim=1, dtype="float"), dtype=np.float64)
    if arr.size < 3:
        raise ValueError(f"`{name}` must hold at least 3 steps, got {arr.size}.")
    return arr


def oscillation_score(loss_a: Any, loss_b: Any) -> float:
    """How far two groups' losses move out of phase: the correlation of their step-to-step changes.

    ``corr(diff(loss_a), diff(loss_b))`` is -1 when every step that raises one group's loss lowers
    the other's in proportion (the paper's Fig. 1/3 picture of two opposing groups swapping which
    one is fit), +1 when they move together and about 0 when unrelated. Log the losses every step:
    the period-2 oscillation at the edge of stability vanishes at a coarser cadence.

    Args:
      loss_a, loss_b: (T,) group losses over the same steps, T >= 3, finite.

    Returns:
      the Pearson correlation in [-1, 1].

    Raises:
      ValueError: different lengths, fewer than 3 steps, non-finite values, or a series whose
        changes are all equal (correlation undefined).
    """
    a = np.diff(_series(loss_a, "loss_a"))
    b = np.diff(_series(loss_b, "loss_b"))
    if a.shape != b.shape:
        raise ValueError(
            f"`loss_a` and `loss_b` must cover the same steps, got {a.size + 1} and {b.size + 1}."
        )
    for name, d in (("loss_a", a), ("loss_b", b)):
        if np.std(d) == 0:
            raise ValueError(f"`{name}` changes by the same amount every step; no correlation.")
    return float(np.corrcoef(a, b)[0, 1])


def oscillation_amplitude(loss_a: Any, loss_b: Any) -> float:
    """The root-mean-square step-to-step change of the gap ``loss_a - loss_b`` between two groups.

    Large when the two groups swap which one is fit from step to step (the oscillation across the
    valley their opposing signals form), 0 when the gap is steady.

    Raises:
      ValueError: different lengths, fewer than 3 steps, non-finite values.
    """
    a, b = _series(loss_a, "loss_a"), _series(loss_b, "loss_b")
    if a.shape != b.shape:
        raise ValueError(
            f"`loss_a` and `loss_b` must cover the same steps, got {a.size} and {b.size}."
        )
    return float(np.sqrt(np.mean(np.diff(a - b) ** 2)))


def max_loss_increase(loss: Any) -> float:
    """The largest single-step increase of a loss curve, ``max_t (L_{t+1} - L_t)`` (0 if none):
    the size of the worst loss spike.

    Raises:
      ValueError: fewer than 3 steps or non-finite values.
    """
    return float(max(np.max(np.diff(_series(loss, "loss"))), 0.0))


def precision_at_k(indices: Any, mask: Any) -> float:
    """The fraction of ``indices`` that fall in ``mask``: how many of the top changers are the
    planted outliers. Chance level is ``mask.mean()``.

    Raises:
      ValueError: ``mask`` not a boolean 1-D array, ``indices`` empty or outside ``[0, n)``.
    """
    mask = np.asarray(mask)
    if mask.dtype != np.bool_ or mask.ndim != 1:
        raise ValueError(f"`mask` must be a 1-D boolean array, got {mask.dtype} {mask.shape}.")
    idx = np.asarray(indices)
    if idx.size == 0 or not np.issubdtype(idx.dtype, np.integer):
        raise ValueError(
            f"`indices` must be a non-empty integer array, got {idx.dtype} {idx.shape}."
        )
    if idx.min() < 0 or idx.max() >= mask.size:
        raise ValueError(f"`indices` must lie in [0, {mask.size}), got {idx.min()}..{idx.max()}.")
    return float(np.mean(mask[idx]))
