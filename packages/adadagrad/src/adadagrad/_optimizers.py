"""AdaGrad-Norm (one scalar step size for the whole model) and coordinate-wise AdaGrad."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from jaxpapers_shared import checks


class ScaleByAdagradNormState(NamedTuple):
    """``accumulator``: the scalar ``b_k^2 = b_0^2 + sum_{t<=k} ||g_t||^2``."""

    accumulator: jax.Array


class ScaleByAdagradState(NamedTuple):
    """``accumulator``: per coordinate ``s_k = s_0 + sum_{t<=k} g_t^2``, shaped like the params."""

    accumulator: optax.Updates


def _tree_sq_norm(tree) -> jax.Array:
    leaves = jax.tree.leaves(tree)
    if not leaves:
        return jnp.zeros(())
    return sum(jnp.sum(jnp.square(leaf.astype(jnp.float32))) for leaf in leaves)


def scale_by_adagrad_norm(
    initial_accumulator: float = 1e-2, eps: float = 1e-10
) -> optax.GradientTransformation:
    """Scales the update by ``1 / b_k`` with ``b_k^2 = b_{k-1}^2 + ||g_k||^2`` (one scalar).

    AdaGrad-Norm (Ward, Wu, Bottou 2019; the optimizer of AdAdaGrad-Norm, arXiv:2402.11215
    Algorithm 1): ``x_{k+1} = x_k - lr * g_k / b_k``. The norm runs over every leaf of the tree,
    so the whole model shares one step size.

    Args:
      initial_accumulator: ``b_0^2 > 0``.
      eps: added under the square root (``b_k = sqrt(b_k^2 + eps)``).

    Raises:
      ValueError: ``initial_accumulator <= 0`` or ``eps < 0``.
    """
    checks.positive(initial_accumulator, "initial_accumulator")
    checks.positive(eps, "eps", allow_zero=True)

    def init_fn(params):
        del params
        return ScaleByAdagradNormState(jnp.asarray(initial_accumulator, jnp.float32))

    def update_fn(updates, state, params=None):
        del params
        accumulator = state.accumulator + _tree_sq_norm(updates)
        scale = jax.lax.rsqrt(accumulator + eps)
        updates = jax.tree.map(lambda g: (g * scale).astype(g.dtype), updates)
        return updates, ScaleByAdagradNormState(accumulator)

    return optax.GradientTransformation(init_fn, update_fn)


def adagrad_norm(
    learning_rate: optax.ScalarOrSchedule,
    initial_accumulator: float = 1e-2,
    eps: float = 1e-10,
) -> optax.GradientTransformation:
    """AdaGrad-Norm: ``x_{k+1} = x_k - learning_rate * g_k / b_k``, ``b_k^2 = b_{k-1}^2 + ||g_k||^2``.

    Args:
      learning_rate: ``eta > 0`` (a float or an optax schedule).
      initial_accumulator: ``b_0^2 > 0`` (default ``1e-2``).
      eps: numerical guard under the square root.

    Raises:
      ValueError: ``learning_rate <= 0`` (when a number), ``initial_accumulator <= 0``.

    Differs from the paper: the official code's ``AdaGradNorm`` keeps one accumulator per output
    row of each weight matrix; this is the single global scalar that the convergence theory
    analyses.
    """
    if not callable(learning_rate):
        checks.positive(learning_rate, "learning_rate")
    return optax.chain(
        scale_by_adagrad_norm(initial_accumulator, eps), optax.scale_by_learning_rate(learning_rate)
    )


def scale_by_adagrad(
    initial_accumulator: float = 0.0, eps: float = 1e-10
) -> optax.GradientTransformation:
    """Coordinate-wise AdaGrad scaling: ``g_k / sqrt(s_k + eps)``, ``s_k = s_{k-1} + g_k^2``.

    Args:
      initial_accumulator: ``s_0 >= 0`` for every coordinate.
      eps: added under the square root (> 0 when ``initial_accumulator`` is 0).

    Raises:
      ValueError: ``initial_accumulator < 0``, ``eps < 0``, or both zero.
    """
    checks.positive(initial_accumulator, "initial_accumulator", allow_zero=True)
    checks.positive(eps, "eps", allow_zero=True)
    if initial_accumulator == 0 and eps == 0:
        raise ValueError(
            "`eps` must be > 0 when `initial_accumulator` is 0 (a zero gradient coordinate "
            "would divide 0 by 0), got eps=0."
        )

    def init_fn(params):
        return ScaleByAdagradState(
            jax.tree.map(lambda p: jnp.full_like(p, initial_accumulator), params)
        )

    def update_fn(updates, state, params=None):
        del params
        accumulator = jax.tree.map(lambda s, g: s + jnp.square(g), state.accumulator, updates)
        updates = jax.tree.map(lambda g, s: g * jax.lax.rsqrt(s + eps), updates, accumulator)
        return updates, ScaleByAdagradState(accumulator)

    return optax.GradientTransformation(init_fn, update_fn)


def adagrad(
    learning_rate: optax.ScalarOrSchedule,
    initial_accumulator: float = 0.0,
    eps: float = 1e-10,
) -> optax.GradientTransformation:
    """Coordinate-wise AdaGrad (Duchi, Hazan, Singer 2011), the optimizer of AdAdaGrad.

    ``x_{k+1} = x_k - learning_rate * g_k / sqrt(s_k + eps)``, ``s_k = s_{k-1} + g_k * g_k``.
    Unlike ``optax.adagrad`` the accumulator starts at ``initial_accumulator`` (default 0, as in
    PyTorch and the paper's experiments) rather than 0.1.

    Raises:
      ValueError: ``learning_rate <= 0`` (when a number), bad accumulator/eps.
    """
    if not callable(learning_rate):
        checks.positive(learning_rate, "learning_rate")
    return optax.chain(
        scale_by_adagrad(initial_accumulator, eps), optax.scale_by_learning_rate(learning_rate)
    )
