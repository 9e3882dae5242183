"""The paper's MLP, label randomization, and a training loop that tracks metrics over epochs."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from jaxpapers_shared import checks

from ._coherence import per_example_grads

PyTree = Any


def _official_init(key, shape, dtype=jnp.float32):
    """``N(0, 1) * 2 / sqrt(fan_in + fan_out)``, the initialisation of the official MLP code."""
    fan_in, fan_out = shape
    return jax.random.normal(key, shape, dtype) * 2.0 / np.sqrt(fan_in + fan_out)


class MLP(nnx.Module):
    """Fully connected ReLU network, ``sizes = (inputs, hidden..., outputs)``.

    The default is the official setup's 3 hidden layers of 256 units on 64 inputs (digits) and
    10 classes, with weights ``N(0, 1) * 2 / sqrt(fan_in + fan_out)`` and zero biases.
    """

    def __init__(self, sizes: Sequence[int] = (64, 256, 256, 256, 10), *, rngs: nnx.Rngs):
        sizes = [checks.integer(s, "sizes", minimum=1) for s in sizes]
        if len(sizes) < 2:
            raise ValueError(f"`sizes` must list inputs and outputs at least, got {sizes}.")
        self.layers = nnx.List(
            [
                nnx.Linear(a, b, kernel_init=_official_init, rngs=rngs)
                for a, b in zip(sizes[:-1], sizes[1:], strict=True)
            ]
        )

    def __call__(self, x: jax.Array) -> jax.Array:
        for layer in self.layers[:-1]:
            x = jax.nn.relu(layer(x))
        return self.layers[-1](x)


def classification_loss(graphdef: nnx.GraphDef) -> Callable[[PyTree, PyTree], jax.Array]:
    """``loss(params, (x, y))``: softmax cross-entropy of ONE example ``x`` (features) with
    integer label ``y`` for the model ``nnx.merge(graphdef, params)``; the per-example form
    :func:`per_example_grads` and :func:`train` take."""

    def loss(params, example):
        x, y = example
        logits = nnx.merge(graphdef, params)(x)
        return optax.softmax_cross_entropy_with_integer_labels(logits, y)

    return loss


def predict(graphdef: nnx.GraphDef, params: PyTree, x: jax.Array) -> jax.Array:
    """Predicted classes of a batch ``x``."""
    return jnp.argmax(nnx.merge(graphdef, params)(x), axis=-1)


def permute_labels(key: jax.Array, y: jax.Array, fraction: float) -> tuple[jax.Array, jax.Array]:
    """Randomizes a ``fraction`` of the labels by permuting them among themselves.

    As the official code's ``randomize_labels_pct``: a random subset of ``round(fraction n)``
    examples is chosen and their labels are shuffled among that subset, which preserves the class
    frequencies. Some chosen examples keep their label by chance (about 1 in 10 for 10 balanced
    classes).

    Returns:
      ``(y_noisy, noisy_mask)``: the new labels and a boolean mask of the examples whose label
      changed (the ones that can only be fitted by memorization).

    Raises:
      ValueError: ``fraction`` outside ``[0, 1]``; ``y`` not a 1-D integer array.
    """
    checks.in_range(fraction, "fraction", 0.0, 1.0)
    y = checks.array(y, "y", ndim=1, dtype="int")
    n = y.shape[0]
    count = int(round(float(fraction) * n))
    k_choose, k_perm = jax.random.split(key)
    chosen = jax.random.permutation(k_choose, n)[:count]
    shuffled = chosen[jax.random.permutation(k_perm, count)]
    y_noisy = y.at[chosen].set(y[shuffled])
    return y_noisy, y_noisy != y


class TrainResult(NamedTuple):
    """Final parameters and ``history[name]``: the tracked metrics at ``epochs``."""

    params: PyTree
    epochs: np.ndarray
    history: dict[str, np.ndarray]


def train(
    loss_fn: Callable[[PyTree, PyTree], jax.Array],
    params: PyTree,
    data: PyTree,
    *,
    optimizer: optax.GradientTransformation,
    epochs: int,
    key: jax.Array,
    batch_size: int = 100,
    per_example: bool = True,
    track: Callable[[PyTree], dict[str, jax.Array]] | None = None,
    track_every: int | Sequence[int] = 1,
) -> TrainResult:
    """Minibatch training for ``epochs`` epochs (reshuffled each epoch, the last partial batch
    dropped), one compiled ``lax.scan`` per epoch.

    Args:
      loss_fn: ``loss_fn(params, example) -> scalar`` on one example.
      params: initial parameters.
      data: a pytree of arrays with a leading axis of ``n`` examples, e.g. ``(x, y)``.
      optimizer: with ``per_example=True`` it receives per-example gradients (leaves with a
        leading batch axis) and must start with a per-example aggregator, e.g.
        ``optax.chain(winsorized_aggregate(0.1), optax.sgd(0.1))``; with ``per_example=False``
        it receives the gradient of the batch-mean loss (``optax.sgd(0.1)``, ``rm3()`` chains).
      track: ``track(params) -> {name: scalar}`` (coherence, accuracies, losses), evaluated
        before training and every ``track_every`` epochs and after the last, or at the epochs
        ``track_every`` lists (0 is before training).

    Raises:
      ValueError: ``epochs`` < 1, ``batch_size`` < 1 or above ``n``, ``track_every`` < 1 or
        listing epochs outside ``[0, epochs]``.
    """
    epochs = checks.integer(epochs, "epochs", minimum=1)
    if isinstance(track_every, Sequence):
        marks = {checks.integer(e, "track_every", minimum=0, maximum=epochs) for e in track_every}
    else:
        every = checks.integer(track_every, "track_every", minimum=1)
        marks = set(range(0, epochs + 1, every)) | {epochs}
    n = jax.tree.leaves(data)[0].shape[0]
    batch_size = checks.integer(batch_size, "batch_size", minimum=1, maximum=n)
    steps = n // batch_size

    def batch_grads(p, batch):
        if per_example:
            return per_example_grads(loss_fn, p, batch)
        return jax.grad(lambda q: jnp.mean(jax.vmap(loss_fn, in_axes=(None, 0))(q, batch)))(p)

    @jax.jit
    def run_epoch(p, opt_state, epoch_key):
        order = jax.random.permutation(epoch_key, n)[: steps * batch_size]
        batches = jax.tree.map(lambda a: a[order].reshape(steps, batch_size, *a.shape[1:]), data)

        def step(carry, batch):
            p, s = carry
            updates, s = optimizer.update(batch_grads(p, batch), s, p)
            return (optax.apply_updates(p, updates), s), None

        (p, opt_state), _ = jax.lax.scan(step, (p, opt_state), batches)
        return p, opt_state

    tracked = jax.jit(track) if track is not None else None
    opt_state = optimizer.init(params)
    rows = []
    for epoch in range(epochs + 1):
        if tracked is not None and epoch in marks:
            rows.append(jax.device_get(tracked(params)))
        if epoch < epochs:
            params, opt_state = run_epoch(params, opt_state, jax.random.fold_in(key, epoch))
    history = {name: np.array([row[name] for row in rows]) for name in (rows[0] if rows else {})}
    return TrainResult(params, np.array(sorted(marks) if rows else []), history)
