"""Multiple-instance learning on bags of digits: the reproduction's layer check (Section 5.2).

Not public API. A bag of ``load_digits`` images is positive iff it contains a 9. The model is an
instance MLP (64 -> 64 -> 32), a pooling over the bag, and a linear head; the pooling is
``HopfieldPooling`` or a baseline: mean, max, or gated attention-MIL (Ilse et al. 2018,
arXiv:1802.04712, Eq. 9).
"""

from __future__ import annotations

import functools
from typing import Literal, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from jaxpapers_shared import devices

from ._digits import load_digits
from ._layers import HopfieldPooling

Pooling = Literal["hopfield", "mean", "max", "gated_attention"]
POOLINGS: tuple[Pooling, ...] = ("hopfield", "mean", "max", "gated_attention")
MAX_BAG = 15
FAST_COMPILE = {"xla_backend_optimization_level": 0}


class Bags(NamedTuple):
    instances: np.ndarray  # (B, MAX_BAG, 64) float32, zero padded
    padding: np.ndarray  # (B, MAX_BAG) bool, True = padding
    labels: np.ndarray  # (B,) float32 in {0, 1}


def digit_bags(rng: np.random.Generator, num_bags: int, target: int = 9) -> Bags:
    """Bags of 5-15 digits (size ~ N(10, 2) clipped); half contain at least one ``target``."""
    pixels, digit_labels = load_digits()
    images = pixels / 16.0
    is_target = digit_labels == target
    pos_pool, neg_pool = np.flatnonzero(is_target), np.flatnonzero(~is_target)
    instances = np.zeros((num_bags, MAX_BAG, images.shape[1]), np.float32)
    padding = np.ones((num_bags, MAX_BAG), bool)
    labels = np.zeros(num_bags, np.float32)
    for b in range(num_bags):
        size = int(np.clip(np.round(rng.normal(10, 2)), 5, MAX_BAG))
        chosen = rng.choice(neg_pool, size)
        if b % 2 == 0:
            count = rng.integers(1, max(2, size // 3) + 1)
            where = rng.choice(size, count, replace=False)
            chosen[where] = rng.choice(pos_pool, count)
            labels[b] = 1.0
        instances[b, :size] = images[chosen]
        padding[b, :size] = False
    order = rng.permutation(num_bags)
    return Bags(instances[order], padding[order], labels[order])


class MILClassifier(nnx.Module):
    def __init__(self, pooling: Pooling, *, rngs: nnx.Rngs):
        self.pooling = pooling
        self.embed1 = nnx.Linear(64, 64, rngs=rngs)
        self.embed2 = nnx.Linear(64, 32, rngs=rngs)
        if pooling == "hopfield":
            self.pool = HopfieldPooling(32, quantity=1, rngs=rngs)
        elif pooling == "gated_attention":
            self.attn_v = nnx.Linear(32, 32, rngs=rngs)
            self.attn_u = nnx.Linear(32, 32, rngs=rngs)
            self.attn_w = nnx.Linear(32, 1, rngs=rngs)
        self.head = nnx.Linear(32, 1, rngs=rngs)

    def __call__(self, instances, padding):
        h = jax.nn.relu(self.embed2(jax.nn.relu(self.embed1(instances))))
        keep = (~padding)[..., None]
        if self.pooling == "hopfield":
            pooled = self.pool(h, stored_pattern_padding_mask=padding)
        elif self.pooling == "mean":
            pooled = jnp.sum(h * keep, 1) / jnp.maximum(jnp.sum(keep, 1), 1)
        elif self.pooling == "max":
            pooled = jnp.max(jnp.where(keep, h, -jnp.inf), axis=1)
        else:
            gate = jnp.tanh(self.attn_v(h)) * jax.nn.sigmoid(self.attn_u(h))
            scores = jnp.where(keep, self.attn_w(gate), -jnp.inf)
            pooled = jnp.sum(jax.nn.softmax(scores, axis=1) * h, axis=1)
        return self.head(pooled)[:, 0]


def _mesh_for(batch_size: int):
    """All devices, or the most that split ``batch_size`` evenly (10 bags: 5 of 8 devices)."""
    count = max(n for n in range(1, jax.device_count() + 1) if batch_size % n == 0)
    return devices.make_mesh(count)


def train_and_auc(
    pooling: Pooling, train: Bags, test: Bags, *, seed: int, epochs: int, batch_size: int = 10
) -> float:
    """Trains with Adam (lr 1e-3) on bag-level cross-entropy; returns the test ROC-AUC.

    Training is data-parallel (``jaxpapers_shared.devices``): each batch of bags is split over
    the devices of every process, parameters are replicated, and the result is the same on one
    CPU, on simulated devices or on several processes.
    """
    model = MILClassifier(pooling, rngs=nnx.Rngs(seed))
    graphdef, params, rest = nnx.split(model, nnx.Param, ...)
    optimizer = optax.adam(1e-3)
    mesh = _mesh_for(batch_size)

    def loss_fn(params, batch):
        x, pad, y = batch
        logits = nnx.merge(graphdef, params, rest)(x, pad)
        return jnp.mean(optax.sigmoid_binary_cross_entropy(logits, y))

    step = devices.data_parallel_step(loss_fn, optimizer, mesh)
    sharding = devices.batch_sharding(mesh)
    num_batches = len(train.labels) // batch_size
    data = tuple(train)

    def body(carry, batch_index):
        batch = jax.tree.map(lambda a: jnp.asarray(a)[batch_index], data)
        params, opt_state, _ = step(*carry, jax.lax.with_sharding_constraint(batch, sharding))
        return (params, opt_state), None

    # The models are tiny, so XLA's optimisation passes cost more than they save: unoptimised
    # code halves the CPU time of a run (same results).
    @functools.partial(
        jax.jit,
        compiler_options=FAST_COMPILE,
        out_shardings=devices.replicated_sharding(mesh),
    )
    def train_and_predict(params, opt_state, key):
        # One flat scan over all steps (a fresh shuffle per epoch) compiles faster than a scan
        # of epochs over a scan of batches.
        orders = jax.vmap(lambda k: jax.random.permutation(k, len(train.labels)))(
            jax.random.split(key, epochs)
        )
        batches = orders[:, : num_batches * batch_size].reshape(-1, batch_size)
        (params, _), _ = jax.lax.scan(body, (params, opt_state), batches)
        return nnx.merge(graphdef, params, rest)(test.instances, test.padding)

    params, opt_state = devices.replicate((params, optimizer.init(params)), mesh)
    key = devices.replicate(jax.random.PRNGKey(seed), mesh)
    logits = train_and_predict(params, opt_state, key)
    return roc_auc(test.labels, np.asarray(logits))


def roc_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """ROC-AUC as the Mann-Whitney statistic: P(score of a positive > score of a negative)."""
    pos, neg = scores[labels == 1], scores[labels == 0]
    greater = (pos[:, None] > neg[None, :]).mean()
    ties = (pos[:, None] == neg[None, :]).mean()
    return float(greater + 0.5 * ties)
