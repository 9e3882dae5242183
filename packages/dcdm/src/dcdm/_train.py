"""The scale-invariant unsupervised loss (Eq. 9) and a data-parallel, resumable Adam loop."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from dcdm._models import DCDMNet
from jaxpapers_shared import checks, devices


def scaled_residual_loss(
    q: jax.Array, rhs: jax.Array, apply_A: Callable[[jax.Array], jax.Array]
) -> jax.Array:
    """``mean_i ||r_i - alpha(q_i) A q_i||^2`` with ``alpha(q) = q.r / q.A q`` (Eq. 9).

    Invariant to any rescaling of each ``q_i``, so the network learns only the direction of
    ``A^{-1} r``.

    Args:
        q: ``(batch, *grid)`` network outputs.
        rhs: ``(batch, *grid)`` unit-norm right-hand sides.
        apply_A: the operator (batched over the leading axis).

    Returns:
        Scalar loss.
    """
    if q.shape != rhs.shape:
        raise ValueError(f"`q` and `rhs` must have the same shape, got {q.shape} vs {rhs.shape}.")
    Aq = apply_A(q)
    axes = tuple(range(1, q.ndim))
    qr = jnp.sum(q * rhs, axis=axes, keepdims=True)
    qAq = jnp.sum(q * Aq, axis=axes, keepdims=True)
    alpha = qr / (qAq + 1e-30)
    return jnp.mean(jnp.sum((rhs - alpha * Aq) ** 2, axis=axes))


@functools.partial(jax.jit, static_argnums=(2, 3, 4))
def _batch_indices(key: jax.Array, start: int, count: int, batch_size: int, num: int):
    """Mini-batch rows of steps ``start .. start + count - 1``: step ``t`` draws
    ``randint(fold_in(key, t), (batch_size,), 0, num)``, so a step's batch depends only on
    ``key`` and ``t`` (the same on every process, after a resume, for any chunking)."""
    steps = start + jnp.arange(count)
    keys = jax.vmap(lambda t: jax.random.fold_in(key, t))(steps)
    return jax.vmap(lambda k: jax.random.randint(k, (batch_size,), 0, num))(keys)


def _host(tree):
    """Local single-device copies of replicated (possibly multi-process) arrays."""

    def one(x):
        return x.addressable_data(0) if isinstance(x, jax.Array) else jnp.asarray(x)

    return jax.tree.map(one, tree)


def _make_step(graphdef, rest, apply_A, tx, mesh, mask):
    def loss_fn(p, batch):
        net = nnx.merge(graphdef, p, rest)
        # XLA's convolutions for training whatever net.conv says (the same function): the
        # gradient of the fused stencil form compiles for minutes.
        return scaled_residual_loss(net(batch, mask, conv="xla"), batch, apply_A)

    # One jitted step driven from Python, not a lax.scan over steps: on XLA:CPU the convolution
    # gradients inside a scan/while body run ~15x slower than the same step called from Python
    # (measured 370 ms vs 23 ms per step for the 16-filter net at batch 16).
    return devices.data_parallel_step(loss_fn, tx, mesh, donate=True)


@functools.lru_cache(maxsize=16)
def _cached_step(graphdef, apply_A, learning_rate, mesh, mask_key):
    """The compiled step, shared by calls with the same network structure, operator, learning
    rate, mesh and mask (seeds, resumed runs), so that each compiles once."""
    mask = None
    if mask_key is not None:
        mask = np.frombuffer(mask_key[1], np.float32).reshape(mask_key[0])
    return _make_step(graphdef, nnx.State({}), apply_A, optax.adam(learning_rate), mesh, mask)


def train(
    model: DCDMNet,
    apply_A: Callable[[jax.Array], jax.Array],
    rhs: jax.Array,
    key: jax.Array,
    *,
    steps: int,
    batch_size: int = 16,
    learning_rate: float = 1e-3,
    chunk: int = 50,
    mask: jax.Array | None = None,
    progress: Callable | None = None,
    mesh: Any = None,
    checkpointer: Any = None,
) -> tuple[DCDMNet, jax.Array]:
    """Adam on :func:`scaled_residual_loss` with random mini-batches, data-parallel over ``mesh``.

    Every step goes through ``jaxpapers_shared.devices.data_parallel_step``: the parameters and
    the optimizer state are replicated, each mini-batch is split over the mesh's devices (one
    CPU, simulated devices, several GPUs, or the devices of several processes joined by
    ``jax.distributed``), and the mean gradient is all-reduced. The batch of step ``t`` is drawn
    from ``fold_in(key, t)``, so the result does not depend on the number of devices (to float32
    rounding) nor on where a resumed run stopped.

    Args:
        model: the network (updated in place and returned).
        apply_A: the operator.
        rhs: ``(num, *grid)`` training right-hand sides (the same on every process).
        key: PRNG key for the batch sampling.
        steps: number of Adam steps (rounded up to a multiple of ``chunk``).
        batch_size: mini-batch size (reproduction: 16; paper: 10), divisible by the mesh size.
        learning_rate: Adam step size, > 0 (reproduction: 1e-3; paper: 1e-4).
        chunk: steps per progress tick (and per entry of the returned loss history).
        mask: solid mask fed to the network, if any.
        progress: optional wrapper over the chunk iterator (e.g. ``experiment.progress``).
        mesh: a ``jax.sharding.Mesh`` (default ``devices.make_mesh()``: every device of every
            process).
        checkpointer: a ``jaxpapers_shared.checkpoint.Checkpointer`` (``every`` a multiple of
            ``chunk``): the state (parameters, optimizer state, step, key, chunk losses) is
            saved every ``checkpointer.every`` steps and at the end, and one made with
            ``resume=True`` continues from its newest state to the uninterrupted run's result.

    Returns:
        ``(model, losses)`` with the mean loss of every chunk.

    Raises:
        ValueError: ``steps`` or ``chunk`` < 1, ``batch_size`` outside ``[1, len(rhs)]`` or not
            divisible by the mesh's devices, ``learning_rate`` not a finite number > 0 (a
            negative one would ascend the loss), ``rhs`` empty or not finite, or
            ``checkpointer.every`` not a multiple of ``chunk``.
        TypeError: ``steps``, ``batch_size`` or ``chunk`` not an integer.
    """
    checks.integer(steps, "steps", minimum=1)
    checks.integer(chunk, "chunk", minimum=1)
    checks.positive(learning_rate, "learning_rate")
    rhs = checks.array(rhs, "rhs", dtype="float")
    checks.integer(batch_size, "batch_size", minimum=1, maximum=rhs.shape[0])
    mesh = devices.make_mesh() if mesh is None else mesh
    if batch_size % mesh.devices.size:
        raise ValueError(
            f"`batch_size` must be divisible by the mesh's {mesh.devices.size} devices, got "
            f"{batch_size}."
        )
    if checkpointer is not None and checkpointer.every % chunk:
        raise ValueError(
            f"`checkpointer.every` must be a multiple of `chunk` ({chunk}), got "
            f"{checkpointer.every}."
        )
    host_rhs = np.asarray(rhs, np.float32)
    host_mask = None if mask is None else np.asarray(mask, np.float32)
    graphdef, params, rest = nnx.split(model, nnx.Param, ...)
    tx = optax.adam(learning_rate)

    if jax.tree.leaves(rest):  # state other than parameters: a step of its own
        step = _make_step(graphdef, rest, apply_A, tx, mesh, host_mask)
    else:
        mask_key = None if host_mask is None else (host_mask.shape, host_mask.tobytes())
        step = _cached_step(graphdef, apply_A, float(learning_rate), mesh, mask_key)
    n_chunks = -(-steps // chunk)
    state = {
        "params": params,
        "opt_state": tx.init(params),
        "step": 0,
        "key": key,
        "losses": np.zeros(n_chunks, np.float32),
    }
    if checkpointer is not None:
        state = checkpointer.restore(state)
    key = state["key"]
    done = int(state["step"]) // chunk
    losses = list(np.asarray(state["losses"])[:done])
    params, opt_state = devices.replicate((state["params"], state["opt_state"]), mesh)
    it = range(done, n_chunks)
    if progress is not None:
        it = progress(it)
    for c in it:
        idx = np.asarray(_batch_indices(key, c * chunk, chunk, batch_size, host_rhs.shape[0]))
        chunk_losses = []
        for i in range(chunk):
            batch = devices.shard_batch(host_rhs[idx[i]], mesh)
            params, opt_state, loss = step(params, opt_state, batch)
            chunk_losses.append(loss)
        losses.append(np.mean([np.asarray(_host(v)) for v in chunk_losses], dtype=np.float32))
        if checkpointer is not None:
            end = (c + 1) * chunk
            saved = {
                "params": params,
                "opt_state": opt_state,
                "step": end,
                "key": key,
                "losses": np.pad(np.asarray(losses, np.float32), (0, n_chunks - c - 1)),
            }
            checkpointer.save(end, saved, force=c == n_chunks - 1)
    nnx.update(model, _host(params))
    return model, jnp.asarray(losses, jnp.float32)


def direction_fn(
    model: DCDMNet, mask: jax.Array | None = None, *, state: nnx.State | None = None
) -> Callable[[jax.Array], jax.Array]:
    """``r -> f_theta(r)`` on a single grid, for :func:`dcdm.solve`.

    Args:
        model: the network (its structure, and its weights unless ``state`` is given).
        mask: solid mask fed to the network, if any.
        state: weights to use instead of the model's own, e.g. a ``jit`` argument from
            ``nnx.split(model)[1]``. Inside ``jit`` pass them this way: weights captured as
            constants let XLA constant-fold the convolutions, which compiles slowly.
    """
    graphdef, own = nnx.split(model)
    weights = own if state is None else state

    def fn(r: jax.Array) -> jax.Array:
        return nnx.merge(graphdef, weights)(r[None], mask)[0]

    return fn
