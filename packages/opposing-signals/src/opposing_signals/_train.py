"""Full-batch training that records, at every step, what the paper's diagnostics need: the
loss, each group's loss, the examples whose loss changed most, and (every few steps) sharpness."""

from __future__ import annotations

import dataclasses
import functools
import warnings
from collections.abc import Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from jaxpapers_shared import checks, devices

from ._models import LossName, example_losses
from ._sharpness import _MeanLoss, _top_eigenpair
from ._signals import _check_groups

__all__ = ["Trace", "train_and_track"]


class Trace(NamedTuple):
    """Everything :func:`train_and_track` recorded, step by step, as arrays.

    Attributes:
      loss: (T,) mean training loss at ``theta_t``, before update ``t``.
      group_loss: (T, G) mean loss of each group at ``theta_t``.
      group_names: the G group names, in the order of ``group_loss``'s columns.
      changers: (T, k) int32, the ``k`` examples whose loss changed most in update ``t``
        (``theta_t -> theta_{t+1}``), largest first; -1 after a divergence.
      sharpness: (S,) ``lambda_max`` of the loss Hessian at the steps in ``sharpness_steps``.
      sharpness_steps: (S,) the steps ``t`` (at ``theta_t``) where sharpness was measured.
      diverged_at: the first step whose loss is NaN/inf, or -1; later entries are NaN too.
    """

    loss: np.ndarray
    group_loss: np.ndarray
    group_names: tuple[str, ...]
    changers: np.ndarray
    sharpness: np.ndarray
    sharpness_steps: np.ndarray
    diverged_at: int

    def group(self, name: str) -> np.ndarray:
        """(T,) the loss of group ``name``."""
        if name not in self.group_names:
            raise ValueError(f"`name` must be one of {self.group_names}, got {name!r}.")
        return self.group_loss[:, self.group_names.index(name)]


@dataclasses.dataclass(frozen=True)
class _ModelLoss:
    """``(params, x, y) -> (n,)`` per-example losses of an ``nnx`` model (its graphdef)."""

    graphdef: nnx.GraphDef
    loss: str

    def __call__(self, params, x, y):
        return example_losses(nnx.merge(self.graphdef, params)(x), y, self.loss)


def _ranked(delta: jax.Array, k: int, signed: bool) -> jax.Array:
    return jax.lax.top_k(delta if signed else jnp.abs(delta), k)[1]


@dataclasses.dataclass(frozen=True)
class _PaddedMeanLoss:
    """``(params, (x, y, w)) -> (mean loss over the n real rows, (rows,) losses)``; rows past
    ``n`` (padding to a multiple of the mesh size) carry weight 0. Without padding it is the
    plain mean, so one device computes exactly what the loop did before sharding."""

    fn: _ModelLoss
    n: int

    def __call__(self, params, batch):
        x, y, w = batch
        losses = self.fn(params, x, y)
        if losses.shape[0] == self.n:
            return jnp.mean(losses), losses
        return jnp.sum(w * losses) / self.n, losses


@functools.partial(
    jax.jit, static_argnames=("fn", "optimizer", "mesh", "n", "steps", "k", "signed")
)
def _chunk(fn, optimizer, mesh, n, carry, batch, masks, *, steps, k, signed):
    """``steps`` data-parallel updates on the full (sharded) batch; per step the loss, the group
    losses and the top changers of the *previous* update (its loss change reuses this step's
    forward pass)."""
    counts = jnp.sum(masks, axis=1)
    update = devices.data_parallel_step(_PaddedMeanLoss(fn, n), optimizer, mesh, has_aux=True)
    whole = devices.replicated_sharding(mesh)

    def step(carry, _):
        params, opt_state, previous = carry
        params, opt_state, (loss, losses) = update(params, opt_state, batch)
        losses = losses[:n]
        # l_i(theta_t) - l_i(theta_{t-1}) on the same (full) batch: one update's effect.
        ranked = _ranked(losses - previous, k, signed)
        out = (loss, (masks @ losses) / counts, ranked)
        return (params, opt_state, losses), jax.lax.with_sharding_constraint(out, whole)

    return jax.lax.scan(step, carry, length=steps)


@functools.partial(jax.jit, static_argnames=("fn", "k", "signed"))
def _last_changers(fn, carry, x, y, *, k, signed):
    params, _, previous = carry
    return _ranked(fn(params, x, y) - previous, k, signed)


def train_and_track(
    model: nnx.Module,
    x: jax.Array,
    y: jax.Array,
    optimizer: optax.GradientTransformation,
    *,
    steps: int,
    key: jax.Array,
    loss: LossName = "square",
    groups: Mapping[str, jax.Array] | None = None,
    k: int = 10,
    signed: bool = False,
    sharpness_every: int = 0,
    sharpness_order: int = 20,
    mesh: Any = None,
) -> tuple[nnx.Module, Trace]:
    """Trains ``model`` full-batch with ``optimizer`` and records the opposing-signal diagnostics.

    At every step ``t``: the training loss and each group's mean loss at ``theta_t``, and the
    ``k`` examples with the largest loss change ``|l_i(theta_{t+1}) - l_i(theta_t)|`` (or the
    largest increase with ``signed=True``) over that one update, measured on the same examples.
    Every ``sharpness_every`` steps, ``lambda_max`` of the loss Hessian by Lanczos. The loss
    change reuses the forward pass of the next step, so tracking costs a ``top_k`` and the group
    means per step, not extra passes.

    Args:
      model: a ``flax.nnx`` module, without dropout or batch statistics (not modified).
      x: (n, ...) training inputs.
      y: (n,) targets: floats for ``"square"`` with a scalar output, integer classes otherwise.
      optimizer: an ``optax`` transformation (``optax.sgd(eta)`` is GD at a fixed step size; a
        schedule or warm-up would hide the edge of stability). Reuse the same object across
        calls to reuse the compiled loop.
      steps: number of updates (>= 1).
      key: PRNG key for the Lanczos start vectors.
      loss: ``"square"`` (``1/2 ||f - y||^2``) or ``"cross_entropy"``.
      groups: name -> (n,) boolean mask of the groups to follow (default: one group of all).
      k: how many top changers to keep per step, in ``[1, n]``.
      signed: rank by the loss increase rather than its magnitude.
      sharpness_every: measure sharpness every this many steps (0: never).
      sharpness_order: Lanczos steps per measurement.
      mesh: the devices to split the batch over (``jaxpapers_shared.devices.make_mesh``;
        default: every device of every process). Each update is the shared data-parallel step
        (``devices.data_parallel_step``); a batch that the mesh does not divide is padded with
        zero-weight rows, which change nothing but float rounding.

    Returns:
      ``(trained_model, Trace)``. A run whose loss becomes NaN/inf is reported, not hidden:
      ``trace.diverged_at`` holds the step and a ``RuntimeWarning`` names it.

    Raises:
      ValueError: ``steps < 1``; ``k`` outside ``[1, n]``; a group mask of the wrong shape or
        empty; ``x``/``y`` of different lengths or non-finite; an unknown ``loss``.
    """
    if not isinstance(model, nnx.Module):
        raise TypeError(f"`model` must be a flax.nnx.Module, got {type(model).__name__}.")
    x = checks.array(x, "x", dtype="float")
    y = checks.array(y, "y", ndim=1)
    if y.shape[0] != x.shape[0]:
        raise ValueError(
            f"`x` and `y` must hold the same number of examples, got x.shape={x.shape} and "
            f"y.shape={y.shape}."
        )
    n = x.shape[0]
    checks.one_of(loss, "loss", ("square", "cross_entropy"))
    steps = checks.integer(steps, "steps", minimum=1)
    k = checks.integer(k, "k", minimum=1)
    if k > n:
        raise ValueError(f"`k` must be at most the number of examples n = {n}, got {k}.")
    every = checks.integer(sharpness_every, "sharpness_every", minimum=0)
    order = checks.integer(sharpness_order, "sharpness_order", minimum=2)
    masks = _check_groups({"all": jnp.ones(n, bool)} if groups is None else groups, n)
    mesh = devices.make_mesh() if mesh is None else mesh
    graphdef, params = nnx.split(model)
    fn = _ModelLoss(graphdef, loss)
    mean_loss = _MeanLoss(fn)
    group_masks = jnp.stack(list(masks.values())).astype(x.dtype)
    chunk = every or steps
    # The full batch, split over the mesh: padded to a multiple of its size with weight-0 rows.
    (xs, ys), weights = devices.pad_batch((x, y), mesh, dtype=x.dtype)
    batch = devices.shard_batch((xs, ys, weights), mesh)
    carry = (params, optimizer.init(params), jax.jit(fn)(params, x, y))
    carry, x, y, group_masks = devices.replicate((carry, x, y, group_masks), mesh)
    outputs, sharp, measured = [], [], []
    diverged_at = -1
    for start in range(0, steps, chunk):
        if every:
            pair = _top_eigenpair(
                mean_loss, carry[0], x, y, jax.random.fold_in(key, start), "lanczos", order
            )
            sharp.append(float(pair.value))
            measured.append(start)
        length = min(chunk, steps - start)
        carry, out = _chunk(
            fn, optimizer, mesh, n, carry, batch, group_masks,
            steps=length, k=k, signed=bool(signed),
        )  # fmt: skip
        outputs.append(out)
        bad = np.flatnonzero(~np.isfinite(np.asarray(out[0])))
        if bad.size:
            diverged_at = start + int(bad[0])
            break
    loss_t, group_t, ranked = (np.concatenate(parts) for parts in zip(*outputs, strict=True))
    changers = np.concatenate(
        [ranked[1:], _last_changers(fn, carry, x, y, k=k, signed=bool(signed))[None]]
    )
    if diverged_at >= 0:
        warnings.warn(
            f"train_and_track: the training loss became non-finite at step {diverged_at}; "
            "the run diverged and tracking stopped there (the trace after it is NaN).",
            RuntimeWarning,
            stacklevel=2,
        )
        pad = steps - loss_t.shape[0]
        loss_t = np.concatenate([loss_t, np.full(pad, np.nan)])
        group_t = np.concatenate([group_t, np.full((pad, group_t.shape[1]), np.nan)])
        changers = np.concatenate([changers, np.full((pad, k), -1, changers.dtype)])
        loss_t[diverged_at:] = np.nan
        group_t[diverged_at:] = np.nan
    trace = Trace(
        loss=loss_t,
        group_loss=group_t,
        group_names=tuple(masks),
        changers=changers,
        sharpness=np.asarray(sharp),
        sharpness_steps=np.asarray(measured, dtype=int),
        diverged_at=diverged_at,
    )
    return nnx.merge(graphdef, carry[0]), trace
