import jax
import jax.numpy as jnp
import numpy as np
import pytest

import cbo


def test_weights_equal_the_naive_gibbs_weights_and_sum_to_one():
    energies = jnp.array([0.3, 1.0, 0.5, 2.0])
    w = cbo.consensus_weights(energies, 2.0)
    naive = np.exp(-2.0 * np.asarray(energies))
    np.testing.assert_allclose(w, naive / naive.sum(), rtol=1e-6)
    assert float(jnp.sum(w)) == pytest.approx(1.0, abs=1e-6)


def test_huge_alpha_picks_the_best_particle_without_overflow():
    x = jax.random.normal(jax.random.PRNGKey(0), (50, 3))
    energies = 1e3 + jnp.sum(x**2, axis=1)  # exp(-alpha E) underflows without the shift
    v = cbo.consensus_point(x, energies, 1e15)
    np.testing.assert_allclose(v, x[jnp.argmin(energies)], rtol=1e-6)


def test_consensus_tends_to_the_minimizer_as_alpha_grows():
    x = jax.random.uniform(jax.random.PRNGKey(1), (20_000, 2), minval=-2.0, maxval=4.0)
    energies = jax.vmap(cbo.grand_canyon3())(x)
    dist = [float(jnp.linalg.norm(cbo.consensus_point(x, energies, a))) for a in (1.0, 10.0, 100.0)]
    assert dist[0] > dist[1] > dist[2]
    assert dist[2] < 0.1


def test_consensus_is_permutation_invariant():
    x = jax.random.normal(jax.random.PRNGKey(2), (30, 2))
    e = jnp.sum(x**2, axis=1)
    perm = jax.random.permutation(jax.random.PRNGKey(3), 30)
    np.testing.assert_allclose(
        cbo.consensus_point(x, e, 5.0), cbo.consensus_point(x[perm], e[perm], 5.0), rtol=1e-5
    )


def test_nan_energy_never_gets_weight_zero_or_one():
    energies = jnp.array([0.0, jnp.nan, 1.0])
    with pytest.raises(ValueError, match="energies"):
        cbo.consensus_weights(energies, 1.0)
    traced = jax.jit(lambda e: cbo.consensus_weights(e, 1.0))(energies)
    assert bool(jnp.all(jnp.isnan(traced)))  # propagates, is not silently dropped


@pytest.mark.parametrize("alpha", [0.0, -1.0, float("nan")])
def test_bad_alpha_is_rejected(alpha):
    with pytest.raises(ValueError, match="alpha"):
        cbo.consensus_point(jnp.zeros((3, 2)), jnp.zeros(3), alpha)


def test_energies_must_match_the_particles():
    with pytest.raises(ValueError, match="energies"):
        cbo.consensus_point(jnp.zeros((3, 2)), jnp.zeros(4), 1.0)
    with pytest.raises(ValueError, match="`x`"):
        cbo.consensus_point(jnp.zeros(3), jnp.zeros(3), 1.0)
