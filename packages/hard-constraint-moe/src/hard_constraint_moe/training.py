"""Training the three arms (PI-SC, PI-HC, PI-HC-MoE) on the physics loss, and evaluation."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax

from hard_constraint_moe.constraint import MoEHardConstraint
from hard_constraint_moe.models import inputs
from hard_constraint_moe.pde import grid, physics_loss
from jaxpapers_shared import checks, devices

#: The networks are tiny: XLA's backend optimisation passes and its CPU fusion emitters cost more
#: compile time than they save (a hard-constraint training step: 7 s -> 2 s to compile, and it
#: runs no slower).
FAST_COMPILE = {"xla_backend_optimization_level": 0, "xla_cpu_use_fusion_emitters": False}


@dataclasses.dataclass(frozen=True)
class Arm:
    """A method: ``constraint=None`` is the soft constraint (one output channel)."""

    name: str
    model: object
    constraint: MoEHardConstraint | None = None


def predict(arm: Arm, params, u0: jax.Array, nt: int, key: jax.Array) -> jax.Array:
    """``u[nt, nx]`` for one initial condition."""
    out = arm.model.apply(params, inputs(u0, nt))
    if arm.constraint is None:
        return out[..., 0]
    u, _, _ = arm.constraint.solve(out, u0, key)
    return u


def make_loss(arm: Arm, pde, nt: int, nx: int):
    """``loss(params, (u0, key))`` for one example: the physics loss on the full grid."""
    _, _, dt, dx = grid(nt, nx, pde.t_max)

    def loss(params, example):
        u0, key = example
        return physics_loss(pde, predict(arm, params, u0, nt, key), u0, dt, dx)

    return loss


def train(arm: Arm, pde, train_u0: np.ndarray, nt: int, *, steps: int, batch: int, lr: float,
          seed: int, decay: float = 0.1, predict_u0: Sequence[np.ndarray] = ()):  # fmt: skip
    """Adam with exponential decay (``lr -> decay * lr`` over ``steps``).

    Returns ``(params, losses, predictions)``: ``predictions[i]`` is ``u[count, nt, nx]`` of
    the trained network for the initial conditions ``predict_u0[i]``, computed in the same
    compiled program as the training loop (one compilation per arm).
    """
    checks.integer(steps, "steps", minimum=1)
    checks.integer(batch, "batch", minimum=1)
    checks.positive(lr, "lr")
    train_u0 = np.asarray(train_u0)
    if train_u0.ndim != 2 or train_u0.shape[0] < batch:
        raise ValueError(
            f"`train_u0` must be [count >= batch = {batch}, nx], got shape {train_u0.shape}."
        )
    nx = train_u0.shape[1]
    key = jax.random.PRNGKey(seed)
    params = arm.model.init(key)
    sched = optax.exponential_decay(lr, steps, decay)
    opt = optax.adam(sched)
    state = opt.init(params)
    step = devices.data_parallel_step(make_loss(arm, pde, nt, nx), opt, per_example=True)
    data = jnp.asarray(train_u0)
    eval_sets = [jnp.asarray(u) for u in predict_u0]

    @functools.partial(jax.jit, compiler_options=FAST_COMPILE)
    def run(params, state):
        def body(carry, i):
            p, s = carry
            k = jax.random.fold_in(key, i)
            idx = jax.random.choice(k, data.shape[0], (batch,), replace=False)
            keys = jax.random.split(jax.random.fold_in(k, 1), batch)
            p, s, loss = step(p, s, (data[idx], keys))
            return (p, s), loss

        (p, s), losses = jax.lax.scan(body, (params, state), jnp.arange(steps))
        preds = [_predict_all(arm, p, u, nt, seed) for u in eval_sets]
        return p, losses, preds

    params, losses, preds = run(params, state)
    return params, np.asarray(losses), [np.asarray(u) for u in preds]


def _predict_all(arm: Arm, params, u0s: jax.Array, nt: int, seed: int) -> jax.Array:
    keys = jax.random.split(jax.random.PRNGKey(10_000 + seed), u0s.shape[0])
    return jax.vmap(lambda u0, k: predict(arm, params, u0, nt, k))(u0s, keys)


def relative_l2(pred: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Per-IC relative L2 error ``||u - u_ref|| / ||u_ref||`` over the ``(t, x)`` grid."""
    pred, reference = np.asarray(pred), np.asarray(reference)
    checks.same_shape(pred, reference, ("pred", "reference"))
    err = np.linalg.norm((pred - reference).reshape(len(pred), -1), axis=1)
    return err / np.linalg.norm(reference.reshape(len(pred), -1), axis=1)


def evaluate(arm: Arm, params, test_u0: np.ndarray, reference: np.ndarray, seed: int = 0):
    """Per-IC relative L2 error against ``reference[count, nt, nx]`` and the predictions."""
    nt = reference.shape[1]
    fn = lambda p, u: _predict_all(arm, p, u, nt, seed)  # noqa: E731
    pred = np.asarray(jax.jit(fn, compiler_options=FAST_COMPILE)(params, jnp.asarray(test_u0)))
    return relative_l2(pred, reference), pred
