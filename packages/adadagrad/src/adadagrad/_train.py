"""A training driver that draws batches of the size an adaptive schedule chooses."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxpapers_shared import checks

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


@functools.lru_cache(maxsize=64)
def _step_functions(loss_fn: LossFn, optimizer: optax.GradientTransformation):
    def mean_loss(params, batch):
        return jnp.mean(jax.vmap(loss_fn, in_axes=(None, 0))(params, batch))

    def apply(params, opt_state, grads):
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state

    @jax.jit
    def plain(params, opt_state, batch):
        loss, grads = jax.value_and_grad(mean_loss)(params, batch)
        params, opt_state = apply(params, opt_state, grads)
        return params, opt_state, loss

    @functools.partial(jax.jit, static_argnames=("test_size", "kind"))
    def tested(params, opt_state, batch, constants, test_size, kind):
        size = jax.tree.leaves(batch)[0].shape[0]
        if test_size == size:  # one pass: the mean of the per-example gradients is the gradient
            losses, per_example = jax.vmap(jax.value_and_grad(loss_fn), in_axes=(None, 0))(
                params, batch
            )
            loss = jnp.mean(losses)
            grads = jax.tree.map(lambda g: jnp.mean(g, axis=0), per_example)
        else:
            loss, grads = jax.value_and_grad(mean_loss)(params, batch)
            sub = jax.tree.map(lambda x: x[:test_size], batch)
            per_example = per_example_grads(loss_fn, params, sub)
        flat = jnp.concatenate(
            [
                jnp.reshape(g, (test_size, -1)).astype(jnp.float32)
                for g in jax.tree.leaves(per_example)
            ],
            axis=1,
        )
        stat, gsq = required_batch_size(flat, kind, **constants)
        params, opt_state = apply(params, opt_state, grads)
        return params, opt_state, loss, stat, gsq

    return plain, tested


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
) -> TrainResult:
    """Trains until ``max_samples`` examples have been drawn (or ``max_steps`` steps).

    Each step draws ``batch = sampler(key_k, b_k)`` (a pytree with leading axis ``b_k``), takes
    one optimizer step on the batch-mean gradient and, when the schedule's test is due, computes
    the per-example gradients in the same compiled call and lets the test choose ``b_{k+1}``.
    One compiled step exists per distinct batch size (bucket the schedule to bound them).

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
    plain, tested = _step_functions(loss_fn, optimizer)
    opt_state = optimizer.init(params)
    state = schedule.init() if adaptive else None
    history: dict[str, list] = {k: [] for k in ("step", "batch_size", "samples", "loss", "tested")}
    shapes: set[tuple[int, bool]] = set()
    samples, step = 0, 0
    while samples < max_samples and (max_steps is None or step < max_steps):
        size = state.batch_size if adaptive else int(schedule)
        key, sub = jax.random.split(key)
        batch = sampler(sub, size)
        due = adaptive and schedule.test_due(state)
        if due:
            params, opt_state, loss, stat, gsq = tested(
                params,
                opt_state,
                batch,
                schedule.constants,
                schedule.test_batch_size(size),
                schedule.test,
            )
            state = schedule.advance(state, schedule.propose(np.asarray(stat), np.asarray(gsq)))
        else:
            params, opt_state, loss = plain(params, opt_state, batch)
            if adaptive:
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
