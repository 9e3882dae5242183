import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import comp_sum_losses as csl

LOGITS = jax.random.normal(jax.random.PRNGKey(0), (6, 5)) * 2.0
LABELS = jnp.array([0, 1, 2, 3, 4, 0])
P_Y = jax.nn.softmax(LOGITS)[jnp.arange(6), LABELS]


def test_cross_entropy_matches_optax_and_is_continuous_in_tau():
    ce = optax.softmax_cross_entropy_with_integer_labels(LOGITS, LABELS)
    np.testing.assert_allclose(csl.logistic_loss(LOGITS, LABELS), ce, atol=1e-5)
    for tau in (1 - 1e-6, 1 + 1e-6):
        np.testing.assert_allclose(csl.comp_sum_loss(LOGITS, LABELS, tau), ce, atol=1e-5)


@pytest.mark.parametrize("tau", [0.0, 0.5, 1.3, 1.7, 2.0])
def test_matches_phi_of_sum_of_exponentials(tau):
    diffs = LOGITS - LOGITS[jnp.arange(6), LABELS][:, None]
    u = jnp.sum(jnp.exp(diffs), axis=1) - 1.0
    phi = ((1 + u) ** (1 - tau) - 1) / (1 - tau)
    np.testing.assert_allclose(csl.comp_sum_loss(LOGITS, LABELS, tau), phi, rtol=1e-5)


def test_named_members():
    np.testing.assert_allclose(csl.sum_exp_loss(LOGITS, LABELS), 1 / P_Y - 1, rtol=1e-5)
    np.testing.assert_allclose(csl.mae_loss(LOGITS, LABELS), 1 - P_Y, atol=1e-6)
    np.testing.assert_allclose(csl.gce_loss(LOGITS, LABELS, 0.7), (1 - P_Y**0.7) / 0.7, atol=1e-6)
    np.testing.assert_allclose(csl.gce_loss(LOGITS, LABELS, 1.0), csl.mae_loss(LOGITS, LABELS))


def test_gradient_matches_finite_differences_and_vmaps():
    with jax.enable_x64(True):
        z = jnp.asarray(np.asarray(LOGITS), jnp.float64)
        f = lambda z: jnp.sum(csl.comp_sum_loss(z, LABELS, 1.5))  # noqa: E731
        g = jax.grad(f)(z)
        e = jnp.zeros_like(z).at[2, 3].set(1e-5)
        fd = (f(z + e) - f(z - e)) / 2e-5
        np.testing.assert_allclose(g[2, 3], fd, rtol=1e-6)
    batched = jax.vmap(lambda t: csl.comp_sum_loss(LOGITS, LABELS, t))(jnp.array([0.0, 1.0]))
    np.testing.assert_allclose(batched[1], csl.logistic_loss(LOGITS, LABELS), atol=1e-6)


def test_large_logits_stay_finite_for_bounded_members():
    z = jnp.array([[0.0, 200.0]])
    assert np.isfinite(csl.mae_loss(z, jnp.array([0]))).all()
    assert np.isfinite(csl.logistic_loss(z, jnp.array([0]))).all()


def test_bad_inputs():
    with pytest.raises(ValueError, match="`q`"):
        csl.gce_loss(LOGITS, LABELS, 0.0)
    with pytest.raises(ValueError, match="`q`"):
        csl.gce_loss(LOGITS, LABELS, 1.5)
    with pytest.raises(ValueError, match="`tau`"):
        csl.comp_sum_loss(LOGITS, LABELS, 2.5)
    with pytest.raises(ValueError, match="`labels`"):
        csl.comp_sum_loss(LOGITS, LABELS.at[0].set(5))
    with pytest.raises(ValueError, match="`labels`"):
        csl.comp_sum_loss(LOGITS, LABELS[:3])
    with pytest.raises(TypeError, match="`labels`"):
        csl.comp_sum_loss(LOGITS, LABELS.astype(float))
    with pytest.raises(ValueError, match="`logits`"):
        csl.comp_sum_loss(LOGITS.at[0, 0].set(jnp.nan), LABELS)
    with pytest.raises(ValueError, match="`logits`"):
        csl.comp_sum_loss(LOGITS[0], LABELS)
    with pytest.raises(ValueError, match="`logits`"):
        csl.comp_sum_loss(LOGITS[:, :1], LABELS * 0)
