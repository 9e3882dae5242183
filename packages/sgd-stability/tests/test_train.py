import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from sgd_stability import DiagonalLinearNet, square_loss, train_to_interpolation


@pytest.fixture(scope="module")
def problem():
    x = jax.random.normal(jax.random.PRNGKey(0), (8, 5))
    beta = jnp.array([1.0, -1.0, 0.0, 0.0, 0.5])
    return DiagonalLinearNet(5, init_scale=0.5), x, x @ beta


def _optax_reference(model, x, y, lr, batches):
    """optax.sgd on the square loss of the given index batches, step by step."""
    graphdef, params = nnx.split(model)
    optimizer = optax.sgd(lr)
    state = optimizer.init(params)
    loss = lambda p, idx: square_loss(nnx.merge(graphdef, p), x[idx], y[idx])  # noqa: E731
    for idx in batches:
        grads = jax.grad(loss)(params, idx)
        updates, state = optimizer.update(grads, state, params)
        params = optax.apply_updates(params, updates)
    return nnx.merge(graphdef, params)


def test_full_batch_without_replacement_is_gd_with_optax_sgd(problem):
    model, x, y = problem
    trained, report = train_to_interpolation(
        model, x, y, lr=0.05, batch_size=8, replacement=False, key=jax.random.PRNGKey(0),
        loss_tol=1e-30, max_epochs=7,
    )  # fmt: skip
    assert int(report.steps) == 7 and not bool(report.converged)
    want = _optax_reference(model, x, y, 0.05, [jnp.arange(8)] * 7)
    np.testing.assert_allclose(trained.beta(), want.beta(), rtol=1e-6)


def test_sgd_draws_a_fresh_batch_per_step_from_fold_in(problem):
    model, x, y = problem
    key = jax.random.PRNGKey(3)
    trained, report = train_to_interpolation(
        model, x, y, lr=0.05, batch_size=2, key=key, loss_tol=1e-30, max_epochs=3
    )
    assert int(report.steps) == 12  # ceil(8 / 2) steps per epoch
    batches = [jax.random.randint(jax.random.fold_in(key, t), (2,), 0, 8) for t in range(12)]
    want = _optax_reference(model, x, y, 0.05, batches)
    np.testing.assert_allclose(trained.beta(), want.beta(), rtol=1e-6)


def test_converges_to_interpolation_and_reports_divergence(problem):
    model, x, y = problem
    key = jax.random.PRNGKey(1)
    trained, report = train_to_interpolation(model, x, y, lr=0.05, batch_size=1, key=key)
    assert bool(report.converged) and not bool(report.diverged)
    assert square_loss(trained, x, y) < 1e-6
    last = int(report.epochs)
    assert np.all(np.asarray(report.loss[last - 10 : last]) < 1e-6)  # held for 10 epochs
    assert np.all(np.isnan(np.asarray(report.loss[last:])))
    _, blown = train_to_interpolation(model, x, y, lr=50.0, batch_size=1, key=key)
    assert bool(blown.diverged) and not bool(blown.converged)


def test_rejects_bad_training_inputs(problem):
    model, x, y = problem
    key = jax.random.PRNGKey(0)
    with pytest.raises(ValueError, match="`lr`"):
        train_to_interpolation(model, x, y, lr=0.0, batch_size=1, key=key)
    for bad in (0, 9):
        with pytest.raises(ValueError, match=r"`batch_size` must be in \[1, n\] = \[1, 8\]"):
            train_to_interpolation(model, x, y, lr=0.1, batch_size=bad, key=key)
    with pytest.raises(ValueError, match="`x` and `y`"):
        train_to_interpolation(model, x, y[:5], lr=0.1, batch_size=1, key=key)
    with pytest.raises(ValueError, match="`y`"):
        train_to_interpolation(model, x, y.at[2].set(jnp.inf), lr=0.1, batch_size=1, key=key)
    with pytest.raises(ValueError, match="`patience`"):
        train_to_interpolation(model, x, y, lr=0.1, batch_size=1, key=key, patience=0)
