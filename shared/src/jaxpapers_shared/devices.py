"""Data parallelism with ``jax.sharding``: one mesh over the devices, batches split along it.

The same training step runs on one CPU, eight GPUs, a TPU slice or several hosts: parameters and
optimizer state are replicated, the batch's leading axis is sharded over the mesh axis
``"data"``, and XLA inserts the gradient all-reduce itself (no ``pmap``)::

    devices.initialize()              # a no-op for one process; joins the cluster otherwise
    mesh = devices.make_mesh()        # every device of every process
    step = devices.data_parallel_step(loss_fn, optax.adam(1e-3), mesh)
    params, opt_state = devices.replicate((params, optimizer.init(params)), mesh)
    for batch in batches:             # the same global batch on every process (same seed)
        params, opt_state, loss = step(params, opt_state, devices.shard_batch(batch, mesh))

Several processes (hosts) run the same program; :func:`initialize` connects them through JAX's
own runtime (``jax.distributed``), which detects SLURM, Open MPI, Cloud TPU pods and Kubernetes
by itself, or takes an explicit coordinator. :func:`shard_batch` and :func:`replicate` build
global arrays from what each process holds, so a training loop does not change with the number
of processes. ``tools/launch.py`` (``make reproduce ... PROCS=2``) starts N local processes on
127.0.0.1 for development.

To try several devices on a laptop, simulate them before JAX starts:
``XLA_FLAGS=--xla_force_host_platform_device_count=8 python train.py``.
"""

from __future__ import annotations

import functools
import os
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
    "initialize",
    "is_main_process",
    "make_mesh",
    "pad_batch",
    "replicate",
    "replicated_sharding",
    "shard_batch",
]

DATA_AXIS = "data"
PyTree = Any

# Set by tools/launch.py for local multi-process runs.
ENV_COORDINATOR = "JAXPAPERS_COORDINATOR"
ENV_NUM_PROCESSES = "JAXPAPERS_NUM_PROCESSES"
ENV_PROCESS_ID = "JAXPAPERS_PROCESS_ID"


def _cluster_detected() -> bool:
    """True inside a multi-process job of a scheduler that ``jax.distributed`` detects."""
    env = os.environ
    counts = {
        "SLURM": env.get("SLURM_NTASKS") if "SLURM_JOB_ID" in env else None,
        "Open MPI": env.get("OMPI_COMM_WORLD_SIZE"),
    }
    if any(c is not None and c.isdigit() and int(c) > 1 for c in counts.values()):
        return True
    if "," in env.get("TPU_WORKER_HOSTNAMES", ""):  # a multi-host Cloud TPU slice
        return True
    return env.get("JAXPAPERS_DISTRIBUTED", "") == "auto"


def initialize(
    coordinator_address: str | None = None,
    num_processes: int | None = None,
    process_id: int | None = None,
    *,
    heartbeat_timeout_s: int = 100,
    initialization_timeout_s: int = 300,
) -> bool:
    """Joins this process to a multi-process JAX run; a no-op for a single process.

    Call it once, before any other JAX call (it must precede the backend's start). Three ways in:

    * explicit ``coordinator_address`` (``"host:port"`` of process 0), ``num_processes`` and
      ``process_id``;
    * the variables ``JAXPAPERS_COORDINATOR``/``JAXPAPERS_NUM_PROCESSES``/
      ``JAXPAPERS_PROCESS_ID`` (set by ``tools/launch.py``);
    * a cluster ``jax.distributed`` detects by itself: a SLURM allocation of several tasks, an
      Open MPI job, a multi-host Cloud TPU slice, or any cluster when
      ``JAXPAPERS_DISTRIBUTED=auto`` (Kubernetes, say).

    A process that loses a peer stops within ``heartbeat_timeout_s`` with an error naming the
    dead task, instead of waiting forever in a collective.

    Returns:
      True if the run spans several processes.

    Raises:
      ValueError: an incomplete explicit setting, or ``process_id`` outside ``[0, num_processes)``.
    """
    if jax.distributed.is_initialized():
        return jax.process_count() > 1
    env = os.environ
    if coordinator_address is None and ENV_COORDINATOR in env:
        coordinator_address = env[ENV_COORDINATOR]
        num_processes = int(env[ENV_NUM_PROCESSES])
        process_id = int(env[ENV_PROCESS_ID])
    explicit = (coordinator_address, num_processes, process_id)
    if any(v is not None for v in explicit):
        if any(v is None for v in explicit):
            raise ValueError(
                "give all of `coordinator_address`, `num_processes` and `process_id`, got "
                f"{coordinator_address!r}, {num_processes!r}, {process_id!r}."
            )
        if not (isinstance(num_processes, int) and num_processes >= 1):
            raise ValueError(f"`num_processes` must be an integer >= 1, got {num_processes!r}.")
        if not (isinstance(process_id, int) and 0 <= process_id < num_processes):
            raise ValueError(f"`process_id` must be in [0, {num_processes}), got {process_id!r}.")
        if num_processes == 1:
            return False
    elif not _cluster_detected():
        return False
    jax.distributed.initialize(
        coordinator_address,
        num_processes,
        process_id,
        heartbeat_timeout_seconds=heartbeat_timeout_s,
        initialization_timeout=initialization_timeout_s,
    )
    return jax.process_count() > 1


def is_main_process() -> bool:
    """True on process 0 (the one that prints, writes results and saves figures)."""
    return jax.process_index() == 0


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


def _global_array(value: Any, sharding: NamedSharding) -> jax.Array:
    """A global array from a value every process holds in full.

    One process: ``jax.device_put``. Several: each process places only the shards on its own
    devices (``jax.make_array_from_callback``), which is what works across hosts.
    """
    if jax.process_count() == 1:
        return jax.device_put(value, sharding)
    if isinstance(value, jax.Array) and not value.is_fully_addressable:
        return value  # already a global array
    if isinstance(value, jax.Array) and jax.dtypes.issubdtype(value.dtype, jax.dtypes.prng_key):
        data = _global_array(jax.random.key_data(value), sharding)
        return jax.random.wrap_key_data(data, impl=jax.random.key_impl(value))
    host = np.asarray(value)
    return jax.make_array_from_callback(host.shape, sharding, lambda index: host[index])


def shard_batch(batch: PyTree, mesh: Mesh, *, local: bool = False) -> PyTree:
    """Places every leaf of ``batch`` with its leading axis split over the mesh.

    By default ``batch`` is the *global* batch, the same on every process (drawn from the same
    seed); each process keeps its own rows. With ``local=True`` each process passes only its
    own part (``global batch / process count`` rows, as a per-host data loader yields), which
    ``jax.make_array_from_process_local_data`` assembles into the global batch.

    Raises:
      ValueError: a leaf is a scalar or its leading size is not divisible by the mesh size.
    """
    size = mesh.devices.size
    sharding = batch_sharding(mesh)
    processes = len({d.process_index for d in mesh.devices.flat})

    def place(path, leaf):
        leaf = leaf if isinstance(leaf, jax.Array) else np.asarray(leaf)
        rows = leaf.shape[0] * (processes if local else 1) if leaf.ndim else 0
        if leaf.ndim == 0 or rows % size:
            where = jax.tree_util.keystr(path) or "batch"
            raise ValueError(
                f"`batch`{where} must have a leading (batch) axis divisible by the {size} "
                f"devices of the mesh, got shape {leaf.shape}"
                + (f" on each of {processes} processes" if local else "")
                + ". Drop or pad the remainder."
            )
        if local:
            return jax.make_array_from_process_local_data(sharding, np.asarray(leaf))
        return _global_array(leaf, sharding)

    return jax.tree_util.tree_map_with_path(place, batch)


def pad_batch(
    batch: PyTree, mesh: Mesh | int, dtype: Any = jnp.float32
) -> tuple[PyTree, jax.Array]:
    """Pads a batch to a multiple of the mesh size (or of an int): ``(padded_batch, weights)``.

    The padding rows are copies of the first rows (so a loss stays finite on them) and get
    weight 0; ``weights`` (``dtype``) is 1 on the real rows. A loss that averages with these
    weights, ``sum(w * loss_i) / sum(w)``, is the mean over the real rows on any mesh.

    Raises:
      ValueError: a leaf has no leading axis, the leaves' leading sizes differ, or it is 0.
    """
    sizes = set()
    for path, leaf in jax.tree_util.tree_flatten_with_path(batch)[0]:
        shape = np.shape(leaf)
        if not shape or shape[0] == 0:
            where = jax.tree_util.keystr(path) or "batch"
            raise ValueError(f"`batch`{where} must have a non-empty leading axis, got {shape}")
        sizes.add(shape[0])
    if len(sizes) != 1:
        raise ValueError(f"`batch` leaves must share their leading size, got {sorted(sizes)}")
    (size,) = sizes
    pad = -size % (mesh if isinstance(mesh, int) else mesh.devices.size)
    weights = jnp.concatenate([jnp.ones(size, dtype), jnp.zeros(pad, dtype)])
    if pad:
        rows = np.arange(pad) % size
        batch = jax.tree.map(lambda a: jnp.concatenate([a, jnp.asarray(a)[rows]]), batch)
    return batch, weights


def replicate(tree: PyTree, mesh: Mesh) -> PyTree:
    """Copies every leaf of ``tree`` (parameters, optimizer state) to all devices of the mesh.

    Every process must pass the same values (the same initialisation seed).
    """
    sharding = replicated_sharding(mesh)
    return jax.tree.map(lambda leaf: _global_array(leaf, sharding), tree)


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
      optimizer: an ``optax.GradientTransformation`` (any object with its ``init``/``update``).
      mesh: the mesh to shard the batch over (:func:`make_mesh` by default, all devices).
      donate: donate the params/state buffers to the update (saves memory on accelerators).

    Returns:
      ``step(params, opt_state, batch) -> (params, opt_state, loss)`` (``loss`` is
      ``(loss, aux)`` with ``has_aux``). Its result equals the single-device step to float
      tolerance: the mean gradient is the same sum, only reduced across devices.

    On simulated CPU devices (``--xla_force_host_platform_device_count``) keep the loss local to
    each device's rows: gathers across the whole batch or LAPACK calls (``jnp.linalg.solve``) on
    sharded data insert collectives that XLA:CPU can deadlock on; ``vmap`` over examples (or
    ``per_example=True``) avoids them.
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
