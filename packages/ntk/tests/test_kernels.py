import jax
import jax.flatten_util
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from jax.scipy.special import erf

import ntk


def circle(num):
    angles = jnp.linspace(0.0, 2 * jnp.pi, num, endpoint=False)
    return jnp.stack([jnp.cos(angles), jnp.sin(angles)], axis=1)


def test_depth_one_kernel_is_scaled_inner_product_plus_beta_squared():
    x = jax.random.normal(jax.random.key(0), (5, 3))
    k = ntk.analytic_kernels(x, depth=1, beta=0.3)
    np.testing.assert_allclose(k.ntk, x @ x.T / 3 + 0.09, rtol=1e-12)
    np.testing.assert_allclose(k.nngp, k.ntk, rtol=1e-12)


def test_identity_activation_ntk_is_depth_times_linear_kernel():
    # Linear net, beta = 0: Sigma(l) = x.x'/n0 for all l, Theta(L) = L * Sigma.
    x = jax.random.normal(jax.random.key(1), (4, 3))
    k = ntk.analytic_kernels(x, depth=3, activation="identity", beta=0.0)
    np.testing.assert_allclose(k.ntk, 3 * x @ x.T / 3, rtol=1e-12)


@pytest.mark.parametrize("name, fn", [("erf", erf), ("relu", jax.nn.relu)])
def test_quadrature_matches_closed_form(name, fn):
    x = circle(12)
    closed = ntk.analytic_kernels(x, depth=3, activation=name)
    quad = ntk.analytic_kernels(x, depth=3, activation=ntk.Activation(name + "_q", fn))
    # ReLU's kink and step derivative converge slowly under Gauss-Hermite; erf is smooth.
    atol = 1e-8 if name == "erf" else 5e-3
    np.testing.assert_allclose(quad.nngp, closed.nngp, atol=atol)
    if name == "erf":
        np.testing.assert_allclose(quad.ntk, closed.ntk, atol=atol)


def test_analytic_ntk_positive_definite_on_sphere():
    # Jacot et al. Prop. 2: non-polynomial sigma, L >= 2, inputs on the sphere.
    for act in ("relu", "tanh"):
        k = ntk.analytic_kernels(circle(16), depth=3, activation=act)
        assert float(jnp.linalg.eigvalsh(k.ntk)[0]) > 1e-8


@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_empirical_methods_agree(activation):
    net = ntk.NTKMLP([3, 16, 16, 2], activation=activation, rngs=nnx.Rngs(0))
    x1 = jax.random.normal(jax.random.key(2), (5, 3))
    x2 = jax.random.normal(jax.random.key(3), (4, 3))
    ref = ntk.empirical_ntk(net, None, x1, x2, method="mlp", trace_outputs=False)
    graphdef, params = nnx.split(net)

    def apply(p, x):
        return nnx.merge(graphdef, p)(x)

    jac = ntk.empirical_ntk(apply, params, x1, x2, method="jacobian", trace_outputs=False)
    vp = ntk.empirical_ntk(
        apply, params, x1, x2, method="ntk_vp", trace_outputs=False, batch_size=3
    )
    assert ref.shape == (5, 4, 2, 2)
    np.testing.assert_allclose(jac, ref, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(vp, ref, rtol=1e-10, atol=1e-10)
    traced = ntk.empirical_ntk(net, None, x1, x2)
    np.testing.assert_allclose(traced, jnp.trace(ref, axis1=2, axis2=3) / 2, rtol=1e-12)


def test_empirical_ntk_matches_explicit_jacobian_product():
    net = ntk.NTKMLP([2, 8, 1], rngs=nnx.Rngs(4))
    graphdef, params = nnx.split(net)
    x = circle(5)
    flat, unravel = jax.flatten_util.ravel_pytree(params)
    jac = jax.jit(jax.jacobian(lambda v: nnx.merge(graphdef, unravel(v))(x)[:, 0]))(flat)
    np.testing.assert_allclose(ntk.empirical_ntk(net, None, x), jac @ jac.T, rtol=1e-10)


def test_wide_network_ntk_is_close_to_analytic():
    x = circle(8)
    theta = ntk.analytic_kernels(x, depth=2).ntk
    emp = ntk.empirical_ntk(ntk.NTKMLP([2, 4096, 1], rngs=nnx.Rngs(5)), None, x)
    narrow = ntk.empirical_ntk(ntk.NTKMLP([2, 16, 1], rngs=nnx.Rngs(5)), None, x)
    err = jnp.linalg.norm(emp - theta) / jnp.linalg.norm(theta)
    assert err < 0.1
    assert err < jnp.linalg.norm(narrow - theta) / jnp.linalg.norm(theta)


def test_rejects_bad_inputs():
    x = circle(4)
    with pytest.raises(ValueError, match="depth"):
        ntk.analytic_kernels(x, depth=0)
    with pytest.raises(ValueError, match="widths"):
        ntk.NTKMLP([3], rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="x2"):
        ntk.analytic_kernels(x, jnp.ones((3, 5)), depth=2)
    with pytest.raises(ValueError, match="x1"):
        ntk.analytic_kernels(jnp.ones(3), depth=2)
    with pytest.raises(ValueError, match="x1"):
        ntk.analytic_kernels(x.at[0, 0].set(jnp.nan), depth=2)
    with pytest.raises(ValueError, match="activation"):
        ntk.analytic_kernels(x, depth=2, activation="swishy")
    with pytest.raises(ValueError, match="beta"):
        ntk.analytic_kernels(x, depth=2, beta=-0.1)
    with pytest.raises(ValueError, match="quadrature_points"):
        ntk.analytic_kernels(x, depth=2, activation="tanh", quadrature_points=4)
    with pytest.raises(ValueError, match="x1"):
        ntk.analytic_kernels(x.at[0].set(0.0), depth=2, beta=0.0)
    with pytest.raises(ValueError, match="method"):
        ntk.empirical_ntk(lambda p, x: x, {}, x, method="mlp")
    with pytest.raises(ValueError, match="method"):
        ntk.empirical_ntk(lambda p, x: x, {}, x, method="fast")
    net = ntk.NTKMLP([2, 4, 1], rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="x1"):
        ntk.empirical_ntk(net, None, jnp.ones((3, 5)))
    with pytest.raises(ValueError, match="x"):
        net(jnp.ones((3, 5)))
