import jax
import jax.numpy as jnp
import numpy as np
import pytest

import cbo
from cbo._dynamics import _cbo_update

KEY = jax.random.PRNGKey(0)
X0 = jnp.array([1.0, -2.0, 0.5])


def flat(x):
    return 0.0 * jnp.sum(x)


def quadratic(x):
    return jnp.sum((x - 1.0) ** 2)


@pytest.mark.parametrize("noise", ["isotropic", "anisotropic"])
def test_update_is_the_euler_maruyama_step_of_the_sde(noise):
    x = jax.random.normal(KEY, (6, 3))
    v = jnp.array([0.2, -0.1, 0.3])
    params = cbo.CBOParams(dt=0.05, lam=0.7, sigma=1.3, noise=noise)
    key = jax.random.PRNGKey(5)
    xi = np.asarray(jax.random.normal(key, x.shape))
    diff = np.asarray(x - v)
    scale = np.linalg.norm(diff, axis=1, keepdims=True) if noise == "isotropic" else diff
    expected = np.asarray(x) - 0.7 * 0.05 * diff + 1.3 * np.sqrt(0.05) * scale * xi
    np.testing.assert_allclose(_cbo_update(x, v[None], key, params), expected, rtol=1e-5, atol=1e-6)


def test_without_noise_particles_contract_geometrically_to_a_fixed_consensus():
    # A flat objective makes v the plain mean, which the drift keeps fixed.
    params = cbo.CBOParams(dt=0.1, lam=1.0, sigma=0.0)
    one = cbo.cbo(flat, X0, KEY, num_particles=8, num_steps=1, params=params)
    eleven = cbo.cbo(flat, X0, KEY, num_particles=8, num_steps=11, params=params)
    np.testing.assert_allclose(
        eleven.trajectory, np.broadcast_to(one.consensus, (11, 3)), atol=1e-5
    )
    np.testing.assert_allclose(
        eleven.particles - eleven.consensus, 0.9**10 * (one.particles - one.consensus), atol=1e-5
    )


def test_lam_dt_one_without_noise_jumps_onto_the_consensus_point():
    params = cbo.CBOParams(dt=0.5, lam=2.0, sigma=0.0)
    out = cbo.cbo(quadratic, X0, KEY, num_particles=16, num_steps=1, params=params)
    np.testing.assert_allclose(
        out.particles, np.broadcast_to(out.trajectory[0], (16, 3)), atol=1e-6
    )


def test_random_batches_give_one_consensus_point_per_batch():
    params = cbo.CBOParams(dt=1.0, lam=1.0, sigma=0.0, batch_size=4)
    out = cbo.cbo(quadratic, X0, KEY, num_particles=16, num_steps=1, params=params)
    assert len(np.unique(np.round(np.asarray(out.particles), 5), axis=0)) == 4


def test_batched_runs_equal_single_runs_and_do_not_share_noise():
    params = cbo.CBOParams(sigma=0.8)
    runs = cbo.cbo(quadratic, X0, KEY, num_particles=20, num_steps=30, params=params, num_runs=3)
    assert runs.consensus.shape == (3, 3) and runs.trajectory.shape == (3, 30, 3)
    single = cbo.cbo(
        quadratic, X0, jax.random.split(KEY, 3)[1], num_particles=20, num_steps=30, params=params
    )
    np.testing.assert_allclose(runs.consensus[1], single.consensus, rtol=1e-4, atol=1e-5)
    assert float(jnp.abs(runs.consensus[0] - runs.consensus[1]).max()) > 1e-4
    assert runs.num_evaluations == 20 * 31


def test_cbo_and_consensus_hopping_find_the_minimizer_of_a_convex_function():
    params = cbo.CBOParams(sigma=0.5, alpha=1000.0, dt=0.05)
    out = cbo.cbo(quadratic, X0, KEY, num_particles=50, num_steps=300, params=params, init_std=2.0)
    np.testing.assert_allclose(out.consensus, jnp.ones(3), atol=0.05)  # from |x0 - x*| = 3.04
    ch = cbo.consensus_hopping(
        quadratic, X0, KEY, num_particles=200, num_steps=50, sigma=0.1, alpha=100.0
    )
    np.testing.assert_allclose(ch.consensus, jnp.ones(3), atol=0.05)


def test_consensus_hopping_decay_schedule_shrinks_the_jitter():
    kw = dict(num_particles=50, num_steps=400, sigma=0.5, alpha=10.0, num_runs=4)
    fixed = cbo.consensus_hopping(quadratic, X0, KEY, **kw)
    decayed = cbo.consensus_hopping(quadratic, X0, KEY, sigma_decay=0.5, decay_every=50, **kw)
    spread = lambda r: float(jnp.std(r.trajectory[:, -50:], axis=1).mean())  # noqa: E731
    assert spread(decayed) < 0.1 * spread(fixed)


def test_minimize_stops_when_the_particles_collapse():
    params = cbo.CBOParams(sigma=0.9, alpha=1e4)
    res = cbo.minimize(quadratic, X0, KEY, num_particles=50, params=params, tol=1e-3)
    assert bool(res.converged) and float(res.spread) <= 1e-3
    assert 0 < int(res.iterations) < 10_000
    np.testing.assert_allclose(res.x, jnp.ones(3), atol=0.01)
    assert float(res.fun) == pytest.approx(float(quadratic(res.x)))
    capped = cbo.minimize(
        quadratic, X0, KEY, num_particles=50, params=params, tol=1e-3, max_steps=5
    )
    assert not bool(capped.converged) and int(capped.iterations) == 5


def nan_far_out(x):
    return jnp.where(x[0] > 3.0, jnp.nan, jnp.sum(x**2))


def test_nonfinite_energies_raise_naming_step_and_particle():
    with pytest.raises(
        ValueError, match=r"`f` returned a non-finite value .* step \d+ for particle \d+"
    ):
        cbo.cbo(nan_far_out, X0, KEY, num_particles=50, num_steps=5, init_std=3.0)
    with pytest.raises(ValueError, match=r"run \d"):
        cbo.consensus_hopping(nan_far_out, X0, KEY, num_steps=5, sigma=3.0, num_runs=2)
    with pytest.raises(ValueError, match="non-finite"):
        cbo.minimize(nan_far_out, X0, KEY, init_std=3.0)
    with pytest.raises(ValueError, match="non-finite"):
        cbo.hopping_step(nan_far_out, X0, KEY, num_particles=50, sigma=3.0, alpha=1.0)


def test_nonfinite_energies_are_reported_under_jit():
    run = jax.jit(
        lambda k: cbo.cbo(nan_far_out, X0, k, num_particles=50, num_steps=5, init_std=3.0)
    )
    out = run(KEY)
    assert int(out.nonfinite_step) == 0 and int(out.nonfinite_particle) >= 0


@pytest.mark.parametrize(
    ("params", "name"),
    [
        (cbo.CBOParams(alpha=0.0), "params.alpha"),
        (cbo.CBOParams(alpha=-1.0), "params.alpha"),
        (cbo.CBOParams(sigma=-0.1), "params.sigma"),
        (cbo.CBOParams(dt=0.0), "params.dt"),
        (cbo.CBOParams(lam=-1.0), "params.lam"),
        (cbo.CBOParams(noise="gaussian"), "params.noise"),
        (cbo.CBOParams(batch_size=3), "params.batch_size"),
    ],
)
def test_bad_hyperparameters_are_rejected(params, name):
    with pytest.raises(ValueError, match=name.replace(".", r"\.")):
        cbo.cbo(quadratic, X0, KEY, num_particles=10, num_steps=2, params=params)


def test_bad_problem_is_rejected():
    with pytest.raises(ValueError, match="num_particles"):
        cbo.cbo(quadratic, X0, KEY, num_particles=1)
    with pytest.raises(ValueError, match="num_steps"):
        cbo.consensus_hopping(quadratic, X0, KEY, num_steps=0)
    with pytest.raises(ValueError, match="`x0`"):
        cbo.cbo(quadratic, jnp.zeros((2, 3)), KEY)
    with pytest.raises(ValueError, match="scalar"):
        cbo.cbo(lambda x: x, X0, KEY)
    with pytest.raises(ValueError, match="`sigma`"):
        cbo.consensus_hopping(quadratic, X0, KEY, sigma=-1.0)
    with pytest.raises(ValueError, match="`alpha`"):
        cbo.consensus_hopping(quadratic, X0, KEY, alpha=0.0)
    with pytest.raises(ValueError, match="sigma_decay"):
        cbo.consensus_hopping(quadratic, X0, KEY, sigma_decay=1.5)
    with pytest.raises(ValueError, match="`tol`"):
        cbo.minimize(quadratic, X0, KEY, tol=0.0)
    with pytest.raises(TypeError, match="params"):
        cbo.cbo(quadratic, X0, KEY, params={"alpha": 1.0})
