import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from optimistic_omd import (
    Ball,
    Box,
    Simplex,
    Unconstrained,
    online_gradient_descent,
    optimistic_omd,
    run,
)

MATRIX = jnp.array([[2.0, 0.5], [0.5, 1.0]])


def quadratic_grad(x):
    return MATRIX @ x - jnp.array([1.0, -0.5])


def trajectory(learner, x0, grad_fn, rounds):
    """Played points, gradients and the final state of ``rounds`` rounds (one ``lax.scan``)."""

    def round_(state, _):
        x = learner.play(state)
        g = grad_fn(x)
        return learner.update(state, g), (x, g)

    state, (xs, gs) = jax.jit(lambda s: jax.lax.scan(round_, s, None, rounds))(learner.init(x0))
    return xs, gs, state


def scan_linear(learner, x0, grads):
    """Played points and base points on the linear losses ``<grads[t], x>``."""

    def round_(state, g):
        x = learner.play(state)
        return learner.update(state, g), (x, state.xhat)

    return jax.jit(lambda s: jax.lax.scan(round_, s, grads)[1])(learner.init(x0))


def test_unconstrained_constant_step_matches_optax_optimistic_gradient_descent():
    with jax.enable_x64(True):
        eta, rounds = 0.1, 30
        x0 = jnp.array([0.3, -0.2], jnp.float64)
        xs, gs, _ = trajectory(
            optimistic_omd(Unconstrained(2), step=eta), x0, quadratic_grad, rounds
        )
        # increments x_{t+1} - x_t = -eta (2 g_t - g_{t-1}) for t >= 2
        np.testing.assert_allclose(
            np.diff(xs, axis=0)[1:], -eta * (2 * gs[1:-1] - gs[:-2]), atol=1e-12
        )
        # optax from x_2 with g_1 as its previous gradient follows the same points
        opt = optax.optimistic_gradient_descent(eta)
        state = opt.init(xs[1])
        state = (
            state[0]._replace(is_initial_step=jnp.array(False), previous_gradient=gs[0]),
        ) + tuple(state[1:])
        y = xs[1]
        for t in range(1, rounds):
            np.testing.assert_allclose(y, xs[t], atol=1e-12)
            updates, state = opt.update(quadratic_grad(y), state)
            y = optax.apply_updates(y, updates)


def test_play_starts_from_the_base_point_not_the_played_point():
    domain = Ball(1.0, 2)
    learner = optimistic_omd(domain, step=0.3)
    xs, gs, state = trajectory(learner, jnp.array([0.2, 0.1]), quadratic_grad, 5)
    # x_t = Pi(xhat_t - eta M_t) with xhat_t the base sequence and M_t = g_{t-1}
    np.testing.assert_allclose(
        learner.play(state), domain.project(state.xhat - 0.3 * gs[-1]), atol=1e-6
    )
    np.testing.assert_allclose(state.hint, gs[-1])


def test_adaptive_step_uses_only_past_gradient_variation():
    domain = Ball(1.0, 2)
    learner = optimistic_omd(domain, smoothness=0.5)
    xs, gs, state = trajectory(learner, jnp.zeros(2), lambda x: 3.0 * quadratic_grad(x), 6)
    hints = jnp.concatenate([jnp.zeros((1, 2)), gs[:-1]])
    np.testing.assert_allclose(state.accum, jnp.sum((gs - hints) ** 2), rtol=1e-5)
    eta = min(2.0 / np.sqrt(1.0 + float(state.accum)), 0.5)
    np.testing.assert_allclose(
        learner.play(state), domain.project(state.xhat - eta * gs[-1]), atol=1e-6
    )


def test_entropic_mirror_map_is_optimistic_hedge():
    eta, d = 0.2, 4
    losses = jax.random.normal(jax.random.PRNGKey(0), (8, d))
    xs, _ = scan_linear(
        optimistic_omd(Simplex(d), mirror="entropy", step=eta), jnp.full(d, 0.25), losses
    )
    past = jnp.cumsum(losses, 0) - losses  # sum_{s<t} g_s
    hints = jnp.concatenate([jnp.zeros((1, d)), losses[:-1]])
    np.testing.assert_allclose(xs, jax.nn.softmax(-eta * (past + hints), axis=-1), atol=1e-6)


@pytest.mark.parametrize("domain", [Ball(0.5, 3), Box(-0.2, 0.4, dim=3), Simplex(3)], ids=repr)
def test_played_and_base_points_stay_in_the_domain(domain):
    grads = 5 * jax.random.normal(jax.random.PRNGKey(1), (20, 3))
    xs, bases = scan_linear(
        optimistic_omd(domain, step=2.0), domain.project(jnp.array([0.1, 0.2, 0.3])), grads
    )
    assert float(jnp.max(jax.vmap(domain.distance)(xs))) < 1e-5
    assert float(jnp.max(jax.vmap(domain.distance)(bases))) < 1e-5


def test_ogd_is_omd_without_the_hint():
    domain = Ball(1.0, 2)
    xs, gs, _ = trajectory(online_gradient_descent(domain), jnp.zeros(2), quadratic_grad, 6)
    x = jnp.zeros(2)
    total = 0.0
    for t in range(6):
        np.testing.assert_allclose(xs[t], x, atol=1e-6)
        eta = 2.0 / np.sqrt(1.0 + total)
        total += float(jnp.sum(gs[t] ** 2))
        x = domain.project(x - eta * gs[t])


def test_strongly_convex_step_is_one_over_lambda_t():
    learner = optimistic_omd(
        Unconstrained(1), step="strongly_convex", strong_convexity=2.0, smoothness=0.1
    )
    state = learner.init(jnp.zeros(1))
    for t in range(1, 5):
        xhat = state.xhat
        state = learner.update(state, jnp.ones(1))
        np.testing.assert_allclose(xhat - state.xhat, min(1 / (2.0 * t), 1 / 0.4), rtol=1e-6)


def test_run_scans_the_protocol_and_names_a_nonfinite_round():
    learner = optimistic_omd(Ball(1.0, 2), step=0.1)
    result = run(
        learner,
        lambda x, t, key: jnp.sum(x * jnp.array([1.0, 2.0])),
        jnp.zeros(2),
        5,
        jax.random.PRNGKey(0),
    )
    np.testing.assert_allclose(result.grads, jnp.tile(jnp.array([1.0, 2.0]), (5, 1)))
    bad = lambda x, t, key: jnp.where(t == 3, jnp.nan, 1.0) * jnp.sum(x)  # noqa: E731
    with pytest.raises(ValueError, match="round 3"):
        run(learner, bad, jnp.zeros(2), 5, jax.random.PRNGKey(0))


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: optimistic_omd(Ball(1.0), step=0.0), "`step`"),
        (lambda: optimistic_omd(Ball(1.0), step=-0.1), "`step`"),
        (lambda: optimistic_omd(Ball(1.0), smoothness=0.0), "`smoothness`"),
        (lambda: optimistic_omd(Ball(1.0), delta=0.0), "`delta`"),
        (lambda: optimistic_omd(Ball(1.0), diameter=-1.0), "`diameter`"),
        (lambda: optimistic_omd(Ball(1.0), step="fast"), "`step`"),
        (lambda: optimistic_omd(Ball(1.0), step="strongly_convex"), "`strong_convexity`"),
        (lambda: optimistic_omd(Ball(1.0), mirror="entropy"), "Simplex"),
        (lambda: optimistic_omd(Unconstrained(2)), "`diameter`"),
        (lambda: Ball(0.0), "`radius`"),
        (lambda: Ball(-1.0), "empty"),
        (lambda: Box(jnp.array([0.0, 1.0]), jnp.array([1.0, 0.5])), "empty"),
        (lambda: Simplex(0), "`dim`"),
        (lambda: Box(0.0, 1.0), "`dim`"),
    ],
)
def test_bad_configuration_is_rejected(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_bad_points_and_gradients_are_rejected():
    learner = optimistic_omd(Ball(1.0, 2), step=0.1)
    with pytest.raises(ValueError, match=r"`x0` must lie in the domain.*distance 1"):
        learner.init(jnp.array([2.0, 0.0]))
    state = learner.init(jnp.zeros(2))
    with pytest.raises(ValueError, match=r"`grad` must have shape \(2,\)"):
        learner.update(state, jnp.zeros(3))
    with pytest.raises(ValueError, match="`grad` of round 1 contains NaN"):
        learner.update(state, jnp.array([jnp.inf, 0.0]))
