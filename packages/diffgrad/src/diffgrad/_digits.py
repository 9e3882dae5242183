"""The small real task of the reproduction: a 2-layer MLP on sklearn's 8x8 digits.

Stands in for the paper's CIFAR-10/100 CNNs, which do not fit a 2-core CPU budget.
Every (learning rate, seed) pair is one independent model; all of them train at once under
``jax.vmap``, so an optimizer's whole learning-rate grid compiles and runs as one program.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

MakeOptimizer = Callable[[jax.Array], optax.GradientTransformation]


class DigitsData(NamedTuple):
    """Standardised digits split: x_* (n, 64) float32, y_* (n,) int32."""

    x_train: jax.Array
    y_train: jax.Array
    x_test: jax.Array
    y_test: jax.Array


class MLP(nnx.Module):
    """64 -> hidden -> 10 with ReLU."""

    def __init__(self, hidden: int, *, rngs: nnx.Rngs):
        self.hidden = nnx.Linear(64, hidden, rngs=rngs)
        self.out = nnx.Linear(hidden, 10, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.out(jax.nn.relu(self.hidden(x)))


def load_digits_split(test_fraction: float = 0.2, split_seed: int = 0) -> DigitsData:
    """sklearn's bundled digits (1797 images), stratified split, features scaled to [0, 1]."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    x, y = load_digits(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(
        x / 16.0, y, test_size=test_fraction, stratify=y, random_state=split_seed
    )
    return DigitsData(
        jnp.asarray(x_train, jnp.float32),
        jnp.asarray(y_train, jnp.int32),
        jnp.asarray(x_test, jnp.float32),
        jnp.asarray(y_test, jnp.int32),
    )


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
    """Trains one MLP per (learning rate, seed) and returns its test accuracy after each epoch.

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
      (L, S, epochs) test accuracy in [0, 1].
    """
    graphdef, _ = nnx.split(MLP(hidden, rngs=nnx.Rngs(0)))
    n_train = data.x_train.shape[0]
    num_batches = n_train // batch_size

    def loss_fn(params, x, y):
        logits = nnx.merge(graphdef, params)(x)
        return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

    def accuracy(params):
        logits = nnx.merge(graphdef, params)(data.x_test)
        return jnp.mean(jnp.argmax(logits, -1) == data.y_test)

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
            return carry, accuracy(carry[0])

        keys = jax.random.split(order_key, epochs)
        _, accs = jax.lax.scan(epoch, (params, tx.init(params)), keys)
        return accs

    run = jax.jit(jax.vmap(jax.vmap(train_one, in_axes=(None, 0)), in_axes=(0, None)))
    accs = run(jnp.asarray(learning_rates, jnp.float32), jnp.asarray(seeds, jnp.uint32))
    return np.asarray(accs)
