"""Full-batch training of an NNX model on a loss: Adam (or AMSGrad), then optional L-BFGS.

Every Adam step goes through ``jaxpapers_shared.devices.data_parallel_step``: the parameters and
optimizer state are replicated over a device mesh and the collocation points (``batch``) are
split along it. The loss function sees the whole (global) set of points, so a mean over them is
the mean over the grid and terms on other points (initial conditions) are unchanged: the loss is
the single-device loss, only its sums are reduced across devices.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from jaxpapers_shared import devices, experiment

__all__ = ["FitResult", "collocation_points", "fit"]


class FitResult(NamedTuple):
    """``model``: the trained module; ``losses``: (steps,) Adam losses then L-BFGS losses."""

    model: Any
    losses: np.ndarray


def collocation_points(x: jax.Array, t: jax.Array) -> tuple[jax.Array, jax.Array]:
    """The grid's points ``meshgrid(x, t, indexing="ij")``: two ``(len(x), len(t))`` arrays.

    The batch that :func:`fit` splits over the devices along its leading (label) axis, so
    ``len(x)`` must be divisible by the device count; pass it to the losses as ``points=``.
    """
    if jnp.ndim(x) != 1 or jnp.ndim(t) != 1:
        raise ValueError(
            f"`x` and `t` must be 1-D grids, got shapes {jnp.shape(x)} and {jnp.shape(t)}."
        )
    grid_x, grid_t = jnp.meshgrid(x, t, indexing="ij")
    return grid_x, grid_t


def fit(
    loss_fn: Callable[..., jax.Array],
    model: nnx.Module,
    *,
    steps: int,
    learning_rate: float = 1e-3,
    amsgrad: bool = False,
    lbfgs_steps: int = 0,
    chunk: int = 250,
    batch: Any = None,
    mesh: Any = None,
    checkpointer: Any = None,
    desc: str = "fit",
) -> FitResult:
    """Minimises ``loss_fn(model)`` (or ``loss_fn(model, batch)``) over the model's parameters.

    The Adam phase runs ``chunk`` steps per compiled ``lax.scan`` call (one compilation, and a
    progress line between chunks); the official code uses AMSGrad at lr 0.01 followed by 100
    L-BFGS steps (``amsgrad=True, lbfgs_steps=100``). Training is data-parallel over ``mesh``
    (``jaxpapers_shared.devices``): ``batch`` is split along its leading axis, the parameters are
    replicated, and the result equals single-device training to float rounding.

    Args:
      loss_fn: ``loss_fn(model) -> scalar``, or ``loss_fn(model, batch) -> scalar`` when
        ``batch`` is given; it receives the whole batch (a global array), so any reduction over
        it (mean, sum, norm) is the single-device one.
      model: an NNX module; it is not modified (a trained copy is returned).
      steps: Adam steps (>= 0).
      learning_rate: > 0.
      lbfgs_steps: L-BFGS steps after Adam (optax.lbfgs with zoom line search).
      chunk: Adam steps fused into one compiled ``lax.scan`` (>= 1).
      batch: a pytree of arrays with one leading (point) axis, e.g.
        :func:`collocation_points`; its length must be divisible by the mesh's device count.
      mesh: a ``jax.sharding.Mesh`` (default: every device of every process).
      checkpointer: a ``jaxpapers_shared.checkpoint.Checkpointer``: the Adam state (parameters,
        optimizer state, step, losses so far) is saved every ``checkpointer.every`` steps and
        at the end, and one made with ``resume=True`` continues from its newest state. Training
        draws no random numbers, so there is no key to save, and a resumed run ends with the
        parameters of an uninterrupted one. The (short) L-BFGS phase is not checkpointed: it
        reruns from the restored Adam result.

    Returns:
      :class:`FitResult` (the model holds process-local copies of the parameters). Raises
      ``FloatingPointError`` if the loss becomes NaN.
    """
    for name, value, minimum in (("steps", steps, 0), ("lbfgs_steps", lbfgs_steps, 0)):
        if not (isinstance(value, int) and value >= minimum):
            raise ValueError(f"`{name}` must be an integer >= {minimum}, got {value!r}.")
    if not (isinstance(chunk, int) and chunk >= 1):
        raise ValueError(f"`chunk` must be an integer >= 1, got {chunk!r}.")
    if not learning_rate > 0:
        raise ValueError(f"`learning_rate` must be > 0, got {learning_rate}.")
    mesh = devices.make_mesh() if mesh is None else mesh
    graphdef, params = nnx.split(model)
    adam = _adam(bool(amsgrad), float(learning_rate))
    config = _ChunkConfig(graphdef, loss_fn, adam, mesh, batch is not None)
    batch = () if batch is None else _shard(batch, mesh)
    params, state = devices.replicate((params, adam.init(params)), mesh)
    start, losses = 0, []
    if checkpointer is not None and steps:
        if chunk % checkpointer.every and checkpointer.every % chunk:
            raise ValueError(
                f"`checkpointer.every` ({checkpointer.every}) and `chunk` ({chunk}) must divide "
                "one another, so that checkpoints fall on chunk boundaries."
            )
        saved = checkpointer.restore(_checkpoint(params, state, 0, np.zeros(steps)))
        params, state, start = saved["params"], saved["opt_state"], int(saved["step"])
        losses = [np.asarray(saved["losses"], np.float32)[:start]]
    for begin in experiment.progress(range(start, steps, chunk), desc=desc):
        length = min(chunk, steps - begin)
        params, state, chunk_losses = _adam_chunk(config, params, state, batch, length)
        losses.append(np.asarray(chunk_losses))  # waits for the chunk (see data_parallel_step)
        if not np.isfinite(losses[-1][-1]):
            raise FloatingPointError(
                f"{desc}: the loss became NaN/inf at Adam step "
                f"{begin + length}; lower `learning_rate`."
            )
        end = begin + length
        if checkpointer is not None and (end == steps or end % checkpointer.every == 0):
            so_far = np.pad(np.concatenate(losses), (0, steps - end))
            checkpointer.save(end, _checkpoint(params, state, end, so_far), force=end == steps)
    if lbfgs_steps:
        params, lbfgs_losses = _lbfgs(config.loss_of, params, batch, lbfgs_steps)
        losses.append(lbfgs_losses)
    history = np.concatenate(losses) if losses else np.zeros(0, np.float32)
    local = jax.tree.map(lambda a: jnp.asarray(np.asarray(a)), params)  # replicated -> local
    return FitResult(nnx.merge(graphdef, local), history)


class _ChunkConfig(NamedTuple):
    """What the compiled Adam chunk is specialised on (hashable: part of the jit cache key), so
    that another run with the same loss function, model structure, optimizer and mesh (a resumed
    run, a second call) reuses the compiled chunk."""

    graphdef: Any
    loss_fn: Callable[..., jax.Array]
    optimizer: optax.GradientTransformation
    mesh: Any
    batched: bool

    def loss_of(self, params, batch):
        model = nnx.merge(self.graphdef, params)
        return self.loss_fn(model, batch) if self.batched else self.loss_fn(model)


@functools.cache
def _adam(amsgrad: bool, learning_rate: float) -> optax.GradientTransformation:
    return (optax.amsgrad if amsgrad else optax.adam)(learning_rate)


@functools.partial(jax.jit, static_argnums=(0, 4))
def _adam_chunk(config: _ChunkConfig, params, state, batch, length: int):
    """``length`` data-parallel Adam steps in one ``lax.scan`` (a Python loop of tiny steps
    would be dominated by dispatch; the chunk is compiled once per config and shapes)."""
    step = devices.data_parallel_step(config.loss_of, config.optimizer, config.mesh)

    def body(carry, _):
        params, state, loss = step(*carry, batch)
        return (params, state), loss

    (params, state), losses = jax.lax.scan(body, (params, state), length=length)
    return params, state, losses


def _checkpoint(params, opt_state, step, losses) -> dict:
    """The saved training state (Orbax, through ``jaxpapers_shared.checkpoint``)."""
    return {
        "params": params,
        "opt_state": opt_state,
        "step": np.int32(step),
        "losses": np.asarray(losses, np.float32),
    }


def _shard(batch, mesh):
    size = mesh.devices.size
    for leaf in jax.tree.leaves(batch):
        if jnp.ndim(leaf) == 0 or jnp.shape(leaf)[0] % size:
            raise ValueError(
                f"`batch` (the collocation points) must have a leading axis divisible by the "
                f"{size} devices of the mesh, got shape {jnp.shape(leaf)}: pick a grid whose "
                f"number of labels is a multiple of {size}."
            )
    return devices.shard_batch(batch, mesh)


def _lbfgs(loss_of, params, batch, steps):
    solver = optax.lbfgs()

    def run(params, batch):
        loss = lambda p: loss_of(p, batch)
        value_and_grad = optax.value_and_grad_from_state(loss)

        def step(carry, _):
            params, state = carry
            value, grad = value_and_grad(params, state=state)
            updates, state = solver.update(
                grad, state, params, value=value, grad=grad, value_fn=loss
            )
            return (optax.apply_updates(params, updates), state), value

        return jax.lax.scan(step, (params, solver.init(params)), length=steps)

    (params, _), values = jax.jit(run)(params, batch)
    return params, np.asarray(values)
