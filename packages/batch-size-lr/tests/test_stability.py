import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from batch_size_lr import batch_order, max_stable_lr

SCALES = jnp.array([1.0, 4.0])


def loss(w, x):
    """Mean of 0.5 * sum_j s_j x_j^2 (w_j - 1)^2 with x_j = 1: curvature SCALES, all batches."""
    return 0.5 * jnp.mean(jnp.sum(SCALES * x**2 * (w - 1.0) ** 2, axis=-1))


def sgd(lr):
    return optax.sgd(lr)


def test_gradient_descent_edge_is_two_over_lambda_max():
    data = (jnp.ones((16, 2)),)
    grid = 0.05 * 2.0 ** (np.arange(12) / 2)
    res = max_stable_lr(sgd, loss, jnp.zeros(2), data, batch_size=4, grid=grid, steps=50,
                        key=jax.random.PRNGKey(0), pad_to=8)  # fmt: skip
    # Stable iff |1 - eta * 4| < 1, i.e. eta < 0.5.
    assert res.lr == pytest.approx(grid[grid < 0.5].max())
    assert res.bracketed and res.stable[0] and not res.stable[-1]


def test_batch_order_is_epochs_of_permutations():
    order = np.asarray(batch_order(jax.random.PRNGKey(0), 10, 5, 4))
    assert order.shape == (4, 5)
    assert sorted(order[:2].ravel()) == list(range(10)) == sorted(order[2:].ravel())


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(batch_size=0), "batch_size"),
        (dict(grid=[0.1, 0.05]), "grid"),
        (dict(grid=[-0.1, 0.2]), "grid"),
        (dict(steps=0), "steps"),
    ],
)
def test_bad_stability_arguments(kwargs, match):
    args = dict(batch_size=2, grid=[0.1, 0.2], steps=3, key=jax.random.PRNGKey(0)) | kwargs
    with pytest.raises(ValueError, match=match):
        max_stable_lr(sgd, loss, jnp.zeros(2), (jnp.ones((8, 2)),), **args)
