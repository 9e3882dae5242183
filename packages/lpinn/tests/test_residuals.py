import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import lpinn

C = 30.0


@pytest.fixture
def points():
    x, t = lpinn.grid(16, 5)
    return jnp.meshgrid(x, t, indexing="ij")


def test_exact_lagrangian_solution_has_zero_residuals(points):
    gx, gt = points
    exact = lambda x0, t: (jnp.sin(x0), x0 + C * t)  # U constant along X = x0 + c t
    for derivatives in ("physical", "label"):
        for nu in (0.0, 0.1):
            r_x, r_u = lpinn.lagrangian_residuals(
                exact, lpinn.Convection(C, nu), gx, gt, derivatives=derivatives
            )
            # With nu > 0 the constant-in-time U is not a solution: r_u = -nu u_XX = nu sin x0.
            np.testing.assert_allclose(r_x, 0.0, atol=1e-4)
            np.testing.assert_allclose(r_u, nu * jnp.sin(gx), atol=1e-5)


def test_exact_eulerian_solution_has_zero_residual(points):
    gx, gt = points
    r = lpinn.eulerian_residual(lambda x, t: jnp.sin(x - C * t), lpinn.Convection(C), gx, gt)
    np.testing.assert_allclose(r, 0.0, atol=1e-4)
    nu = 0.2
    damped = lambda x, t: jnp.exp(-nu * t) * jnp.sin(x - C * t)
    r = lpinn.eulerian_residual(damped, lpinn.Convection(C, nu), gx, gt)
    np.testing.assert_allclose(r, 0.0, atol=1e-4)


def test_physical_second_derivative_matches_scalar_autodiff(points):
    """Along bent characteristics u_XX = d/dx0 (U_x0 / X_x0) / X_x0."""
    gx, gt = points
    alpha, nu = 0.4, 0.3
    model = lambda x0, t: (jnp.sin(x0) * (1 + t), x0 + alpha * t * jnp.sin(x0))
    _, r_u = lpinn.lagrangian_residuals(model, lpinn.Burgers(nu), gx, gt, derivatives="physical")

    def r_u_scalar(x0, t):
        u = lambda s: model(s, t)[0]
        x = lambda s: model(s, t)[1]
        u_x = lambda s: jax.grad(u)(s) / jax.grad(x)(s)
        u_xx = jax.grad(u_x)(x0) / jax.grad(x)(x0)
        return jax.grad(lambda s: model(x0, s)[0])(t) - nu * u_xx

    expected = jax.vmap(jax.vmap(r_u_scalar))(gx, gt)
    np.testing.assert_allclose(r_u, expected, rtol=1e-5, atol=1e-5)
    _, r_label = lpinn.lagrangian_residuals(model, lpinn.Burgers(nu), gx, gt, derivatives="label")
    assert float(jnp.max(jnp.abs(r_label - r_u))) > 1e-2  # the official shortcut differs here


def test_to_eulerian_recovers_travelling_wave():
    x, t = lpinn.grid(256, 6)
    gx, gt = jnp.meshgrid(x, t, indexing="ij")
    u = lpinn.to_eulerian(jnp.sin(gx), gx + C * gt, x)
    np.testing.assert_allclose(u, jnp.sin(gx - C * gt), atol=2e-4)  # linear interpolation, h^2/8


def test_crossing_characteristics_are_detected_and_warned():
    x, t = lpinn.grid(32, 4)
    gx, gt = jnp.meshgrid(x, t, indexing="ij")
    assert not lpinn.characteristics_cross(gx + C * gt)
    assert lpinn.characteristics_cross(gx + 3.0 * gt * jnp.sin(gx))  # X_x0 < 0 somewhere at t=1
    folding = lambda x0, t: (jnp.sin(x0), x0 + 3.0 * t * jnp.sin(x0))
    with pytest.warns(RuntimeWarning, match="characteristics cross"):
        lpinn.predict_eulerian(folding, x, t, x)


def test_models_shapes_and_shared_trunk():
    x, t = lpinn.grid(8, 3)
    gx, gt = jnp.meshgrid(x, t, indexing="ij")
    model = lpinn.LagrangianPINN(16, 3, 2, rngs=nnx.Rngs(0))
    u, pos = model(gx, gt)
    assert u.shape == pos.shape == gx.shape
    shared = lpinn.LagrangianPINN(16, 3, 2, share_trunk=True, rngs=nnx.Rngs(0))
    count = lambda m: sum(p.size for p in jax.tree.leaves(nnx.state(m, nnx.Param)))
    assert count(model) - count(shared) == 3 * 16 + 16 + 16 * 16 + 16  # two shared layers
    assert lpinn.EulerianPINN(16, 2, rngs=nnx.Rngs(0))(gx, gt).shape == gx.shape


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: lpinn.Convection(30.0, nu=-1.0), "nu"),
        (lambda: lpinn.Burgers(0.0), "nu"),
        (lambda: lpinn.grid(1, 10), "num_x"),
        (lambda: lpinn.grid(8, 8, t_final=0.0), "t_final"),
        (lambda: lpinn.EulerianPINN(0, 2, rngs=nnx.Rngs(0)), "width"),
        (lambda: lpinn.LagrangianPINN(8, 1, 2, share_trunk=True, rngs=nnx.Rngs(0)), "u_depth"),
    ],
)
def test_rejects_bad_problem_definitions(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_rejects_bad_collocation_and_training_inputs():
    x, t = lpinn.grid(8, 4)
    model = lpinn.LagrangianPINN(8, 2, 2, rngs=nnx.Rngs(0))
    pde = lpinn.Convection(1.0)
    with pytest.raises(ValueError, match="empty"):
        lpinn.lagrangian_residuals(model, pde, jnp.zeros(0), jnp.zeros(0))
    with pytest.raises(ValueError, match="one shape"):
        lpinn.eulerian_residual(lambda a, b: a, pde, jnp.zeros(3), jnp.zeros(4))
    with pytest.raises(ValueError, match="u0_values"):
        lpinn.lagrangian_loss(model, pde, x, t, jnp.zeros(3))
    with pytest.raises(ValueError, match="form"):
        lpinn.lagrangian_loss(model, pde, x, t, jnp.sin(x), form="l1")
    with pytest.raises(ValueError, match="learning_rate"):
        lpinn.fit(lambda m: 0.0, model, steps=1, learning_rate=-1.0)
    with pytest.raises(ValueError, match="u0"):
        lpinn.convection_diffusion_exact(lambda s: jnp.zeros(3), 1.0, 0.0, x, t)
    with pytest.raises(ValueError, match="NaN"):
        lpinn.convection_diffusion_exact(lambda s: s * jnp.nan, 1.0, 0.0, x, t)
