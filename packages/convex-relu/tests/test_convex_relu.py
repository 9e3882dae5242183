import jax
import jax.numpy as jnp
import numpy as np
import pytest

from convex_relu import (
    ConvexReLUProblem,
    admm_solve,
    adversarial_train,
    arrangement_size_2d,
    convex_predict,
    enumerate_patterns_2d,
    init_network,
    nonconvex_objective,
    pgd_attack,
    relu_network_apply,
    sample_patterns,
    scp_train,
    to_relu_network,
    train_nonconvex,
)
from convex_relu._admm import _factor


def xor(n, seed=0):
    rng = np.random.default_rng(seed)
    Z = rng.normal(size=(n, 2))
    return np.c_[Z, np.ones(n)], np.where(Z[:, 0] * Z[:, 1] >= 0, 1.0, -1.0)


def test_enumeration_is_complete_and_contains_every_sampled_pattern():
    X, _ = xor(8)
    D = np.asarray(enumerate_patterns_2d(X))
    assert D.shape == (arrangement_size_2d(8), 8)
    sampled = np.asarray(sample_patterns(jax.random.PRNGKey(0), X, 4000))
    assert {tuple(r) for r in sampled} <= {tuple(r) for r in D}


def test_cached_matrix_equals_dense_system_with_materialised_G():
    X, y = xor(6)
    D = sample_patterns(jax.random.PRNGKey(1), X, 5)
    pb = ConvexReLUProblem(X, y, D, 0.1)
    P, (n, d) = pb.num_patterns, X.shape
    G = np.zeros((2 * P * n, 2 * P * d))
    masks = np.asarray(pb.masks)
    for j in range(2 * P):
        G[j * n : (j + 1) * n, j * d : (j + 1) * d] = (2 * masks[j % P] - 1)[:, None] * X
    F = np.asarray(pb.F_dense())
    A = np.eye(2 * P * d) + F.T @ F / 0.5 + G.T @ G
    L = np.asarray(_factor(pb, 0.5))
    np.testing.assert_allclose(np.tril(L) @ np.tril(L).T, A, rtol=1e-10, atol=1e-10)
    u = jax.random.normal(jax.random.PRNGKey(2), (2 * P, d))
    np.testing.assert_allclose(pb.G(u).reshape(-1), G @ np.asarray(u).reshape(-1), atol=1e-12)
    np.testing.assert_allclose(pb.F(u), F @ np.asarray(u).reshape(-1), atol=1e-12)


def test_admm_converges_and_recovered_network_matches_convex_objective():
    X, y = xor(8)
    pb = ConvexReLUProblem(X, y, enumerate_patterns_2d(X), 1e-2)
    res = admm_solve(pb, rho=0.03, gamma=1.6, tol=1e-7, max_iter=20000)
    assert bool(res.converged)
    u = jnp.concatenate([res.v, res.w])
    net = to_relu_network(res.v, res.w)
    convex = float(pb.objective(u))
    assert float(pb.constraint_violation(u)) < 1e-5
    assert abs(float(nonconvex_objective(net, X, y, 1e-2)) - convex) < 1e-5 * convex
    np.testing.assert_allclose(relu_network_apply(net, X), convex_predict(res.v, res.w, X))
    # No local method on the non-convex problem does better than the convex optimum.
    _, trace = train_nonconvex(init_network(jax.random.PRNGKey(0), 3, 18), X, y, 1e-2, 1e-2,
                               steps=3000)  # fmt: skip
    assert float(trace.min()) >= convex * (1 - 1e-5)


def test_cholesky_and_cg_primal_steps_agree():
    X, y = xor(10)
    pb = ConvexReLUProblem(X, y, sample_patterns(jax.random.PRNGKey(0), X, 8), 1e-2)
    a = admm_solve(pb, tol=0.0, max_iter=30)
    b = admm_solve(pb, tol=0.0, max_iter=30, primal="cg", cg_iter=200)
    np.testing.assert_allclose(a.v, b.v, atol=1e-6)
    assert not bool(a.converged) and int(a.iterations) == 30


def test_scp_objective_equals_recovered_network_objective():
    X, y = xor(30)
    res = scp_train(jax.random.PRNGKey(0), X, y, 50, 1e-2, iters=500)
    np.testing.assert_allclose(nonconvex_objective(res.params, X, y, 1e-2), res.objective,
                               rtol=1e-10)  # fmt: skip


def test_pgd_stays_in_ball_and_leaves_bias_alone():
    X, y = xor(20)
    params = init_network(jax.random.PRNGKey(0), 3, 8)
    Xa = pgd_attack(params, X, y, 0.1, steps=5)
    assert float(jnp.max(jnp.abs(Xa - X))) <= 0.1 + 1e-12
    np.testing.assert_array_equal(Xa[:, -1], X[:, -1])


def test_robust_objective_bounds_the_attacked_hinge_loss_when_feasible():
    X, y = xor(20)
    D = sample_patterns(jax.random.PRNGKey(0), X, 6)
    res = adversarial_train(X, y, D, 1e-2, 0.05, steps=1500, penalty=50.0)
    net = to_relu_network(res.v, res.w)
    Xa = pgd_attack(net, X, y, 0.05, steps=20)
    attacked = float(jnp.sum(jax.nn.relu(1 - y * relu_network_apply(net, Xa))))
    if float(res.constraint_violation) < 1e-6:  # patterns stable over the ball: a true bound
        assert attacked <= float(res.objective) + 1e-6


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda pb: admm_solve(pb, rho=0.0), "rho"),
        (lambda pb: admm_solve(pb, rho=-1.0), "rho"),
        (lambda pb: admm_solve(pb, gamma=0.0), "gamma"),
        (lambda pb: admm_solve(pb, max_dense_dim=4), "primal"),
    ],
)
def test_admm_rejects_bad_arguments(call, match):
    X, y = xor(6)
    pb = ConvexReLUProblem(X, y, sample_patterns(jax.random.PRNGKey(0), X, 4), 0.1)
    with pytest.raises(ValueError, match=match):
        call(pb)


def test_problem_rejects_bad_input():
    X, y = xor(6)
    D = sample_patterns(jax.random.PRNGKey(0), X, 4)
    with pytest.raises(ValueError, match="patterns"):
        ConvexReLUProblem(X, y, np.zeros((0, 6), bool), 0.1)
    with pytest.raises(ValueError, match="num_patterns"):
        sample_patterns(jax.random.PRNGKey(0), X, 0)
    bad = X.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="X"):
        ConvexReLUProblem(bad, y, D, 0.1)
    with pytest.raises(ValueError, match="beta"):
        ConvexReLUProblem(X, y, D, 0.0)
    with pytest.raises(ValueError, match="y"):
        ConvexReLUProblem(X, y[:-1], D, 0.1)
    with pytest.raises(ValueError, match="y"):
        ConvexReLUProblem(X, 2 * y, D, 0.1, loss="hinge")
    with pytest.raises(TypeError, match="patterns"):
        ConvexReLUProblem(X, y, np.asarray(D, float), 0.1)
    with pytest.raises(ValueError, match="loss"):
        admm_solve(ConvexReLUProblem(X, y, D, 0.1, loss="hinge"))
    with pytest.raises(ValueError, match="eps"):
        adversarial_train(X, y, D, 0.1, -0.1)
