"""Training a recurrent MLP by EP (with or without Jacobian homeostasis) or by recurrent backprop.

Every step is data-parallel (``jaxpapers_shared.devices.data_parallel_step``): the EP update is
the gradient of :func:`surrogate_loss` (the neuronal errors and the fixed point are computed
inside it and held fixed), plus ``jac_reg`` times the gradient of the homeostatic loss.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxpapers_shared import checks, devices, implicit

from ._ep import (
    VectorFieldMLP,
    _neuronal_error,
    _readout_loss,
    check_converged,
    homeostatic_loss,
    relax,
    residual,
    surrogate_loss,
)


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    method: str = "ep"  # "ep" or "rbp"
    jac_reg: float = 0.0  # lambda of the homeostatic loss (EP only)
    beta: float = 0.5
    num_nudges: int = 0  # 0: exact neuronal error; >= 1: finite nudges
    free_steps: int = 100
    nudge_steps: int = 20
    num_probes: int = 5
    learning_rate: float = 1e-3
    batch_size: int = 50
    epochs: int = 10
    tol: float | None = None  # free-phase residual above which training stops with an error

    def __post_init__(self):
        checks.one_of(self.method, "method", ("ep", "rbp"))
        checks.in_range(self.jac_reg, "jac_reg", 0.0, float("inf"))
        checks.integer(self.epochs, "epochs", minimum=1)
        checks.integer(self.batch_size, "batch_size", minimum=1)


def free_fixed_point(net: VectorFieldMLP, params, x, num_steps: int):
    y0 = jnp.zeros(x.shape[0], jnp.int32)
    return relax(net, params, net.zero_state(x.shape[0], x.dtype), x, y0, 0.0, num_steps)


def _loss_fn(net: VectorFieldMLP, cfg: TrainConfig):
    def ep_loss(params, batch):
        x, y, keys = batch
        u = jax.lax.stop_gradient(free_fixed_point(net, params, x, cfg.free_steps))
        s = _neuronal_error(net, params, u, x, y, cfg.beta, cfg.num_nudges, cfg.nudge_steps)
        total = surrogate_loss(net, params, u, s, x, y)
        if cfg.jac_reg:
            total = total + cfg.jac_reg * homeostatic_loss(
                net, params, u, x, keys[0], cfg.num_probes
            )
        ce = _readout_loss(net, params, net.phi(u[-1]), y)
        return total, (ce, residual(net, params, u, x))

    def rbp_loss(params, batch):
        x, y, _ = batch
        zeros = net.zero_state(x.shape[0], x.dtype)
        y0 = jnp.zeros(x.shape[0], jnp.int32)
        sol = implicit.fixed_point(
            lambda u, p: net.step(p, u, x, y0, 0.0), zeros, params,
            solver="iterate", max_iter=cfg.free_steps, throw=False,
        )  # fmt: skip
        ce = _readout_loss(net, params, net.phi(sol.value[-1]), y)
        return ce, (ce, residual(net, params, sol.value, x))

    return ep_loss if cfg.method == "ep" else rbp_loss


def train(net: VectorFieldMLP, params, data, cfg: TrainConfig, key: jax.Array):
    """Adam on minibatches; returns ``(params, history)``: the mean training loss and the
    largest free-phase residual per epoch. With ``cfg.tol``, raises :class:`NotConvergedError`
    when a free phase stops above it."""
    x, y = data
    mesh = devices.make_mesh()
    optimizer = optax.adam(cfg.learning_rate)
    step = devices.data_parallel_step(_loss_fn(net, cfg), optimizer, mesh, has_aux=True)
    sharding = devices.batch_sharding(mesh)
    nb = x.shape[0] // cfg.batch_size

    @jax.jit
    def epoch(params, opt_state, key):
        order = jax.random.permutation(key, x.shape[0])[: nb * cfg.batch_size]
        order = order.reshape(nb, cfg.batch_size)
        keys = jax.random.split(jax.random.fold_in(key, 1), nb * cfg.batch_size)
        keys = keys.reshape(nb, cfg.batch_size, -1)

        def body(carry, inputs):
            idx, k = inputs
            batch = jax.lax.with_sharding_constraint((x[idx], y[idx], k), sharding)
            p, o, (_, (ce, res)) = step(*carry, batch)
            return (p, o), (ce, res)

        (params, opt_state), (ce, res) = jax.lax.scan(body, (params, opt_state), (order, keys))
        return params, opt_state, jnp.mean(ce), jnp.max(res)

    opt_state = optimizer.init(params)
    history = {"loss": [], "residual": []}
    for e in range(cfg.epochs):
        params, opt_state, ce, res = epoch(params, opt_state, jax.random.fold_in(key, e))
        if cfg.tol is not None:
            check_converged(res, cfg.tol, cfg.free_steps, what=f"free phase (epoch {e})")
        history["loss"].append(float(ce))
        history["residual"].append(float(res))
    return params, {k: np.asarray(v) for k, v in history.items()}


def accuracy(net: VectorFieldMLP, params, x, y, num_steps: int) -> float:
    u = free_fixed_point(net, params, x, num_steps)
    return float(jnp.mean(jnp.argmax(net.logits(params, net.phi(u[-1])), -1) == y))
