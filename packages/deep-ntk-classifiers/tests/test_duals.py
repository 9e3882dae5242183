import jax
import jax.numpy as jnp
import numpy as np
import pytest

from deep_ntk_classifiers import (
    OPTIMAL_DUALS,
    DualActivation,
    dual_from_activation,
    erf_dual,
    hermite_coefficients,
    hermite_dual,
    polynomial_dual,
    relu_dual,
    sine_dual,
)

XI = np.linspace(-0.95, 0.95, 9)


def test_quadrature_dual_of_erf_equals_closed_form():
    quad = dual_from_activation(_erf)
    np.testing.assert_allclose(quad.dual(XI), erf_dual().dual(XI), atol=1e-9)
    np.testing.assert_allclose(quad.dual_deriv(XI), erf_dual().dual_deriv(XI), atol=1e-8)


def _erf(z):
    import jax.scipy.special as sp

    return sp.erf(z)


def test_quadrature_dual_of_relu_is_the_arccos_kernel():
    quad = dual_from_activation(lambda z: jnp.maximum(z, 0.0), order=64)
    # The kink limits Gauss-Hermite accuracy: agreement to ~4e-3 at 64 nodes, not to rounding.
    np.testing.assert_allclose(quad.dual(XI), relu_dual().dual(XI), atol=6e-3)


def test_quadrature_derivative_is_the_dual_of_the_derivative():
    quad = dual_from_activation(jax.nn.gelu, order=32)
    xi, h = np.array([-0.5, 0.2, 0.8]), 1e-5
    fd = (quad.dual(xi + h) - quad.dual(xi - h)) / (2 * h)
    np.testing.assert_allclose(quad.dual_deriv(xi), fd, rtol=1e-6)


@pytest.mark.parametrize("a", [1.0, 2.676])
def test_sine_activation_has_the_sinh_dual(a):
    dual = sine_dual(a)
    quad = dual_from_activation(dual.activation, normalize=False, order=64)
    np.testing.assert_allclose(quad.dual(XI), dual.dual(XI), atol=1e-9)


@pytest.mark.parametrize("d", sorted(OPTIMAL_DUALS))
def test_optimal_duals_are_the_duals_of_their_hermite_activations(d):
    dual = OPTIMAL_DUALS[d]
    quad = dual_from_activation(dual.activation, normalize=False, order=16)
    np.testing.assert_allclose(quad.dual(XI), dual.dual(XI), atol=1e-12)
    np.testing.assert_allclose(dual.dual(1.0), 1.0, atol=1e-15)


@pytest.mark.parametrize("dual", [relu_dual(), erf_dual(), sine_dual(3.0), OPTIMAL_DUALS[4]])
def test_derivative_matches_finite_differences(dual):
    xi, h = jnp.linspace(-0.9, 0.9, 7), 1e-6
    fd = (dual.dual(xi + h) - dual.dual(xi - h)) / (2 * h)
    np.testing.assert_allclose(dual.dual_deriv(xi), fd, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("dual", [relu_dual(), erf_dual(), sine_dual(2.0)])
def test_series_coefficients_reproduce_the_dual(dual):
    xi = np.array([-0.3, 0.01, 0.3])
    series = np.polynomial.polynomial.polyval(xi, dual.coeffs)
    np.testing.assert_allclose(series, dual.dual(jnp.asarray(xi)), atol=1e-10)


def test_hermite_coefficients_by_quadrature_match_the_sine_series():
    dual = sine_dual(2.0)
    a = hermite_coefficients(dual.activation, 10)
    np.testing.assert_allclose(a**2, dual.coeffs[:11], atol=1e-12)


def test_hermite_dual_normalizes_the_activation():
    dual = hermite_dual([0.0, 3.0, 0.0, 4.0])
    np.testing.assert_allclose(dual.coeffs, [0, 0.36, 0, 0.64])
    np.testing.assert_allclose(
        hermite_coefficients(dual.activation, 5), [0, 0.6, 0, 0.8, 0, 0], atol=1e-12
    )


def test_bad_duals_are_rejected_with_the_argument_named():
    with pytest.raises(ValueError, match="coeffs.*>= 0"):
        polynomial_dual([0.5, -0.1, 0.6])
    with pytest.raises(ValueError, match="sum to 1"):
        polynomial_dual([0.5, 0.4])
    with pytest.raises(ValueError, match="all zero"):
        polynomial_dual([0.0, 0.0])
    with pytest.raises(ValueError, match="all zero"):
        hermite_dual([0.0, 0.0])
    with pytest.raises(ValueError, match="no dual"):
        dual_from_activation(lambda z: jnp.exp(z**2))
    with pytest.raises(ValueError, match="zero almost everywhere"):
        dual_from_activation(lambda z: 0.0 * z)
    with pytest.raises(ValueError, match="E\\[phi\\(z\\)\\^2\\] = 1"):
        dual_from_activation(jnp.tanh, normalize=False)
    with pytest.raises(ValueError, match="dual\\(1\\) = 1"):
        DualActivation("half", lambda x: 0.5 * x, lambda x: 0.5 + 0 * x, np.array([0.0, 0.5]))
    with pytest.raises(ValueError, match="`a`"):
        sine_dual(-1.0)
