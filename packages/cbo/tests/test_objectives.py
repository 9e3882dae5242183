import jax
import jax.numpy as jnp
import numpy as np
import pytest

import cbo


@pytest.mark.parametrize("c", [1.1625, 0.25])
def test_grand_canyon_is_nonnegative_with_global_minimum_zero_at_origin(c):
    energy = cbo.grand_canyon3(c)
    g = jnp.linspace(-2.0, 8.0, 201)
    grid = jnp.stack(jnp.meshgrid(g, g), -1).reshape(-1, 2)
    values = jax.vmap(energy)(grid)
    assert float(energy(jnp.zeros(2))) == pytest.approx(0.0, abs=1e-6)
    assert float(values.min()) >= -1e-6
    np.testing.assert_allclose(grid[jnp.argmin(values)], [0.0, 0.0], atol=1e-6)


def test_grand_canyon_start_is_high_and_has_a_local_minimum_for_gradient_descent():
    energy = cbo.grand_canyon3()
    assert float(energy(jnp.array([8.0, 8.0]))) > 10.0
    x, _ = cbo.gradient_descent(energy, jnp.array([8.0, 8.0]), step=1e-3, num_steps=10_000)
    assert float(jnp.linalg.norm(jax.grad(energy)(x))) < 1e-2  # a stationary point
    assert float(energy(x)) > 1.0  # but not the global minimum


def test_rastrigin_and_ackley_vanish_only_at_the_origin():
    for f in (cbo.rastrigin, cbo.ackley):
        assert float(f(jnp.zeros(5))) == pytest.approx(0.0, abs=1e-5)
        assert float(f(jnp.full(5, 0.5))) > 1.0
    assert float(cbo.rastrigin(jnp.array([1.0, 0.0]), amplitude=2.5)) == pytest.approx(
        1.0, abs=1e-5
    )


def test_grand_canyon_rejects_other_dimensions_and_negative_ripple():
    with pytest.raises(ValueError, match="`x`"):
        cbo.grand_canyon3()(jnp.zeros(3))
    with pytest.raises(ValueError, match="`c`"):
        cbo.grand_canyon3(-1.0)
