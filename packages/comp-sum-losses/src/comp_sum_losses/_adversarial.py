"""Smooth adversarial comp-sum losses, their baselines and an adversarial training loop.

The smooth adversarial comp-sum loss adds to ``l_tau(h, x, y)`` the largest change of the
score-difference vector ``D_h(x, y) = (h(x)_{y'} - h(x)_y)_{y'}`` over the perturbation ball:

    l~_tau(h, x, y) = l_tau(h, x, y) + nu * sup_{||x' - x|| <= eps} ||D_h(x', y) - D_h(x, y)||_2.

The supremum is approximated by projected gradient ascent (PGD) on the smooth term from
``x`` plus small uniform noise, as TRADES does for its KL term; the clean term is evaluated at
``x``. Minimising the mean of ``l~_tau`` plus a weight penalty is the ADV-COMP-SUM algorithm.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import optax

from jaxpapers_shared import checks

from ._losses import check_logits_labels, comp_sum_loss

ApplyFn = Callable[[Any, jax.Array], jax.Array]
NORMS = ("inf", 2)


def init_mlp(key: jax.Array, sizes: Sequence[int]) -> list[dict[str, jax.Array]]:
    """He-initialised weights of a ReLU MLP with layer widths ``sizes`` (input first)."""
    sizes = [checks.integer(s, "sizes[i]", minimum=1) for s in sizes]
    if len(sizes) < 2:
        raise ValueError(f"`sizes` must list at least an input and an output width, got {sizes}.")
    keys = jax.random.split(key, len(sizes) - 1)
    return [
        {"w": jax.random.normal(k, (a, b)) * jnp.sqrt(2.0 / a), "b": jnp.zeros(b)}
        for k, a, b in zip(keys, sizes[:-1], sizes[1:], strict=True)
    ]


def MLP(params: list[dict[str, jax.Array]], x: jax.Array) -> jax.Array:
    """Applies the ReLU MLP of :func:`init_mlp`: the logits of ``x`` (B, d)."""
    for layer in params[:-1]:
        x = jax.nn.relu(x @ layer["w"] + layer["b"])
    return x @ params[-1]["w"] + params[-1]["b"]


def _check_attack(eps: Any, norm: Any, steps: Any, step_size: Any) -> None:
    checks.positive(eps, "eps", allow_zero=True)
    checks.one_of(norm, "norm", NORMS)
    checks.integer(steps, "steps", minimum=1)
    if step_size is not None:
        checks.positive(step_size, "step_size")


def _project(delta: jax.Array, eps: float, norm: Any) -> jax.Array:
    if norm == "inf":
        return jnp.clip(delta, -eps, eps)
    size = jnp.sqrt(jnp.sum(delta**2, axis=tuple(range(1, delta.ndim)), keepdims=True))
    return delta * jnp.minimum(1.0, eps / jnp.maximum(size, 1e-12))


def _ascent(g: jax.Array, norm: Any) -> jax.Array:
    if norm == "inf":
        return jnp.sign(g)
    size = jnp.sqrt(jnp.sum(g**2, axis=tuple(range(1, g.ndim)), keepdims=True))
    return g / jnp.maximum(size, 1e-12)


def maximize(
    objective: Callable[[jax.Array], jax.Array],
    x: jax.Array,
    *,
    eps: float,
    norm: Any = "inf",
    steps: int = 10,
    step_size: float | None = None,
    key: jax.Array,
    init: float | None = None,
    bounds: tuple[float, float] | None = (0.0, 1.0),
) -> jax.Array:
    """PGD: ascends the per-example ``objective`` over the ``eps``-ball around ``x``.

    Starts from ``x`` plus uniform noise of size ``init`` (``eps`` if None), takes ``steps``
    signed (l-inf) or normalised (l2) gradient steps of ``step_size`` (``2.5 eps / steps`` if
    None), projects onto the ball and clips to ``bounds``. Returns the perturbed inputs.
    """
    _check_attack(eps, norm, steps, step_size)
    alpha = 2.5 * eps / steps if step_size is None else step_size
    start = eps if init is None else init
    delta = jax.random.uniform(key, x.shape, minval=-start, maxval=start)
    delta = _project(delta, eps, norm)

    def clip(z):
        return z if bounds is None else jnp.clip(z, *bounds)

    grad = jax.grad(lambda z: jnp.sum(objective(z)))

    def step(_, z):
        z = z + alpha * _ascent(grad(z), norm)
        return clip(x + _project(z - x, eps, norm))

    x_adv = jax.lax.fori_loop(0, steps, step, clip(x + delta))
    return jax.lax.stop_gradient(x_adv)


def pgd_attack(
    apply_fn: ApplyFn,
    params: Any,
    x: Any,
    y: Any,
    *,
    eps: float,
    norm: Any = "inf",
    steps: int = 10,
    step_size: float | None = None,
    key: jax.Array,
    bounds: tuple[float, float] | None = (0.0, 1.0),
) -> jax.Array:
    """Madry et al.'s PGD on the cross-entropy from a uniform random start in the ball."""
    x = checks.array(x, "x", dtype="float")

    def objective(z):
        return comp_sum_loss(apply_fn(params, z), y, 1.0)

    return maximize(objective, x, eps=eps, norm=norm, steps=steps, step_size=step_size,
                    key=key, bounds=bounds)  # fmt: skip


def _differences(logits: jax.Array, y: jax.Array) -> jax.Array:
    return logits - jnp.take_along_axis(logits, y[:, None], axis=-1)


def _safe_norm(v: jax.Array) -> jax.Array:
    s = jnp.sum(v**2, axis=-1)
    positive = s > 0
    return jnp.where(positive, jnp.sqrt(jnp.where(positive, s, 1.0)), 0.0)


def smooth_adv_comp_sum_loss(
    apply_fn: ApplyFn,
    params: Any,
    x: Any,
    y: Any,
    *,
    tau: float = 1.0,
    nu: float = 1.0,
    eps: float,
    norm: Any = "inf",
    steps: int = 10,
    step_size: float | None = None,
    key: jax.Array,
    init: float = 1e-3,
    bounds: tuple[float, float] | None = (0.0, 1.0),
) -> jax.Array:
    """The smooth adversarial comp-sum loss ``l~_tau`` per example (no reduction).

    Args:
      apply_fn: ``apply_fn(params, x) -> logits`` (B, n).
      params: the model's parameters (differentiated through both terms).
      x: inputs (B, ...); y: integer labels (B,).
      tau: comp-sum parameter in [0, 2]; nu: weight of the smooth term, >= 0.
      eps, norm, steps, step_size: the PGD approximation of the supremum (norm "inf" or 2).
      key: PRNG key of the random start; init: its size; bounds: input range to clip to.
    """
    checks.positive(nu, "nu", allow_zero=True)
    x = checks.array(x, "x", dtype="float")
    logits = apply_fn(params, x)
    logits, y = check_logits_labels(logits, y)
    clean = _differences(logits, y)
    fixed = jax.lax.stop_gradient(clean)

    def objective(z):
        return _safe_norm(_differences(apply_fn(params, z), y) - fixed)

    x_adv = maximize(objective, x, eps=eps, norm=norm, steps=steps, step_size=step_size,
                     key=key, init=init, bounds=bounds)  # fmt: skip
    smooth = _safe_norm(_differences(apply_fn(params, x_adv), y) - clean)
    return comp_sum_loss(logits, y, tau) + nu * smooth


def trades_loss(
    apply_fn: ApplyFn,
    params: Any,
    x: Any,
    y: Any,
    *,
    beta: float = 6.0,
    eps: float,
    norm: Any = "inf",
    steps: int = 10,
    step_size: float | None = None,
    key: jax.Array,
    init: float = 1e-3,
    bounds: tuple[float, float] | None = (0.0, 1.0),
) -> jax.Array:
    """TRADES (Zhang et al. 2019): ``CE(h(x), y) + beta KL(softmax h(x) || softmax h(x'))``
    per example, ``x'`` the PGD maximiser of the KL term."""
    checks.positive(beta, "beta", allow_zero=True)
    x = checks.array(x, "x", dtype="float")
    logits = apply_fn(params, x)
    logits, y = check_logits_labels(logits, y)

    def kl(log_p, z):
        log_q = jax.nn.log_softmax(apply_fn(params, z), axis=-1)
        return jnp.sum(jnp.exp(log_p) * (log_p - log_q), axis=-1)

    fixed = jax.lax.stop_gradient(jax.nn.log_softmax(logits, axis=-1))
    x_adv = maximize(lambda z: kl(fixed, z), x, eps=eps, norm=norm, steps=steps,
                     step_size=step_size, key=key, init=init, bounds=bounds)  # fmt: skip
    return comp_sum_loss(logits, y, 1.0) + beta * kl(jax.nn.log_softmax(logits, -1), x_adv)


def pgd_at_loss(
    apply_fn: ApplyFn,
    params: Any,
    x: Any,
    y: Any,
    *,
    tau: float = 1.0,
    eps: float,
    norm: Any = "inf",
    steps: int = 10,
    step_size: float | None = None,
    key: jax.Array,
    bounds: tuple[float, float] | None = (0.0, 1.0),
) -> jax.Array:
    """Plain adversarial comp-sum loss (PGD-AT at tau = 1): ``l_tau`` at the PGD point."""
    x_adv = pgd_attack(apply_fn, params, x, y, eps=eps, norm=norm, steps=steps,
                       step_size=step_size, key=key, bounds=bounds)  # fmt: skip
    return comp_sum_loss(apply_fn(params, x_adv), y, tau)


def adversarial_loss(method: str, apply_fn: ApplyFn, **options: Any) -> Callable:
    """``loss(params, x, y, key) -> mean loss`` for ``method`` in "standard" (cross-entropy),
    "pgd-at", "trades", "adv-comp-sum"; ``options`` go to the loss (``eps``, ``nu``, ...)."""
    checks.one_of(method, "method", ("standard", "pgd-at", "trades", "adv-comp-sum"))

    def loss(params, x, y, key):
        if method == "standard":
            per_example = comp_sum_loss(apply_fn(params, x), y, options.get("tau", 1.0))
        elif method == "pgd-at":
            per_example = pgd_at_loss(apply_fn, params, x, y, key=key, **options)
        elif method == "trades":
            per_example = trades_loss(apply_fn, params, x, y, key=key, **options)
        else:
            per_example = smooth_adv_comp_sum_loss(apply_fn, params, x, y, key=key, **options)
        return jnp.mean(per_example)

    return loss


def train(
    loss: Callable[[Any, jax.Array, jax.Array, jax.Array], jax.Array],
    params: Any,
    x: Any,
    y: Any,
    *,
    epochs: int,
    batch_size: int,
    learning_rate: float = 1e-3,
    weight_decay: float = 0.0,
    key: jax.Array,
) -> Any:
    """Adam on ``loss(params, x_batch, y_batch, key)`` plus ``weight_decay/2 ||params||^2``
    (the regularised objective), reshuffled minibatches, one compiled scan. Returns params."""
    epochs = checks.integer(epochs, "epochs", minimum=1)
    batch_size = checks.integer(batch_size, "batch_size", minimum=1)
    checks.positive(learning_rate, "learning_rate")
    checks.positive(weight_decay, "weight_decay", allow_zero=True)
    x = checks.array(x, "x", dtype="float")
    y = checks.array(y, "y", ndim=1, dtype="int")
    per_epoch = max(1, x.shape[0] // batch_size)
    tx = optax.adam(learning_rate)

    def objective(p, xb, yb, k):
        penalty = sum(jnp.sum(leaf**2) for leaf in jax.tree.leaves(p))
        return loss(p, xb, yb, k) + 0.5 * weight_decay * penalty

    def epoch(carry, k):
        order = jax.random.permutation(k, x.shape[0])[: per_epoch * batch_size]
        batches = order.reshape(per_epoch, batch_size)

        def step(carry, inputs):
            p, s = carry
            idx, kb = inputs
            grads = jax.grad(objective)(p, x[idx], y[idx], kb)
            updates, s = tx.update(grads, s, p)
            return (optax.apply_updates(p, updates), s), None

        keys = jax.random.split(jax.random.fold_in(k, 1), per_epoch)
        return jax.lax.scan(step, carry, (batches, keys))[0], None

    run = jax.jit(lambda p, s, k: jax.lax.scan(epoch, (p, s), jax.random.split(k, epochs))[0])
    return run(params, tx.init(params), key)[0]


def robust_accuracy(
    apply_fn: ApplyFn,
    params: Any,
    x: Any,
    y: Any,
    *,
    eps: float,
    norm: Any = "inf",
    steps: int = 20,
    restarts: int = 2,
    step_size: float | None = None,
    key: jax.Array,
    bounds: tuple[float, float] | None = (0.0, 1.0),
) -> jax.Array:
    """Accuracy under PGD-``steps`` with ``restarts`` random starts: an example counts only if
    it is classified correctly at ``x`` and at every restart's adversarial point."""
    checks.integer(restarts, "restarts", minimum=1)
    x = checks.array(x, "x", dtype="float")
    y = checks.array(y, "y", ndim=1, dtype="int")
    correct = jnp.argmax(apply_fn(params, x), -1) == y
    for k in jax.random.split(key, restarts):
        x_adv = pgd_attack(apply_fn, params, x, y, eps=eps, norm=norm, steps=steps,
                           step_size=step_size, key=k, bounds=bounds)  # fmt: skip
        correct &= jnp.argmax(apply_fn(params, x_adv), -1) == y
    return jnp.mean(correct)
