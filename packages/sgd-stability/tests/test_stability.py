import functools
import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from sgd_stability import critical_lr, is_linearly_stable, stability_radius
from sgd_stability.reproduce import random_minima

METHODS = ("secular", "dense", "lanczos")


def _brute_force_radius(jac: np.ndarray, lr: float, batch_size: int, replacement: bool) -> float:
    """rho of E[(I - lr H_xi) P (I - lr H_xi)^T] in parameter space, every batch enumerated.

    ``jac`` (n, r) with full column rank, so parameter space is the range of the data space and
    the null-space eigenvalue 1 does not appear.
    """
    n, r = jac.shape
    if replacement:
        batches = list(itertools.product(range(n), repeat=batch_size))
    else:
        batches = list(itertools.permutations(range(n), batch_size))
    op = np.zeros((r * r, r * r))
    for batch in batches:
        counts = np.bincount(np.array(batch), minlength=n) / batch_size
        step = np.eye(r) - lr * jac.T @ (counts[:, None] * jac)
        op += np.kron(step, step) / len(batches)
    return float(np.max(np.abs(np.linalg.eigvals(op))))


@pytest.fixture(scope="module")
def jacobians():
    rng = np.random.default_rng(0)
    full = rng.normal(size=(4, 6)) * np.array([[1.0], [0.5], [2.0], [1.0]])
    low_rank = rng.normal(size=(5, 2))  # G = J J^T has rank 2 < n = 5
    return full, low_rank


@pytest.mark.parametrize(
    ("batch_size", "replacement"), [(1, True), (2, True), (2, False), (3, False)]
)
def test_radius_matches_brute_force_enumeration_of_batches(jacobians, batch_size, replacement):
    with jax.enable_x64(True):
        for jac in jacobians:
            # Parameter space of dimension rank(G): an orthonormal change of coordinates.
            u, s, _ = np.linalg.svd(jac, full_matrices=False)
            reduced = u[:, s > 1e-10] * s[s > 1e-10]
            gram = jac @ jac.T
            for lr in (0.05, 0.3):
                want = _brute_force_radius(reduced, lr, batch_size, replacement)
                for method in METHODS:
                    got = stability_radius(
                        gram, lr=lr, batch_size=batch_size, replacement=replacement, method=method
                    )
                    np.testing.assert_allclose(got.value, want, rtol=1e-9, err_msg=method)
                    assert bool(got.converged)


def test_full_batch_without_replacement_is_gd():
    with jax.enable_x64(True):
        rng = np.random.default_rng(1)
        jac = rng.normal(size=(5, 8))
        gram = jac @ jac.T
        hessian_eigs = np.linalg.eigvalsh(gram / 5)  # the nonzero spectrum of J^T J / n
        lr = 0.2
        got = stability_radius(gram, lr=lr, batch_size=5, replacement=False)
        np.testing.assert_allclose(got.value, np.max((1 - lr * hessian_eigs) ** 2), rtol=1e-10)
        edge = critical_lr(gram, batch_size=5, replacement=False)
        np.testing.assert_allclose(edge.sgd, 2 / hessian_eigs[-1], rtol=1e-9)
        np.testing.assert_allclose(edge.gd, 2 / hessian_eigs[-1], rtol=1e-12)


def test_orthogonal_gradients_decouple_into_per_example_conditions():
    # G = diag(||grad f_i||^2): SGD (B = 1) is stable iff lr ||grad f_i||^2 <= 2 for every i.
    with jax.enable_x64(True):
        norms = jnp.array([0.5, 1.0, 3.0, 2.0])
        edge = critical_lr(jnp.diag(norms), batch_size=1)
        np.testing.assert_allclose(edge.sgd, 2 / 3.0, rtol=1e-10)
        np.testing.assert_allclose(edge.gd, 2 * 4 / 3.0, rtol=1e-12)


def test_identical_gradients_make_sgd_equal_gd():
    # Every example has the same gradient: H_xi = H for every batch, and H has rank one.
    with jax.enable_x64(True):
        g = np.array([1.0, -2.0, 0.5])
        gram = np.full((6, 6), g @ g)
        edge = critical_lr(gram, batch_size=1)
        np.testing.assert_allclose(edge.sgd, edge.gd, rtol=1e-9)
        np.testing.assert_allclose(edge.sgd, 2 / (g @ g), rtol=1e-9)  # = 2 / tr H


@pytest.mark.parametrize("method", METHODS)
def test_critical_lr_is_where_the_radius_crosses_one(jacobians, method):
    with jax.enable_x64(True):
        gram = jacobians[0] @ jacobians[0].T
        for batch_size, replacement in ((1, True), (2, True), (3, False)):
            eta = float(
                critical_lr(gram, batch_size=batch_size, replacement=replacement, method=method).sgd
            )
            radius = functools.partial(
                stability_radius, gram, batch_size=batch_size, replacement=replacement
            )
            np.testing.assert_allclose(radius(lr=eta).value, 1.0, rtol=1e-8)
            assert radius(lr=0.99 * eta).value < 1.0 < radius(lr=1.01 * eta).value


def test_trace_bound_holds_for_batch_size_one_and_sgd_edge_below_gd_edge():
    # Wu & Su: SGD-stable (B = 1) implies tr H <= 2 / lr; SGD-stable implies GD-stable.
    with jax.enable_x64(True):
        grams = [g for g in random_minima(3, 60, (5, 5))]
        batch = jnp.asarray(np.stack(grams))
        traces = np.trace(batch, axis1=1, axis2=2) / 5
        for batch_size in (1, 2, 4):
            edge = jax.vmap(functools.partial(critical_lr, batch_size=batch_size))(batch)
            assert np.all(edge.sgd <= edge.gd * (1 + 1e-9))
            if batch_size == 1:
                assert np.max(edge.sgd * traces) <= 2 * (1 + 1e-9)
            else:  # the 2 / lr trace bound does not carry over to larger batches
                assert np.max(edge.sgd * traces) > 2


def test_vmap_and_jit_match_single_calls(jacobians):
    gram = jnp.asarray(jacobians[0] @ jacobians[0].T, jnp.float32)
    batch = jnp.stack([gram, 2 * gram, gram + jnp.eye(4)])
    batched = jax.jit(jax.vmap(lambda g: critical_lr(g, batch_size=2).sgd))(batch)
    single = [float(critical_lr(g, batch_size=2).sgd) for g in batch]
    np.testing.assert_allclose(batched, single, rtol=1e-5)


def test_is_linearly_stable_for_sgd_and_gd(jacobians):
    gram = jacobians[0] @ jacobians[0].T
    edge = critical_lr(gram, batch_size=1)
    lr = float(0.5 * (edge.sgd + edge.gd))  # between the two edges
    assert is_linearly_stable(gram, lr=lr, batch_size=1, optimizer="gd")
    assert not is_linearly_stable(gram, lr=lr, batch_size=1, optimizer="sgd")


# ----------------------------------------------------------------------------- bad input


def test_rejects_non_positive_lr():
    with pytest.raises(ValueError, match="`lr`"):
        stability_radius(jnp.eye(3), lr=0.0, batch_size=1)
    with pytest.raises(ValueError, match="`lr`"):
        is_linearly_stable(jnp.eye(3), lr=-0.1, batch_size=1)


def test_rejects_batch_size_outside_one_to_n():
    for bad in (0, 4):
        with pytest.raises(ValueError, match=r"`batch_size` must be in \[1, n\] = \[1, 3\]"):
            critical_lr(jnp.eye(3), batch_size=bad)
    with pytest.raises(ValueError, match="`batch_size`"):
        stability_radius(jnp.eye(3), lr=0.1, batch_size=4, replacement=False)


def test_rejects_bad_gram_matrices():
    with pytest.raises(ValueError, match="`gram` must be a square"):
        critical_lr(jnp.ones((3, 2)), batch_size=1)
    with pytest.raises(ValueError, match="`gram` must be symmetric"):
        critical_lr(jnp.array([[1.0, 0.5], [0.0, 1.0]]), batch_size=1)
    with pytest.raises(ValueError, match="`gram` must be positive semi-definite"):
        critical_lr(jnp.diag(jnp.array([1.0, -0.5])), batch_size=1)
    with pytest.raises(ValueError, match="`gram` contains 1 NaN"):
        critical_lr(jnp.array([[1.0, 0.0], [0.0, jnp.nan]]), batch_size=1)
    with pytest.raises(ValueError, match="`gram` must be nonzero"):
        critical_lr(jnp.zeros((2, 2)), batch_size=1)
    with pytest.raises(ValueError, match="`method`"):
        critical_lr(jnp.eye(2), batch_size=1, method="eig")
    with pytest.raises(ValueError, match="`optimizer`"):
        is_linearly_stable(jnp.eye(2), lr=0.1, batch_size=1, optimizer="adam")
