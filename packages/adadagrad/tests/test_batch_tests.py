import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from adadagrad import (
    augmented_inner_product_test,
    coordinate_norm_test,
    inner_product_test,
    norm_test,
    orthogonality_test,
)


def _grads(n=64, seed=0, mean=1.0):
    rng = np.random.default_rng(seed)
    return {
        "w": jnp.asarray(mean + rng.normal(size=(n, 3, 2)), jnp.float32),
        "b": jnp.asarray(0.5 * mean + rng.normal(size=(n, 4)), jnp.float32),
    }


def _flat(tree):
    n = jax.tree.leaves(tree)[0].shape[0]
    return np.concatenate(
        [np.asarray(x, np.float64).reshape(n, -1) for x in jax.tree.leaves(tree)], 1
    )


def test_norm_test_matches_numpy_formula():
    g = _grads()
    flat = _flat(g)
    gbar = flat.mean(0)
    expected = flat.var(0, ddof=1).sum() / (0.3**2 * gbar @ gbar)
    proposal = norm_test(g, eta=0.3)
    assert proposal.statistic == pytest.approx(expected, rel=1e-4)
    assert proposal.batch_size == math.ceil(proposal.statistic)
    assert proposal.grad_norm_sq == pytest.approx(gbar @ gbar, rel=1e-5)


def test_inner_product_and_orthogonality_match_numpy_formulas():
    g = _grads(seed=1)
    flat = _flat(g)
    gbar = flat.mean(0)
    gsq = gbar @ gbar
    proj = flat @ gbar
    ip = proj.var(ddof=1) / (0.4**2 * gsq**2)  # ||gbar||^4
    resid = flat - np.outer(proj / gsq, gbar)
    orth = resid.var(0, ddof=1).sum() / (0.6**2 * gsq)
    assert inner_product_test(g, theta=0.4).statistic == pytest.approx(ip, rel=1e-3)
    assert orthogonality_test(g, nu=0.6).statistic == pytest.approx(orth, rel=1e-3)
    aug = augmented_inner_product_test(g, theta=0.4, nu=0.6)
    assert aug.statistic == pytest.approx(max(ip, orth), rel=1e-3)


def test_norm_test_scales_as_one_over_eta_squared():
    g = _grads(seed=2)
    assert norm_test(g, eta=0.1).statistic == pytest.approx(
        4 * norm_test(g, eta=0.2).statistic, rel=1e-5
    )


def test_norm_test_is_a_trace_estimate_the_size_independent_of_n():
    # the statistic estimates tr(Cov) / (eta^2 ||grad F||^2), not something growing with n
    small, large = norm_test(_grads(n=200, seed=3)), norm_test(_grads(n=20000, seed=4))
    assert small.statistic == pytest.approx(large.statistic, rel=0.3)


def test_coordinate_test_bounds_every_coordinate():
    g = _grads(seed=5, mean=2.0)
    flat = _flat(g)
    b = coordinate_norm_test(g, eta=0.5).batch_size
    gbar, var = flat.mean(0), flat.var(0, ddof=1)
    assert np.all(var / b <= 0.25 * gbar**2 * (1 + 1e-4))
    assert coordinate_norm_test(g, eta=0.5).statistic >= norm_test(g, eta=0.5).statistic * 0


def test_coordinate_guard_ignores_zero_mean_coordinates():
    g = _grads(seed=6, mean=2.0)
    g["z"] = jnp.asarray(np.random.default_rng(0).normal(size=(64, 1)) * 1e-3, jnp.float32)
    g["z"] = g["z"] - g["z"].mean(0)  # mean exactly ~0: would ask for an unbounded batch
    assert math.isfinite(coordinate_norm_test(g, eta=0.5).statistic)


def test_zero_mean_gradient_returns_the_cap_with_a_flag():
    g = {"w": jnp.asarray([[1.0, -2.0], [-1.0, 2.0]])}
    for test in (norm_test, inner_product_test, orthogonality_test, coordinate_norm_test):
        proposal = test(g, max_batch=512)
        assert proposal.degenerate and proposal.batch_size == 512


def test_proposal_is_capped():
    assert norm_test(_grads(seed=7, mean=0.01), max_batch=100).batch_size == 100


def test_bad_inputs_are_rejected():
    g = _grads()
    for eta in (0.0, 1.0, -0.5, 2.0):
        with pytest.raises(ValueError, match="eta"):
            norm_test(g, eta=eta)
    with pytest.raises(ValueError, match="theta"):
        inner_product_test(g, theta=1.5)
    with pytest.raises(ValueError, match="nu"):
        orthogonality_test(g, nu=0.0)
    with pytest.raises(ValueError, match="leading"):
        norm_test({"a": jnp.ones((4, 2)), "b": jnp.ones((5,))})
    with pytest.raises(ValueError, match=">= 2 examples"):
        norm_test({"a": jnp.ones((1, 2))})
    with pytest.raises(ValueError, match=r"\['b'\]"):
        norm_test({"a": jnp.ones((4, 2)), "b": jnp.asarray([1.0, np.nan, 0.0, 1.0])})
