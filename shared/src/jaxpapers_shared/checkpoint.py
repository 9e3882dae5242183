"""Resumable training: save the whole training state every few steps, continue after a stop.

A long run saves parameters, optimizer state, the step and the PRNG key together, so that
``--resume`` continues exactly where it stopped and ends with the numbers an uninterrupted run
gives (every step is a pure function of that state)::

    from jaxpapers_shared import checkpoint

    with checkpoint.Checkpointer(out / "checkpoints", every=500, resume=args.resume) as ckpt:
        state = ckpt.restore(state)            # the last saved state, or `state` unchanged
        for step in range(int(state["step"]), num_steps):
            state = train_step(state)          # state = {"params", "opt_state", "step", "key"}
            ckpt.save(step + 1, state)         # written every `every` steps (and the last one)

Checkpoints are written by Orbax (the library Flax uses), asynchronously, one folder per step,
keeping the newest ``keep``; with several processes every process calls ``save`` and Orbax
coordinates the write (host-local leaves, such as a step counter, are stored replicated and come
back host-local). Typed PRNG keys are stored as their raw key data and rebuilt on restore.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import jax

from jaxpapers_shared import checks, devices

__all__ = ["Checkpointer"]

PyTree = Any


def _is_key(leaf: Any) -> bool:
    return isinstance(leaf, jax.Array) and jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key)


def _is_global(leaf: Any) -> bool:
    return isinstance(leaf, jax.Array) and not leaf.is_fully_addressable


def _to_storable(tree: PyTree) -> PyTree:
    """Raw key data for keys; with several processes, leaves that live on one host only (a
    step counter, a NumPy array of losses) become arrays replicated over every process's
    devices, which Orbax can write (it refuses host-local arrays in a multi-process run)."""
    multi = jax.process_count() > 1
    mesh = devices.make_mesh() if multi else None

    def storable(x):
        x = jax.random.key_data(x) if _is_key(x) else x
        if multi and not _is_global(x):
            return devices.replicate(jax.numpy.asarray(x), mesh)
        return jax.numpy.asarray(x)

    return jax.tree.map(storable, tree)


def _from_storable(like: PyTree, restored: PyTree) -> PyTree:
    """Undoes :func:`_to_storable` leaf by leaf, following ``like``."""

    def leaf(ref, x):
        if jax.process_count() > 1 and not _is_global(ref):
            x = jax.numpy.asarray(x.addressable_data(0))  # replicated: every copy is the value
        return jax.random.wrap_key_data(x, impl=jax.random.key_impl(ref)) if _is_key(ref) else x

    return jax.tree.map(leaf, like, restored)


class Checkpointer:
    """Saves a training-state pytree every ``every`` steps and restores the newest one.

    Args:
      directory: where step folders go (created if missing).
      every: save when ``step % every == 0`` (``save(..., force=True)`` saves any step).
      keep: how many of the newest checkpoints to keep.
      resume: restore from ``directory`` if it holds a checkpoint; when False, an existing
        ``directory`` is cleared first, so a fresh run never mixes with an old one.
    """

    def __init__(
        self, directory: str | Path, *, every: int, keep: int = 2, resume: bool = False
    ) -> None:
        try:
            import orbax.checkpoint as ocp
        except ModuleNotFoundError:
            raise ModuleNotFoundError(
                "Checkpointer needs Orbax: pip install 'jaxpapers-shared[checkpoint]' "
                "(Flax installs it too)."
            ) from None

        checks.integer(every, "every", minimum=1)
        checks.integer(keep, "keep", minimum=1)
        self.directory = Path(directory).absolute()
        self.every = every
        self.resume = resume
        if not resume and self.directory.exists() and jax.process_index() == 0:
            shutil.rmtree(self.directory)
        if jax.process_count() > 1:  # no process creates the folder before process 0 clears it
            from jax.experimental import multihost_utils

            multihost_utils.sync_global_devices(f"jaxpapers checkpoint {self.directory}")
        self._ocp = ocp
        self._manager = ocp.CheckpointManager(
            self.directory, options=ocp.CheckpointManagerOptions(max_to_keep=keep, create=True)
        )

    def __enter__(self) -> Checkpointer:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    @property
    def latest_step(self) -> int | None:
        """The newest saved step, or None."""
        return self._manager.latest_step()

    def save(self, step: int, state: PyTree, *, force: bool = False) -> bool:
        """Saves ``state`` as ``step`` when ``step % every == 0`` (or ``force``); True if saved."""
        if not (force or step % self.every == 0):
            return False
        args = self._ocp.args.StandardSave(_to_storable(state))
        return bool(self._manager.save(step, args=args, force=force))

    def restore(self, like: PyTree) -> PyTree:
        """The newest checkpoint shaped like ``like`` (``like`` itself when there is none or
        ``resume`` is off). ``like`` gives the structure, dtypes, shardings and key types."""
        step = self._manager.latest_step()
        if not self.resume or step is None:
            return like
        target = jax.tree.map(
            lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=getattr(x, "sharding", None)),
            _to_storable(like),
        )
        restored = self._manager.restore(step, args=self._ocp.args.StandardRestore(target))
        return _from_storable(like, restored)

    def close(self) -> None:
        """Waits for pending asynchronous writes and releases the manager."""
        self._manager.wait_until_finished()
        self._manager.close()
