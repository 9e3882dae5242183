"""A training driver that draws batches of the size an adaptive schedule chooses."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxpapers_shared import checks, devices

from ._batch_tests import required_batch_size
from ._schedule import AdaptiveBatchSchedule, ScheduleState

LossFn = Callable[[Any, Any], jax.Array]
Sampler = Callable[[jax.Array, int], Any]


class TrainResult(NamedTuple):
    """``params`` after training; ``history`` holds per-step lists ``step`` (1-based),
    ``batch_size`` (the size used at that step), ``samples`` (cumulative examples drawn),
    ``loss`` (the batch's mean loss before the update) and ``tested`` (whether the test ran);
    ``compilations``: distinct batch shapes compiled."""

    params: Any
    opt_state: Any
    history: dict[str, list]
    schedule_state: ScheduleState | None
    compilations: int


def per_example_grads(loss_fn: LossFn, params, batch):
    """``vmap(grad(loss_fn))``: one gradient per example along the leading axis of ``batch``.

    ``loss_fn(params, example)`` is the loss of ONE example (no batch axis).
    """
    return jax.vmap(jax.grad(loss_fn), in_axes=(None, 0))(params, batch)


def _tree_dot(a, b) -> jax.Array:
    return sum(jnp.vdot(x, y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True))


@functools.lru_cache(maxsize=256)
def _step_function(
    loss_fn: LossFn,
    optimizer: optax.GradientTransformation,
    mesh: Any,
    size: int,
    padded: bool,
    test: tuple | None,
):
    """The data-parallel step for batches of ``size`` real rows (``padded``: plus weight-0 rows
    up to a multiple of the mesh size). ``test = (test_size, kind, constants)`` adds the batch
    test's statistic, from the per-example gradients of the first ``test_size`` rows, to the
    step's output: ``step(params, opt_state, (batch, weights)) -> (params, opt_state, (loss,
    (stat, gsq)))``; without a test ``step(...) -> (params, opt_state, loss)``."""

    def mean(values, w):  # the batch mean over the real rows
        return jnp.sum(w * values) / size if padded else jnp.mean(values)

    def mean_grad(per_example, w):
        if padded:
            return jax.tree.map(lambda g: jnp.tensordot(w, g, axes=1) / size, per_example)
        return jax.tree.map(lambda g: jnp.mean(g, axis=0), per_example)

    if test is None:

        def plain(params, batch):
            data, w = batch
            return mean(jax.vmap(loss_fn, in_axes=(None, 0))(params, data), w)

        return devices.data_parallel_step(plain, optimizer, mesh)

    test_size, kind, constants = test

    def tested(params, batch):
        data, w = batch
        if test_size == size:
            # One pass: the per-example gradients the test needs also give the step's gradient.
            # The loss is made to carry exactly their mean (a linear term in params, stopped
            # where it must not add to the value).
            losses, per_example = jax.vmap(jax.value_and_grad(loss_fn), in_axes=(None, 0))(
                jax.lax.stop_gradient(params), data
            )
            gbar = jax.lax.stop_gradient(mean_grad(per_example, w))
            linear = _tree_dot(gbar, params)
            loss = mean(losses, w) + (linear - jax.lax.stop_gradient(linear))
        else:
            loss = mean(jax.vmap(loss_fn, in_axes=(None, 0))(params, data), w)
            sub = jax.tree.map(lambda x: x[:test_size], data)
            per_example = per_example_grads(loss_fn, jax.lax.stop_gradient(params), sub)
        flat = jnp.concatenate(
            [
                jnp.reshape(g[:test_size], (test_size, -1)).astype(jnp.float32)
                for g in jax.tree.leaves(per_example)
            ],
            axis=1,
        )
        return loss, required_batch_size(flat, kind, **dict(constants))

    return devices.data_parallel_step(tested, optimizer, mesh, has_aux=True)


def train(
    loss_fn: LossFn,
    params,
    sampler: Sampler,
    optimizer: optax.GradientTransformation,
    schedule: AdaptiveBatchSchedule | int,
    max_samples: int,
    key: jax.Array,
    *,
    max_steps: int | None = None,
    callback: Callable[[int, int, Any], None] | None = None,
    mesh: Any = None,
) -> TrainResult:
    """Trains until ``max_samples`` examples have been drawn (or ``max_steps`` steps).

    Each step draws ``batch = sampler(key_k, b_k)`` (a pytree with leading axis ``b_k``), takes
    one optimizer step on the batch-mean gradient and, when the schedule's test is due, computes
    the per-example gradients in the same compiled call and lets the test choose ``b_{k+1}``.
    One compiled step exists per distinct batch size (bucket the schedule to bound them). With
    the test due on the whole batch, one pass of per-example gradients gives both the test's
    statistic and the update (their mean), as before the step was data-parallel.

    Args:
      loss_fn: ``loss_fn(params, example) -> scalar``, the loss of one example.
      params: initial parameters (a pytree).
      sampler: ``sampler(key, batch_size) -> batch``; for a finite data set, draw without
        replacement within a batch.
      optimizer: any optax transformation (:func:`adagrad_norm`, :func:`adagrad`, ...).
      schedule: an :class:`AdaptiveBatchSchedule`, or an int for a constant batch size.
      max_samples: the budget in examples (the paper's budget is in samples, not steps).
      key: PRNG key for the sampler.
      max_steps: optional cap on the number of optimizer steps.
      callback: ``callback(step, samples, params)`` after every step (evaluation, logging).
      mesh: the devices every step is split over (``jaxpapers_shared.devices.make_mesh``;
        default: every device of every process). Each step is the shared data-parallel step;
        a batch size the mesh does not divide is padded with zero-weight rows, which change
        nothing but float rounding. The sampler must draw the same global batch on every
        process (the same key does).

    Returns:
      :class:`TrainResult`.

    Raises:
      ValueError: ``max_samples`` or ``max_steps`` < 1, a constant batch size < 1.
    """
    checks.integer(max_samples, "max_samples", minimum=1)
    if max_steps is not None:
        checks.integer(max_steps, "max_steps", minimum=1)
    adaptive = isinstance(schedule, AdaptiveBatchSchedule)
    if not adaptive:
        checks.integer(schedule, "schedule", minimum=1)
    mesh = devices.make_mesh() if mesh is None else mesh
    opt_state = optimizer.init(params)
    params, opt_state = devices.replicate((params, opt_state), mesh)
    state = schedule.init() if adaptive else None
    history: dict[str, list] = {k: [] for k in ("step", "batch_size", "samples", "loss", "tested")}
    shapes: set[tuple[int, bool]] = set()
    samples, step = 0, 0
    while samples < max_samples and (max_steps is None or step < max_steps):
        size = state.batch_size if adaptive else int(schedule)
        key, sub = jax.random.split(key)
        batch = devices.pad_batch(sampler(sub, size), mesh)
        due = adaptive and schedule.test_due(state)
        test = None
        if due:
            constants = tuple(sorted(schedule.constants.items()))
            test = (schedule.test_batch_size(size), schedule.test, constants)
        padded = bool(size % mesh.size)
        update = _step_function(loss_fn, optimizer, mesh, size, padded, test)
        params, opt_state, loss = update(params, opt_state, devices.shard_batch(batch, mesh))
        if due:
            loss, (stat, gsq) = loss
            state = schedule.advance(state, schedule.propose(np.asarray(stat), np.asarray(gsq)))
        elif adaptive:
            state = schedule.advance(state, None)
        shapes.add((size, bool(due)))
        step += 1
        samples += size
        for name, value in zip(history, (step, size, samples, float(loss), bool(due)), strict=True):
            history[name].append(value)
        if callback is not None:
            callback(step, samples, params)
    history["loss"] = [float(v) for v in jax.device_get(history["loss"])]
    return TrainResult(params, opt_state, history, state, len(shapes))
