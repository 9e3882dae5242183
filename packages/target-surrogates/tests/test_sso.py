import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from target_surrogates import (
    Armijo,
    SmoothGD,
    TargetProblem,
    loss,
    mm_minimize,
    project_to_targets,
    run_optax,
    run_sso,
    sso_init,
    sso_step,
    target_gradient_step,
)


def test_one_inner_sgd_step_is_one_sgd_step(mlp_data, softmax_mlp_problem):
    """m = 1 with inner optax.sgd(gamma) is SGD with step eta * gamma on the batch loss."""
    params, batch = mlp_data
    eta, gamma = 3.0, 0.2
    new, state, info = sso_step(softmax_mlp_problem, sso_init(params), params, batch, eta=eta,
                                inner_steps=1, inner=optax.sgd(gamma))  # fmt: skip
    grad = jax.grad(lambda p: loss(softmax_mlp_problem, p, batch))(params)
    expected = jax.tree.map(lambda p, g: p - eta * gamma * g, params, grad)
    for a, b in zip(jax.tree.leaves(new), jax.tree.leaves(expected), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(info.loss_start, loss(softmax_mlp_problem, params, batch), rtol=1e-6)


def test_compiled_sso_with_one_inner_step_equals_sgd_on_the_same_batches(
    logistic_data, logistic_problem
):
    w0 = jnp.zeros(5)
    kw = dict(key=jax.random.PRNGKey(3), outer_steps=20, batch_size=8)
    sso = run_sso(logistic_problem, w0, logistic_data, eta=4.0, inner_steps=1,
                  inner=optax.sgd(0.25), **kw)  # fmt: skip
    sgd = run_optax(logistic_problem, w0, logistic_data, learning_rate=1.0, **kw)
    np.testing.assert_allclose(sso.losses, sgd.losses, rtol=1e-5)
    np.testing.assert_allclose(sso.params, sgd.params, rtol=1e-4, atol=1e-6)


def test_smooth_gd_takes_the_step_one_over_the_batch_curvature(logistic_data, logistic_problem):
    """Linear model: m = 1 SmoothGD is SGD with step eta / lambda_max(X_B^T X_B / b)."""
    x, s = logistic_data
    w, eta = 0.1 * jnp.ones(5), 3.0
    new, _, _ = sso_step(logistic_problem, sso_init(w), w, (x, s), eta=eta, inner_steps=1,
                         inner=SmoothGD(power_iterations=100))  # fmt: skip
    lam = jnp.linalg.eigvalsh(x.T @ x / x.shape[0])[-1]
    grad = jax.grad(lambda p: loss(logistic_problem, p, (x, s)))(w)
    np.testing.assert_allclose(new, w - eta / lam * grad, rtol=1e-4, atol=1e-6)


def test_counts_one_expensive_call_per_outer_step(mlp_data, softmax_mlp_problem):
    params, batch = mlp_data
    state = sso_init(params)
    for _ in range(3):
        params, state, info = sso_step(softmax_mlp_problem, state, params, batch, eta=1.0,
                                       inner_steps=7)  # fmt: skip
    assert int(state.num_target_grads) == 3 and int(state.step) == 3
    assert float(info.surrogate_end) <= float(info.surrogate_start)  # Armijo never increases it


def test_many_inner_steps_reach_the_projection(logistic_data, logistic_problem):
    """m -> infinity: SSO's step is the least-squares projection of z - eta G."""
    x, s = logistic_data
    w = 0.1 * jnp.ones(5)
    lam = float(jnp.linalg.eigvalsh(x.T @ x / x.shape[0])[-1])
    new, _, _ = sso_step(logistic_problem, sso_init(w), w, (x, s), eta=5.0, inner_steps=2000,
                         inner=optax.sgd(1.0 / lam))  # fmt: skip
    z = x @ w
    grad = jax.grad(lambda t: jnp.sum(jax.nn.softplus(-s * t)))(z)
    proj = project_to_targets(logistic_problem, w, x, target_gradient_step(z, grad, 5.0))
    np.testing.assert_allclose(new, proj.value, rtol=1e-3, atol=1e-4)


def test_optax_line_search_inner_solver(logistic_data, logistic_problem):
    w = jnp.zeros(5)
    new, _, info = sso_step(logistic_problem, sso_init(w), w, logistic_data, eta=4.0,
                            inner_steps=5, inner=optax.lbfgs())  # fmt: skip
    assert float(info.surrogate_end) < float(info.surrogate_start)


def test_full_batch_mm_never_increases_the_loss(mlp_data, softmax_mlp_problem):
    """eta = 1/L (softmax cross-entropy: L = 1/2) and a nonlinear model."""
    params, batch = mlp_data
    with jax.enable_x64(True):
        params = jax.tree.map(lambda a: jnp.asarray(a, jnp.float64), params)
        batch = (jnp.asarray(batch[0], jnp.float64), batch[1])
        res = mm_minimize(softmax_mlp_problem, params, batch, eta=2.0, inner_steps=5,
                          outer_steps=15, smoothness=0.5)  # fmt: skip
    assert res.monotone and res.num_target_grads == 15
    assert np.all(np.diff(res.losses) <= 0) and res.losses[-1] < 0.8 * res.losses[0]
    assert np.all(
        res.losses[1:] <= res.surrogate_ends + 1e-12
    )  # h(theta_{t+1}) <= g_t(theta_{t+1})


def test_mm_warns_when_eta_exceeds_one_over_smoothness(logistic_data, logistic_problem):
    with pytest.warns(UserWarning, match="1/L"):
        mm_minimize(logistic_problem, jnp.zeros(5), logistic_data, eta=10.0, inner_steps=1,
                    outer_steps=1, smoothness=0.25)  # fmt: skip


# ------------------------------------------------------------------------------ bad input


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(eta=0.0, inner_steps=1), "`eta` must be a finite number > 0, got 0.0"),
        (dict(eta=-1.0, inner_steps=1), "`eta`"),
        (dict(eta=1.0, inner_steps=0), r"`inner_steps` must be an integer in \[1, inf\], got 0"),
        (dict(eta=1.0, inner_steps=1, inner=Armijo(c=1.5)), "`inner.c`"),
    ],
)
def test_bad_arguments_are_named(kwargs, match, logistic_data, logistic_problem):
    w = jnp.zeros(5)
    with pytest.raises(ValueError, match=match):
        sso_step(logistic_problem, sso_init(w), w, logistic_data, **kwargs)


def test_mismatched_target_shapes_name_both_shapes(logistic_data, logistic_problem):
    x, s = logistic_data
    column = TargetProblem(lambda w, x: (x @ w)[:, None], logistic_problem.target_loss)
    w = jnp.zeros(5)
    with pytest.raises(ValueError, match=r"shape \(40, 1\).*`y` \(shape \(40,\)\)"):
        sso_step(column, sso_init(w), w, (x, s), eta=1.0, inner_steps=1)
    with pytest.raises(ValueError, match="`z` and `grad` must have the same shape"):
        target_gradient_step(jnp.zeros((4, 2)), jnp.zeros((4, 3)), 1.0)
    with pytest.raises(ValueError, match=r"`z_target` must have the shape .*\(40,\), got \(39,\)"):
        project_to_targets(logistic_problem, w, x, jnp.zeros(39))
    with pytest.raises(ValueError, match="at least one example"):
        sso_step(logistic_problem, sso_init(w), w, (x[:0], s[:0]), eta=1.0, inner_steps=1)


def test_nonfinite_target_gradient_names_the_outer_step(logistic_data):
    bad = TargetProblem(lambda w, x: x @ w, lambda z, s: jnp.sqrt(z) * s)  # NaN gradient at z < 0
    with pytest.raises(FloatingPointError, match="outer step 0: the target gradient"):
        mm_minimize(bad, -jnp.ones(5), logistic_data, eta=1.0, inner_steps=1, outer_steps=2)
