import jax
import jax.numpy as jnp
import numpy as np
import pytest

import opposing_signals as os_


def test_toy_groups_carry_one_feature_with_opposite_labels():
    key = jax.random.PRNGKey(3)
    x, y, groups = os_.opposing_signals_toy(key, 500, 10, alpha=8.0, outlier_frac=0.04)
    a, b = np.asarray(groups["A"]), np.asarray(groups["B"])
    assert a.sum() == b.sum() == 10 and not np.any(a & b)
    assert np.all(y[a] == 1) and np.all(y[b] == -1)
    np.testing.assert_array_equal(x[:, -1], np.where(a | b, 8.0, 0.0))
    x0, y0, g0 = os_.opposing_signals_toy(key, 500, 10, alpha=8.0, opposing=False)
    np.testing.assert_array_equal(y0, y)  # the control keeps the labels ...
    np.testing.assert_array_equal(x0[:, :-1], x[:, :-1])  # ... and the signal part
    assert np.all(x0[:, -1] == 0)


def test_plant_changes_only_the_patch_of_the_chosen_examples():
    x = jnp.arange(40.0 * 6).reshape(40, 6) / 100
    y = jnp.repeat(jnp.arange(4), 10)
    xp, groups = os_.plant_opposing_signal(
        jax.random.PRNGKey(0), x, y, classes=(1, 2), frac=0.3, patch=[0, 5], magnitude=9.0
    )
    a, b = np.asarray(groups["A"]), np.asarray(groups["B"])
    assert (
        a.sum() == b.sum() == 3 and np.all(np.asarray(y)[a] == 1) and np.all(np.asarray(y)[b] == 2)
    )
    changed = np.asarray(xp != x)
    assert np.all(changed[~(a | b)] == 0) and np.all(changed[:, 1:5] == 0)
    assert np.all(np.asarray(xp)[a | b][:, [0, 5]] == 9.0)


def test_bad_data_arguments_name_the_argument():
    key = jax.random.PRNGKey(0)
    with pytest.raises(ValueError, match="`outlier_frac`"):
        os_.opposing_signals_toy(key, 100, 5, outlier_frac=0.6)
    with pytest.raises(ValueError, match="`outlier_frac`"):
        os_.opposing_signals_toy(key, 100, 5, outlier_frac=0.0)
    with pytest.raises(ValueError, match="`alpha`"):
        os_.opposing_signals_toy(key, 100, 5, alpha=-1.0)
    x, y = jnp.ones((10, 4)), jnp.arange(10) % 2
    with pytest.raises(ValueError, match="`patch`"):
        os_.plant_opposing_signal(key, x, y, classes=(0, 1), patch=[4], magnitude=1.0)
    with pytest.raises(ValueError, match="`classes`"):
        os_.plant_opposing_signal(key, x, y, classes=(1, 1), patch=[0], magnitude=1.0)
