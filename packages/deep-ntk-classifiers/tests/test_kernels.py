import jax
import jax.numpy as jnp
import numpy as np
import pytest

from deep_ntk_classifiers import (
    OPTIMAL_DUALS,
    deep_kernel,
    deep_kernel_classifier,
    dirichlet_sphere_data,
    dual_from_activation,
    erf_dual,
    hilbert_classifier,
    iterate_kernel,
    majority_vote_classifier,
    nearest_neighbor_classifier,
    polynomial_dual,
    predict_labels,
    relu_dual,
    sine_dual,
)

ALPHAS, PRIORS = [[1.0, 2.0], [2.0, 1.0]], [0.4, 0.6]


def _linear(xi, depth, dual, kind):
    """The official recursion in the linear domain (float64)."""
    xi = np.clip(np.asarray(xi, float), -1, 1)
    k = xi.copy()
    for _ in range(depth):
        new = np.clip(np.asarray(dual.dual(jnp.asarray(xi))), -1, 1)
        k = new + k * np.asarray(dual.dual_deriv(jnp.asarray(xi)))
        xi = new
    return xi if kind == "nngp" else k


@pytest.mark.parametrize("kind", ["nngp", "ntk"])
@pytest.mark.parametrize("dual", [relu_dual(), erf_dual(), sine_dual(2.0), OPTIMAL_DUALS[4]])
def test_log_domain_equals_linear_domain_where_both_are_representable(dual, kind):
    xi = jnp.array([-0.9, -1e-5, 0.0, 3e-5, 0.3, 0.99, 1.0])
    got = iterate_kernel(xi, depth=6, dual=dual, kind=kind).value()
    np.testing.assert_allclose(got, _linear(xi, 6, dual, kind), rtol=1e-10, atol=1e-300)


def test_relu_ntk_diagonal_grows_linearly_with_depth():
    for depth in (1, 10, 1000):
        value = iterate_kernel(1.0, depth=depth, dual=relu_dual(), kind="ntk").value()
        assert float(value) == pytest.approx(depth + 1, rel=1e-12)


def test_quadrature_dual_runs_through_the_kernel():
    custom = dual_from_activation(jax.nn.gelu, order=12)
    xi = jnp.array([0.1, 0.7])
    np.testing.assert_allclose(
        iterate_kernel(xi, depth=2, dual=custom).value(), _linear(xi, 2, custom, "nngp"), rtol=1e-9
    )


def _data(n_train=60, n_test=300, seed=0):
    k1, k2 = jax.random.split(jax.random.PRNGKey(seed))
    xtr, ytr, _ = dirichlet_sphere_data(k1, n_train, ALPHAS, PRIORS)
    xte, _, _ = dirichlet_sphere_data(k2, n_test, ALPHAS, PRIORS)
    return xtr, ytr, xte


def test_shallow_classifier_equals_the_plain_ridgeless_solve():
    x = np.random.default_rng(0).standard_normal((20, 6))
    x /= np.linalg.norm(x, axis=1, keepdims=True)  # well-conditioned Gram, unlike 1-D arcs
    xtr, ytr, xte = x[:8], np.where(np.arange(8) % 3 == 0, 1.0, -1.0), x[8:]
    scores = deep_kernel_classifier(xtr, ytr, xte, depth=2, dual=erf_dual(), kind="ntk")
    gram = _linear(np.asarray(xtr @ xtr.T), 2, erf_dual(), "ntk")
    cross = _linear(np.asarray(xtr @ xte.T), 2, erf_dual(), "ntk")
    direct = np.linalg.solve(gram, np.asarray(ytr)) @ cross
    np.testing.assert_allclose(scores.scores * np.exp(scores.log_scale), direct, rtol=1e-7)


def test_deep_xi_squared_kernel_is_nearest_neighbor():
    xtr, ytr, xte = _data()
    deep = predict_labels(
        deep_kernel_classifier(xtr, ytr, xte, depth=30, dual=polynomial_dual([0, 0, 1]))
    )
    np.testing.assert_array_equal(deep, nearest_neighbor_classifier(xtr, ytr, xte))


def test_deep_optimal_kernel_classifies_like_the_hilbert_estimate():
    xtr, ytr, xte = _data(n_train=100, n_test=400)
    deep = predict_labels(deep_kernel_classifier(xtr, ytr, xte, depth=40, dual=OPTIMAL_DUALS[1]))
    hilbert = predict_labels(hilbert_classifier(xtr, ytr, xte, alpha=1.0))
    assert np.mean(np.asarray(deep) == np.asarray(hilbert)) >= 0.98


def test_one_hot_labels_give_the_binary_decision():
    xtr, ytr, xte = _data()
    onehot = jnp.stack([ytr > 0, ytr < 0], axis=1).astype(float)
    binary = predict_labels(deep_kernel_classifier(xtr, ytr, xte, depth=10, dual=OPTIMAL_DUALS[2]))
    multi = predict_labels(
        deep_kernel_classifier(xtr, onehot, xte, depth=10, dual=OPTIMAL_DUALS[2])
    )
    np.testing.assert_array_equal(np.where(multi[:, 0] > 0, 1.0, -1.0), binary)


def test_hilbert_estimate_takes_the_label_of_a_coinciding_point():
    xtr, ytr, _ = _data()
    labels = predict_labels(hilbert_classifier(xtr, ytr, xtr[:5], alpha=3.0))
    np.testing.assert_array_equal(labels, ytr[:5])


def test_majority_vote_follows_the_official_tie_rule():
    assert float(majority_vote_classifier(jnp.array([1.0, -1.0]), 3)[0]) == -1.0
    assert float(majority_vote_classifier(jnp.array([1.0, 1.0, -1.0]), 3)[0]) == 1.0


def test_bad_inputs_name_the_argument():
    xtr, ytr, xte = _data(n_train=10, n_test=5)
    dual = OPTIMAL_DUALS[1]
    with pytest.raises(ValueError, match="`depth`"):
        deep_kernel(xtr, xte, depth=0, dual=dual)
    with pytest.raises(TypeError, match="`depth`"):
        deep_kernel(xtr, xte, depth=2.5, dual=dual)
    with pytest.raises(TypeError, match="`dual`"):
        deep_kernel(xtr, xte, depth=2, dual=jnp.tanh)
    with pytest.raises(ValueError, match="`kind`"):
        deep_kernel(xtr, xte, depth=2, dual=dual, kind="cnn")
    with pytest.raises(ValueError, match="`x_test` has zero vectors \\(rows \\[1\\]"):
        deep_kernel_classifier(xtr, ytr, xte.at[1].set(0.0), depth=2, dual=dual)
    with pytest.raises(ValueError, match="`x1` rows must have unit norm.*normalize=True"):
        deep_kernel(2.0 * xtr, xte, depth=2, dual=dual)
    k = deep_kernel(2.0 * xtr, xte, depth=2, dual=dual, normalize=True)
    np.testing.assert_allclose(k.value(), deep_kernel(xtr, xte, depth=2, dual=dual).value())
    with pytest.raises(ValueError, match="`x_train`.*NaN"):
        deep_kernel_classifier(xtr.at[0, 0].set(jnp.nan), ytr, xte, depth=2, dual=dual)
    with pytest.raises(ValueError, match="duplicate points \\(index pairs \\[\\(0, 3\\)\\]"):
        deep_kernel_classifier(xtr.at[3].set(xtr[0]), ytr, xte, depth=2, dual=dual)
    with pytest.raises(ValueError, match="`y_train` must hold labels"):
        deep_kernel_classifier(xtr, jnp.where(ytr > 0, 1.0, 0.0), xte, depth=2, dual=dual)
    with pytest.raises(ValueError, match="one-hot"):
        deep_kernel_classifier(xtr, jnp.ones((10, 2)), xte, depth=2, dual=dual)
    with pytest.raises(ValueError, match="`depth`=1100 is too deep"):
        deep_kernel_classifier(xtr, ytr, xte, depth=1100, dual=polynomial_dual([0, 0, 1]))
    with pytest.raises(ValueError, match="`alpha`"):
        hilbert_classifier(xtr, ytr, xte, alpha=0.0)
    with pytest.raises(ValueError, match="`correlation` must lie in"):
        iterate_kernel(1.5, depth=2, dual=dual)
    with pytest.raises(ValueError, match="`alphas` must be > 0"):
        dirichlet_sphere_data(jax.random.PRNGKey(0), 5, [[1.0, 0.0], [1.0, 1.0]], PRIORS)
    with pytest.raises(ValueError, match="`priors`"):
        dirichlet_sphere_data(jax.random.PRNGKey(0), 5, ALPHAS, [0.5, 0.6])
