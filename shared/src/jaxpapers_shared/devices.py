"""Data parallelism with ``jax.sharding``: one mesh over the devices, batches split along it.

The same training step runs on one CPU, eight GPUs or a TPU slice: parameters and optimizer
state are replicated, the batch's leading axis is sharded over the mesh axis ``"data"``, and XLA
inserts the gradient all-reduce itself (no ``pmap``, no launcher)::

    mesh = devices.make_mesh()
    step = devices.data_parallel_step(loss_fn, optax.adam(1e-3), mesh)
    params, opt_state = devices.replicate((params, optimizer.init(params)), mesh)
    for batch in batches:
        params, opt_state, loss = step(params, opt_state, devices.shard_batch(batch, mesh))

To try it on a laptop, simulate devices before JAX starts:
``XLA_FLAGS=--xla_force_host_platform_device_count=8 python train.py``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

__all__ = [
    "DATA_AXIS",
    "batch_sharding",
    "data_parallel_step",
    "make_mesh",
    "replicate",
    "replicated_sharding",
    "shard_batch",
]

DATA_AXIS = "data"
PyTree = Any


def make_mesh(
    num_devices: int | None = None,
    *,
    axis_name: str = DATA_AXIS,
    devices: Sequence[jax.Device] | None = None,
) -> Mesh:
    """A 1-D mesh over ``num_devices`` devices (all of them by default) named ``axis_name``."""
    available = list(devices) if devices is not None else jax.devices()
    if num_devices is None:
        num_devices = len(available)
    if not 1 <= num_devices <= len(available):
        raise ValueError(
            f"`num_devices` must be in [1, {len(available)}] (the devices "
            f"available), got {num_devices}."
        )
    return Mesh(np.asarray(available[:num_devices]), (axis_name,))


def batch_sharding(mesh: Mesh) -> NamedSharding:
    """Splits an array's leading (batch) axis over the mesh's first axis; the rest is whole."""
    return NamedSharding(mesh, PartitionSpec(mesh.axis_names[0]))


def replicated_sharding(mesh: Mesh) -> NamedSharding:
    """A full copy on every device of the mesh."""
    return NamedSharding(mesh, PartitionSpec())


def shard_batch(batch: PyTree, mesh: Mesh) -> PyTree:
    """Places every leaf of ``batch`` with its leading axis split over the mesh.

    Raises:
      ValueError: a leaf is a scalar or its leading size is not divisible by the mesh size.
    """
    size = mesh.devices.size

    def place(path, leaf):
        leaf = jnp.asarray(leaf)
        if leaf.ndim == 0 or leaf.shape[0] % size:
            where = jax.tree_util.keystr(path) or "batch"
            raise ValueError(
                f"`batch`{where} must have a leading (batch) axis divisible by the {size} "
                f"devices of the mesh, got shape {leaf.shape}. Drop or pad the remainder."
            )
        return jax.device_put(leaf, batch_sharding(mesh))

    return jax.tree_util.tree_map_with_path(place, batch)


def replicate(tree: PyTree, mesh: Mesh) -> PyTree:
    """Copies every leaf of ``tree`` (parameters, optimizer state) to all devices of the mesh."""
    return jax.device_put(tree, replicated_sharding(mesh))


def data_parallel_step(
    loss_fn: Callable[..., Any],
    optimizer: Any,
    mesh: Mesh | None = None,
    *,
    per_example: bool = False,
    has_aux: bool = False,
    donate: bool = False,
) -> Callable[[PyTree, PyTree, PyTree], tuple[PyTree, PyTree, Any]]:
    """Turns a loss into a jitted, data-parallel training step.

    Args:
      loss_fn: ``loss_fn(params, batch) -> scalar`` (the batch mean), or with
        ``per_example=True`` ``loss_fn(params, example) -> scalar``, which is vmapped over the
        batch's leading axis and averaged. With ``has_aux`` it returns ``(loss, aux)``; a
        per-example ``aux`` is stacked over the batch.
      optimizer: an ``optax.GradientTransformation``.
      mesh: the mesh to shard the batch over (:func:`make_mesh` by default, all devices).
      donate: donate the params/state buffers to the update (saves memory on accelerators).

    Returns:
      ``step(params, opt_state, batch) -> (params, opt_state, loss)`` (``loss`` is
      ``(loss, aux)`` with ``has_aux``). Its result equals the single-device step to float
      tolerance: the mean gradient is the same sum, only reduced across devices.
    """
    mesh = make_mesh() if mesh is None else mesh
    if per_example:

        def batch_loss(params, batch):
            out = jax.vmap(loss_fn, in_axes=(None, 0))(params, batch)
            if has_aux:
                losses, aux = out
                return jnp.mean(losses), aux
            return jnp.mean(out)
    else:
        batch_loss = loss_fn

    def step(params, opt_state, batch):
        value, grads = jax.value_and_grad(batch_loss, has_aux=has_aux)(params, batch)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        # optax.apply_updates, without importing optax into the shared layer.
        params = jax.tree.map(lambda p, u: (p + u).astype(p.dtype), params, updates)
        return params, opt_state, value

    replicated, sharded = replicated_sharding(mesh), batch_sharding(mesh)
    jitted = jax.jit(
        step,
        in_shardings=(replicated, replicated, sharded),
        out_shardings=(replicated, replicated, replicated),
        donate_argnums=(0, 1) if donate else (),
    )
    if mesh.size > 1 and all(d.platform == "cpu" for d in mesh.devices.flat):
        # XLA:CPU runs the all-reduce of simulated devices on a thread pool sized by the cores;
        # with several steps queued asynchronously the participants of one step can wait on
        # threads held by the next, and the program aborts after 40 s (seen with 8 simulated
        # devices on 2 cores). Finishing each step before dispatching the next avoids it.
        @functools.wraps(jitted)
        def blocking_step(params, opt_state, batch):
            return jax.block_until_ready(jitted(params, opt_state, batch))

        blocking_step.lower = jitted.lower  # type: ignore[attr-defined]
        return blocking_step
    return jitted
