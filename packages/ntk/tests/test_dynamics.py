import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import ntk


def problem(n=6, m=4, seed=0):
    k1, k2, k3 = jax.random.split(jax.random.key(seed), 3)
    feats = jax.random.normal(k1, (n + m, 10))
    kernel = feats @ feats.T / 10
    y = jax.random.normal(k2, (n,))
    f0 = 0.1 * jax.random.normal(k3, (n + m,))
    return kernel, y, f0


def test_discrete_prediction_matches_explicit_gd_iterations():
    kernel, y, f0 = problem()
    n, lr, steps = 6, 0.5, 37
    f, k_np, y_np = np.asarray(f0), np.asarray(kernel), np.asarray(y)
    for _ in range(steps):
        f = f - lr / n * k_np[:, :n] @ (f[:n] - y_np)
    pred = ntk.kernel_gd_predict(
        kernel[:n, :n],
        y,
        lr=lr,
        steps=steps,
        f0_train=f0[:n],
        k_test_train=kernel[n:, :n],
        f0_test=f0[n:],
    )
    np.testing.assert_allclose(pred.train, f[:n], rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(pred.test, f[n:], rtol=1e-9, atol=1e-10)
    assert bool(pred.stable)


def test_infinite_time_is_kernel_regression_and_long_time_limit():
    kernel, y, _ = problem()
    k_tt, k_xt = kernel[:6, :6], kernel[6:, :6]
    pred = ntk.kernel_gd_predict(k_tt, y, lr=1.0, k_test_train=k_xt)
    np.testing.assert_allclose(pred.train, y, atol=1e-8)
    np.testing.assert_allclose(pred.test, k_xt @ jnp.linalg.solve(k_tt, y), rtol=1e-7)
    late = ntk.kernel_gd_predict(k_tt, y, lr=1.0, time=1e6, k_test_train=k_xt)
    np.testing.assert_allclose(late.test, pred.test, rtol=1e-5)


def test_zero_eigenvalue_uses_linear_limit():
    # Rank-1 kernel: the null direction of the residual must not move, and nothing is NaN.
    v = jnp.array([1.0, 2.0, 0.5])
    k = jnp.outer(v, v)
    y = jnp.array([1.0, -1.0, 0.3])
    pred = ntk.kernel_gd_predict(k, y, lr=0.1, steps=5)
    f = np.zeros(3)
    for _ in range(5):
        f = f - 0.1 / 3 * np.asarray(k) @ (f - np.asarray(y))
    np.testing.assert_allclose(pred.train, f, atol=1e-10)


def test_linearized_gd_matches_kernel_gd_with_initial_ntk():
    net = ntk.NTKMLP([2, 32, 1], rngs=nnx.Rngs(0))
    graphdef, params0 = nnx.split(net)
    x = jax.random.normal(jax.random.key(1), (6, 2))
    y = jnp.sin(x[:, 0])

    def apply(p, x):
        return nnx.merge(graphdef, p)(x)

    apply_lin = ntk.linearize(apply, params0)
    np.testing.assert_allclose(apply_lin(params0, x), apply(params0, x), rtol=1e-12)

    def loss(p):
        return 0.5 * jnp.mean((apply_lin(p, x)[:, 0] - y) ** 2)

    @jax.jit
    def gd(p):
        step = lambda p, _: (jax.tree.map(lambda a, g: a - 0.5 * g, p, jax.grad(loss)(p)), None)  # noqa: E731
        return jax.lax.scan(step, p, None, length=20)[0]

    p = gd(params0)
    k0 = ntk.empirical_ntk(net, None, x)
    pred = ntk.kernel_gd_predict(k0, y, lr=0.5, steps=20, f0_train=apply(params0, x)[:, 0])
    np.testing.assert_allclose(apply_lin(p, x)[:, 0], pred.train, rtol=1e-8, atol=1e-10)


def test_unstable_learning_rate_is_flagged():
    kernel, y, _ = problem()
    lam = float(jnp.linalg.eigvalsh(kernel[:6, :6])[-1])
    pred = ntk.kernel_gd_predict(kernel[:6, :6], y, lr=2.5 * 6 / lam, steps=3)
    assert not bool(pred.stable)


def test_rejects_bad_inputs():
    kernel, y, _ = problem()
    k = kernel[:6, :6]
    with pytest.raises(ValueError, match="lr"):
        ntk.kernel_gd_predict(k, y, lr=0.0)
    with pytest.raises(ValueError, match="steps"):
        ntk.kernel_gd_predict(k, y, lr=1.0, steps=-1)
    with pytest.raises(ValueError, match="time"):
        ntk.kernel_gd_predict(k, y, lr=1.0, time=-1.0)
    with pytest.raises(ValueError, match="steps"):
        ntk.kernel_gd_predict(k, y, lr=1.0, steps=2, time=1.0)
    with pytest.raises(ValueError, match="square"):
        ntk.kernel_gd_predict(kernel[:6, :5], y, lr=1.0)
    with pytest.raises(ValueError, match="symmetric"):
        ntk.kernel_gd_predict(k.at[0, 1].add(1.0), y, lr=1.0)
    with pytest.raises(ValueError, match="y_train"):
        ntk.kernel_gd_predict(k, y[:5], lr=1.0)
    with pytest.raises(ValueError, match="f0_train"):
        ntk.kernel_gd_predict(k, y, lr=1.0, f0_train=jnp.zeros(5))
    with pytest.raises(ValueError, match="k_test_train"):
        ntk.kernel_gd_predict(k, y, lr=1.0, k_test_train=jnp.zeros((3, 5)))
    with pytest.raises(ValueError, match="k_train_train"):
        ntk.kernel_gd_predict(jnp.zeros((0, 0)), jnp.zeros(0), lr=1.0)
    with pytest.raises(ValueError, match="f0_test"):
        ntk.kernel_gd_predict(
            k, y, lr=1.0, k_test_train=jnp.zeros((3, 6)), f0_test=jnp.full(3, jnp.nan)
        )
    with pytest.raises(TypeError, match="steps"):
        ntk.kernel_gd_predict(k, y, lr=1.0, steps=2.5)
