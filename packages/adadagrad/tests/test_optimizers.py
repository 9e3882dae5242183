import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from adadagrad import adagrad, adagrad_norm


def _tree(key):
    k1, k2 = jax.random.split(key)
    return {"w": jax.random.normal(k1, (3, 4)), "b": jax.random.normal(k2, (4,))}


def test_adagrad_norm_matches_scalar_recursion():
    params = _tree(jax.random.key(0))
    tx = adagrad_norm(0.5, initial_accumulator=0.1)
    state = tx.init(params)
    b_sq = 0.1
    for k in range(4):
        g = _tree(jax.random.key(k + 1))
        updates, state = tx.update(g, state, params)
        b_sq += sum(float(jnp.sum(leaf**2)) for leaf in jax.tree.leaves(g))
        for u, leaf in zip(jax.tree.leaves(updates), jax.tree.leaves(g), strict=True):
            np.testing.assert_allclose(u, -0.5 * leaf / np.sqrt(b_sq), rtol=1e-5)


def test_adagrad_norm_uses_one_step_size_for_every_leaf():
    params = _tree(jax.random.key(0))
    tx = adagrad_norm(1.0)
    g = _tree(jax.random.key(3))
    updates, _ = tx.update(g, tx.init(params), params)
    ratios = [
        np.asarray(u / leaf).ravel()
        for u, leaf in zip(jax.tree.leaves(updates), jax.tree.leaves(g), strict=True)
    ]
    ratios = np.concatenate(ratios)
    np.testing.assert_allclose(ratios, ratios[0], rtol=1e-5)


def test_adagrad_matches_optax_with_the_same_accumulator_start():
    params = _tree(jax.random.key(0))
    ours, ref = (
        adagrad(0.1, initial_accumulator=0.1, eps=1e-7),
        optax.adagrad(0.1, initial_accumulator_value=0.1, eps=1e-7),
    )
    s1, s2 = ours.init(params), ref.init(params)
    for k in range(3):
        g = _tree(jax.random.key(k + 7))
        u1, s1 = ours.update(g, s1, params)
        u2, s2 = ref.update(g, s2, params)
        for a, b in zip(jax.tree.leaves(u1), jax.tree.leaves(u2), strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-7)


def test_adagrad_norm_jits():
    params = _tree(jax.random.key(0))
    tx = adagrad_norm(0.1)
    step = jax.jit(tx.update)
    updates, state = step(_tree(jax.random.key(1)), tx.init(params), params)
    assert np.isfinite(float(state[0].accumulator))


@pytest.mark.parametrize("make", [adagrad, adagrad_norm])
@pytest.mark.parametrize("lr", [0.0, -0.1])
def test_bad_learning_rate_is_rejected(make, lr):
    with pytest.raises(ValueError, match="learning_rate"):
        make(lr)


def test_bad_accumulator_is_rejected():
    with pytest.raises(ValueError, match="initial_accumulator"):
        adagrad_norm(0.1, initial_accumulator=0.0)
    with pytest.raises(ValueError, match="eps"):
        adagrad(0.1, initial_accumulator=0.0, eps=0.0)
