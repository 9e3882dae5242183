"""An on-the-fly learning-rate and momentum learner driven by Lanczos curvature estimates.

The paper reports "good preliminary results" for a learner that sets the learning rate and
momentum from stochastic Lanczos estimates of the batch Hessian's spectrum, without giving the
rule in a form we could confirm. The rule here is this package's: Polyak's optimal heavy-ball
parameters for a quadratic whose curvature spans ``[lambda_-, lambda_+]``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from jaxpapers_shared import checks
from jaxpapers_shared import curvature as cv

from ._spectrum import _start

PyTree = Any


class ScaleByLanczosLrMomentumState(NamedTuple):
    """State of :func:`scale_by_lanczos_lr_momentum`.

    Attributes:
      count: () int32, steps taken.
      key: PRNG key for the next Lanczos start vector.
      learning_rate: () the current ``eta``.
      momentum: () the current ``mu``.
      lambda_max: () the last ``lambda_+`` (largest Ritz value); NaN before the first estimate.
      lambda_min: () the last ``lambda_-`` (the ``quantile`` of the positive spectral mass).
      trace: the heavy-ball buffer, shaped like the parameters.
    """

    count: jax.Array
    key: jax.Array
    learning_rate: jax.Array
    momentum: jax.Array
    lambda_max: jax.Array
    lambda_min: jax.Array
    trace: PyTree


def polyak_lr_momentum(
    lambda_max: jax.Array, lambda_min: jax.Array, *, max_momentum: float = 0.99
) -> tuple[jax.Array, jax.Array]:
    """Polyak's optimal heavy-ball ``(eta, mu)`` for curvatures in ``[lambda_min, lambda_max]``.

    ``eta = 4 / (sqrt(l+) + sqrt(l-))^2`` and ``mu = ((sqrt(l+) - sqrt(l-)) / (sqrt(l+) +
    sqrt(l-)))^2``; then ``mu <= max_momentum`` and ``eta l+ <= 2 (1 + mu)`` (the heavy-ball
    stability edge along the top direction). Requires ``0 < lambda_min <= lambda_max``.
    """
    a, b = jnp.sqrt(lambda_max), jnp.sqrt(lambda_min)
    mu = jnp.minimum(((a - b) / (a + b)) ** 2, max_momentum)
    lr = jnp.minimum(4.0 / (a + b) ** 2, 2.0 * (1.0 + mu) / lambda_max)
    return lr, mu


def _positive_quantile(theta: jax.Array, tau: jax.Array, quantile: float) -> jax.Array:
    """The ``quantile`` of the quadrature mass ``tau`` on the positive Ritz values ``theta``
    (ascending); NaN when no Ritz value is positive."""
    mass = jnp.where(theta > 0, tau, 0.0)
    cumulative = jnp.cumsum(mass) / jnp.sum(mass)
    index = jnp.argmax(cumulative >= quantile)
    return jnp.where(jnp.sum(mass) > 0, theta[index], jnp.nan)


def scale_by_lanczos_lr_momentum(
    loss_fn: Callable[..., jax.Array],
    *,
    interval: int,
    order: int = 20,
    quantile: float = 0.1,
    max_momentum: float = 0.99,
    learning_rate: float | None = None,
    momentum: float | None = None,
    key: jax.Array | None = None,
) -> optax.GradientTransformationExtraArgs:
    """Heavy-ball SGD whose ``(eta, mu)`` are re-estimated every ``interval`` steps by Lanczos.

    At every step whose count is a multiple of ``interval`` (including step 0, unless a starting
    ``learning_rate`` is given), ``order`` Lanczos steps on the Hessian of ``loss_fn`` on the
    current batch give Ritz values ``theta_k`` and quadrature weights ``tau_k``. With
    ``lambda_+ = max theta_k`` and ``lambda_-`` the ``quantile`` of the ``tau`` mass on the
    positive Ritz values (negative curvature is ignored), the step uses
    :func:`polyak_lr_momentum`; between estimates it keeps them. The update is
    ``m <- mu m + g``, ``-eta m``: the same as ``optax.sgd(eta, momentum=mu)``. An estimate with
    no positive curvature keeps the previous ``(eta, mu)``.

    Differs from the paper: the paper's exact rule is not given; this Polyak rule on a Lanczos
    estimate of the spectrum's edges is ours. The tridiagonal is solved in the parameters'
    precision (float32) inside the compiled step.

    Args:
      loss_fn: ``loss_fn(params, *batch) -> scalar``; ``update`` takes ``batch=`` (a tuple).
      interval: steps between estimates (>= 1).
      order: Lanczos steps per estimate (>= 2); costs ``order`` Hessian-vector products.
      quantile: which quantile of the positive spectral mass is ``lambda_-`` (in (0, 1)).
      max_momentum: the largest ``mu`` (in [0, 1)).
      learning_rate, momentum: starting values; when given, the first estimate is at step
        ``interval`` instead of 0 (with ``interval`` beyond the run this is plain heavy ball).
      key: PRNG key for the Lanczos start vectors (default ``PRNGKey(0)``).

    Returns:
      An ``optax.GradientTransformationExtraArgs``; ``update(grads, state, params, batch=...)``.

    Raises:
      ValueError: ``interval < 1``, ``order < 2``, ``quantile`` outside (0, 1), ``max_momentum``
        outside [0, 1), a negative start value, or ``update`` called without ``params``.
    """
    if not callable(loss_fn):
        raise TypeError(f"`loss_fn` must be a function loss(params, *batch), got {loss_fn!r}.")
    interval = checks.integer(interval, "interval", minimum=1)
    order = checks.integer(order, "order", minimum=2)
    checks.in_range(quantile, "quantile", 0.0, 1.0, closed="neither")
    checks.in_range(max_momentum, "max_momentum", 0.0, 1.0, closed="left")
    fixed_start = learning_rate is not None
    if fixed_start:
        checks.positive(learning_rate, "learning_rate")
    if momentum is not None:
        checks.in_range(momentum, "momentum", 0.0, 1.0, closed="left")
    key = jax.random.PRNGKey(0) if key is None else key

    def init_fn(params):
        return ScaleByLanczosLrMomentumState(
            count=jnp.zeros((), jnp.int32),
            key=key,
            learning_rate=jnp.asarray(learning_rate or 0.0, jnp.float32),
            momentum=jnp.asarray(momentum or 0.0, jnp.float32),
            lambda_max=jnp.full((), jnp.nan, jnp.float32),
            lambda_min=jnp.full((), jnp.nan, jnp.float32),
            trace=jax.tree.map(jnp.zeros_like, params),
        )

    def estimate(params, batch, start_key):
        run = cv.lanczos(cv.hvp(loss_fn, params, *batch), _start(start_key, params), order)
        theta, vectors = jnp.linalg.eigh(run.tridiagonal())
        lam_plus = theta[-1]
        lam_minus = jnp.minimum(_positive_quantile(theta, vectors[0] ** 2, quantile), lam_plus)
        lr, mu = polyak_lr_momentum(lam_plus, lam_minus, max_momentum=max_momentum)
        return lr, mu, lam_plus, lam_minus

    def update_fn(updates, state, params=None, *, batch=(), **extra_args):
        del extra_args
        if params is None:
            raise ValueError("`params` must be passed to update: the learner needs the point.")
        batch = tuple(batch) if isinstance(batch, tuple | list) else (batch,)
        refresh = state.count % interval == 0
        if fixed_start:
            refresh = refresh & (state.count > 0)
        key, start_key = jax.random.split(state.key)
        kept = (state.learning_rate, state.momentum, state.lambda_max, state.lambda_min)

        def fresh(_):
            new = estimate(params, batch, start_key)
            usable = jnp.isfinite(new[0]) & (new[2] > 0) & jnp.isfinite(new[3]) & (new[3] > 0)
            return tuple(
                jnp.where(usable, n, k).astype(k.dtype) for n, k in zip(new, kept, strict=True)
            )

        lr, mu, lam_plus, lam_minus = jax.lax.cond(refresh, fresh, lambda _: kept, None)
        trace = jax.tree.map(lambda g, t: g + mu.astype(t.dtype) * t, updates, state.trace)
        updates = jax.tree.map(lambda t: (-lr).astype(t.dtype) * t, trace)
        new_state = ScaleByLanczosLrMomentumState(
            count=state.count + 1,
            key=key,
            learning_rate=lr,
            momentum=mu,
            lambda_max=lam_plus,
            lambda_min=lam_minus,
            trace=trace,
        )
        return updates, new_state

    return optax.GradientTransformationExtraArgs(init_fn, update_fn)


def lanczos_lr_momentum(
    loss_fn: Callable[..., jax.Array],
    *,
    interval: int,
    order: int = 20,
    quantile: float = 0.1,
    max_momentum: float = 0.99,
    learning_rate: float | None = None,
    momentum: float | None = None,
    key: jax.Array | None = None,
) -> optax.GradientTransformationExtraArgs:
    """The Lanczos learning-rate/momentum learner as an optimizer (no learning rate to tune).

    ``optax.chain`` of :func:`scale_by_lanczos_lr_momentum` alone (the learning rate and the
    momentum are its outputs); arguments as there. Use
    ``updates, state = opt.update(grads, state, params, batch=(x, y))``.
    """
    return optax.chain(
        scale_by_lanczos_lr_momentum(
            loss_fn,
            interval=interval,
            order=order,
            quantile=quantile,
            max_momentum=max_momentum,
            learning_rate=learning_rate,
            momentum=momentum,
            key=key,
        )
    )
