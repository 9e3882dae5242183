import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from batch_size_lr import lanczos_lr_momentum, polyak_lr_momentum

EIGS = jnp.array([0.5, 1.0, 2.0, 4.0, 10.0])


def quadratic(params, center):
    return 0.5 * jnp.sum(EIGS * (params["w"] - center) ** 2)


def _run(optimizer, steps=12):
    params = {"w": jnp.ones(5)}
    center = jnp.zeros(5)
    state = optimizer.init(params)
    update = jax.jit(optimizer.update)
    path = []
    for _ in range(steps):
        grads = jax.grad(quadratic)(params, center)
        updates, state = update(grads, state, params, batch=(center,))
        params = optax.apply_updates(params, updates)
        path.append(params["w"])
    return np.asarray(path), state


def test_equals_optax_heavy_ball_when_fixed():
    fixed = lanczos_lr_momentum(quadratic, interval=1000, learning_rate=0.05, momentum=0.8)
    ours, _ = _run(fixed)
    reference, _ = _run(optax.sgd(0.05, momentum=0.8))
    np.testing.assert_allclose(ours, reference, rtol=1e-6, atol=1e-7)


def test_estimates_polyak_parameters_from_the_spectrum():
    # order 5 = dimension: the Ritz values are the exact eigenvalues, with weights
    # proportional to the start vector's squared components.
    learner = lanczos_lr_momentum(quadratic, interval=3, order=5, quantile=0.01)
    path, state = _run(learner, steps=3)
    inner = state[0]
    assert float(inner.lambda_max) == pytest.approx(10.0, rel=1e-4)
    assert float(inner.lambda_min) == pytest.approx(0.5, rel=1e-4)
    lr, mu = polyak_lr_momentum(10.0, 0.5)
    a, b = np.sqrt(10.0), np.sqrt(0.5)
    assert float(lr) == pytest.approx(4 / (a + b) ** 2) and float(mu) == pytest.approx(
        ((a - b) / (a + b)) ** 2
    )
    assert float(inner.learning_rate) == pytest.approx(float(lr), rel=1e-4)
    # After the estimate the run is heavy ball with those parameters.
    reference, _ = _run(optax.sgd(float(lr), momentum=float(mu)), steps=3)
    np.testing.assert_allclose(path, reference, rtol=1e-4, atol=1e-6)


def test_polyak_rule_is_stable_and_clipped():
    lr, mu = polyak_lr_momentum(jnp.array(1e4), jnp.array(1e-4), max_momentum=0.9)
    assert float(mu) == pytest.approx(0.9)
    assert float(lr) * 1e4 <= 2 * (1 + 0.9) + 1e-5


def test_converges_on_a_quadratic_under_jit():
    learner = lanczos_lr_momentum(quadratic, interval=5, order=5)
    params = {"w": jnp.ones(5)}

    @jax.jit
    def run(params):
        def step(carry, _):
            p, s = carry
            u, s = learner.update(jax.grad(quadratic)(p, 0.0), s, p, batch=(0.0,))
            return (optax.apply_updates(p, u), s), quadratic(p, 0.0)

        return jax.lax.scan(step, (params, learner.init(params)), None, length=60)[1]

    losses = run(params)
    assert float(losses[-1]) < 1e-6 * float(losses[0])


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(interval=0), "interval"),
        (dict(order=1), "order"),
        (dict(quantile=1.0), "quantile"),
        (dict(max_momentum=1.0), "max_momentum"),
        (dict(learning_rate=-1.0), "learning_rate"),
    ],
)
def test_bad_learner_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        lanczos_lr_momentum(quadratic, **(dict(interval=5) | kwargs))
