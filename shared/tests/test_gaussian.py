import jax.numpy as jnp
import numpy as np
import pytest
from jax.scipy.special import erf

from jaxpapers_shared import gaussian


def test_rule_weights_sum_to_one_and_match_normal_moments():
    nodes, weights = gaussian.gauss_hermite(10)
    np.testing.assert_allclose(weights.sum(), 1.0, rtol=1e-12)
    # E[Z^2] = 1, E[Z^4] = 3, E[Z^6] = 15: exact for degree < 20.
    for power, moment in [(2, 1.0), (4, 3.0), (6, 15.0)]:
        np.testing.assert_allclose(np.sum(weights * nodes**power), moment, rtol=1e-10)


def test_scalar_expectation_matches_closed_forms():
    var = jnp.array([0.25, 1.0, 4.0])
    mean = jnp.array([0.0, 0.5, -1.0])
    second_moment = gaussian.gaussian_expectation(jnp.square, var, mean=mean)
    np.testing.assert_allclose(second_moment, var + mean**2, rtol=1e-10)
    # E[relu(u)^2] = s / 2 for a centred Gaussian.
    relu_sq = gaussian.gaussian_expectation(lambda u: jnp.maximum(u, 0.0) ** 2, var, order=200)
    np.testing.assert_allclose(relu_sq, var / 2, rtol=1e-3)


def _relu_dual(cov):
    s1, s2, s12 = cov[..., 0, 0], cov[..., 1, 1], cov[..., 0, 1]
    rho = jnp.clip(s12 / jnp.sqrt(s1 * s2), -1.0, 1.0)
    theta = jnp.arccos(rho)
    return jnp.sqrt(s1 * s2) / (2 * jnp.pi) * (jnp.sin(theta) + (jnp.pi - theta) * jnp.cos(theta))


def _covariances():
    s1 = jnp.array([1.0, 2.0, 0.5, 1.0, 1.5])
    s2 = jnp.array([1.0, 0.5, 0.5, 1.0, 1.5])
    rho = jnp.array([0.3, -0.6, 1.0, -1.0, 0.95])
    s12 = rho * jnp.sqrt(s1 * s2)
    return jnp.stack([jnp.stack([s1, s12], -1), jnp.stack([s12, s2], -1)], -2)


def test_bivariate_expectation_matches_erf_closed_form_including_rho_one():
    cov = _covariances()
    got = gaussian.bivariate_gaussian_expectation(lambda u, v: erf(u) * erf(v), cov)
    s1, s2, s12 = cov[..., 0, 0], cov[..., 1, 1], cov[..., 0, 1]
    want = 2 / jnp.pi * jnp.arcsin(2 * s12 / jnp.sqrt((1 + 2 * s1) * (1 + 2 * s2)))
    np.testing.assert_allclose(got, want, atol=1e-8)


def test_bivariate_expectation_matches_relu_arccos_kernel():
    cov = _covariances()
    got = gaussian.bivariate_gaussian_expectation(
        lambda u, v: jnp.maximum(u, 0.0) * jnp.maximum(v, 0.0), cov, order=128
    )
    np.testing.assert_allclose(got, _relu_dual(cov), atol=2e-3)


def test_bivariate_expectation_of_product_is_covariance():
    cov = _covariances()
    got = gaussian.bivariate_gaussian_expectation(lambda u, v: u * v, cov, order=4)
    np.testing.assert_allclose(got, cov[..., 0, 1], atol=1e-10)


def test_rejects_bad_order_and_cov_shape():
    with pytest.raises(ValueError, match="order"):
        gaussian.gauss_hermite(0)
    with pytest.raises(ValueError, match="cov"):
        gaussian.bivariate_gaussian_expectation(lambda u, v: u * v, jnp.ones((3, 3)))
