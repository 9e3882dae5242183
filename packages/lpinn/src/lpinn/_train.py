"""Full-batch training of an NNX model on a loss: Adam (or AMSGrad), then optional L-BFGS."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from jaxpapers_shared import experiment

__all__ = ["FitResult", "fit"]


class FitResult(NamedTuple):
    """``model``: the trained module; ``losses``: (steps,) Adam losses then L-BFGS losses."""

    model: Any
    losses: np.ndarray


def fit(
    loss_fn: Callable[[Any], jax.Array],
    model: nnx.Module,
    *,
    steps: int,
    learning_rate: float = 1e-3,
    amsgrad: bool = False,
    lbfgs_steps: int = 0,
    chunk: int = 250,
    desc: str = "fit",
) -> FitResult:
    """Minimises ``loss_fn(model)`` over the model's parameters.

    The Adam phase runs ``chunk`` steps per compiled ``lax.scan`` call (one compilation, and a
    progress line between chunks); the official code uses AMSGrad at lr 0.01 followed by 100
    L-BFGS steps (``amsgrad=True, lbfgs_steps=100``).

    Args:
      loss_fn: ``loss_fn(model) -> scalar``.
      model: an NNX module; it is not modified (a trained copy is returned).
      steps: Adam steps (>= 0).
      learning_rate: > 0.
      lbfgs_steps: L-BFGS steps after Adam (optax.lbfgs with zoom line search).

    Returns:
      :class:`FitResult`. Raises ``FloatingPointError`` if the loss becomes NaN.
    """
    if steps < 0 or lbfgs_steps < 0:
        raise ValueError(f"`steps` and `lbfgs_steps` must be >= 0, got {steps}, {lbfgs_steps}.")
    if not learning_rate > 0:
        raise ValueError(f"`learning_rate` must be > 0, got {learning_rate}.")
    graphdef, params = nnx.split(model)
    loss_of = lambda p: loss_fn(nnx.merge(graphdef, p))
    adam = (optax.amsgrad if amsgrad else optax.adam)(learning_rate)

    @jax.jit
    def adam_chunk(params, state, _length):
        def step(carry, _):
            params, state = carry
            loss, grads = jax.value_and_grad(loss_of)(params)
            updates, state = adam.update(grads, state, params)
            return (optax.apply_updates(params, updates), state), loss

        return jax.lax.scan(step, (params, state), length=_length.shape[0])

    state, losses = adam.init(params), []
    for start in experiment.progress(range(0, steps, chunk), desc=desc):
        length = min(chunk, steps - start)
        (params, state), chunk_losses = adam_chunk(params, state, jnp.zeros(length))
        losses.append(np.asarray(chunk_losses))
        if not np.isfinite(losses[-1][-1]):
            raise FloatingPointError(
                f"{desc}: the loss became NaN/inf at Adam step "
                f"{start + length}; lower `learning_rate`."
            )
    if lbfgs_steps:
        params, lbfgs_losses = _lbfgs(loss_of, params, lbfgs_steps)
        losses.append(lbfgs_losses)
    history = np.concatenate(losses) if losses else np.zeros(0)
    return FitResult(nnx.merge(graphdef, params), history)


def _lbfgs(loss_of, params, steps):
    solver = optax.lbfgs()
    value_and_grad = optax.value_and_grad_from_state(loss_of)

    def step(carry, _):
        params, state = carry
        value, grad = value_and_grad(params, state=state)
        updates, state = solver.update(
            grad, state, params, value=value, grad=grad, value_fn=loss_of
        )
        return (optax.apply_updates(params, updates), state), value

    (params, _), values = jax.jit(lambda p: jax.lax.scan(step, (p, solver.init(p)), length=steps))(
        params
    )
    return params, np.asarray(values)
