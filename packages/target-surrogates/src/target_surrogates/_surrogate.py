"""The target-space problem and its surrogate (Lavington et al. 2023, full-batch setting)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from jaxpapers_shared import checks

PyTree = Any
Batch = tuple[Any, Any]


class TargetProblem(NamedTuple):
    """A loss ``h(theta) = mean_i l(f_i(theta), y_i)`` split into a model and a target loss.

    Attributes:
      apply_fn: ``apply_fn(params, x) -> z``, the model mapping parameters to the targets of a
        batch, shape ``(b, ...)`` (one row per example: logits, scores, actions). Cheap.
      target_loss: ``target_loss(z, y) -> (b,)``, the per-example loss in target space. Its
        gradient in ``z`` is the *expensive* oracle the method saves on (in imitation learning
        it needs the environment).
    """

    apply_fn: Callable[[PyTree, Any], jax.Array]
    target_loss: Callable[[jax.Array, Any], jax.Array]


def _check_batch(problem: TargetProblem, params: PyTree, batch: Batch) -> jax.Array:
    """The targets ``f(params, x)`` after checking the batch and the shapes; raises ValueError."""
    if not isinstance(problem, TargetProblem):
        raise TypeError(f"`problem` must be a TargetProblem, got {type(problem).__name__}.")
    if not (isinstance(batch, tuple | list) and len(batch) == 2):
        raise TypeError(f"`batch` must be a pair (x, y), got {type(batch).__name__}.")
    x, y = batch
    b = jnp.shape(jax.tree.leaves(x)[0])[0] if jax.tree.leaves(x) else 0
    if b == 0:
        raise ValueError("`batch` must hold at least one example, got an empty batch.")
    z = problem.apply_fn(params, x)
    if jnp.ndim(z) == 0 or jnp.shape(z)[0] != b:
        raise ValueError(
            f"`apply_fn` must return one target row per example, shape ({b}, ...), "
            f"got shape {jnp.shape(z)}."
        )
    per_example = jax.eval_shape(problem.target_loss, z, y)
    if per_example.shape != (b,):
        raise ValueError(
            f"`target_loss` must return one loss per example, shape ({b},), got "
            f"{per_example.shape}: the targets (apply_fn output, shape {jnp.shape(z)}) and "
            f"`y` (shape {jnp.shape(y)}) do not match."
        )
    return z


def loss(problem: TargetProblem, params: PyTree, batch: Batch) -> jax.Array:
    """``h(params) = mean_i l(f_i(params), y_i)`` on ``batch = (x, y)``."""
    z = _check_batch(problem, params, batch)
    return jnp.mean(problem.target_loss(z, batch[1]))


def target_gradient(problem: TargetProblem, z: jax.Array, y: Any) -> tuple[jax.Array, jax.Array]:
    """The expensive oracle: per-example losses ``l(z_i, y_i)`` and gradients ``G_i = dl/dz_i``.

    ``G`` has the shape of ``z`` and is *not* divided by the batch size (the gradient of the
    summed loss), so that ``z - eta * G`` is a step of size ``eta`` for every example.
    """
    losses, vjp = jax.vjp(lambda t: problem.target_loss(t, y), z)
    (grad,) = vjp(jnp.ones_like(losses))
    return losses, grad


def target_gradient_step(z: jax.Array, grad: jax.Array, eta: float) -> jax.Array:
    """The gradient step in target space ``z - eta * G`` (the point the model is projected on).

    Raises:
      ValueError: ``eta <= 0``, or ``z`` and ``grad`` differ in shape.
    """
    checks.positive(eta, "eta")
    checks.same_shape(z, grad, ("z", "grad"))
    return z - eta * grad


def surrogate(
    problem: TargetProblem, params_t: PyTree, batch: Batch, eta: float
) -> Callable[[PyTree], jax.Array]:
    """The target surrogate at ``params_t`` (the paper's surrogate, averaged over the batch)::

        g_t(theta) = mean_i [ l(z_i^t, y_i) + <G_i, f_i(theta) - z_i^t>
                              + ||f_i(theta) - z_i^t||^2 / (2 eta) ]
                   = const + ||f(theta) - (z^t - eta G)||^2 / (2 eta b),

    with ``z^t = f(params_t)`` and ``G = dl/dz (z^t)`` computed once and frozen
    (``stop_gradient``). It equals ``h(params_t)`` at ``params_t`` with the same gradient, and if
    every ``l(., y_i)`` is ``L``-smooth and ``eta <= 1/L`` it upper-bounds ``h`` everywhere,
    whatever the model.

    Args:
      problem: the :class:`TargetProblem`.
      params_t: the current parameters (the surrogate's anchor).
      batch: ``(x, y)``; ``b`` examples.
      eta: the step size in target space (> 0). The official code's ``eta`` is the inverse.

    Returns:
      ``g_t(params) -> scalar``, a function of the parameters only (one expensive call was
      made here; none is made when it is evaluated).

    Raises:
      ValueError: ``eta <= 0``; an empty batch; targets and labels of mismatched shapes.
    """
    checks.positive(eta, "eta")
    z_t = _check_batch(problem, params_t, batch)
    losses, grad = target_gradient(problem, z_t, batch[1])
    return _surrogate_fn(problem, batch[0], z_t, losses, grad, eta)


def _surrogate_fn(problem, x, z_t, losses, grad, eta):
    z_t, losses, grad = jax.tree.map(jax.lax.stop_gradient, (z_t, losses, grad))
    b = z_t.shape[0]
    base = jnp.mean(losses)

    def g(params):
        d = problem.apply_fn(params, x) - z_t
        return base + (jnp.vdot(grad, d) + 0.5 * jnp.vdot(d, d) / eta) / b

    return g
