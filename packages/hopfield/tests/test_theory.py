import jax.numpy as jnp
import numpy as np
import pytest

import hopfield


@pytest.mark.parametrize(("d", "radius_scale", "c_paper"), [(20, 3.0, 3.1546), (75, 1.0, 1.3718)])
def test_capacity_constant_matches_paper_examples(d, radius_scale, c_paper):
    bound = hopfield.capacity_bound(d, beta=1.0, radius_scale=radius_scale, p=0.001)
    assert abs(bound.c - c_paper) < 5e-4
    assert bound.assumption_holds
    np.testing.assert_allclose(
        bound.num_patterns, np.sqrt(0.001) * bound.c ** ((d - 1) / 4), rtol=1e-12
    )


def test_capacity_grows_exponentially_in_d():
    sizes = [hopfield.capacity_bound(d, 1.0, 3.0, 0.001).num_patterns for d in (40, 80, 160)]
    ratios = [sizes[1] / sizes[0], sizes[2] / sizes[1]]
    assert ratios[1] > ratios[0] > 1


def test_separation_of_orthogonal_patterns_is_their_squared_norm():
    patterns = 3.0 * jnp.eye(4)
    np.testing.assert_allclose(hopfield.separation(patterns), 9.0 * np.ones(4))
    assert bool(jnp.isinf(hopfield.separation(patterns[:1]))[0])


def test_well_separated_follows_the_theorem_threshold():
    n, beta = 4, 1.0
    for scale, expected in ((1.0, False), (4.0, True)):
        patterns = scale * jnp.eye(n)
        m2 = scale**2
        threshold = 2 / (beta * n) + np.log(2 * (n - 1) * n * beta * m2) / beta
        assert (m2 >= threshold) == expected
        assert bool(jnp.all(hopfield.well_separated(patterns, beta) == expected))


def test_head_k_statistic_exact_cases():
    n = 20
    rows = jnp.stack(
        [
            jnp.full((n,), 1.0 / n),  # global average: ceil(0.9 * 20) = 18
            jnp.eye(n)[3],  # single pattern
            jnp.zeros((n,)).at[:2].set(0.5),  # metastable state over two patterns
        ]
    )
    np.testing.assert_array_equal(hopfield.head_k_statistic(rows), [18, 1, 2])
    np.testing.assert_array_equal(hopfield.head_k_statistic(rows, mass=1.0), [n, 1, 2])


def test_rejects_bad_theory_inputs():
    with pytest.raises(ValueError, match="mass"):
        hopfield.head_k_statistic(jnp.ones((2, 3)) / 3, mass=0.0)
    with pytest.raises(ValueError, match="`d`"):
        hopfield.capacity_bound(1)
    with pytest.raises(ValueError, match="`p`"):
        hopfield.capacity_bound(10, p=0.0)
    with pytest.raises(ValueError, match="beta"):
        hopfield.well_separated(jnp.eye(3), beta=-1.0)


def test_classical_network_retrieves_one_pattern_and_rejects_non_bipolar():
    rng = np.random.default_rng(0)
    pattern = np.where(rng.random((1, 32)) < 0.5, -1.0, 1.0)
    noisy = pattern.copy()
    noisy[0, :3] *= -1
    np.testing.assert_array_equal(hopfield.classical_retrieve(pattern, noisy), pattern)
    with pytest.raises(ValueError, match="xi"):
        hopfield.classical_retrieve(pattern, 0.5 * noisy)
    with pytest.raises(ValueError, match="steps"):
        hopfield.classical_retrieve(pattern, noisy, steps=0)


def test_lambert_w0_inverts_w_exp_w():
    from hopfield._theory import _lambert_w0

    for x in (1e-6, 0.39, 1.0, 3.57, 1e6):
        w = _lambert_w0(x)
        np.testing.assert_allclose(w * np.exp(w), x, rtol=1e-12)
