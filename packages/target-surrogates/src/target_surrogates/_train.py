"""Compiled training loops: SSO and, on the same minibatches, a plain optax baseline."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from jaxpapers_shared import checks

from ._sso import ARMIJO, Inner, _check_args, sso_update
from ._surrogate import Batch, PyTree, TargetProblem, _check_batch


class Run(NamedTuple):
    """``params`` after ``outer_steps`` expensive gradients; ``losses``: the full-data loss
    ``h`` before every step and after the last (``outer_steps + 1`` values)."""

    params: PyTree
    losses: jax.Array


def _batches(key: jax.Array, n: int, batch_size: int, outer_steps: int) -> jax.Array:
    """Indices of every step's minibatch: ``batch_size`` distinct examples drawn afresh at each
    step (all ``n`` in order when ``batch_size == n``)."""
    if batch_size == n:
        return jnp.broadcast_to(jnp.arange(n), (outer_steps, n))
    keys = jax.random.split(key, outer_steps)
    return jax.vmap(lambda k: jax.random.choice(k, n, (batch_size,), replace=False))(keys)


def _full_loss(problem: TargetProblem, params: PyTree, data: Batch) -> jax.Array:
    return jnp.mean(problem.target_loss(problem.apply_fn(params, data[0]), data[1]))


def _take(data: Batch, idx: jax.Array) -> Batch:
    return jax.tree.map(lambda a: a[idx], data)


def _check_run(problem, params, data, batch_size, outer_steps) -> int:
    _check_batch(problem, params, data)
    n = jnp.shape(jax.tree.leaves(data[0])[0])[0]
    checks.integer(batch_size, "batch_size", minimum=1, maximum=n)
    checks.integer(outer_steps, "outer_steps", minimum=1)
    return n


@functools.partial(
    jax.jit, static_argnames=("problem", "batch_size", "outer_steps", "inner_steps", "inner")
)
def _sso_run(problem, params, data, key, eta, batch_size, outer_steps, inner_steps, inner):
    n = jnp.shape(jax.tree.leaves(data[0])[0])[0]

    def body(p, idx):
        before = _full_loss(problem, p, data)
        p, _ = sso_update(problem, p, _take(data, idx), eta, inner_steps, inner)
        return p, before

    params, losses = jax.lax.scan(body, params, _batches(key, n, batch_size, outer_steps))
    return Run(params, jnp.append(losses, _full_loss(problem, params, data)))


def run_sso(
    problem: TargetProblem,
    params: PyTree,
    data: Batch,
    *,
    key: jax.Array,
    eta: Any,
    inner_steps: int,
    outer_steps: int,
    batch_size: int,
    inner: Inner = ARMIJO,
) -> Run:
    """``outer_steps`` SSO steps on minibatches of ``data`` (one compiled ``lax.scan``).

    Every step draws ``batch_size`` distinct examples with ``key`` (the same draws as
    :func:`run_optax` with the same key); ``eta`` may be traced (``vmap`` over a grid).

    Raises:
      ValueError: bad ``eta``, ``inner_steps``, ``outer_steps``, ``batch_size`` or shapes.
    """
    steps = _check_args(eta, inner_steps, inner)
    _check_run(problem, params, data, batch_size, outer_steps)
    return _sso_run(problem, params, data, key, eta, batch_size, outer_steps, steps, inner)


@functools.partial(jax.jit, static_argnames=("problem", "optimizer", "batch_size", "outer_steps"))
def _optax_run(problem, params, data, key, optimizer, learning_rate, batch_size, outer_steps):
    n = jnp.shape(jax.tree.leaves(data[0])[0])[0]
    optimizer = optimizer(learning_rate)

    def body(carry, idx):
        p, s = carry
        before = _full_loss(problem, p, data)
        grad = jax.grad(lambda q: _full_loss(problem, q, _take(data, idx)))(p)
        updates, s = optimizer.update(grad, s, p)
        return (optax.apply_updates(p, updates), s), before

    carry = (params, optimizer.init(params))
    (params, _), losses = jax.lax.scan(body, carry, _batches(key, n, batch_size, outer_steps))
    return Run(params, jnp.append(losses, _full_loss(problem, params, data)))


def run_optax(
    problem: TargetProblem,
    params: PyTree,
    data: Batch,
    *,
    key: jax.Array,
    learning_rate: Any,
    outer_steps: int,
    batch_size: int,
    optimizer: Callable[[Any], optax.GradientTransformation] = optax.sgd,
) -> Run:
    """The baseline: one ``optimizer(learning_rate)`` update per expensive gradient, on the
    minibatches :func:`run_sso` draws with the same ``key``. ``optimizer`` is an optax alias
    (``optax.sgd``, ``optax.adam``, ...); ``learning_rate`` may be traced (``vmap`` over a grid).

    Raises:
      ValueError: ``learning_rate <= 0``, bad ``outer_steps``, ``batch_size`` or shapes.
    """
    if not callable(optimizer):
        raise TypeError(f"`optimizer` must be an optax alias such as optax.sgd, got {optimizer!r}.")
    checks.positive(learning_rate, "learning_rate")
    _check_run(problem, params, data, batch_size, outer_steps)
    return _optax_run(problem, params, data, key, optimizer, learning_rate, batch_size, outer_steps)
