import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import diffgrad

FUNCTIONS = [diffgrad.F1, diffgrad.F2, diffgrad.F3]
# Points away from the kinks (F1: 0; F2: -0.9; F3: 0, +-0.4, +-0.5).
SMOOTH_POINTS = jnp.array([-1.2, -0.95, -0.7, -0.45, -0.2, 0.2, 0.45, 0.7])


@pytest.mark.parametrize("fn", FUNCTIONS, ids=lambda f: f.name)
def test_gradient_is_the_derivative_of_the_value(fn):
    autodiff = jax.vmap(jax.grad(fn.value))(SMOOTH_POINTS)
    np.testing.assert_allclose(autodiff, fn.grad(SMOOTH_POINTS), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("fn", FUNCTIONS, ids=lambda f: f.name)
def test_value_is_continuous_and_global_min_is_lowest(fn):
    grid = jnp.linspace(-1.5, 1.0, 20001)
    values = fn.value(grid)
    # No jumps: every increment is bounded by the steepest slope times the grid step.
    step = float(grid[1] - grid[0])
    bound = 1.01 * float(jnp.max(jnp.abs(fn.grad(grid)))) * step
    assert float(jnp.max(jnp.abs(jnp.diff(values)))) <= bound
    assert float(fn.value(fn.global_min)) <= float(values.min()) + 1e-6
    assert float(fn.value(fn.local_min)) > float(fn.value(fn.global_min))


def test_local_minima_are_stationary_or_kinks():
    assert float(diffgrad.F1.grad(jnp.array(-0.3))) == pytest.approx(0.0, abs=1e-6)
    assert float(diffgrad.F1.grad(jnp.array(0.2))) == pytest.approx(0.0, abs=1e-6)
    assert float(diffgrad.F2.grad(jnp.array(0.0))) == 0.0
    # F2's global minimum is a kink: slope -40 on the left, positive on the right.
    assert float(diffgrad.F2.grad(jnp.array(-0.9))) == -40.0
    assert float(diffgrad.F2.grad(jnp.array(-0.899))) > 0.0


def test_optimize_1d_vectorised_equals_one_start_at_a_time():
    tx = diffgrad.diffgrad(0.1, 0.95)
    starts = jnp.array([-1.2, -1.0, 0.5])
    together = diffgrad.optimize_1d(tx, diffgrad.F2, starts, 50)
    for i, x0 in enumerate(starts):
        alone = diffgrad.optimize_1d(tx, diffgrad.F2, x0[None], 50)
        # Vectorised and scalar sin/cos may differ in the last float32 bit; 50 steps amplify it.
        np.testing.assert_allclose(together[:, i], alone[:, 0], rtol=1e-5, atol=1e-6)
    assert together.shape == (51, 3)


def test_f1_separation_diffgrad_global_adam_local():
    starts = jnp.array([-1.0])
    dg = diffgrad.optimize_1d(diffgrad.diffgrad(0.1, 0.95), diffgrad.F1, starts, 300)
    adam = diffgrad.optimize_1d(optax.adam(0.1, 0.95), diffgrad.F1, starts, 300)
    assert abs(float(dg[-1, 0]) + 0.3) < 0.02
    assert abs(float(adam[-1, 0]) - 0.2) < 0.02


def test_optimize_1d_rejects_bad_inputs():
    tx = optax.adam(0.1)
    with pytest.raises(ValueError, match="`num_steps`"):
        diffgrad.optimize_1d(tx, diffgrad.F1, jnp.array([0.0]), 0)
    with pytest.raises(TypeError, match="`num_steps` must be an integer"):
        diffgrad.optimize_1d(tx, diffgrad.F1, jnp.array([0.0]), 2.5)
    with pytest.raises(ValueError, match="`x0` must have 1 axes"):
        diffgrad.optimize_1d(tx, diffgrad.F1, jnp.zeros((2, 2)), 10)
    with pytest.raises(ValueError, match="`x0` must not be empty"):
        diffgrad.optimize_1d(tx, diffgrad.F1, jnp.zeros(0), 10)
    with pytest.raises(ValueError, match="`x0` contains 1 NaN"):
        diffgrad.optimize_1d(tx, diffgrad.F1, jnp.array([0.0, jnp.nan]), 10)
