import jax.numpy as jnp
import numpy as np
import pytest

import opposing_signals as os_


def square(params, x, y):
    return 0.5 * (x @ params["w"] - y) ** 2


def test_anti_correlated_series_score_minus_one():
    t = np.arange(50)
    a = 1.0 + 0.3 * (-1.0) ** t + 0.01 * t
    b = 1.0 - 0.6 * (-1.0) ** t - 0.02 * t  # every step that raises a lowers b in proportion
    assert os_.oscillation_score(a, b) == pytest.approx(-1.0, abs=1e-12)
    assert os_.oscillation_score(a, 2 * a + 3) == pytest.approx(1.0, abs=1e-12)


def test_unrelated_series_score_near_zero():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(2, 20000)).cumsum(axis=1)
    assert abs(os_.oscillation_score(a, b)) < 0.03


def test_oscillation_amplitude_and_max_increase():
    t = np.arange(10)
    a, b = 0.5 + 0.1 * (-1.0) ** t, 0.5 - 0.1 * (-1.0) ** t
    assert os_.oscillation_amplitude(a, b) == pytest.approx(0.4)  # the gap swings +-0.2
    assert os_.max_loss_increase([3.0, 1.0, 2.5, 2.0]) == pytest.approx(1.5)
    assert os_.max_loss_increase([3.0, 2.0, 1.0]) == 0.0


def test_loss_change_is_difference_of_per_example_losses():
    x = jnp.arange(12.0).reshape(6, 2) / 10
    y = jnp.arange(6.0)
    before, after = {"w": jnp.array([1.0, -1.0])}, {"w": jnp.array([0.5, 2.0])}
    delta = os_.loss_change(square, before, after, (x, y))
    manual = 0.5 * (x @ after["w"] - y) ** 2 - 0.5 * (x @ before["w"] - y) ** 2
    np.testing.assert_allclose(delta, manual, rtol=1e-6)
    per = os_.per_example_losses(square, before, (x, y))
    np.testing.assert_allclose(per, 0.5 * (x @ before["w"] - y) ** 2, rtol=1e-6)


def test_top_changers_absolute_and_signed():
    deltas = jnp.array([0.1, -3.0, 2.0, -0.5, 0.0])
    assert os_.top_changers(deltas, 2).tolist() == [1, 2]
    assert os_.top_changers(deltas, 2, signed=True).tolist() == [2, 0]


def test_group_losses_are_group_means():
    losses = jnp.array([1.0, 2.0, 3.0, 4.0])
    groups = {
        "A": jnp.array([True, True, False, False]),
        "B": jnp.array([False, False, False, True]),
    }
    out = os_.group_losses(losses, groups)
    assert float(out["A"]) == pytest.approx(1.5) and float(out["B"]) == pytest.approx(4.0)


def test_precision_at_k():
    mask = np.array([True, False, True, False])
    assert os_.precision_at_k(np.array([0, 2, 1]), mask) == pytest.approx(2 / 3)


def test_bad_inputs_name_the_argument():
    with pytest.raises(ValueError, match="`k` must be at most the number of examples n = 5"):
        os_.top_changers(jnp.zeros(5), 6)
    with pytest.raises(ValueError, match="`k`"):
        os_.top_changers(jnp.zeros(5), 0)
    with pytest.raises(ValueError, match="`deltas`.*NaN"):
        os_.top_changers(jnp.array([0.0, jnp.nan]), 1)
    with pytest.raises(ValueError, match=r"`groups\['B'\]` is empty"):
        os_.group_losses(
            jnp.ones(3), {"A": jnp.array([True, False, False]), "B": jnp.zeros(3, bool)}
        )
    with pytest.raises(ValueError, match=r"`groups\['A'\]` must be a boolean mask of shape \(3,\)"):
        os_.group_losses(jnp.ones(3), {"A": jnp.ones(4, bool)})
    with pytest.raises(ValueError, match="`per_example`.*NaN/inf"):
        os_.group_losses(jnp.array([1.0, jnp.inf, 0.0]), {"A": jnp.ones(3, bool)})
    with pytest.raises(ValueError, match="`loss_b`.*NaN/inf"):
        os_.oscillation_score(np.ones(5), np.array([1.0, 2.0, np.nan, 1.0, 0.0]))
    with pytest.raises(ValueError, match="same steps"):
        os_.oscillation_score(np.arange(5.0) ** 2, np.arange(6.0) ** 2)
    with pytest.raises(ValueError, match="`params_before` and `params_after`"):
        os_.loss_change(
            square, {"w": jnp.ones(2)}, {"w": jnp.ones(3)}, (jnp.ones((4, 2)), jnp.ones(4))
        )
    with pytest.raises(TypeError, match="`loss_fn`"):
        os_.per_example_losses("square", {"w": jnp.ones(2)}, (jnp.ones((4, 2)), jnp.ones(4)))
    with pytest.raises(ValueError, match="`indices`"):
        os_.precision_at_k(np.array([0, 4]), np.ones(4, bool))
