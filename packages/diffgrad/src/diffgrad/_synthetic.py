"""The paper's three 1-D non-convex test functions and a jitted 1-D optimisation loop.

The gradients are those of the authors' notebook ``diffGrad_analytical.ipynb`` (the paper's
synthetic-function figure shows the same three shapes); the values are their antiderivatives, fixed by
continuity, and are only used for plots and to say which minimum is the global one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from jaxpapers_shared import checks


class SyntheticFunction(NamedTuple):
    """A 1-D test function.

    Attributes:
      name: "F1", "F2" or "F3".
      value: x -> f(x), elementwise on any shape.
      grad: x -> f'(x), elementwise, exactly the notebook's gradient (kinks included).
      global_min: the argmin of f.
      local_min: the argmin of the basin an overshooting optimizer ends in.
    """

    name: str
    value: Callable[[jax.Array], jax.Array]
    grad: Callable[[jax.Array], jax.Array]
    global_min: float
    local_min: float


def _f1_value(x):
    return jnp.where(x <= 0.0, (x + 0.3) ** 2, (x - 0.2) ** 2 + 0.05)


def _f1_grad(x):
    return jnp.where(x <= 0.0, 2.0 * x + 0.6, 2.0 * x - 0.4)


def _f2_smooth(x):
    # An antiderivative of x cos(8x) + sin(8x) + 3x^2, the notebook's gradient right of -0.9.
    return x * jnp.sin(8.0 * x) / 8.0 - 7.0 * jnp.cos(8.0 * x) / 64.0 + x**3


def _f2_value(x):
    return jnp.where(x <= -0.9, _f2_smooth(-0.9) - 40.0 * (x + 0.9), _f2_smooth(x))


def _f2_grad(x):
    return jnp.where(x <= -0.9, -40.0, x * jnp.cos(8.0 * x) + jnp.sin(8.0 * x) + 3.0 * x**2)


def _f3_value(x):
    a = jnp.abs(x)
    # Symmetric: x^2 outside [-0.5, 0.5], a ridge of slope 1 on 0.4 < |x| <= 0.5 and a V of slope
    # 7/8 inside, so f(0) = 0 is the global minimum and f(+-0.5) = 0.25 are local ones.
    return jnp.where(a > 0.5, x**2, jnp.where(a > 0.4, 0.35 - (a - 0.4), 0.875 * a))


def _f3_grad(x):
    return jnp.select(
        [x <= -0.5, x <= -0.4, x <= 0.0, x <= 0.4, x <= 0.5],
        [2.0 * x, jnp.ones_like(x), -0.875 * jnp.ones_like(x), 0.875 * jnp.ones_like(x), -1.0],
        2.0 * x,
    )


F1 = SyntheticFunction("F1", _f1_value, _f1_grad, global_min=-0.3, local_min=0.2)
F2 = SyntheticFunction("F2", _f2_value, _f2_grad, global_min=-0.9, local_min=0.0)
F3 = SyntheticFunction("F3", _f3_value, _f3_grad, global_min=0.0, local_min=0.5)


def optimize_1d(
    tx: optax.GradientTransformation,
    fn: SyntheticFunction,
    x0: jax.Array,
    num_steps: int,
) -> jax.Array:
    """Runs ``tx`` on ``fn`` from each starting point in ``x0`` (vectorised: one x per entry).

    Every entry of ``x0`` is an independent 1-D problem: the transformations used here are
    elementwise, so optimising the vector at once equals a loop over starts.

    Args:
      tx: an elementwise optimizer (``diffgrad``, ``optax.adam``...).
      fn: one of :data:`F1`, :data:`F2`, :data:`F3`.
      x0: (n,) float starting points.
      num_steps: number of updates (the paper uses 300).

    Returns:
      (num_steps + 1, n) trajectory, row 0 being ``x0``.

    Raises:
      ValueError: if ``num_steps`` < 1, or ``x0`` is not 1-D, empty or holds NaN/inf.
      TypeError: if ``num_steps`` is not an integer.
    """
    num_steps = checks.integer(num_steps, "num_steps", minimum=1)
    x0 = checks.array(x0, "x0", ndim=1, dtype="float").astype(jnp.float32)

    def step(carry, _):
        x, state = carry
        updates, state = tx.update(fn.grad(x), state, x)
        x = optax.apply_updates(x, updates)
        return (x, state), x

    @jax.jit
    def run(x0):
        _, xs = jax.lax.scan(step, (x0, tx.init(x0)), None, length=num_steps)
        return jnp.concatenate([x0[None], xs])

    return run(x0)
