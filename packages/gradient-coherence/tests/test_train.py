import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from gradient_coherence import MLP, classification_loss, permute_labels, train, winsorized_aggregate


def test_permute_labels_preserves_class_counts():
    y = jnp.arange(200) % 10
    y_noisy, mask = permute_labels(jax.random.PRNGKey(0), y, 0.5)
    np.testing.assert_array_equal(np.bincount(y_noisy), np.bincount(y))
    assert int(jnp.sum(y_noisy != y)) == int(jnp.sum(mask))
    assert 70 <= int(jnp.sum(mask)) <= 100  # 100 chosen, about 1 in 10 keeps its label
    assert not bool(jnp.any(mask & (y_noisy == y)))


@pytest.mark.parametrize("fraction", [-0.1, 1.5])
def test_bad_noise_fraction_rejected(fraction):
    with pytest.raises(ValueError, match="`fraction` must be in \\[0, 1\\]"):
        permute_labels(jax.random.PRNGKey(0), jnp.arange(10), fraction)


def test_winsorized_at_zero_trains_like_plain_sgd():
    """The per-example pipeline at fraction 0 reproduces SGD on the mean loss."""
    x = jax.random.uniform(jax.random.PRNGKey(1), (60, 8))
    y = jnp.arange(60) % 3
    graphdef, params = nnx.split(MLP((8, 16, 16, 3), rngs=nnx.Rngs(0)))
    loss = classification_loss(graphdef)
    kw = dict(epochs=3, key=jax.random.PRNGKey(2), batch_size=20)
    plain = train(loss, params, (x, y), optimizer=optax.sgd(0.1), per_example=False, **kw)
    tx = optax.chain(winsorized_aggregate(0.0), optax.sgd(0.1))
    robust = train(loss, params, (x, y), optimizer=tx, per_example=True, **kw)
    for a, b in zip(jax.tree.leaves(plain.params), jax.tree.leaves(robust.params), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)


def test_track_records_the_listed_epochs():
    x = jax.random.uniform(jax.random.PRNGKey(1), (40, 8))
    y = jnp.arange(40) % 2
    graphdef, params = nnx.split(MLP((8, 8, 2), rngs=nnx.Rngs(0)))
    loss = classification_loss(graphdef)
    mean_loss = lambda p: jnp.mean(jax.vmap(loss, in_axes=(None, 0))(p, (x, y)))  # noqa: E731
    result = train(loss, params, (x, y), optimizer=optax.sgd(0.5), epochs=20,
                   key=jax.random.PRNGKey(0), batch_size=10, per_example=False,
                   track=lambda p: {"loss": mean_loss(p)}, track_every=(0, 5, 20))  # fmt: skip
    np.testing.assert_array_equal(result.epochs, [0, 5, 20])
    assert result.history["loss"][-1] < result.history["loss"][0]
    with pytest.raises(ValueError, match="track_every"):
        train(loss, params, (x, y), optimizer=optax.sgd(0.5), epochs=5, key=jax.random.PRNGKey(0),
              batch_size=10, track=lambda p: {}, track_every=(0, 9))  # fmt: skip
