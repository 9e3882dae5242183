import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dl_theory import (
    GELU,
    LINEAR,
    RELU,
    SIN,
    TANH,
    Residual,
    four_point_vertex,
    gaussian_moments,
    kernel_recursion,
    kurtosis_prediction,
    leaky_relu,
    ntk_recursion,
    residual_criticality,
    susceptibilities,
)
from jaxpapers_shared.gaussian import bivariate_gaussian_expectation, gaussian_expectation


def test_scale_invariant_closed_forms_match_quadrature():
    act = leaky_relu(-0.3)  # a kink at 0: split the integral into the two half-lines
    a_p, a_m = act.scale_invariant
    K = 1.7
    with jax.enable_x64(True):  # E[f(z) 1{z > 0}] = E[f(|z|)] / 2: polynomials, exact quadrature
        moment = lambda p: (
            0.5
            * (a_p**p + a_m**p)
            * gaussian_expectation(  # noqa: E731
                lambda z: jnp.abs(z) ** p, K, order=8
            )
        )
        s2, s4 = float(moment(2)), float(moment(4))
    m = gaussian_moments(act, K)
    assert float(m.s2) == pytest.approx(s2, rel=1e-12)
    assert float(m.s4) == pytest.approx(s4, rel=1e-12)


def test_two_input_arc_cosine_kernel_matches_quadrature():
    x = np.random.default_rng(0).normal(size=(2, 16))
    K = kernel_recursion(RELU, depth=2, C_b=0.1, C_W=2.0, x=x)
    with jax.enable_x64(True):
        smooth = lambda u, v: jax.nn.softplus(40 * u) * jax.nn.softplus(40 * v) / 1600  # noqa: E731
        off = bivariate_gaussian_expectation(smooth, jnp.asarray(K[0]), order=200)
    assert K[1, 0, 1] == pytest.approx(0.1 + 2.0 * float(off), rel=2e-3)
    assert K[1, 0, 0] == pytest.approx(0.1 + K[0, 0, 0])  # C_W A_2 = 1: the diagonal is kept


@pytest.mark.parametrize("act", [TANH, SIN, GELU])
def test_parallel_susceptibility_is_the_derivative_of_the_recursion(act):
    C_W, K, h = 1.3, 0.8, 1e-4
    chi_par, chi_perp = susceptibilities(act, K, C_W)
    plus, minus = gaussian_moments(act, K + h).s2, gaussian_moments(act, K - h).s2
    assert float(chi_par) == pytest.approx(C_W * float(plus - minus) / (2 * h), rel=1e-6)
    assert float(chi_perp) > 0


def test_relu_criticality_preserves_the_kernel_and_off_critical_is_geometric():
    K = kernel_recursion(RELU, depth=50, C_b=0.0, C_W=2.0, k1=1.3)
    np.testing.assert_allclose(K, 1.3, rtol=1e-12)
    K = kernel_recursion(RELU, depth=50, C_b=0.0, C_W=2.2, k1=1.0)
    np.testing.assert_allclose(K[1:] / K[:-1], 1.1, rtol=1e-12)
    assert susceptibilities(RELU, 1.0, 2.0) == pytest.approx((1.0, 1.0))


def test_tanh_kernel_power_law():
    K = kernel_recursion(TANH, depth=200, C_b=0.0, C_W=1.0, k1=1.0)
    two_l_k = 2 * np.arange(1, 201) * K
    assert 1.0 < two_l_k[199] < two_l_k[99] < two_l_k[49] < 1.06  # -> 1 from above


def test_vertex_closed_forms_at_criticality():
    L = 12
    for act, C_W, coeff in ((RELU, 2.0, 5.0), (LINEAR, 1.0, 2.0)):
        V = four_point_vertex(act, depth=L, C_b=0.0, C_W=C_W, k1=0.7)
        np.testing.assert_allclose(V / 0.7**2, coeff * np.arange(L), rtol=1e-12)
    r = kurtosis_prediction(RELU, width=64, depth=L, C_b=0.0, C_W=2.0, k1=1.0)
    np.testing.assert_allclose(r, 5 * np.arange(L) / 64, rtol=1e-12)


def test_k_star_zero_vertex_approaches_two_thirds_l():
    L = 200
    K = kernel_recursion(TANH, depth=L, C_b=0.0, C_W=1.0, k1=1.0)
    V = four_point_vertex(TANH, depth=L, C_b=0.0, C_W=1.0, k1=1.0)
    ratio = V / K**2 / (2 * np.arange(1, L + 1) / 3)
    assert 0.97 < ratio[-1] < 1.0 and ratio[-1] > ratio[99] > ratio[49]
    Ks = kernel_recursion(SIN, depth=L, C_b=0.0, C_W=1.0, k1=1.0)
    Vs = four_point_vertex(SIN, depth=L, C_b=0.0, C_W=1.0, k1=1.0)
    assert Vs[-1] / Ks[-1] ** 2 / (2 * L / 3) == pytest.approx(1.0, abs=0.05)  # universal


def test_unequal_widths_enter_as_ratios():
    V_eq = four_point_vertex(RELU, depth=4, C_b=0.0, C_W=2.0, k1=1.0)
    V = four_point_vertex(RELU, depth=4, C_b=0.0, C_W=2.0, k1=1.0, widths=[32, 64, 128])
    # V^(l+1) = 5 + (n_l / n_(l-1)) V^(l) in units of K^2
    assert V[2] == pytest.approx(5 + 2 * 5) and V[3] == pytest.approx(5 + 2 * V[2])
    assert V_eq[3] == pytest.approx(15)


def test_residual_reduces_to_plain_and_is_refused_for_relu():
    plain = four_point_vertex(TANH, depth=8, C_b=0.0, C_W=1.0, k1=1.0)
    res = four_point_vertex(TANH, depth=8, C_b=0.0, C_W=1.0, k1=1.0, residual=Residual(0.0, 1.0))
    np.testing.assert_allclose(res, plain, rtol=1e-12)
    with pytest.raises(ValueError, match="not odd.*Monte Carlo"):
        four_point_vertex(RELU, depth=4, C_b=0.0, C_W=2.0, k1=1.0, residual=Residual(0.5, 0.5))
    crit = residual_criticality(RELU, C_W=2.0, gamma2=0.25)
    assert (crit.xi2, crit.gamma2) == (0.75, 0.25)
    K = kernel_recursion(RELU, depth=30, C_b=0.0, C_W=2.0, k1=1.0, residual=crit)
    np.testing.assert_allclose(K, 1.0, rtol=1e-12)
    with pytest.raises(ValueError, match="`gamma2`"):
        residual_criticality(RELU, C_W=2.0, gamma2=1.5)


def test_ntk_grows_linearly_for_critical_relu():
    x = np.ones(16)
    H = ntk_recursion(RELU, depth=10, C_b=0.0, C_W=2.0, lambda_b=1.0, lambda_W=1.0, x=x)
    np.testing.assert_allclose(
        np.diff(H), 1.0 + 2.0 / 2, rtol=1e-12
    )  # lambda_b + lambda_W K/2, K = 2


def test_bad_inputs_name_the_argument():
    with pytest.raises(ValueError, match="`depth`"):
        kernel_recursion(TANH, depth=0, C_b=0.0, C_W=1.0, k1=1.0)
    with pytest.raises(ValueError, match="`C_W`"):
        kernel_recursion(TANH, depth=3, C_b=0.0, C_W=0.0, k1=1.0)
    with pytest.raises(ValueError, match="`C_b`"):
        kernel_recursion(TANH, depth=3, C_b=-0.1, C_W=1.0, k1=1.0)
    with pytest.raises(ValueError, match="`k1`"):
        kernel_recursion(TANH, depth=3, C_b=0.0, C_W=1.0, k1=0.0)
    with pytest.raises(ValueError, match="`x` has zero norm"):
        kernel_recursion(TANH, depth=3, C_b=0.0, C_W=1.0, x=np.zeros(4))
    with pytest.raises(ValueError, match="exactly one"):
        kernel_recursion(TANH, depth=3, C_b=0.0, C_W=1.0, k1=1.0, x=np.ones(4))
    with pytest.raises(ValueError, match="`width`"):
        kurtosis_prediction(RELU, width=0, depth=3, C_b=0.0, C_W=2.0, k1=1.0)
    with pytest.raises(ValueError, match="`gamma2`"):
        Residual(0.5, 0.0)
    with pytest.raises(ValueError, match="`xi2`"):
        Residual(-0.5, 0.5)
