import jax
import jax.numpy as jnp
import numpy as np
import pytest

from holomorphic_ep import (
    NotConvergedError,
    VectorFieldMLP,
    bptt_gradient,
    cosine,
    ep_gradient,
    error_alignment,
    feedback_angle,
    free_phase,
    homeostatic_loss,
    jacobian,
    jacobian_asymmetry,
    neuronal_error,
    rbp_gradient,
    relative_error,
    relax,
    rotate_feedback,
)

NET = VectorFieldMLP((8, 12, 10, 5), num_classes=4)


def _data(batch=6):
    x = jax.random.uniform(jax.random.PRNGKey(1), (batch, 8))
    y = jnp.arange(batch, dtype=jnp.int32) % 4
    return x, y


@pytest.fixture(scope="module")
def sym():
    params = NET.init(jax.random.PRNGKey(0), 0.0)
    x, y = _data()
    u, _ = free_phase(NET, params, x, num_steps=150)
    return params, x, y, u


@pytest.fixture(scope="module")
def asym():
    params = NET.init(jax.random.PRNGKey(0), 90.0)
    x, y = _data()
    u, _ = free_phase(NET, params, x, num_steps=150)
    return params, x, y, u


def test_symmetric_ep_equals_rbp_and_bptt(sym):
    params, x, y, _ = sym
    g_ep, s = ep_gradient(NET, params, x, y, num_nudges=0, free_steps=150, nudge_steps=60)
    g_rbp, delta = rbp_gradient(NET, params, x, y)
    g_bptt = bptt_gradient(NET, params, x, y, num_steps=150)
    for a, b in zip(jax.tree.leaves(g_ep), jax.tree.leaves(g_rbp), strict=False):
        np.testing.assert_allclose(a, b, atol=2e-5, rtol=1e-3)
    assert cosine(g_rbp, g_bptt) > 0.9999
    np.testing.assert_allclose(np.asarray(error_alignment(s, delta)), 1.0, atol=1e-4)


def test_asymmetric_ep_is_biased(asym):
    params, x, y, _ = asym
    g_ep, s = ep_gradient(NET, params, x, y, num_nudges=0, free_steps=150, nudge_steps=60)
    g_rbp, delta = rbp_gradient(NET, params, x, y)
    assert error_alignment(s, delta)[0] < 0.9  # the layer farthest from the output
    # the readout learns by its direct gradient: identical in both
    np.testing.assert_allclose(g_ep["readout"]["w"], g_rbp["readout"]["w"], atol=1e-6)


def test_exact_error_matches_finite_difference(asym):
    params, x, y, u = asym
    exact = neuronal_error(NET, params, u, x, y, num_nudges=0, num_steps=60)
    b = 1e-2
    plus = relax(NET, params, u, x, y, b, 60)
    minus = relax(NET, params, u, x, y, -b, 60)
    fd = tuple((NET.phi(p) - NET.phi(m)) / (2 * b) for p, m in zip(plus, minus, strict=False))
    assert relative_error(fd, exact) < 1e-3


def test_estimator_bias_shrinks_with_nudges(asym):
    params, x, y, u = asym
    exact = neuronal_error(NET, params, u, x, y, num_nudges=0, num_steps=60)
    err = {
        n: float(
            relative_error(neuronal_error(NET, params, u, x, y, beta=1.0, num_nudges=n), exact)
        )
        for n in (1, 2, 3, 4, 6)
    }
    assert err[6] < err[4] < err[2] < err[1]
    assert err[3] < err[1]
    assert err[4] < 1e-2 < err[1]
    # the one-sided bias is O(beta): halving beta halves it (roughly)
    half = relative_error(neuronal_error(NET, params, u, x, y, beta=0.5, num_nudges=1), exact)
    assert 0.35 < half / err[1] < 0.65


def test_negative_beta_first_phase(asym):
    params, x, y, u = asym
    exact = neuronal_error(NET, params, u, x, y, num_nudges=0)
    assert (
        relative_error(neuronal_error(NET, params, u, x, y, beta=-0.5, num_nudges=4), exact) < 1e-3
    )


def test_conjugate_nudges_give_conjugate_states(asym):
    params, x, y, u = asym
    c = lambda t: jax.tree.map(lambda v: v.astype(jnp.complex64), t)  # noqa: E731
    b = 0.3 + 0.4j
    up = relax(NET, c(params), c(u), x.astype(jnp.complex64), y, b, 40)
    um = relax(NET, c(params), c(u), x.astype(jnp.complex64), y, np.conj(b), 40)
    for p, m in zip(up, um, strict=False):
        np.testing.assert_allclose(p, np.conj(m), atol=1e-6)
        assert np.max(np.abs(p.imag)) > 1e-3


def test_homeostatic_loss_is_twice_antisymmetric_norm(sym, asym):
    params, x, _, u = asym
    j = jacobian(NET, params, u, x)
    anti = (j - jnp.swapaxes(j, -1, -2)) / 2
    expected = float(jnp.mean(2 * jnp.sum(anti**2, (-2, -1)))) / NET.num_state
    got = float(homeostatic_loss(NET, params, u, x, jax.random.PRNGKey(3), num_probes=4000))
    assert abs(got - expected) / expected < 0.05
    params_s, x_s, _, u_s = sym
    assert abs(float(homeostatic_loss(NET, params_s, u_s, x_s, jax.random.PRNGKey(3)))) < 1e-5


def test_homeostatic_gradient_reduces_asymmetry(asym):
    params, x, _, u = asym
    before = jacobian_asymmetry(NET, params, u, x)
    grad = jax.grad(homeostatic_loss, argnums=1)(NET, params, u, x, jax.random.PRNGKey(0), 20)
    stepped = jax.tree.map(lambda p, g: p - 2.0 * g, params, grad)
    after = jacobian_asymmetry(NET, stepped, u, x)
    assert after["ratio"] < before["ratio"]
    assert after["symmetry"] > before["symmetry"]


def test_asymmetry_measures(sym, asym):
    r0 = jacobian_asymmetry(NET, *[sym[i] for i in (0, 3, 1)])
    r90 = jacobian_asymmetry(NET, *[asym[i] for i in (0, 3, 1)])
    assert float(r0["ratio"]) < 1e-6 and abs(float(r0["symmetry"]) - 1) < 1e-6
    assert 0.5 < float(r90["ratio"]) < 0.9 and float(r90["symmetry"]) < 0.7


def test_rotate_feedback_sets_angle():
    net = VectorFieldMLP((50, 200, 200, 10))
    params = net.init(jax.random.PRNGKey(0))
    assert float(feedback_angle(params)) < 0.1
    for angle in (30.0, 60.0, 90.0):
        rotated = rotate_feedback(params, angle, jax.random.PRNGKey(1))
        assert abs(float(feedback_angle(rotated)) - angle) < 3.0


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(beta=0.0, num_nudges=1), "beta"),
        (dict(beta=0.0, num_nudges=4), "beta"),
        (dict(beta=1.0, num_nudges=-1), "num_nudges"),
        (dict(beta=0.5j, num_nudges=4), "beta"),
        (dict(beta=1.0, num_nudges=4, num_steps=0), "num_steps"),
    ],
)
def test_bad_nudges(asym, kwargs, match):
    params, x, y, u = asym
    with pytest.raises(ValueError, match=match):
        neuronal_error(NET, params, u, x, y, **kwargs)


def test_non_holomorphic_activation_rejected_for_cauchy():
    net = VectorFieldMLP((8, 12, 10, 5), num_classes=4, activation="relu")
    params = net.init(jax.random.PRNGKey(0), 0.0)
    x, y = _data()
    u, _ = free_phase(net, params, x, num_steps=100, tol=None)
    with pytest.raises(ValueError, match="activation"):
        neuronal_error(net, params, u, x, y, beta=0.5, num_nudges=4)
    neuronal_error(net, params, u, x, y, beta=0.5, num_nudges=2)  # real nudges are fine


def test_bad_inputs():
    params = NET.init(jax.random.PRNGKey(0))
    x, y = _data()
    with pytest.raises(ValueError, match="angle"):
        NET.init(jax.random.PRNGKey(0), 200.0)
    with pytest.raises(ValueError, match="sizes"):
        free_phase(NET, params, x[:, :5])
    with pytest.raises(ValueError, match="y"):
        rbp_gradient(NET, params, x, y[:3])
    with pytest.raises(ValueError, match="num_probes"):
        homeostatic_loss(NET, params, NET.zero_state(6), x, jax.random.PRNGKey(0), num_probes=0)
    with pytest.raises(ValueError, match="activation"):
        VectorFieldMLP((4, 3), activation="gelu")


def test_non_convergent_free_phase_reported():
    params = NET.init(jax.random.PRNGKey(0), 90.0)
    x, _ = _data()
    with pytest.raises(NotConvergedError, match="num_steps=2"):
        free_phase(NET, params, x, num_steps=2)
    big = jax.tree.map(lambda v: 40.0 * v, params)  # far from a contraction
    with pytest.raises(NotConvergedError, match="residual"):
        free_phase(NET, big, x, num_steps=100)
