"""ODE samplers for dZ_t = v(Z_t, t) dt as pure ``lax.scan`` functions, and reflow pairs.

Time grid (the official code's): step i evaluates v at t_i = eps + i (1 - eps) / N and moves by
dt = 1 / N, i.e. all solvers integrate dz/ds = v(z, eps + s (1 - eps)) over s in [0, 1]. With
N = 1 Euler is the paper's one-step map z1 = z0 + v(z0, eps).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from jaxpapers_shared import checks
from rectified_flow import _checks
from rectified_flow._flow import EPS, ApplyFn

ODE_METHODS = ("heun", "rk4", "dopri5")


def _times(num_steps: int, eps: float) -> jax.Array:
    return eps + jnp.arange(num_steps, dtype=jnp.float32) * (1.0 - eps) / num_steps


@functools.partial(jax.jit, static_argnums=(0, 3, 4, 5))
def _euler(apply_fn, params, z0, num_steps, eps, return_path):
    dt = 1.0 / num_steps
    n = z0.shape[0]

    def body(z, t):
        v = apply_fn(params, z, jnp.full((n,), t, z.dtype))
        z_next = z + dt * v
        return z_next, ((z, v) if return_path else None)

    z1, out = jax.lax.scan(body, z0, _times(num_steps, eps))
    return (z1, out) if return_path else (z1, None)


def euler_sample(
    apply_fn: ApplyFn,
    params: Any,
    z0: jax.Array,
    num_steps: int,
    *,
    eps: float = EPS,
    return_path: bool = False,
) -> jax.Array | tuple[jax.Array, jax.Array, jax.Array]:
    """Simulates the rectified-flow ODE with N Euler steps (paper sec. 2, eq. 1's ODE).

    Args:
      apply_fn: ``apply_fn(params, x, t) -> v``; ``x`` ``(n, *d)``, ``t`` ``(n,)``.
      params: model parameters.
      z0: ``(n, *d)`` float samples of pi_0.
      num_steps: N >= 1 (static; one compilation per value).
      eps: start time (1e-3, as in training).
      return_path: also return the states ``(N, n, *d)`` before each step and the velocities
        ``(N, n, *d)`` used by each step.

    Returns:
      ``z1`` ``(n, *d)``, or ``(z1, path, velocities)``.

    Raises:
      ValueError / TypeError: ``num_steps`` < 1 or not an int, ``eps`` outside [0, 1),
        non-float or empty ``z0``.
      FloatingPointError: the samples contain NaN/inf (checked outside ``jit``).
    """
    num_steps = _checks.steps(num_steps)
    z0 = _checks.float_batch(z0, "z0")
    z1, out = _euler(apply_fn, params, z0, num_steps, _checks.eps(eps), bool(return_path))
    _checks.finite_samples(z1)
    return (z1, *out) if return_path else z1


def one_step(apply_fn: ApplyFn, params: Any, z0: jax.Array, *, eps: float = EPS) -> jax.Array:
    """One-step generation z1 = z0 + v(z0, eps) (reflowed / distilled models; sec. 2.3).

    Args / Returns / Raises: as :func:`euler_sample` with ``num_steps=1``.
    """
    return euler_sample(apply_fn, params, z0, 1, eps=eps)


def _heun_step(f: Callable, z, s, h):
    k1 = f(z, s)
    k2 = f(z + h * k1, s + h)
    return z + 0.5 * h * (k1 + k2)


def _rk4_step(f: Callable, z, s, h):
    k1 = f(z, s)
    k2 = f(z + 0.5 * h * k1, s + 0.5 * h)
    k3 = f(z + 0.5 * h * k2, s + 0.5 * h)
    k4 = f(z + h * k3, s + h)
    return z + h / 6.0 * (k1 + 2 * k2 + 2 * k3 + k4)


@functools.partial(jax.jit, static_argnums=(0, 3, 4, 5))
def _fixed_step(apply_fn, params, z0, method, num_steps, eps):
    n = z0.shape[0]
    step = {"heun": _heun_step, "rk4": _rk4_step}[method]

    def f(z, s):
        return apply_fn(params, z, jnp.full((n,), eps + s * (1.0 - eps), z.dtype))

    h = 1.0 / num_steps

    def body(z, s):
        return step(f, z, s, h), None

    z1, _ = jax.lax.scan(body, z0, jnp.arange(num_steps, dtype=jnp.float32) * h)
    return z1


def ode_sample(
    apply_fn: ApplyFn,
    params: Any,
    z0: jax.Array,
    *,
    method: str = "rk4",
    num_steps: int = 20,
    eps: float = EPS,
    rtol: float = 1e-5,
    atol: float = 1e-5,
) -> jax.Array:
    """Higher-order ODE solve of dZ_t = v(Z_t, t) dt from t = eps to 1.

    Args:
      apply_fn, params, z0: as :func:`euler_sample` (Euler itself is :func:`euler_sample`).
      method: ``"heun"`` (2nd order, 2 NFE/step), ``"rk4"`` (4 NFE/step) or ``"dopri5"``
        (adaptive, needs the optional ``diffrax``; the official code uses RK45 at tol 1e-5).
      num_steps: steps of the fixed-step methods.
      rtol, atol: tolerances of ``dopri5`` (> 0).

    Returns:
      ``z1`` ``(n, *d)``.

    Raises:
      ValueError: unknown ``method``, bad ``num_steps``/``eps``/tolerances.
      ImportError: dopri5 without diffrax. FloatingPointError: non-finite samples.
    """
    if method == "euler":
        raise ValueError(
            "`method` 'euler' is not an ode_sample method: Euler steps are "
            "`euler_sample(apply_fn, params, z0, num_steps)`; ode_sample takes "
            "'heun', 'rk4' or 'dopri5'."
        )
    checks.one_of(method, "method", ODE_METHODS)
    z0 = _checks.float_batch(z0, "z0")
    eps = _checks.eps(eps)
    if method in ("heun", "rk4"):
        z1 = _fixed_step(apply_fn, params, z0, method, _checks.steps(num_steps), eps)
    else:
        checks.positive(rtol, "rtol")
        checks.positive(atol, "atol")
        try:
            import diffrax
        except ImportError as err:  # pragma: no cover - optional extra
            raise ImportError(
                "`method='dopri5'` needs diffrax: pip install 'rectified-flow[adaptive]'"
            ) from err
        n = z0.shape[0]

        def vf(t, z, args):
            return apply_fn(args, z, jnp.full((n,), t, z.dtype))

        sol = diffrax.diffeqsolve(
            diffrax.ODETerm(vf),
            diffrax.Dopri5(),
            t0=eps,
            t1=1.0,
            dt0=None,
            y0=z0,
            args=params,
            stepsize_controller=diffrax.PIDController(rtol=rtol, atol=atol),
        )
        z1 = sol.ys[-1]
    return _checks.finite_samples(z1)


def reflow_pairs(
    apply_fn: ApplyFn,
    params: Any,
    key: jax.Array,
    num_pairs: int,
    sample_pi0: Callable[[jax.Array, int], jax.Array],
    num_steps: int = 100,
    *,
    eps: float = EPS,
) -> tuple[jax.Array, jax.Array]:
    """Draws the coupling (Z0, Z1) of a learned flow, the data of the next rectification.

    k-rectified flow: Z^{k+1} = RectFlow((Z0^k, Z1^k)) (paper sec. 2.3, "reflow"). The rows of
    the two arrays are paired; shuffle them together, never separately.

    Args:
      apply_fn, params: the k-th flow.
      key: PRNG key for the fresh z0.
      num_pairs: number of pairs (> 0).
      sample_pi0: ``sample_pi0(key, n) -> (n, *d)``.
      num_steps: Euler steps of the (accurate) simulation; pair quality bounds reflow quality.

    Returns:
      ``(z0, z1)``, each ``(num_pairs, *d)``.

    Raises:
      ValueError: ``num_pairs <= 0``, bad ``num_steps``. FloatingPointError: non-finite z1.
    """
    num_pairs = _checks.steps(num_pairs, "num_pairs")
    z0 = sample_pi0(key, num_pairs)
    return z0, euler_sample(apply_fn, params, z0, num_steps, eps=eps)
