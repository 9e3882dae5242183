"""Training loop (1-RF, k-RF reflow and k-step distillation share it) and pair samplers."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxpapers_shared import devices
from rectified_flow import _checks
from rectified_flow._flow import EPS, ApplyFn, rectified_flow_loss, sample_time

PairSampler = Callable[[jax.Array], tuple[jax.Array, jax.Array]]
"""Any ``key -> (x0, x1)``; :func:`independent_sampler`/:func:`paired_sampler` build the usual two."""


class TrainState(NamedTuple):
    """Result of :func:`train`: final ``params``, ``opt_state`` and the ``(steps,)`` losses."""

    params: Any
    opt_state: Any
    losses: np.ndarray


@functools.partial(
    jax.tree_util.register_dataclass,
    data_fields=[],
    meta_fields=["sample_pi0", "sample_pi1", "batch_size"],
)
@dataclasses.dataclass(frozen=True)
class IndependentSampler:
    """The independent coupling X0 ~ pi_0, X1 ~ pi_1: ``sampler(key) -> (x0, x1)``.

    A pytree with no leaves: two samplers with the same distributions and batch size are equal,
    so :func:`train` reuses its compiled step for them.
    """

    sample_pi0: Callable[[jax.Array, int], jax.Array]
    sample_pi1: Callable[[jax.Array, int], jax.Array]
    batch_size: int

    def __call__(self, key: jax.Array) -> tuple[jax.Array, jax.Array]:
        k0, k1 = jax.random.split(key)
        return self.sample_pi0(k0, self.batch_size), self.sample_pi1(k1, self.batch_size)


@functools.partial(
    jax.tree_util.register_dataclass, data_fields=["z0", "z1"], meta_fields=["batch_size"]
)
@dataclasses.dataclass(frozen=True, eq=False)
class PairedSampler:
    """Minibatches of stored pairs: ``sampler(key) -> (z0[idx], z1[idx])``.

    A pytree whose leaves are the stored pairs, so :func:`train` passes them to its compiled
    step as arguments: a new set of pairs of the same shape does not recompile it.
    """

    z0: jax.Array
    z1: jax.Array
    batch_size: int

    def __call__(self, key: jax.Array) -> tuple[jax.Array, jax.Array]:
        idx = jax.random.randint(key, (self.batch_size,), 0, self.z0.shape[0])
        return self.z0[idx], self.z1[idx]


def independent_sampler(
    sample_pi0: Callable[[jax.Array, int], jax.Array],
    sample_pi1: Callable[[jax.Array, int], jax.Array],
    batch_size: int,
) -> IndependentSampler:
    """The independent coupling X0 ~ pi_0, X1 ~ pi_1 (trains the 1-rectified flow).

    Args:
      sample_pi0, sample_pi1: ``sample(key, n) -> (n, *d)``.
      batch_size: pairs per minibatch (>= 1).
    """
    return IndependentSampler(sample_pi0, sample_pi1, _checks.steps(batch_size, "batch_size"))


def paired_sampler(z0: jax.Array, z1: jax.Array, batch_size: int) -> PairedSampler:
    """Minibatches of stored pairs (reflow coupling); one index draws both rows, keeping pairs.

    Args:
      z0, z1: ``(num_pairs, *d)`` paired samples, e.g. from :func:`reflow_pairs`.
      batch_size: rows per minibatch (drawn with replacement).

    Raises:
      ValueError / TypeError: ``z0`` and ``z1`` differ in shape, are empty or not floats;
        ``batch_size`` < 1.
    """
    z0, z1 = _checks.pair(z0, z1, ("z0", "z1"))
    return PairedSampler(z0, z1, _checks.steps(batch_size, "batch_size"))


def _check_sampler(pair_sampler: PairSampler, key: jax.Array, num_devices: int) -> None:
    """The sampler's output shapes, read without running it (``jax.eval_shape``)."""
    x0, x1 = jax.eval_shape(pair_sampler, key)
    if x0.shape != x1.shape or not x0.shape:
        raise ValueError(
            "`pair_sampler` must return (x0, x1) of one shape (batch, *d), got shapes "
            f"{x0.shape} and {x1.shape}."
        )
    for name, x in (("x0", x0), ("x1", x1)):
        if not jnp.issubdtype(x.dtype, jnp.floating):
            raise TypeError(f"`pair_sampler` must return float arrays, got {name} {x.dtype}.")
    if x0.shape[0] % num_devices:
        raise ValueError(
            f"`pair_sampler`'s batch of {x0.shape[0]} must be divisible by the mesh's "
            f"{num_devices} devices."
        )


class _ChunkConfig(NamedTuple):
    """What the compiled training chunk is specialised on (hashable: the jit cache key)."""

    apply_fn: ApplyFn
    optimizer: optax.GradientTransformation
    eps: float
    grid: int | None
    mesh: Any


@functools.partial(jax.jit, static_argnums=0)
def _run_chunk(config: _ChunkConfig, params, opt_state, keys, pair_sampler):
    """``len(keys)`` updates in one ``lax.scan``; compiled once per config and shapes.

    A Python loop of tiny steps would be dominated by dispatch overhead on CPU; a jitted
    closure built inside :func:`train` would recompile on every call.
    """
    apply_fn, optimizer, eps, grid, mesh = config
    sharding = devices.batch_sharding(mesh)

    def loss_fn(p, batch):
        x0, x1, t = batch
        return rectified_flow_loss(apply_fn, p, x0, x1, t)

    step = devices.data_parallel_step(loss_fn, optimizer, mesh)

    def body(carry, k):
        kp, kt = jax.random.split(k)
        x0, x1 = pair_sampler(kp)
        batch = (x0, x1, sample_time(kt, x0.shape[0], eps, grid))
        p, s, loss = step(*carry, jax.lax.with_sharding_constraint(batch, sharding))
        return (p, s), loss

    (params, opt_state), losses = jax.lax.scan(body, (params, opt_state), keys)
    return params, opt_state, losses


def train(
    apply_fn: ApplyFn,
    params: Any,
    pair_sampler: PairSampler,
    optimizer: optax.GradientTransformation,
    steps: int,
    key: jax.Array,
    *,
    eps: float = EPS,
    grid: int | None = None,
    mesh: Any = None,
    opt_state: Any = None,
    chunk: int = 250,
    checkpointer: Any = None,
) -> TrainState:
    """Minimises the rectified-flow loss (eq. 1) on a coupling, data-parallel over ``mesh``.

    The compiled training chunk is cached on ``(apply_fn, optimizer, eps, grid, mesh)``, the
    sampler's kind and the shapes: a second call with the same ones (reflow rounds, another
    seed, new stored pairs of the same shape) starts at once.

    1-RF: ``independent_sampler``; k-RF (reflow): ``paired_sampler`` of :func:`reflow_pairs`,
    starting from the previous flow's ``params`` (the official code fine-tunes); k-step
    distillation: the same pairs with ``grid=k``.

    Args:
      apply_fn: ``apply_fn(params, x, t) -> v``.
      params: initial parameters.
      pair_sampler: ``key -> (x0, x1)`` with equal shapes ``(batch, *d)``.
      optimizer: an optax transformation (Adam 1e-3 in the 2D experiment).
      steps: number of updates (>= 1).
      key: PRNG key.
      grid: ``None`` (t ~ U(eps, 1)) or k for k-step distillation.
      mesh: a ``jax.sharding.Mesh`` (default: all devices, via ``jaxpapers_shared.devices``);
        the batch size must be divisible by its size.
      opt_state: resume from this optimizer state instead of ``optimizer.init(params)``.
      chunk: updates fused into one compiled ``lax.scan`` (the last chunk may be shorter).
      checkpointer: a ``jaxpapers_shared.checkpoint.Checkpointer``: the training state
        (parameters, optimizer state, step, losses so far) is offered to it after every chunk
        (it writes every ``checkpointer.every`` steps and at the end), and a checkpointer made
        with ``resume=True`` restarts from its newest state. The keys of all steps come from
        ``key``, so a resumed run ends with the parameters of an uninterrupted one.

    Returns:
      :class:`TrainState`.

    Raises:
      ValueError: bad ``steps``/``chunk``/``grid``/``eps``, or ``pair_sampler`` returns
        arrays of different shapes or a batch the mesh cannot split.
      FloatingPointError: the loss became NaN/inf.
    """
    steps = _checks.steps(steps, "steps")
    chunk = _checks.steps(chunk, "chunk")
    if grid is not None:
        _checks.steps(grid, "grid")
    eps = _checks.eps(eps)
    mesh = devices.make_mesh() if mesh is None else mesh
    _check_sampler(pair_sampler, key, mesh.devices.size)

    opt_state = optimizer.init(params) if opt_state is None else opt_state
    params, opt_state = devices.replicate((params, opt_state), mesh)
    if jax.tree_util.treedef_is_leaf(jax.tree.structure(pair_sampler)):
        # A plain callable is not a pytree: make it one whose static part is the function.
        pair_sampler = jax.tree_util.Partial(pair_sampler)
    config = _ChunkConfig(apply_fn, optimizer, eps, grid, mesh)
    keys = jax.random.split(key, steps)
    state = {"params": params, "opt_state": opt_state, "step": 0, "losses": np.zeros(steps)}
    if checkpointer is not None:
        if chunk % checkpointer.every and checkpointer.every % chunk:
            raise ValueError(
                f"`checkpointer.every` ({checkpointer.every}) and `chunk` ({chunk}) must divide "
                "one another, so that checkpoints fall on chunk boundaries."
            )
        state = checkpointer.restore(state)
        state["step"], state["losses"] = int(state["step"]), np.asarray(state["losses"])
    params, opt_state = state["params"], state["opt_state"]
    losses = [state["losses"][: state["step"]]]
    for start in range(state["step"], steps, chunk):
        params, opt_state, loss = _run_chunk(
            config, params, opt_state, keys[start : start + chunk], pair_sampler
        )
        losses.append(loss)
        end = min(start + chunk, steps)
        if checkpointer is not None and (end == steps or end % checkpointer.every == 0):
            so_far = np.concatenate([np.asarray(x) for x in losses])
            state = {
                "params": params,
                "opt_state": opt_state,
                "step": end,
                "losses": np.pad(so_far, (0, steps - end)),
            }
            checkpointer.save(end, state, force=end == steps)
    losses = np.asarray(jnp.concatenate(losses))
    if not np.all(np.isfinite(losses)):
        raise FloatingPointError("training loss became NaN/inf; lower the learning rate")
    return TrainState(params, opt_state, losses)
