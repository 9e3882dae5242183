import jax
import jax.numpy as jnp
import numpy as np
import pytest

import comp_sum_losses as csl

TAUS = [0.0, 0.5, 1.0, 1.5, 2.0]


def _pairs(n, count=2000, seed=0):
    rng = np.random.default_rng(seed)
    p = rng.dirichlet(np.ones(n), count)
    h = rng.normal(size=(count, n)) * rng.choice([0.1, 1.0, 5.0], (count, 1))
    return p, h


@pytest.mark.parametrize("tau", TAUS)
def test_bound_holds_pointwise_and_is_tight_for_two_classes(tau):
    with jax.enable_x64(True):
        for n in (2, 4):
            p, h = _pairs(n)
            d01 = csl.zero_one_regret(p, h)
            dt = csl.conditional_regret(tau, p, h)
            assert float(jnp.min(dt)) >= -1e-10
            assert float(jnp.max(csl.bound_T(tau, d01, n) - dt)) <= 1e-9
        p, h = _pairs(2)
        d01 = csl.zero_one_regret(p, h)
        ratio = csl.bound_T(tau, d01, 2) / csl.conditional_regret(tau, p, h)
        assert float(jnp.max(jnp.where(d01 > 1e-6, ratio, 0.0))) >= 0.99


@pytest.mark.parametrize("tau", TAUS)
def test_best_conditional_risk_is_the_infimum(tau):
    p = jnp.array([0.6, 0.3, 0.1])
    best = csl.best_conditional_risk(tau, p)
    # no random scores beat the closed form, and q* ∝ p^(1/(2-tau)) reaches it (tau < 2)
    h = jax.random.normal(jax.random.PRNGKey(1), (500, 3)) * 3
    assert float(jnp.min(csl.conditional_risk(tau, jnp.broadcast_to(p, h.shape), h))) >= best
    near = jnp.log(p) / (2 - tau) if tau < 2 else 50.0 * p
    np.testing.assert_allclose(csl.conditional_risk(tau, p, near), best, atol=1e-5)


def test_T_values_and_gamma_inverts_T():
    t = jnp.linspace(0, 1, 11)
    for tau in TAUS:
        T = csl.bound_T(tau, t, 10)
        assert float(T[0]) == 0.0 and bool(jnp.all(jnp.diff(T) > 0))
        np.testing.assert_allclose(csl.bound_gamma(tau, T, 10), t, atol=1e-5)
    np.testing.assert_allclose(csl.bound_T(2.0, t, 10), t / 10)
    # tau = 1: ((1+t)log(1+t) + (1-t)log(1-t))/2 ~ t^2/2 near 0
    with jax.enable_x64(True):
        np.testing.assert_allclose(csl.bound_T(1.0, 1e-3, 3), 0.5e-6, rtol=1e-3)
    # continuity of T in tau around 1
    np.testing.assert_allclose(csl.bound_T(1.0 - 1e-4, t, 5), csl.bound_T(1.0, t, 5), atol=1e-3)
    # the n-dependence: tau > 1 bounds are weaker (smaller T) with more classes
    assert float(csl.bound_T(1.5, 0.5, 50)) < float(csl.bound_T(1.5, 0.5, 2))


def test_zero_one_regret_tie_break_and_minimizability_gap():
    p = jnp.array([0.5, 0.5, 0.0])
    assert float(csl.zero_one_regret(p, jnp.zeros(3))) == 0.0
    np.testing.assert_allclose(
        csl.zero_one_regret(jnp.array([0.2, 0.8]), jnp.array([1.0, 0.0])), 0.6
    )
    # bounded scores: the best loss is reached at h_y = scale, the rest -scale
    for tau in TAUS:
        best = csl.bounded_best_loss(tau, 4, 2.0)
        h = jnp.array([[2.0, -2.0, -2.0, -2.0]])
        np.testing.assert_allclose(best, csl.comp_sum_loss(h, jnp.array([0]), tau)[0], rtol=1e-5)
        np.testing.assert_allclose(csl.minimizability_gap(tau, best, 4, 2.0), 0.0, atol=1e-7)
    assert float(csl.bounded_best_loss(1.0, 4, 10.0)) < 1e-7


def test_bad_inputs():
    with pytest.raises(ValueError, match="`t`"):
        csl.bound_T(1.0, 1.5, 3)
    with pytest.raises(ValueError, match="`eps`"):
        csl.bound_gamma(1.0, -0.1, 3)
    with pytest.raises(ValueError, match="`tau`"):
        csl.bound_T(-0.5, 0.5, 3)
    with pytest.raises(ValueError, match="`n`"):
        csl.bound_T(1.0, 0.5, 1)
    with pytest.raises(ValueError, match="`p`"):
        csl.conditional_regret(1.0, jnp.array([0.5, 0.6]), jnp.zeros(2))
    with pytest.raises(ValueError, match="`p`"):
        csl.zero_one_regret(jnp.array([-0.1, 1.1]), jnp.zeros(2))
