import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

from batch_size_lr import (
    batch_hessian_extremes,
    ggn_product,
    hessian_density,
    hessian_extremes,
    per_sample_hessian_noise,
)
from batch_size_lr._spectrum import weighted


@functools.partial(jax.jit, static_argnums=0)
def _dense_hessian(loss, params, *batch):
    flat, unravel = ravel_pytree(params)
    return jax.hessian(lambda f: loss(unravel(f), *batch))(flat)


def dense_hessian(loss, params, *batch):
    h = _dense_hessian(loss, params, *batch)
    return h, h.shape[0]


@functools.partial(jax.jit, static_argnums=0)
def dense_ggn(loss, params, x, y):
    flat, unravel = ravel_pytree(params)
    out = loss.apply_fn(params, x)
    jac = jax.jacobian(lambda f: loss.apply_fn(unravel(f), x).ravel())(flat)
    h_out = jax.hessian(lambda o: loss.output_loss(o.reshape(out.shape), y))(out.ravel())
    return jac.T @ h_out @ jac


def test_full_extremes_match_dense_eigendecomposition(small):
    loss, params, data = small
    h, p = dense_hessian(loss, params, *data)
    eig = np.linalg.eigvalsh(np.asarray(h, np.float64))
    top, bottom = hessian_extremes(loss, params, data, key=jax.random.PRNGKey(1), order=p)
    np.testing.assert_allclose([top, bottom], [eig[-1], eig[0]], rtol=2e-3, atol=2e-4)


def test_ggn_product_equals_dense_jt_h_j_and_is_psd(small):
    loss, params, (x, y) = small
    g = np.asarray(dense_ggn(loss, params, x, y))
    flat, unravel = ravel_pytree(params)
    v = jax.random.normal(jax.random.PRNGKey(2), flat.shape)
    gv = jax.jit(lambda v: ravel_pytree(ggn_product(loss, params, x, y)(unravel(v)))[0])(v)
    np.testing.assert_allclose(gv, g @ v, rtol=1e-4, atol=1e-5)
    assert np.linalg.eigvalsh(g).min() > -1e-5
    top, bottom = hessian_extremes(loss, params, (x, y), key=jax.random.PRNGKey(0),
                                   order=flat.size, curvature="ggn")  # fmt: skip
    assert bottom > -1e-4 and top == pytest.approx(np.linalg.eigvalsh(g).max(), rel=2e-3)


def test_padded_weighted_batch_has_the_batch_hessian(small):
    loss, params, (x, y) = small
    w = jnp.concatenate([jnp.full(5, 1 / 5), jnp.zeros(7)])
    xp, yp = jnp.concatenate([x[:5], x[:7]]), jnp.concatenate([y[:5], y[:7]])
    h_batch, _ = dense_hessian(loss, params, x[:5], y[:5])
    h_pad, _ = dense_hessian(weighted(loss), params, xp, yp, w)
    np.testing.assert_allclose(h_pad, h_batch, rtol=1e-4, atol=1e-6)


def test_batch_extremes_bracket_each_batch_and_exceed_full(small):
    loss, params, data = small
    full_top, _ = hessian_extremes(loss, params, data, key=jax.random.PRNGKey(0), order=51)
    small_b = batch_hessian_extremes(loss, params, data, batch_size=2, num_batches=8,
                                     key=jax.random.PRNGKey(3), order=51, pad_to=40)  # fmt: skip
    assert small_b.top.shape == (8,) and np.all(small_b.top >= small_b.bottom)
    # Weyl: the mean of batch Hessians is H_N, and lambda_max is convex, so E lambda_max(H_B)
    # >= lambda_max(H_N); with B = 2 of 40 the excess is large.
    assert small_b.lambda_max > full_top
    everything = batch_hessian_extremes(loss, params, data, batch_size=40, num_batches=2,
                                        key=jax.random.PRNGKey(4), order=51)  # fmt: skip
    np.testing.assert_allclose(everything.top, full_top, rtol=2e-3)


def test_slq_moments_match_the_dense_hessian(small):
    loss, params, data = small
    h, p = dense_hessian(loss, params, *data)
    h = np.asarray(h, np.float64)
    dens = hessian_density(loss, params, data, key=jax.random.PRNGKey(5), order=20, num_probes=64)
    for k in (0, 1, 2):
        exact = np.trace(np.linalg.matrix_power(h, k)) / p
        scale = max(abs(exact), np.trace(h @ h) / p) if k else 1.0
        assert abs(float(dens.moment(k)) - exact) <= 0.15 * scale


def test_per_sample_noise_matches_dense_frobenius(small):
    loss, params, (x, y) = small
    h_full, p = dense_hessian(loss, params, x, y)
    exact = (
        np.mean(
            [
                np.sum(
                    (
                        np.asarray(dense_hessian(loss, params, x[i : i + 1], y[i : i + 1])[0])
                        - h_full
                    )
                    ** 2
                )
                for i in range(40)
            ]  # fmt: skip
        )
        / p
    )
    est = per_sample_hessian_noise(loss, params, (x, y), jax.random.PRNGKey(6), num_samples=40,
                                   num_probes=64)  # fmt: skip
    assert est == pytest.approx(exact, rel=0.2)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(batch_size=0), "batch_size"),
        (dict(batch_size=41), "batch_size"),
        (dict(num_batches=0), "num_batches"),
        (dict(order=1), "order"),
        (dict(curvature="fisher"), "curvature"),
        (dict(pad_to=2), "pad_to"),
    ],
)
def test_bad_arguments_are_named(small, kwargs, match):
    loss, params, data = small
    args = dict(batch_size=4, num_batches=2, key=jax.random.PRNGKey(0), order=5) | kwargs
    with pytest.raises(ValueError, match=match):
        batch_hessian_extremes(loss, params, data, **args)


def test_non_finite_inputs_and_products_are_rejected(small):
    loss, params, (x, y) = small
    with pytest.raises(ValueError, match="data"):
        hessian_extremes(loss, params, (x.at[0, 0].set(jnp.nan), y), key=jax.random.PRNGKey(0))
    with pytest.raises(ValueError, match="params"):
        bad = jax.tree.map(lambda a: a * jnp.inf, params)
        hessian_extremes(loss, bad, (x, y), key=jax.random.PRNGKey(0))

    leaf0 = jax.tree.leaves(params)[0]

    def exploding(p, x, y):  # finite value and gradient, infinite curvature at params
        return loss(p, x, y) + jnp.sum(jnp.abs(jax.tree.leaves(p)[0] - leaf0) ** 1.5)

    with pytest.raises(ValueError, match="Hessian-vector products"):
        hessian_extremes(exploding, params, (x, y), key=jax.random.PRNGKey(0), order=4)
    with pytest.raises(ValueError, match="scalar"):
        hessian_extremes(lambda p, x, y: jnp.ones(3), params, (x, y), key=jax.random.PRNGKey(0))
    with pytest.raises(TypeError, match="SplitLoss"):
        hessian_extremes(lambda p, x, y: loss(p, x, y), params, (x, y),
                         key=jax.random.PRNGKey(0), curvature="ggn")  # fmt: skip
