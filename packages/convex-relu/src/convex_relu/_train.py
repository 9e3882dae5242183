"""Convex adversarial training, the sampled convex program (SCP), and the non-convex baselines.

Convex adversarial training (l_inf radius ``eps``, bias coordinate not perturbed; the paper's
robust program): patterns held fixed and required to be stable over the ball,
``(2 d_ik - 1) x_k^T v_i >= eps ||v_i||_1`` (norm over the non-bias entries; same for ``w_i``),
and the worst case of the loss over the ball in closed form with ``a_k = sum_i d_ik (v_i - w_i)``:
hinge ``(1 - y_k yhat_k + eps ||a_k||_1)_+``, squared ``1/2 (|yhat_k - y_k| + eps ||a_k||_1)^2``,
logistic ``log(1 + exp(-y_k yhat_k + eps ||a_k||_1))``. ``eps = 0`` is standard convex training.
"""

from __future__ import annotations

from functools import partial
from typing import Literal, NamedTuple

import jax
import jax.numpy as jnp
import optax

from jaxpapers_shared import checks

from ._problem import (
    LOSSES,
    ReLUNetParams,
    check_patterns,
    check_targets,
    loss_value,
    relu_network_apply,
)


class AdversarialResult(NamedTuple):
    """``v``, ``w`` (``[P, d]``), the final penalised objective and the largest violation of the
    robust cone constraints (0 when feasible)."""

    v: jax.Array
    w: jax.Array
    objective: jax.Array
    constraint_violation: jax.Array


def _robust_terms(V, W, X, y, masks, eps, loss, bias_last):
    feat = slice(0, X.shape[1] - 1) if bias_last else slice(None)
    diff = V - W
    yhat = jnp.sum(masks * (X @ diff.T).T, axis=0)
    a = masks.T @ diff  # [n, d]
    spread = eps * jnp.sum(jnp.abs(a[:, feat]), axis=1)
    if loss == "hinge":
        data = jnp.sum(jax.nn.relu(1.0 - y * yhat + spread))
    elif loss == "squared":
        data = 0.5 * jnp.sum((jnp.abs(yhat - y) + spread) ** 2)
    else:
        data = jnp.sum(jax.nn.softplus(-y * yhat + spread))
    signs = 2.0 * masks - 1.0
    viol = [
        jax.nn.relu(eps * jnp.sum(jnp.abs(B[:, feat]), axis=1)[:, None] - signs * (B @ X.T))
        for B in (V, W)
    ]
    return data, viol


@partial(jax.jit, static_argnames=("loss", "steps", "bias_last"))
def _adv_solve(X, y, masks, beta, eps, penalty, lr, key, *, loss, steps, bias_last):
    P, d = masks.shape[0], X.shape[1]

    def objective(params):
        V, W = params
        data, viol = _robust_terms(V, W, X, y, masks, eps, loss, bias_last)
        reg = beta * (jnp.sum(jnp.linalg.norm(V + 1e-30, axis=1)) + jnp.sum(
            jnp.linalg.norm(W + 1e-30, axis=1)))  # fmt: skip
        return data + reg + penalty * sum(jnp.sum(v) for v in viol)

    schedule = optax.cosine_decay_schedule(lr, steps)
    tx = optax.adam(schedule)
    k1, k2 = jax.random.split(key)
    params = (1e-3 * jax.random.normal(k1, (P, d), X.dtype),
              1e-3 * jax.random.normal(k2, (P, d), X.dtype))  # fmt: skip

    def step(carry, _):
        params, state = carry
        value, grads = jax.value_and_grad(objective)(params)
        updates, state = tx.update(grads, state, params)
        return (optax.apply_updates(params, updates), state), value

    (params, _), values = jax.lax.scan(step, (params, tx.init(params)), None, length=steps)
    _, viol = _robust_terms(*params, X, y, masks, eps, loss, bias_last)
    return AdversarialResult(*params, values[-1], jnp.maximum(viol[0].max(), viol[1].max()))


def adversarial_train(
    X,
    y,
    patterns,
    beta: float,
    eps: float,
    *,
    loss: Literal["hinge", "squared", "logistic"] = "hinge",
    bias_last: bool = True,
    steps: int = 3000,
    learning_rate: float = 0.01,
    penalty: float = 10.0,
    key: jax.Array | None = None,
) -> AdversarialResult:
    """Convex adversarial training over fixed patterns (the paper's robust convex program).

    Args:
      X: ``[n, d]`` data; with ``bias_last`` its last column is the bias (never perturbed).
      y: ``[n]`` targets (``+-1`` for hinge/logistic).
      patterns: boolean ``[P, n]``.
      beta: weight decay ``> 0``.
      eps: l_inf radius ``>= 0`` (0: standard convex training).
      loss: ``"hinge"``, ``"squared"`` or ``"logistic"`` (summed over examples).
      steps, learning_rate: Adam with cosine decay on the objective below.
      penalty: weight ``mu`` of the exact penalty ``mu sum (eps ||v_i||_1 - (2 d_ik - 1)
        x_k^T v_i)_+`` that replaces the robust cone constraints.

    Differs from the paper: the paper solves this program with a conic solver; here it is solved
    by Adam on an exact-penalty form (no extra dependency). ``constraint_violation`` reports how
    far the result is from the cones; the robust accuracy is always measured on the recovered
    network with PGD, so a small violation cannot flatter it.

    Raises:
      ValueError: bad shapes, non-finite data, ``beta <= 0``, ``eps < 0``, labels outside
        ``{-1, +1}`` for a classification loss, or an unknown loss.
    """
    X = checks.array(X, "X", ndim=2, dtype="float")
    checks.one_of(loss, "loss", LOSSES)
    y = check_targets(y, X.shape[0], loss).astype(X.dtype)
    D = check_patterns(patterns, X.shape[0])
    checks.positive(beta, "beta")
    checks.positive(eps, "eps", allow_zero=True)
    checks.positive(learning_rate, "learning_rate")
    checks.positive(penalty, "penalty")
    steps = checks.integer(steps, "steps", minimum=1)
    key = jax.random.PRNGKey(0) if key is None else key
    f = lambda v: jnp.asarray(v, X.dtype)  # noqa: E731
    return _adv_solve(X, y, D.astype(X.dtype), f(beta), f(eps), f(penalty), f(learning_rate),
                      key, loss=loss, steps=steps, bias_last=bias_last)  # fmt: skip


class SCPResult(NamedTuple):
    params: ReLUNetParams
    objective: jax.Array
    iterations: jax.Array


@partial(jax.jit, static_argnames=("loss", "iters"))
def _fista(H, y, beta, *, loss, iters):
    lip = jnp.linalg.norm(H, 2) ** 2 * (1.0 if loss == "squared" else 0.25)
    step = 1.0 / lip

    def grad(a):
        return jax.grad(lambda a: loss_value(H @ a, y, loss))(a)

    def body(carry, _):
        a, z, t = carry
        a_new = z - step * grad(z)
        a_new = jnp.sign(a_new) * jnp.maximum(jnp.abs(a_new) - step * beta, 0.0)
        t_new = 0.5 * (1 + jnp.sqrt(1 + 4 * t**2))
        return (a_new, a_new + ((t - 1) / t_new) * (a_new - a), t_new), None

    a0 = jnp.zeros(H.shape[1], H.dtype)
    (a, _, _), _ = jax.lax.scan(body, (a0, a0, jnp.asarray(1.0, H.dtype)), None, length=iters)
    return a


def scp_train(
    key: jax.Array,
    X,
    y,
    num_neurons: int,
    beta: float,
    *,
    loss: Literal["squared", "logistic"] = "squared",
    iters: int = 2000,
) -> SCPResult:
    """The sampled convex program (SCP): hidden directions sampled, output layer solved exactly.

    Our reading of the paper's second algorithm: sampling ``N`` hidden directions ``u_h``
    uniformly on the sphere turns the dual constraint ``|lam^T (X u)_+| <= beta`` into finitely
    many, and the program becomes ``min_alpha l(sum_h (X u_h)_+ alpha_h, y) + beta ||alpha||_1``,
    solved here by FISTA. The network is rescaled so both layers have equal norms per neuron
    (then ``beta / 2 (||u||^2 + alpha^2) = beta |alpha|``).

    Raises:
      ValueError: bad ``X``/``y``, ``num_neurons < 1``, ``beta <= 0`` or an unknown loss.
    """
    X = checks.array(X, "X", ndim=2, dtype="float")
    checks.one_of(loss, "loss", ("squared", "logistic"))
    y = check_targets(y, X.shape[0], loss).astype(X.dtype)
    num_neurons = checks.integer(num_neurons, "num_neurons", minimum=1)
    checks.positive(beta, "beta")
    iters = checks.integer(iters, "iters", minimum=1)
    U = jax.random.normal(key, (X.shape[1], num_neurons), X.dtype)
    U = U / jnp.linalg.norm(U, axis=0)
    H = jax.nn.relu(X @ U)
    a = _fista(H, y, jnp.asarray(beta, X.dtype), loss=loss, iters=iters)
    root = jnp.sqrt(jnp.abs(a))
    params = ReLUNetParams(U * root, jnp.sign(a) * root)
    obj = loss_value(H @ a, y, loss) + beta * jnp.sum(jnp.abs(a))
    return SCPResult(params, obj, jnp.asarray(iters))


# ----------------------------------------------------------------------------- baselines


def pgd_attack(params: ReLUNetParams, X, y, eps: float, *, steps: int = 20,
               step_size: float | None = None, bias_last: bool = True):  # fmt: skip
    """l_inf PGD on the margin ``y f(x)`` of the network (bias column not perturbed).

    Returns the perturbed inputs; robust accuracy is ``mean(sign(f(X_adv)) == y)``.
    """
    checks.positive(eps, "eps", allow_zero=True)
    steps = checks.integer(steps, "steps", minimum=1)
    step_size = 2.5 * eps / steps if step_size is None else step_size
    mask = jnp.ones(X.shape[1], X.dtype)
    if bias_last:
        mask = mask.at[-1].set(0.0)
    return _pgd(params, X, y, eps, step_size, mask, steps)


@partial(jax.jit, static_argnames=("steps",))
def _pgd(params, X, y, eps, step_size, mask, steps):
    def margin(Xa):
        return jnp.sum(y * relu_network_apply(params, Xa))

    def body(delta, _):
        g = jax.grad(margin)(X + delta)
        delta = jnp.clip(delta - step_size * jnp.sign(g) * mask, -eps, eps) * mask
        return delta, None

    delta, _ = jax.lax.scan(body, jnp.zeros_like(X), None, length=steps)
    return X + delta


def robust_accuracy(params: ReLUNetParams, X, y, eps: float, *, steps: int = 20) -> jax.Array:
    """Accuracy of ``sign(f)`` under the PGD attack of radius ``eps``."""
    Xa = pgd_attack(params, X, y, eps, steps=steps) if eps > 0 else X
    return jnp.mean(jnp.sign(relu_network_apply(params, Xa)) == y)


def init_network(key, d: int, width: int, dtype=jnp.float64) -> ReLUNetParams:
    k1, k2 = jax.random.split(key)
    U = jax.random.normal(k1, (d, width), dtype) * jnp.sqrt(2.0 / d)
    return ReLUNetParams(U, jax.random.normal(k2, (width,), dtype) / jnp.sqrt(width))


@partial(jax.jit, static_argnames=("loss", "steps", "attack_steps"))
def train_nonconvex(params: ReLUNetParams, X, y, beta, learning_rate, *, loss="squared",
                    steps=2000, eps=0.0, attack_steps=0):  # fmt: skip
    """Full-batch Adam on the non-convex objective (the baseline); with ``attack_steps > 0``,
    PGD adversarial training (each step attacks the current network with ``attack_steps`` PGD
    steps of radius ``eps``, the bias column left alone). Returns the parameters and the
    objective trace (on clean data)."""
    tx = optax.adam(learning_rate)
    mask = jnp.ones(X.shape[1], X.dtype).at[-1].set(0.0)

    def objective(p, Xb):
        reg = 0.5 * beta * (jnp.sum(p.U**2) + jnp.sum(p.alpha**2))
        return loss_value(relu_network_apply(p, Xb), y, loss) + reg

    def step(carry, _):
        p, state = carry
        Xb = X
        if attack_steps:
            Xb = jax.lax.stop_gradient(
                _pgd(p, X, y, eps, 2.5 * eps / attack_steps, mask, attack_steps)
            )
        value, grads = jax.value_and_grad(objective)(p, Xb)
        updates, state = tx.update(grads, state, p)
        return (optax.apply_updates(p, updates), state), objective(p, X)

    (params, _), trace = jax.lax.scan(step, (params, tx.init(params)), None, length=steps)
    return params, trace
