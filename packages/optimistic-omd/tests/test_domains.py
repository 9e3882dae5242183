import jax
import jax.numpy as jnp
import numpy as np
import pytest

from optimistic_omd import Ball, Box, Simplex, ball_quadratic_argmin


def random_psd(key, d, rank=None):
    m = jax.random.normal(key, (d, rank or d))
    return m @ m.T / d


@pytest.mark.parametrize("rank", [3, 1], ids=["full rank", "rank one"])
def test_ball_quadratic_argmin_satisfies_kkt(rank):
    with jax.enable_x64(True):
        h = random_psd(jax.random.PRNGKey(0), 3, rank) + 1e-3 * jnp.eye(3)
        c = 5.0 * jax.random.normal(jax.random.PRNGKey(1), (3,))
        x = ball_quadratic_argmin(h, c, 0.7)
        assert float(jnp.linalg.norm(x)) <= 0.7 + 1e-9
        # KKT: H x - c = -mu x with mu >= 0 (the constraint is active here)
        residual = h @ x - c
        mu = -float(residual @ x) / float(x @ x)
        assert mu >= 0
        np.testing.assert_allclose(residual, -mu * x, atol=1e-8)


def test_ball_quadratic_argmin_returns_an_interior_minimiser_unchanged():
    h = random_psd(jax.random.PRNGKey(2), 3) + jnp.eye(3)
    target = jnp.array([0.1, -0.2, 0.05])
    np.testing.assert_allclose(ball_quadratic_argmin(h, h @ target, 1.0), target, atol=1e-5)


def test_a_norm_projection_beats_the_euclidean_one_in_the_a_norm():
    a = jnp.diag(jnp.array([10.0, 0.1]))
    y = jnp.array([2.0, 2.0])
    x = ball_quadratic_argmin(a, a @ y, 1.0)
    euclid = Ball(1.0).project(y)
    dist = lambda z: float((z - y) @ a @ (z - y))  # noqa: E731
    assert dist(x) < dist(euclid) - 1.0


@pytest.mark.parametrize(
    "domain", [Ball(0.8, 4), Box(-1.0, jnp.array([0.5, 1.0, 2.0, 0.1])), Simplex(4)], ids=repr
)
def test_projection_is_the_closest_point_and_linear_argmin_the_minimum(domain):
    ys = 3.0 * jax.random.normal(jax.random.PRNGKey(3), (6, 4))
    samples = jax.vmap(domain.project)(3.0 * jax.random.normal(jax.random.PRNGKey(4), (200, 4)))

    @jax.jit
    def check(y):
        p = domain.project(y)
        # variational inequality <y - p, z - p> <= 0 for every z in the domain
        gap = jnp.max((samples - p) @ (y - p))
        return domain.distance(p), gap, y @ domain.linear_argmin(y) - jnp.min(samples @ y)

    distance, gap, linear = jax.vmap(check)(ys)
    assert float(jnp.max(distance)) < 1e-5
    assert float(jnp.max(gap)) < 1e-4
    assert float(jnp.max(linear)) < 1e-5


def test_diameters():
    assert Ball(0.5, 2).diameter == 1.0
    np.testing.assert_allclose(Box(0.0, jnp.array([3.0, 4.0])).diameter, 5.0)
    np.testing.assert_allclose(Simplex(5).diameter, np.sqrt(2.0))
