"""The small real task of the reproduction: a 2-layer MLP on sklearn's 8x8 digits.

Stands in for the paper's CIFAR-10/100 CNNs, which do not fit a 2-core CPU budget.
Every (learning rate, seed) pair is one independent model; all of them train at once under
``jax.vmap``, so an optimizer's whole learning-rate grid compiles and runs as one program.
Imported only by the reproduction (flax and scikit-learn come with the ``reproduce`` extra).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

MakeOptimizer = Callable[[jax.Array], optax.GradientTransformation]


class DigitsData(NamedTuple):
    """Digits split three ways: x_* (n, 64) float32 in [0, 1], y_* (n,) int32.

    The learning rate is chosen on ``val``; ``test`` is only read to report the chosen models.
    """

    x_train: jax.Array
    y_train: jax.Array
    x_val: jax.Array
    y_val: jax.Array
    x_test: jax.Array
    y_test: jax.Array


class GridAccuracy(NamedTuple):
    """Accuracy in [0, 1] after each epoch, ``(num_lrs, num_seeds, epochs)`` each."""

    val: np.ndarray
    test: np.ndarray


class MLP(nnx.Module):
    """64 -> hidden -> 10 with ReLU."""

    def __init__(self, hidden: int, *, rngs: nnx.Rngs):
        self.hidden = nnx.Linear(64, hidden, rngs=rngs)
        self.out = nnx.Linear(hidden, 10, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.out(jax.nn.relu(self.hidden(x)))


def load_digits_split(
    test_fraction: float = 0.2, val_fraction: float = 0.2, split_seed: int = 0
) -> DigitsData:
    """sklearn's bundled digits (1797 images), stratified train / validation / test split.

    ``test_fraction`` of all images is held out for testing, then ``val_fraction`` of the rest
    for validation (the defaults give 1149 / 288 / 360). Features are scaled to [0, 1].
    """
    x, y = load_digits(return_X_y=True)
    x_rest, x_test, y_rest, y_test = train_test_split(
        x / 16.0, y, test_size=test_fraction, stratify=y, random_state=split_seed
    )
    x_train, x_val, y_train, y_val = train_test_split(
        x_rest, y_rest, test_size=val_fraction, stratify=y_rest, random_state=split_seed
    )
    arrays = (x_train, y_train, x_val, y_val, x_test, y_test)
    dtypes = (jnp.float32, jnp.int32) * 3
    return DigitsData(*(jnp.asarray(a, d) for a, d in zip(arrays, dtypes, strict=True)))


def train_grid(
    make_optimizer: MakeOptimizer,
    data: DigitsData,
    learning_rates: Sequence[float],
    seeds: Sequence[int],
    *,
    epochs: int,
    batch_size: int = 64,
    hidden: int = 128,
) -> np.ndarray:
    """Trains one MLP per (learning rate, seed); returns its validation and test accuracy per epoch.

    A seed fixes both the initial weights and the minibatch order, so two optimizers given the
    same seeds start from the same networks and see the same batches.

    Args:
      make_optimizer: lr (a traced scalar) -> optax transformation.
      data: the split from :func:`load_digits_split`.
      learning_rates: (L,) grid.
      seeds: (S,) seeds.
      epochs: passes over the training set.
      batch_size: minibatch size (the last incomplete batch of an epoch is dropped).
      hidden: width of the hidden layer.

    Returns:
      :class:`GridAccuracy` with ``(L, S, epochs)`` validation and test accuracies.
    """
    graphdef, _ = nnx.split(MLP(hidden, rngs=nnx.Rngs(0)))
    n_train = data.x_train.shape[0]
    num_batches = n_train // batch_size

    def loss_fn(params, x, y):
        logits = nnx.merge(graphdef, params)(x)
        return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

    def accuracy(params, x, y):
        return jnp.mean(jnp.argmax(nnx.merge(graphdef, params)(x), -1) == y)

    def train_one(lr, seed):
        init_key, order_key = jax.random.split(jax.random.key(seed))
        params = nnx.split(MLP(hidden, rngs=nnx.Rngs(init_key)))[1]
        tx = make_optimizer(lr)

        def batch_step(carry, idx):
            params, opt_state = carry
            grads = jax.grad(loss_fn)(params, data.x_train[idx], data.y_train[idx])
            updates, opt_state = tx.update(grads, opt_state, params)
            return (optax.apply_updates(params, updates), opt_state), None

        def epoch(carry, key):
            order = jax.random.permutation(key, n_train)[: num_batches * batch_size]
            carry, _ = jax.lax.scan(batch_step, carry, order.reshape(num_batches, batch_size))
            params = carry[0]
            return carry, (
                accuracy(params, data.x_val, data.y_val),
                accuracy(params, data.x_test, data.y_test),
            )

        keys = jax.random.split(order_key, epochs)
        _, accs = jax.lax.scan(epoch, (params, tx.init(params)), keys)
        return accs

    run = jax.jit(jax.vmap(jax.vmap(train_one, in_axes=(None, 0)), in_axes=(0, None)))
    val, test = run(jnp.asarray(learning_rates, jnp.float32), jnp.asarray(seeds, jnp.uint32))
    return GridAccuracy(np.asarray(val), np.asarray(test))
