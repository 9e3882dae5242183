import jax
import jax.flatten_util
import jax.numpy as jnp
import numpy as np
import pytest

from target_surrogates import (
    loss,
    project_to_targets,
    surrogate,
    target_gradient,
    target_gradient_step,
)


def test_surrogate_touches_the_loss_with_the_same_gradient(mlp_data, softmax_mlp_problem):
    params, batch = mlp_data
    problem = softmax_mlp_problem
    g = surrogate(problem, params, batch, eta=0.7)
    h = lambda p: loss(problem, p, batch)  # noqa: E731
    np.testing.assert_allclose(g(params), h(params), rtol=1e-6)
    for a, b in zip(
        jax.tree.leaves(jax.grad(g)(params)), jax.tree.leaves(jax.grad(h)(params)), strict=True
    ):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("kind", ["linear", "mlp"])
def test_surrogate_upper_bounds_the_loss_when_eta_is_one_over_smoothness(
    kind, logistic_data, mlp_data, logistic_problem, softmax_mlp_problem
):
    """Global majorization for any model: logistic is 1/4-smooth (eta = 4), softmax
    cross-entropy 1/2-smooth in the logits (eta = 2)."""
    if kind == "linear":
        problem, batch, eta = logistic_problem, logistic_data, 4.0
        params = jnp.zeros(5)
    else:
        problem, (params, batch), eta = softmax_mlp_problem, mlp_data, 2.0
    with jax.enable_x64(True):
        params = jax.tree.map(lambda a: jnp.asarray(a, jnp.float64), params)
        batch = (jnp.asarray(batch[0], jnp.float64), batch[1])
        g = surrogate(problem, params, batch, eta)
        flat, unravel = jax.flatten_util.ravel_pytree(params)
        keys = jax.random.split(jax.random.PRNGKey(0), 300)
        scales = jnp.logspace(-3, 1, 300)
        thetas = jax.vmap(lambda k, r: flat + r * jax.random.normal(k, flat.shape, flat.dtype))(
            keys, scales
        )
        gap = jax.vmap(lambda t: g(unravel(t)) - loss(problem, unravel(t), batch))(thetas)
        assert float(jnp.min(gap)) >= -1e-12


def test_large_eta_is_not_a_majorizer(logistic_data, logistic_problem):
    problem, batch = logistic_problem, logistic_data
    params = jnp.zeros(5)
    g = surrogate(problem, params, batch, eta=100.0)
    direction = -jax.grad(lambda p: loss(problem, p, batch))(params)
    theta = params + 2.0 * direction / jnp.linalg.norm(direction)
    assert g(theta) < loss(problem, theta, batch)


def test_target_gradient_is_the_per_example_gradient_of_the_summed_loss(
    logistic_data, logistic_problem
):
    problem, (x, s) = logistic_problem, logistic_data
    z = x @ jnp.ones(5)
    losses, grad = target_gradient(problem, z, s)
    np.testing.assert_allclose(losses, jax.nn.softplus(-s * z), rtol=1e-6)
    np.testing.assert_allclose(grad, jax.grad(lambda t: jnp.sum(jax.nn.softplus(-s * t)))(z))
    np.testing.assert_allclose(target_gradient_step(z, grad, 0.5), z - 0.5 * grad)


def test_surrogate_minimizer_is_the_projection_of_the_moved_targets(
    logistic_data, logistic_problem
):
    """argmin g_t = least-squares fit of the model to z_t - eta G (linear model, overdetermined)."""
    problem, batch = logistic_problem, logistic_data
    x, s = batch
    params, eta = 0.1 * jnp.ones(5), 3.0
    z = x @ params
    _, grad = target_gradient(problem, z, s)
    sol = project_to_targets(problem, params, x, target_gradient_step(z, grad, eta))
    assert bool(sol.converged)
    lstsq = jnp.linalg.lstsq(x, z - eta * grad)[0]
    np.testing.assert_allclose(sol.value, lstsq, rtol=1e-4, atol=1e-5)
    g = surrogate(problem, params, batch, eta)
    np.testing.assert_allclose(jax.grad(g)(sol.value), 0.0, atol=1e-5)


def test_underdetermined_projection_is_the_minimum_norm_correction(logistic_data, logistic_problem):
    problem, x = logistic_problem, logistic_data[0]
    x = x[:3]  # 3 targets, 5 parameters
    params = jnp.ones(5)
    target = jnp.array([1.0, -2.0, 0.5])
    sol = project_to_targets(problem, params, x, target)
    np.testing.assert_allclose(x @ sol.value, target, atol=1e-4)
    correction = jnp.linalg.pinv(x) @ (target - x @ params)
    np.testing.assert_allclose(sol.value - params, correction, atol=1e-4)
