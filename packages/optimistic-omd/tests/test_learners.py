import jax
import jax.numpy as jnp
import numpy as np
import pytest

from optimistic_omd import (
    Ball,
    Box,
    dynamic_ensemble,
    optimistic_omd,
    optimistic_ons,
    step_size_grid,
)


def scan_linear(learner, x0, grads):
    def round_(state, g):
        x = learner.play(state)
        return learner.update(state, g), x

    return jax.jit(lambda s: jax.lax.scan(round_, s, grads))(learner.init(x0))


def test_optimistic_ons_steps_solve_their_a_norm_problems():
    domain = Ball(1.0, 3)
    learner = optimistic_ons(domain, exp_concavity=1.0, grad_bound=2.0)
    grads = jax.random.normal(jax.random.PRNGKey(0), (10, 3))
    state, xs = scan_linear(learner, jnp.zeros(3), grads)
    beta = 0.5 * min(1 / (4 * 2.0 * 2.0), 1.0)
    residuals = grads - jnp.concatenate([jnp.zeros((1, 3)), grads[:-1]])
    expected = beta * (jnp.eye(3) / (beta * 2.0) ** 2 + residuals.T @ residuals)
    np.testing.assert_allclose(state.matrix, expected, rtol=1e-5)
    assert float(jnp.max(jnp.linalg.norm(xs, axis=1))) <= 1.0 + 1e-5
    # the played point minimises <M, x> + ||x - xhat||_H^2 / 2 over the ball: no sampled point does better
    x = learner.play(state)
    objective = lambda z: state.hint @ z + 0.5 * (z - state.xhat) @ state.matrix @ (z - state.xhat)  # noqa: E731
    others = jax.vmap(domain.project)(jax.random.normal(jax.random.PRNGKey(1), (500, 3)))
    assert float(objective(x)) <= float(jnp.min(jax.vmap(objective)(others))) + 1e-5


def test_optimistic_ons_regret_stops_growing_on_a_fixed_exp_concave_loss():
    # f_t(x) = -log(1 + <a, x> / 2), the same every round: sigma = Sigma = 0, so Theorem 3's
    # d log(sigma^2 + Sigma^2) bound is O(1) and the regret must level off
    a = jnp.array([1.0, -0.5])
    learner = optimistic_ons(Ball(1.0, 2), exp_concavity=0.5, grad_bound=1.2)

    def round_(state, _):
        x = learner.play(state)
        value, g = jax.value_and_grad(lambda z: -jnp.log1p(a @ z / 2))(x)
        return learner.update(state, g), value

    _, values = jax.jit(lambda s: jax.lax.scan(round_, s, None, 800))(learner.init(jnp.zeros(2)))
    excess = np.cumsum(np.asarray(values) + float(jnp.log1p(jnp.linalg.norm(a) / 2)))
    assert excess[199] > 0.1  # it did have to learn
    assert excess[-1] - excess[199] < 1e-2 * excess[199]


def test_ensemble_with_one_base_is_that_base():
    domain = Ball(1.0, 2)
    grads = jax.random.normal(jax.random.PRNGKey(2), (15, 2))
    _, xs_ensemble = scan_linear(dynamic_ensemble(domain, [0.3], meta_lr=1.0), jnp.zeros(2), grads)
    _, xs_base = scan_linear(optimistic_omd(domain, step=0.3), jnp.zeros(2), grads)
    np.testing.assert_allclose(xs_ensemble, xs_base, atol=1e-6)


def test_ensemble_plays_the_hedge_mixture_of_its_bases():
    domain = Box(-1.0, 1.0, dim=2)
    steps = (0.05, 0.2, 0.8)
    learner = dynamic_ensemble(domain, steps, meta_lr=2.0)
    grads = jax.random.normal(jax.random.PRNGKey(3), (12, 2))
    state, _ = scan_linear(learner, jnp.zeros(2), grads)
    bases = [scan_linear(optimistic_omd(domain, step=s), jnp.zeros(2), grads) for s in steps]
    base_x = jnp.stack(
        [optimistic_omd(domain, step=s).play(st) for s, (st, _) in zip(steps, bases, strict=True)]
    )
    cumulative = jnp.stack([jnp.sum(xs * grads) for _, xs in bases])
    weights = jax.nn.softmax(-2.0 * (cumulative + base_x @ grads[-1]))
    np.testing.assert_allclose(learner.play(state), weights @ base_x, atol=1e-5)


def test_adaptive_meta_rate_shrinks_with_the_hints_errors():
    domain = Ball(1.0, 2)
    learner = dynamic_ensemble(domain, (0.1, 0.4))
    grads = jax.random.normal(jax.random.PRNGKey(4), (6, 2))
    state, _ = scan_linear(learner, jnp.zeros(2), grads)
    assert float(state.variation) > 0
    xs = jax.vmap(lambda s, eta: domain.project(s.xhat - eta * s.hint))(
        state.bases, jnp.array([0.1, 0.4])
    )
    rate = min(1.0, float(jnp.sqrt(jnp.log(2.0) / (1.0 + state.variation))))
    weights = jax.nn.softmax(-rate * (state.cumulative + xs @ state.hint))
    np.testing.assert_allclose(learner.play(state), weights @ xs, atol=1e-5)


def test_step_size_grid_is_geometric_and_capped():
    grid = step_size_grid(2.0, 1.0, 10_000, smoothness=1.0)
    np.testing.assert_allclose(np.diff(np.log2(grid)), 1.0)
    assert grid[0] == pytest.approx((4 / (8 * 10_000)) ** 0.5) and grid[-1] <= 0.25


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: optimistic_ons(Ball(1.0), exp_concavity=0.0, grad_bound=1.0), "`exp_concavity`"),
        (lambda: optimistic_ons(Ball(1.0), exp_concavity=1.0, grad_bound=-1.0), "`grad_bound`"),
        (lambda: optimistic_ons(Box(0.0, 1.0, dim=2), exp_concavity=1.0, grad_bound=1.0), "Ball"),
        (lambda: dynamic_ensemble(Ball(1.0), [], meta_lr=1.0), "`base_steps`"),
        (lambda: dynamic_ensemble(Ball(1.0), [0.1, -0.1], meta_lr=1.0), r"`base_steps\[1\]`"),
        (lambda: dynamic_ensemble(Ball(1.0), [0.1], meta_lr=0.0), "`meta_lr`"),
        (lambda: dynamic_ensemble(Ball(1.0), [0.1], meta_lr="fast"), "`meta_lr`"),
    ],
)
def test_bad_configuration_is_rejected(make, match):
    with pytest.raises(ValueError, match=match):
        make()
