import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from sgd_stability import (
    DiagonalLinearNet,
    TwoLayerReLU,
    data_path_norm,
    gram_matrix,
    sharpness,
    weighted_l1,
)


@pytest.fixture(scope="module")
def relu_at_interpolation():
    """A two-layer ReLU net and targets it fits exactly (y = f(x)): a global minimum."""
    x = jax.random.normal(jax.random.PRNGKey(0), (12, 4))
    model = TwoLayerReLU(4, 16, rngs=nnx.Rngs(1))
    return model, x, model(x)


def test_relu_trace_is_mean_squared_gradient_norm_and_bounds_path_norm(relu_at_interpolation):
    model, x, y = relu_at_interpolation
    w, a = model.w[...], model.a[...]
    active = jax.nn.relu(x @ w.T)
    # ||grad f(x)||^2 = sum_k relu(w_k.x)^2 + a_k^2 1{w_k.x > 0} ||x||^2
    per_example = (active**2).sum(1) + ((active > 0) * a**2).sum(1) * (x**2).sum(1)
    trace = sharpness(model, x, y).trace
    np.testing.assert_allclose(trace, per_example.mean(), rtol=1e-5)
    assert trace >= 2 * data_path_norm(model, x)


def test_relu_path_norm_bound_is_tight_at_balance():
    # One example: |a_k| ||x|| = relu(w_k.x) for every unit makes AM-GM an equality.
    x = jnp.array([[0.6, -0.8, 1.0]])
    model = TwoLayerReLU(3, 5, rngs=nnx.Rngs(2))
    model.a[...] = jnp.sign(model.a[...]) * jax.nn.relu(x @ model.w[...].T)[0] / jnp.linalg.norm(x)
    trace = sharpness(model, x, model(x)).trace
    np.testing.assert_allclose(trace, 2 * data_path_norm(model, x), rtol=1e-5)


@pytest.mark.parametrize(("parametrization", "factor"), [("uu-vv", 4.0), ("uv", 2.0)])
def test_diagonal_net_trace_identity_and_weighted_l1_bound(parametrization, factor):
    x = jax.random.normal(jax.random.PRNGKey(3), (10, 6))
    model = DiagonalLinearNet(6, init_scale=0.3, parametrization=parametrization)
    model.u[...] = jax.random.normal(jax.random.PRNGKey(4), (6,))
    model.v[...] = jax.random.normal(jax.random.PRNGKey(5), (6,))
    s = jnp.mean(x**2, axis=0)
    scale = 4.0 if parametrization == "uu-vv" else 1.0
    trace = sharpness(model, x, model(x)).trace
    want = scale * jnp.sum(s * (model.u[...] ** 2 + model.v[...] ** 2))
    np.testing.assert_allclose(trace, want, rtol=1e-5)
    assert trace >= factor * weighted_l1(model, x)
    model.v[...] = jnp.zeros(6) if parametrization == "uu-vv" else model.u[...]  # tight
    trace = sharpness(model, x, model(x)).trace
    np.testing.assert_allclose(trace, factor * weighted_l1(model, x), rtol=1e-5)


def test_gram_route_equals_dense_hessian_at_interpolation(relu_at_interpolation):
    model, x, y = relu_at_interpolation
    with jax.enable_x64(True):
        x64 = x.astype(jnp.float64)
        model64 = jax.tree.map(lambda leaf: leaf.astype(jnp.float64), model)
        y64 = model64(x64)
        gram = sharpness(model64, x64, y64, method="gram")
        dense = sharpness(model64, x64, y64, method="dense")
    for field in ("trace", "lambda_max", "frobenius"):
        np.testing.assert_allclose(getattr(gram, field), getattr(dense, field), rtol=1e-10)
    np.testing.assert_allclose(gram_matrix(model, x).shape, (12, 12))


def test_lanczos_route_matches_dense_within_hutchinson_error(relu_at_interpolation):
    model, x, y = relu_at_interpolation
    dense = sharpness(model, x, y, method="dense")
    est = sharpness(model, x, y, method="lanczos", key=jax.random.PRNGKey(0), num_probes=300)
    np.testing.assert_allclose(est.lambda_max, dense.lambda_max, rtol=1e-4)
    np.testing.assert_allclose(est.trace, dense.trace, rtol=0.1)
    np.testing.assert_allclose(est.frobenius, dense.frobenius, rtol=0.1)


def test_rejects_a_point_that_is_not_a_minimum(relu_at_interpolation):
    model, x, y = relu_at_interpolation
    with pytest.raises(ValueError, match="`model` is not at an interpolating minimum"):
        sharpness(model, x, y + 1.0)
    away = sharpness(model, x, y + 1.0, loss_tol=None)  # measured anyway when asked
    assert away.loss > 0.4 and away.grad_norm > 0.1


def test_rejects_mismatched_or_bad_inputs(relu_at_interpolation):
    model, x, y = relu_at_interpolation
    with pytest.raises(ValueError, match="`x` and `y` must hold the same number"):
        sharpness(model, x, y[:-1])
    with pytest.raises(ValueError, match="`x`"):
        sharpness(model, x.at[0, 0].set(jnp.nan), y)
    with pytest.raises(ValueError, match="`method`"):
        sharpness(model, x, y, method="power")
    with pytest.raises(ValueError, match="`key`"):
        sharpness(model, x, y, method="lanczos")
    with pytest.raises(TypeError, match="`model`"):
        data_path_norm(DiagonalLinearNet(4), x)
    with pytest.raises(ValueError, match="`init_scale`"):
        DiagonalLinearNet(4, init_scale=0.0)
