"""The largest stable learning rate of an optimizer at a fixed checkpoint, on a geometric grid."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxpapers_shared import checks

from ._spectrum import FAST_COMPILE, _check_data, _check_scalar_loss, weighted

PyTree = Any


class StableLR(NamedTuple):
    """The result of :func:`max_stable_lr`.

    Attributes:
      lr: the largest grid learning rate whose run was stable (NaN if none was).
      grid: (k,) the learning rates tried.
      stable: (k,) bool, the run stayed finite and ended below the starting loss.
      final_loss: (k,) full-data loss after ``steps`` steps (inf/NaN for a diverged run).
      initial_loss: the full-data loss at ``params``.
      bracketed: a stable rate was found and the largest grid rate was unstable.
    """

    lr: float
    grid: np.ndarray
    stable: np.ndarray
    final_loss: np.ndarray
    initial_loss: float
    bracketed: bool


def batch_order(key: jax.Array, n: int, batch_size: int, steps: int) -> jax.Array:
    """(steps, batch_size) example indices: epochs of random permutations, concatenated."""
    epochs = -(-steps * batch_size // n)
    perms = jax.vmap(lambda k: jax.random.permutation(k, n))(jax.random.split(key, epochs))
    return perms.reshape(-1)[: steps * batch_size].reshape(steps, batch_size)


@functools.partial(
    jax.jit, static_argnames=("make_optimizer", "loss_fn"), compiler_options=FAST_COMPILE
)
def _final_losses(make_optimizer, loss_fn, params, data, lrs, order, w):
    grad = jax.grad(weighted(loss_fn))

    def run(lr):
        optimizer = make_optimizer(lr)

        def step(carry, idx):
            p, state = carry
            updates, state = optimizer.update(grad(p, *(a[idx] for a in data), w), state, p)
            return (optax.apply_updates(p, updates), state), None

        (p, _), _ = jax.lax.scan(step, (params, optimizer.init(params)), order)
        return loss_fn(p, *data)

    return jax.vmap(run)(lrs)


def max_stable_lr(
    make_optimizer: Callable[[jax.Array], optax.GradientTransformation],
    loss_fn: Callable[..., jax.Array],
    params: PyTree,
    data: Sequence[jax.Array],
    *,
    batch_size: int,
    grid: Sequence[float],
    steps: int,
    key: jax.Array,
    pad_to: int | None = None,
) -> StableLR:
    """The largest learning rate on ``grid`` at which ``steps`` minibatch steps from ``params``
    stay finite and end below the starting full-data loss.

    Every rate of the grid runs from the same point on the same batches (one data order drawn
    from ``key``, epochs of permutations), all rates at once under ``vmap``. The "below the
    starting loss" test catches Adam, which rarely overflows at too large a rate but stops
    decreasing the loss.

    Args:
      make_optimizer: ``lr -> optax.GradientTransformation`` (``optax.sgd``, ``optax.adam``);
        it must accept a traced scalar. A module-level function compiles once.
      loss_fn: ``loss_fn(params, *batch) -> scalar`` mean loss.
      params: the starting point (a fixed checkpoint).
      data: tuple of arrays with a leading axis of ``N`` examples.
      batch_size: ``B``, 1 <= B <= N.
      grid: increasing positive learning rates (geometric, e.g. ``lr0 * 2**(k/2)``).
      steps: optimizer steps per run (>= 1).
      key: PRNG key for the data order.
      pad_to: run each batch padded to this many examples with zero weights (>= batch_size),
        so that calls with different batch sizes and the same ``pad_to`` share one compiled
        program; ``None`` = ``batch_size``.

    Returns:
      :class:`StableLR`.

    Raises:
      ValueError: ``batch_size`` outside [1, N], ``steps < 1``, a grid that is empty, not
        positive or not strictly increasing, non-finite inputs, a non-scalar loss.
    """
    if not callable(make_optimizer):
        raise TypeError(
            f"`make_optimizer` must be a function lr -> optimizer, got {make_optimizer!r}."
        )
    data = _check_data(data)
    n = data[0].shape[0]
    batch_size = checks.integer(batch_size, "batch_size", minimum=1, maximum=n)
    steps = checks.integer(steps, "steps", minimum=1)
    lrs = np.asarray(grid, dtype=np.float64).ravel()
    if lrs.size == 0 or not np.all(np.isfinite(lrs)) or np.any(lrs <= 0):
        raise ValueError(f"`grid` must hold positive finite learning rates, got {grid!r}.")
    if np.any(np.diff(lrs) <= 0):
        raise ValueError(f"`grid` must be strictly increasing, got {grid!r}.")
    checks.finite(params, "params")
    _check_scalar_loss(loss_fn, params, data)
    initial = float(loss_fn(params, *data))
    if pad_to is None:
        pad_to = batch_size
    pad_to = checks.integer(pad_to, "pad_to", minimum=batch_size, maximum=n)
    order = jnp.pad(batch_order(key, n, batch_size, steps), ((0, 0), (0, pad_to - batch_size)))
    w = (jnp.arange(pad_to) < batch_size) / batch_size
    lrs32 = jnp.asarray(lrs, jnp.float32)
    final = np.asarray(_final_losses(make_optimizer, loss_fn, params, data, lrs32, order, w))
    stable = np.isfinite(final) & (final < initial)
    lr = float(lrs[stable].max()) if stable.any() else float("nan")
    return StableLR(lr, lrs, stable, final, initial, bool(stable.any() and not stable[-1]))
