"""Training in function space: kernel gradient descent and the linearized network (Sec. 5)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from jaxpapers_shared import checks


class Prediction(NamedTuple):
    """Kernel gradient-descent outputs.

    Attributes:
      train: ``(N,)`` or ``(N, out)`` f on the training inputs.
      test: ``(M,)`` or ``(M, out)`` f on the test inputs, or ``None`` without ``k_test_train``.
      stable: ``lr * lambda_max / N < 2`` (discrete steps diverge otherwise; always true for
        continuous time and infinite time).
    """

    train: jax.Array
    test: jax.Array | None
    stable: jax.Array


@functools.partial(jax.jit, static_argnames=("mode",))
def _predict(k_tt, y, f0_train, k_xt, f0_test, lr, horizon, *, mode):
    n = k_tt.shape[0]
    eigval, eigvec = jnp.linalg.eigh(k_tt)
    rate = lr * eigval / n
    tiny = jnp.abs(eigval) <= 1e-12 * jnp.max(jnp.abs(eigval))
    safe = jnp.where(tiny, 1.0, eigval)
    if mode == "steps":
        decay = (1 - rate) ** horizon
        small_limit = horizon * lr / n  # (1 - (1 - eta l / N)^k) / l as l -> 0
    elif mode == "time":
        decay = jnp.exp(-rate * horizon)
        small_limit = horizon * lr / n
    else:
        decay = jnp.zeros_like(eigval)
        small_limit = jnp.zeros_like(eigval)  # the pseudo-inverse drops the null space
    decay = jnp.where(tiny, 1.0, decay)
    gain = jnp.where(tiny, small_limit, (1 - decay) / safe)
    u0 = eigvec.T @ (f0_train - y)
    train = y + eigvec @ (decay[:, None] * u0)
    test = None if k_xt is None else f0_test - k_xt @ (eigvec @ (gain[:, None] * u0))
    stable = jnp.max(rate) < 2 if mode == "steps" else jnp.asarray(True)
    return Prediction(train, test, stable)


def kernel_gd_predict(
    k_train_train: jax.typing.ArrayLike,
    y_train: jax.typing.ArrayLike,
    *,
    lr: float,
    steps: int | None = None,
    time: float | None = None,
    f0_train: jax.typing.ArrayLike | None = None,
    k_test_train: jax.typing.ArrayLike | None = None,
    f0_test: jax.typing.ArrayLike | None = None,
) -> Prediction:
    """Least-squares training under a fixed kernel (Jacot et al., Sec. 5, linear ODE).

    Gradient descent on ``C = (1/2N) sum ||f(x_i) - y_i||^2`` moves f by
    ``f_{k+1}(x) = f_k(x) - (lr/N) Theta(x, X) (f_k(X) - Y)``. With ``K = V diag(l) V^T``:

    * ``steps=k`` (discrete GD, what the linearized network does exactly):
      ``u_k = V diag((1 - lr l/N)^k) V^T u_0``,
      ``f_k(x) = f_0(x) - Theta(x, X) V diag((1 - (1 - lr l/N)^k) / l) V^T u_0``;
    * ``time=t`` (gradient flow): the same with ``exp(-lr t l / N)``;
    * neither: ``t -> infinity``, kernel regression with the pseudo-inverse of ``K``.

    ``u_0 = f_0(X) - Y``. The residual decays along eigenvector ``v_i`` at rate ``lr l_i / N``:
    the top kernel principal components are learned first. Near-zero eigenvalues take the
    limit ``(1 - decay) / l -> k lr / N`` instead of dividing; ``K`` is never inverted.

    Args:
      k_train_train: ``(N, N)`` symmetric kernel on the training inputs.
      y_train: ``(N,)`` or ``(N, out)`` targets.
      lr: learning rate eta > 0.
      steps: number of GD steps (>= 0), or ``None``.
      time: gradient-flow time (>= 0), or ``None``; at most one of ``steps`` and ``time``.
      f0_train: initial outputs on the training inputs (default 0), shaped like ``y_train``.
      k_test_train: ``(M, N)`` kernel between test and training inputs.
      f0_test: ``(M,)`` / ``(M, out)`` initial outputs on the test inputs (default 0).

    Returns:
      :class:`Prediction` (``train``, ``test``, ``stable``); ``stable`` is false when discrete
      GD diverges (``lr l_max / N >= 2``), in which case the predictions are the divergent
      iterates.

    Raises:
      ValueError: ``lr <= 0``; negative ``steps`` / ``time`` or both given; a kernel that is
        empty, not square, not symmetric (tolerance 1e-4 relative) or mismatched with
        ``y_train`` / ``f0_train``; ``k_test_train`` with a number of columns other than N;
        non-finite inputs.
      TypeError: ``steps`` not an integer, ``lr`` / ``time`` not a real number.
    """
    checks.positive(lr, "lr")
    if steps is not None and time is not None:
        raise ValueError(f"give `steps` or `time`, not both; got steps={steps}, time={time}.")
    if steps is not None:
        steps = checks.integer(steps, "steps", minimum=0)
    if time is not None:
        checks.positive(time, "time", allow_zero=True)
    k_tt = jnp.asarray(k_train_train)
    if k_tt.ndim != 2 or k_tt.shape[0] != k_tt.shape[1] or k_tt.shape[0] == 0:
        raise ValueError(
            f"`k_train_train` must be a non-empty square (N, N) matrix, got shape {k_tt.shape}."
        )
    checks.finite(k_tt, "k_train_train")
    scale = float(jnp.max(jnp.abs(k_tt))) or 1.0
    asymmetry = float(jnp.max(jnp.abs(k_tt - k_tt.T)))
    if asymmetry > 1e-4 * scale:
        raise ValueError(
            f"`k_train_train` must be symmetric (within 1e-4 relative), got "
            f"max |K - K^T| = {asymmetry:.3g} for max |K| = {scale:.3g}."
        )
    n = k_tt.shape[0]
    y = jnp.asarray(y_train, dtype=k_tt.dtype)
    vector = y.ndim == 1
    if y.ndim not in (1, 2) or y.shape[0] != n:
        raise ValueError(f"`y_train` must be ({n},) or ({n}, out), got shape {y.shape}.")
    checks.finite(y, "y_train")
    y2 = y[:, None] if vector else y
    f0 = jnp.zeros_like(y2) if f0_train is None else jnp.asarray(f0_train, dtype=k_tt.dtype)
    f0 = f0[:, None] if f0.ndim == 1 else f0
    if f0.shape != y2.shape:
        raise ValueError(f"`f0_train` must have the shape of `y_train` {y.shape}, got {f0.shape}.")
    checks.finite(f0, "f0_train")
    k_xt = f0x = None
    if k_test_train is not None:
        k_xt = jnp.asarray(k_test_train, dtype=k_tt.dtype)
        if k_xt.ndim != 2 or k_xt.shape[1] != n:
            raise ValueError(f"`k_test_train` must be (M, {n}), got shape {k_xt.shape}.")
        checks.finite(k_xt, "k_test_train")
        m = k_xt.shape[0]
        f0x = jnp.zeros((m, y2.shape[1]), k_tt.dtype) if f0_test is None else jnp.asarray(f0_test)
        f0x = f0x[:, None] if f0x.ndim == 1 else f0x
        if f0x.shape != (m, y2.shape[1]):
            raise ValueError(f"`f0_test` must be ({m},) or ({m}, out), got shape {f0x.shape}.")
        checks.finite(f0x, "f0_test")
    mode, horizon = ("steps", steps) if steps is not None else ("time", time)
    if steps is None and time is None:
        mode, horizon = "infinite", 0.0
    pred = _predict(k_tt, y2, f0, k_xt, f0x, lr, horizon, mode=mode)
    if vector:
        pred = pred._replace(
            train=pred.train[:, 0], test=None if pred.test is None else pred.test[:, 0]
        )
    return pred


def linearize(
    apply_fn: Callable[[Any, jax.Array], jax.Array], params0: Any
) -> Callable[[Any, jax.Array], jax.Array]:
    """First-order Taylor model ``f_lin(x; p) = f(x; p0) + J(x; p0) (p - p0)`` (one ``jax.jvp``).

    Under GD on the least-squares loss it evolves exactly as :func:`kernel_gd_predict` with the
    empirical NTK at ``p0``; Thm 2 says a wide network stays close to it.

    Args:
      apply_fn: ``(params, x) -> outputs``.
      params0: the expansion point.

    Returns:
      ``apply_lin(params, x)`` with the same signature and output shape as ``apply_fn``.
    """

    def apply_lin(params, x):
        delta = jax.tree.map(jnp.subtract, params, params0)
        f0, df = jax.jvp(lambda p: apply_fn(p, x), (params0,), (delta,))
        return f0 + df

    return apply_lin
