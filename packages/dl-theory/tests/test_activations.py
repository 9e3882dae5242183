import jax.numpy as jnp
import numpy as np
import pytest

from dl_theory import (
    GELU,
    LINEAR,
    RELU,
    SIGMOID,
    SIN,
    SWISH,
    TANH,
    Activation,
    critical_initialization,
    k_star_zero_asymptote,
    k_star_zero_coefficient,
    leaky_relu,
    taylor_coefficients,
    universality_class,
)


def test_universality_classes():
    assert universality_class(RELU) == "scale_invariant"
    assert universality_class(leaky_relu(0.2)) == "scale_invariant"
    assert universality_class(TANH) == "k_star_zero"
    assert universality_class(SIN) == "k_star_zero"
    for act in (SIGMOID, SWISH, GELU):
        assert universality_class(act) == "other"


def test_critical_initializations_match_the_book():
    assert critical_initialization(RELU) == (0.0, 2.0)
    assert critical_initialization(LINEAR) == (0.0, 1.0)
    assert critical_initialization(leaky_relu(0.5)) == pytest.approx((0.0, 2 / 1.25))
    assert critical_initialization(TANH) == pytest.approx((0.0, 1.0))
    scaled = Activation("2tanh", lambda z: 2 * jnp.tanh(z))
    assert critical_initialization(scaled) == pytest.approx((0.0, 0.25))


def test_taylor_coefficients_and_a1():
    assert taylor_coefficients(TANH) == pytest.approx((0.0, 1.0, 0.0, -2.0), abs=1e-12)
    assert k_star_zero_coefficient(TANH) == pytest.approx(-2.0)
    assert k_star_zero_coefficient(SIN) == pytest.approx(-1.0)
    assert k_star_zero_coefficient(SWISH) == pytest.approx(0.75)  # sigma_2 = 1/2, sigma_1 = 1/2
    assert float(k_star_zero_asymptote(TANH, 50)) == pytest.approx(0.01)


@pytest.mark.parametrize("act", [SIGMOID, SWISH, GELU])
def test_no_criticality_outside_the_classes_names_the_argument(act):
    with pytest.raises(ValueError, match="`act`.*no defined universality class"):
        critical_initialization(act)


def test_bad_activation_inputs():
    with pytest.raises(ValueError, match="sigma\\(0\\)"):
        k_star_zero_asymptote(SIGMOID, 10)
    with pytest.raises(ValueError, match="a_1"):
        k_star_zero_asymptote(SWISH, 10)
    with pytest.raises(ValueError, match="scale-invariant"):
        k_star_zero_coefficient(RELU)
    with pytest.raises(TypeError, match="`act`"):
        critical_initialization(np.tanh)
    with pytest.raises(ValueError, match="`scale_invariant`"):
        Activation("bad", lambda z: z, scale_invariant=(0.0, 0.0))
