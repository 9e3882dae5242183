import math

import jax.numpy as jnp
import numpy as np
import pytest

from deep_ntk_classifiers import (
    OPTIMAL_DUALS,
    erf_dual,
    iterate_kernel,
    limit_regime,
    polynomial_dual,
    relu_dual,
    sine_a_for_dimension,
    sine_dual,
    singular_exponent,
)


def test_relu_becomes_majority_vote_and_xi_power_becomes_nearest_neighbor():
    assert limit_regime(relu_dual()).kind == "majority_vote"
    for k in (2, 3):
        assert limit_regime(polynomial_dual([0.0] * k + [1.0])).kind == "nearest_neighbor"
    assert limit_regime(polynomial_dual([0.0, 1.0])).kind == "linear"


@pytest.mark.parametrize("d", sorted(OPTIMAL_DUALS))
def test_optimal_duals_have_exponent_equal_to_their_dimension(d):
    regime = limit_regime(OPTIMAL_DUALS[d])
    assert regime.kind == "singular"
    assert regime.alpha == pytest.approx(d, rel=1e-12)


@pytest.mark.parametrize("a, d", [(2.676, 2), (6.13539, 4), (13.8258, 8)])
def test_official_sine_parameters_solve_alpha_equal_d(a, d):
    assert singular_exponent(sine_dual(a)) == pytest.approx(d, abs=1e-4)
    assert sine_a_for_dimension(d) == pytest.approx(a, abs=1e-3)


def test_singular_exponent_is_undefined_outside_the_singular_regime():
    with pytest.raises(ValueError, match="majority_vote"):
        singular_exponent(relu_dual())
    with pytest.raises(ValueError, match="`d`"):
        sine_a_for_dimension(0.5)


@pytest.mark.parametrize("dual", [OPTIMAL_DUALS[2], OPTIMAL_DUALS[8], erf_dual(), sine_dual(1.0)])
def test_deep_nngp_decays_as_distance_to_minus_alpha(dual):
    # log xi_L(x, z) = log C(||x - z||) + L log r with C ~ ||x - z||^(-alpha) at small distance.
    dist = np.array([1e-3, 2e-3])
    kernel = iterate_kernel(1.0 - dist**2 / 2.0, depth=400 if dual.name == "erf" else 80, dual=dual)
    slope = -float(kernel.log_abs[1] - kernel.log_abs[0]) / math.log(2.0)
    assert slope == pytest.approx(singular_exponent(dual), rel=5e-3)


def test_nonzero_fixed_point_takes_the_role_of_zero():
    dual = polynomial_dual([0.2, 0.0, 0.8])  # fixed points 0.25 and 1; dual'(0.25) = 0.4
    regime = limit_regime(dual)
    assert regime.kind == "singular"
    assert regime.fixed_point == pytest.approx(0.25)
    assert regime.contraction == pytest.approx(0.4)
    dist = np.array([1e-2, 2e-2])  # 1 - xi_0 grows by 1.6 per layer: ~21 layers to O(1)
    xi = iterate_kernel(1.0 - dist**2 / 2.0, depth=40, dual=dual).value()
    gap = np.log(np.asarray(xi) - 0.25)
    assert -(gap[1] - gap[0]) / math.log(2.0) == pytest.approx(regime.alpha, rel=1e-2)


def test_xi_squared_collapses_super_exponentially():
    xi0 = jnp.array([0.99, 0.5])
    kernel = iterate_kernel(xi0, depth=30, dual=polynomial_dual([0.0, 0.0, 1.0]))
    np.testing.assert_allclose(kernel.log_abs, 2.0**30 * np.log(xi0), rtol=1e-12)
    linear = iterate_kernel(xi0, depth=30, dual=polynomial_dual([0.0, 0.0, 1.0]), domain="linear")
    np.testing.assert_array_equal(linear.value(), 0.0)  # why the log domain is needed
