"""diffGrad as optax gradient transformations (Dubey et al., 2020, arXiv:1909.11015).

diffGrad is Adam whose bias-corrected first moment is multiplied, elementwise, by a *friction
coefficient* xi_t = sigmoid(|g_{t-1} - g_t|) in [0.5, 1): where the gradient barely changes
between steps (a flat region or the bottom of a basin) the step is halved, where it changes fast
the step is Adam's (the paper's method section; we cite equations by name because we could
not confirm the arXiv version's numbering).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from jaxpapers_shared import checks

FrictionFn = Callable[[jax.Array, jax.Array], jax.Array]


class ScaleByDiffGradState(NamedTuple):
    """State of :func:`scale_by_diffgrad`.

    Attributes:
      count: () int32, number of updates taken so far (t).
      mu: first moment m_t, a pytree like the params (dtype ``mu_dtype`` if given).
      nu: second moment v_t, a pytree like the params (at least float32).
      nu_max: running max of the bias-corrected v_t (AMSGrad variant); an empty tuple otherwise.
      prev_grad: the gradient g_t of the last step (g_0 = 0), at least float32. A copy, never an
        alias of the incoming buffer: aliasing is the bug of the paper's original code.
    """

    count: jax.Array
    mu: optax.Updates
    nu: optax.Updates
    nu_max: optax.Updates | tuple[()]
    prev_grad: optax.Updates


def friction_coefficient(grad: jax.Array, prev_grad: jax.Array) -> jax.Array:
    """The diffGrad friction coefficient xi = sigmoid(|g_{t-1} - g_t|), elementwise.

    This is the paper's "AbsSig" of the gradient change Delta g_t = g_{t-1} - g_t.

    Args:
      grad: the current gradient g_t, any shape.
      prev_grad: the previous gradient g_{t-1}, same shape (zeros at the first step).

    Returns:
      xi: same shape as ``grad``, each entry in [0.5, 1]. It is 0.5 exactly where the gradient
      did not change and rounds to 1 in float32 once |g_{t-1} - g_t| exceeds about 17.

    Raises:
      ValueError: if the two shapes differ (they would broadcast silently).

    Note:
      The coefficient depends on the raw scale of the gradient: multiplying the loss by a constant
      changes xi (whereas Adam's direction m/sqrt(v) is scale-invariant).
    """
    checks.same_shape(grad, prev_grad, ("grad", "prev_grad"))
    return jax.nn.sigmoid(jnp.abs(prev_grad - grad))


def _state_dtype(x: jax.Array) -> jnp.dtype:
    # |g_{t-1} - g_t| of low-precision gradients is mostly rounding noise, so the buffers the
    # friction and the second moment are built from are kept in at least float32.
    return jnp.promote_types(x.dtype, jnp.float32)


def _check_hyperparameters(b1: float, b2: float, eps: float) -> None:
    checks.in_range(b1, "b1", 0.0, 1.0, closed="left")
    checks.in_range(b2, "b2", 0.0, 1.0, closed="left")
    checks.positive(eps, "eps")


def _scale_by_friction_adam(
    b1: float,
    b2: float,
    eps: float,
    mu_dtype: Any,
    amsgrad: bool,
    friction: FrictionFn,
) -> optax.GradientTransformation:
    """Adam with the bias-corrected first moment scaled by ``friction(g_t, g_{t-1})``.

    :func:`scale_by_diffgrad` is this with ``friction=friction_coefficient``; the tests force the
    friction to 1 (Adam) and 0.5 (the original code's bug: Adam at half the step).
    """
    mu_dtype = None if mu_dtype is None else jnp.dtype(mu_dtype)

    def init_fn(params: optax.Params) -> ScaleByDiffGradState:
        def zeros_state(p):
            return jnp.zeros(p.shape, _state_dtype(p))

        mu = jax.tree.map(
            lambda p: jnp.zeros(p.shape, p.dtype if mu_dtype is None else mu_dtype), params
        )
        nu = jax.tree.map(zeros_state, params)
        nu_max = jax.tree.map(zeros_state, params) if amsgrad else ()
        prev_grad = jax.tree.map(zeros_state, params)
        return ScaleByDiffGradState(
            count=jnp.zeros([], jnp.int32), mu=mu, nu=nu, nu_max=nu_max, prev_grad=prev_grad
        )

    def update_fn(updates, state: ScaleByDiffGradState, params=None):
        del params
        count = optax.safe_increment(state.count)
        # Bias corrections 1 - beta^t, computed once per step (as optax.tree.bias_correction).
        correction1 = 1 - b1**count
        correction2 = 1 - b2**count

        def leaf(u, m_old, v_old, pg, *v_max_old):
            # One pass per leaf: m_t, v_t, xi_t and the step from the same loaded g_t.
            g = u.astype(pg.dtype)
            m = b1 * m_old + (1.0 - b1) * u  # Adam's m_t
            v = b2 * v_old + (1.0 - b2) * jnp.square(u)  # Adam's v_t
            m_hat = m / correction1.astype(m.dtype)
            v_hat = v / correction2.astype(v.dtype)
            if amsgrad:  # the running max of vhat replaces vhat (and is stored)
                v_hat = jnp.maximum(v_max_old[0], v_hat)
            # xi_t = AbsSig(g_{t-1} - g_t), then theta_t = theta_{t-1} - lr * xi_t * mhat / (...).
            step = (friction(g, pg) * m_hat / (jnp.sqrt(v_hat) + eps)).astype(u.dtype)
            return (step, m.astype(m_old.dtype), v.astype(v_old.dtype), g) + (
                (v_hat,) if amsgrad else ()
            )

        extra = (state.nu_max,) if amsgrad else ()
        out = jax.tree.map(leaf, updates, state.mu, state.nu, state.prev_grad, *extra)
        # Unzip the per-leaf tuples into trees shaped like `updates`.
        arity = jax.tree.structure((0,) * (5 if amsgrad else 4))
        new_updates, mu, nu, prev_grad, *nu_max = jax.tree.transpose(
            jax.tree.structure(updates), arity, out
        )
        return new_updates, ScaleByDiffGradState(
            count=count, mu=mu, nu=nu, nu_max=nu_max[0] if amsgrad else (), prev_grad=prev_grad
        )

    return optax.GradientTransformation(init_fn, update_fn)


def scale_by_diffgrad(
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    mu_dtype: Any = None,
    *,
    amsgrad: bool = False,
) -> optax.GradientTransformation:
    r"""Rescales updates by the diffGrad rule (Dubey et al., 2020).

    .. math::
        m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t, \quad
        v_t = \beta_2 v_{t-1} + (1-\beta_2) g_t^2, \\
        \xi_t = \frac{1}{1 + e^{-|g_{t-1} - g_t|}}, \quad
        u_t = \xi_t \, \frac{m_t / (1-\beta_1^t)}{\sqrt{v_t / (1-\beta_2^t)} + \epsilon},

    with g_0 = 0 (so xi_1 = sigmoid(|g_1|)). Chain with a negative learning rate (or use
    :func:`diffgrad`) to get the paper's step theta_t = theta_{t-1} - lr * u_t.

    Args:
      b1: beta_1, decay of the first moment, in [0, 1).
      b2: beta_2, decay of the second moment, in [0, 1).
      eps: epsilon added to sqrt(vhat), > 0.
      mu_dtype: dtype of the first-moment buffer (``None``: the params' dtype). The second moment
        and the previous gradient are kept in at least float32.
      amsgrad: use max_{s <= t} vhat_s in place of vhat_t (the AMSGrad-style diffGrad variant
        the paper compares in its experiments; the maximum is over bias-corrected vhat as in
        ``optax.amsgrad``).

    Returns:
      An ``optax.GradientTransformation`` with state :class:`ScaleByDiffGradState`.

    Raises:
      ValueError: if ``b1`` or ``b2`` is outside [0, 1) or ``eps`` <= 0.

    Differs from the paper:
      eps is added to sqrt(vhat) (optax's and the paper's Adam form); the official PyTorch code
      adds it to sqrt(v) and folds the bias corrections into the step size. With xi == 1 this
      function equals ``optax.scale_by_adam`` exactly.

    References:
      Dubey, Chakraborty, Roy, Mukherjee, Singh, Chaudhuri, "diffGrad: An Optimization Method
      for Convolutional Neural Networks", IEEE TNNLS 31(11), 2020. arXiv:1909.11015.
    """
    _check_hyperparameters(b1, b2, eps)
    return _scale_by_friction_adam(b1, b2, eps, mu_dtype, amsgrad, friction_coefficient)


def _check_learning_rate(learning_rate: optax.ScalarOrSchedule) -> None:
    # A schedule is checked by nobody (its values are unknown here); a value traced under
    # jit/vmap (a vmapped lr grid) passes `checks.positive` unchecked.
    if not callable(learning_rate):
        checks.positive(learning_rate, "learning_rate")


def diffgrad(
    learning_rate: optax.ScalarOrSchedule,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    *,
    decoupled_weight_decay: bool = False,
    amsgrad: bool = False,
    mu_dtype: Any = None,
    mask: Any = None,
) -> optax.GradientTransformation:
    r"""The diffGrad optimizer (Dubey et al., 2020): Adam with a gradient-change friction.

    theta_t = theta_{t-1} - lr * xi_t * mhat_t / (sqrt(vhat_t) + eps), with
    xi_t = sigmoid(|g_{t-1} - g_t|) (see :func:`scale_by_diffgrad`).

    Weight decay follows the official code by default: *coupled* L2, g_t <- g_t + wd * theta,
    added before the moments and the friction see the gradient. With
    ``decoupled_weight_decay=True`` it is AdamW-style: theta_t -= lr * wd * theta_{t-1}.

    Args:
      learning_rate: lr, a float > 0 or an optax schedule.
      b1: beta_1 in [0, 1).
      b2: beta_2 in [0, 1).
      eps: epsilon > 0.
      weight_decay: wd >= 0 (0 disables it).
      decoupled_weight_decay: AdamW-style decay instead of the official coupled L2.
      amsgrad: the AMSGrad-style variant (max of vhat), see :func:`scale_by_diffgrad`.
      mu_dtype: dtype of the first-moment buffer.
      mask: pytree of booleans (or a callable of the params returning one) selecting which
        leaves are decayed, as in ``optax.add_decayed_weights``.

    Returns:
      An ``optax.GradientTransformation``. Wrap it in ``optax.apply_if_finite`` to skip (and
      count) steps whose gradients hold NaN or inf.

    Raises:
      ValueError: if ``learning_rate`` <= 0, ``b1``/``b2`` outside [0, 1), ``eps`` <= 0 or
        ``weight_decay`` < 0 (or any of them NaN/inf).
      TypeError: if ``learning_rate`` is neither a number nor a callable, or another
        hyperparameter is not a real number.

    Example:
      >>> import jax.numpy as jnp, optax, diffgrad
      >>> tx = diffgrad.diffgrad(1e-3)
      >>> params = {"w": jnp.ones(3)}
      >>> updates, state = tx.update({"w": jnp.ones(3)}, tx.init(params), params)
      >>> params = optax.apply_updates(params, updates)

    References:
      Dubey et al., "diffGrad: An Optimization Method for Convolutional Neural Networks",
      IEEE TNNLS 2020, arXiv:1909.11015; Loshchilov & Hutter, "Decoupled Weight Decay
      Regularization", arXiv:1711.05101.
    """
    _check_learning_rate(learning_rate)
    checks.positive(weight_decay, "weight_decay", allow_zero=True)
    scale = scale_by_diffgrad(b1, b2, eps, mu_dtype, amsgrad=amsgrad)
    if weight_decay == 0.0:
        return optax.chain(scale, optax.scale_by_learning_rate(learning_rate))
    decay = optax.add_decayed_weights(weight_decay, mask)
    if decoupled_weight_decay:
        return optax.chain(scale, decay, optax.scale_by_learning_rate(learning_rate))
    return optax.chain(decay, scale, optax.scale_by_learning_rate(learning_rate))
