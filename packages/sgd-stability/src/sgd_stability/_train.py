"""SGD and GD on the square loss until the training data are interpolated (Wu & Su, Sec. 5)."""

from __future__ import annotations

import functools
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax
from flax import nnx

from jaxpapers_shared import checks

from ._sharpness import _check_data, _loss_of

__all__ = ["TrainReport", "train_to_interpolation"]

# A run whose training loss grows by this factor over its initial value has left the minimum.
_DIVERGENCE_FACTOR = 1e6


class TrainReport(NamedTuple):
    """How a :func:`train_to_interpolation` run ended.

    Attributes:
      converged: () bool, the training loss stayed below ``loss_tol`` for ``patience`` epochs.
      diverged: () bool, the loss became non-finite or grew ``1e6``-fold.
      epochs: () int32, epochs run (an epoch is ``ceil(n / batch_size)`` steps).
      steps: () int32, optimizer steps run.
      loss: (max_epochs,) training loss after each epoch; NaN after the last.
    """

    converged: jax.Array
    diverged: jax.Array
    epochs: jax.Array
    steps: jax.Array
    loss: jax.Array


@functools.partial(
    jax.jit,
    static_argnames=("graphdef", "batch_size", "replacement", "patience", "max_epochs"),
)
def _train(
    graphdef, params, x, y, key, lr, loss_tol, *, batch_size, replacement, patience, max_epochs
):
    n = x.shape[0]
    steps_per_epoch = math.ceil(n / batch_size)
    loss_fn = _loss_of(graphdef)
    optimizer = optax.sgd(lr)
    full_batch = batch_size == n and not replacement

    def step(carry, t):
        params, opt_state = carry
        if full_batch:  # every batch is the whole data set: GD
            xb, yb = x, y
        else:  # a fresh batch per step: fold the step number into the key
            k = jax.random.fold_in(key, t)
            if replacement:
                idx = jax.random.randint(k, (batch_size,), 0, n)
            else:
                idx = jax.random.choice(k, n, (batch_size,), replace=False)
            xb, yb = x[idx], y[idx]
        grads = jax.grad(loss_fn)(params, xb, yb)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return (optax.apply_updates(params, updates), opt_state), None

    initial = loss_fn(params, x, y)

    def epoch(state):
        params, opt_state, e, streak, history = state
        ts = e * steps_per_epoch + jnp.arange(steps_per_epoch)
        (params, opt_state), _ = jax.lax.scan(step, (params, opt_state), ts)
        loss = loss_fn(params, x, y)
        streak = jnp.where(loss < loss_tol, streak + 1, 0)
        return params, opt_state, e + 1, streak, history.at[e].set(loss)

    def diverged(history, e):
        last = history[jnp.maximum(e - 1, 0)]
        return (e > 0) & (~jnp.isfinite(last) | (last > _DIVERGENCE_FACTOR * initial))

    def running(state):
        _, _, e, streak, history = state
        return (e < max_epochs) & (streak < patience) & ~diverged(history, e)

    history = jnp.full((max_epochs,), jnp.nan, x.dtype)
    zero = jnp.zeros((), jnp.int32)
    state = (params, optimizer.init(params), zero, zero, history)
    params, _, epochs, streak, history = jax.lax.while_loop(running, epoch, state)
    report = TrainReport(
        converged=streak >= patience,
        diverged=diverged(history, epochs),
        epochs=epochs,
        steps=epochs * steps_per_epoch,
        loss=history,
    )
    return params, report


def train_to_interpolation(
    model: nnx.Module,
    x: jax.Array,
    y: jax.Array,
    *,
    lr: float,
    batch_size: int,
    key: jax.Array,
    replacement: bool = True,
    loss_tol: float = 1e-6,
    patience: int = 10,
    max_epochs: int = 10_000,
) -> tuple[nnx.Module, TrainReport]:
    """Plain SGD (``optax.sgd``) on ``(1/2n) sum_i (f(x_i) - y_i)^2`` until it interpolates.

    Each step draws a batch of ``batch_size`` indices (with or without replacement within the
    batch, as in :func:`stability_radius`) from ``jax.random.fold_in(key, step)`` and takes
    ``theta <- theta - lr * grad (1/2B) sum_{i in batch} (f(x_i) - y_i)^2``.
    ``batch_size = n`` with ``replacement=False`` is full-batch GD. A run has converged once the
    training loss stays below ``loss_tol`` for ``patience`` consecutive epochs: an SGD run can
    linger near a minimum it cannot stay at before escaping, so one low loss is not enough.

    Args:
      model: a ``flax.nnx`` module mapping ``(n, d)`` inputs to ``(n,)`` outputs (not modified).
      x: (n, d) training inputs.
      y: (n,) training targets.
      lr: the learning rate ``eta > 0``.
      batch_size: ``B`` in ``[1, n]``. Static.
      key: PRNG key for the batches.
      replacement: sample a batch's indices with replacement.
      loss_tol: the interpolation threshold on the training loss.
      patience: epochs the loss must stay below ``loss_tol``. Static.
      max_epochs: the most epochs. Static.

    Returns:
      ``(trained_model, TrainReport)``; a run that did not converge says so in the report.

    Raises:
      ValueError: ``lr <= 0``; ``batch_size`` outside ``[1, n]``; ``x``/``y`` mismatched or
        non-finite; ``loss_tol <= 0``; ``patience`` or ``max_epochs`` < 1.
    """
    x, y = _check_data(model, x, y)
    checks.positive(lr, "lr")
    n = x.shape[0]
    batch_size = checks.integer(batch_size, "batch_size")
    if not 1 <= batch_size <= n:
        raise ValueError(
            f"`batch_size` must be in [1, n] = [1, {n}] for n = {n} training examples, "
            f"got {batch_size}."
        )
    checks.positive(loss_tol, "loss_tol")
    patience = checks.integer(patience, "patience", minimum=1)
    max_epochs = checks.integer(max_epochs, "max_epochs", minimum=1)
    graphdef, params = nnx.split(model)
    params, report = _train(
        graphdef,
        params,
        x,
        y,
        key,
        jnp.asarray(lr, x.dtype),
        jnp.asarray(loss_tol, x.dtype),
        batch_size=batch_size,
        replacement=bool(replacement),
        patience=patience,
        max_epochs=max_epochs,
    )
    return nnx.merge(graphdef, params), report
