import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

import rectified_flow as rf


def const_field(c):
    def apply_fn(params, x, t):
        return jnp.broadcast_to(params, x.shape)

    return apply_fn, jnp.asarray(c, jnp.float32)


def linear_field(params, x, t):
    return params * x


def rotation_field(params, x, t):
    return jnp.stack([-x[:, 1], x[:, 0]], axis=-1) * params


def test_interpolate_endpoints_and_target():
    x0 = jax.random.normal(jax.random.PRNGKey(0), (5, 3))
    x1 = jax.random.normal(jax.random.PRNGKey(1), (5, 3))
    xt, target = rf.interpolate(x0, x1, jnp.zeros(5))
    np.testing.assert_allclose(xt, x0)
    np.testing.assert_allclose(target, x1 - x0)
    xt, _ = rf.interpolate(x0, x1, 1.0)
    np.testing.assert_allclose(xt, x1, rtol=1e-6)
    xt, _ = rf.interpolate(x0, x1, jnp.full(5, 0.25))
    np.testing.assert_allclose(xt, 0.75 * x0 + 0.25 * x1, rtol=1e-6)


def test_loss_zero_for_exact_velocity_of_deterministic_shift():
    x0 = jax.random.normal(jax.random.PRNGKey(0), (64, 2))
    shift = jnp.array([1.5, -2.0])
    apply_fn, params = const_field(shift)
    t = rf.sample_time(jax.random.PRNGKey(1), 64)
    assert float(rf.rectified_flow_loss(apply_fn, params, x0, x0 + shift, t)) < 1e-10
    assert float(rf.rectified_flow_loss(apply_fn, -params, x0, x0 + shift, t)) > 1.0


def test_loss_gradient_matches_finite_difference():
    x0 = jax.random.normal(jax.random.PRNGKey(0), (32, 2))
    x1 = jax.random.normal(jax.random.PRNGKey(1), (32, 2)) + 3
    t = rf.sample_time(jax.random.PRNGKey(2), 32)
    f = lambda a: rf.rectified_flow_loss(linear_field, a, x0, x1, t)  # noqa: E731
    g = jax.grad(f)(0.3)
    fd = (f(0.3 + 1e-2) - f(0.3 - 1e-2)) / 2e-2
    np.testing.assert_allclose(g, fd, rtol=1e-3)


def test_sample_time_range_and_grid():
    t = rf.sample_time(jax.random.PRNGKey(0), 1000)
    assert float(t.min()) >= 1e-3 and float(t.max()) <= 1.0
    g = rf.sample_time(jax.random.PRNGKey(0), 1000, grid=4)
    np.testing.assert_allclose(np.unique(np.asarray(g)), [1e-3, 0.25, 0.5, 0.75], rtol=1e-6)
    np.testing.assert_allclose(rf.sample_time(jax.random.PRNGKey(0), 10, grid=1), 1e-3)


def test_euler_one_step_exact_for_straight_field():
    apply_fn, c = const_field([2.0, -1.0])
    z0 = jax.random.normal(jax.random.PRNGKey(0), (10, 2))
    np.testing.assert_allclose(rf.one_step(apply_fn, c, z0), z0 + c, rtol=1e-6)
    np.testing.assert_allclose(rf.euler_sample(apply_fn, c, z0, 7), z0 + c, rtol=1e-5)
    assert float(rf.straightness(apply_fn, c, z0, 20)) < 1e-10


def test_solvers_converge_at_their_order_on_linear_ode():
    z0 = jnp.ones((3, 2))
    exact = np.e
    errs = {}
    for method, ns in [("heun", (8, 16)), ("rk4", (4, 8))]:
        errs[method] = [
            float(
                jnp.abs(
                    rf.ode_sample(linear_field, 1.0, z0, method=method, num_steps=n) - exact
                ).max()
            )
            for n in ns
        ]
    assert 3.0 < errs["heun"][0] / errs["heun"][1] < 5.0
    assert 12.0 < errs["rk4"][0] / errs["rk4"][1] < 20.0
    euler_err = float(jnp.abs(rf.euler_sample(linear_field, 1.0, z0, 8) - exact).max())
    assert errs["rk4"][0] < euler_err


def test_straightness_positive_for_curved_flow_and_matches_rotation():
    z0 = jax.random.normal(jax.random.PRNGKey(0), (200, 2))
    s = float(rf.straightness(rotation_field, 1.0, z0, 400))
    # Rotation by 1 rad: |v| = r constant, chord length 2 r sin(1/2); S = E r^2 (1 - (2 sin .5)^2).
    r2 = float(jnp.mean(jnp.sum(z0**2, 1)))
    np.testing.assert_allclose(s, r2 * (1 - (2 * np.sin(0.5)) ** 2), rtol=2e-2)


def test_transport_cost_value_and_energy_distance():
    z0 = jnp.zeros((4, 2))
    z1 = jnp.array([[1.0, 0], [0, 2.0], [3.0, 0], [0, 0]])
    np.testing.assert_allclose(rf.transport_cost(z0, z1), (1 + 4 + 9) / 4)
    x = jax.random.normal(jax.random.PRNGKey(0), (500, 2))
    y = jax.random.normal(jax.random.PRNGKey(1), (500, 2))
    assert float(rf.energy_distance(x, x)) < 1e-5
    assert float(rf.energy_distance(x, y)) < float(rf.energy_distance(x, y + 1.0))


def test_reflow_pairs_keep_pairing():
    sample = lambda k, n: jax.random.normal(k, (n, 2))  # noqa: E731
    z0, z1 = rf.reflow_pairs(rotation_field, 1.0, jax.random.PRNGKey(3), 50, sample, 10)
    np.testing.assert_allclose(z1, rf.euler_sample(rotation_field, 1.0, z0, 10), rtol=1e-6)
    a, b = rf.paired_sampler(z0, z1, 16)(jax.random.PRNGKey(0))
    np.testing.assert_allclose(b, rf.euler_sample(rotation_field, 1.0, a, 10), rtol=1e-5)


def test_train_learns_constant_shift_and_reduces_loss():
    apply_fn, params = rf.split(rf.VelocityMLP(2, 32, 2, rngs=nnx.Rngs(0)))
    shift = jnp.array([3.0, -1.0])
    sampler = rf.independent_sampler(
        lambda k, n: jax.random.normal(k, (n, 2)),
        lambda k, n: jax.random.normal(k, (n, 2)) * 0.0 + shift,
        64,
    )
    state = rf.train(
        apply_fn, params, sampler, optax.adam(3e-3), 300, jax.random.PRNGKey(0), chunk=100
    )
    assert state.losses.shape == (300,)
    assert state.losses[-20:].mean() < 0.2 * state.losses[:20].mean()


def test_models_shapes_and_time_dependence():
    apply_fn, params = rf.split(rf.VelocityMLP(3, 16, 2, time_embed="fourier", rngs=nnx.Rngs(0)))
    apply_fn = jax.jit(apply_fn)
    x = jnp.ones((4, 3))
    v0, v1 = apply_fn(params, x, jnp.zeros(4)), apply_fn(params, x, jnp.ones(4))
    assert v0.shape == (4, 3) and not np.allclose(v0, v1)
    apply_fn, params = rf.split(rf.SmallUNet(1, 8, rngs=nnx.Rngs(0)))
    apply_fn = jax.jit(apply_fn)
    x = jax.random.normal(jax.random.PRNGKey(0), (2, 8, 8, 1))
    v = apply_fn(params, x, jnp.full(2, 0.5))
    assert v.shape == x.shape
    # Samples in a batch must not interact (no batch statistics in the network): changing the
    # second image leaves the first one's velocity unchanged.
    v_other = apply_fn(params, x.at[1].set(-x[1]), jnp.full(2, 0.5))
    np.testing.assert_allclose(v_other[0], v[0], rtol=1e-5, atol=1e-6)
    assert not np.allclose(v_other[1], v[1])


def test_bad_inputs_rejected():
    x = jnp.ones((4, 2))
    with pytest.raises(ValueError, match="`x0` and `x1`"):
        rf.interpolate(x, jnp.ones((4, 3)), 0.5)
    with pytest.raises(ValueError, match="`t` must lie in"):
        rf.interpolate(x, x, jnp.full(4, 1.5))
    with pytest.raises(ValueError, match=r"`t` must be a scalar or have shape \(4,\)"):
        rf.interpolate(x, x, jnp.full(3, 0.5))
    with pytest.raises(TypeError, match="`x0` must hold floats"):
        rf.interpolate(jnp.ones((4, 2), jnp.int32), x, 0.5)
    with pytest.raises(ValueError, match="`num_steps`"):
        rf.euler_sample(linear_field, 1.0, x, 0)
    with pytest.raises(TypeError, match="`num_steps`"):
        rf.euler_sample(linear_field, 1.0, x, 2.5)
    with pytest.raises(ValueError, match="`eps`"):
        rf.euler_sample(linear_field, 1.0, x, 2, eps=-0.1)
    with pytest.raises(ValueError, match="`grid`"):
        rf.sample_time(jax.random.PRNGKey(0), 4, grid=0)
    with pytest.raises(ValueError, match="`num_pairs`"):
        rf.reflow_pairs(linear_field, 1.0, jax.random.PRNGKey(0), 0, lambda k, n: x)
    with pytest.raises(FloatingPointError, match="non-finite"):
        rf.euler_sample(linear_field, jnp.nan, x, 2)
    # NaN in the input is named as such, not blamed on the model.
    with pytest.raises(ValueError, match="`z0` contains 1 NaN"):
        rf.euler_sample(linear_field, 1.0, x.at[0, 0].set(jnp.nan), 2)
    with pytest.raises(ValueError, match="`pair_sampler`"):
        rf.train(linear_field, 1.0, lambda k: (x, jnp.ones((3, 2))), optax.sgd(0.1), 1, KEY)
    with pytest.raises(ValueError, match="`time_embed`"):
        rf.VelocityMLP(2, time_embed="sinusoid", rngs=nnx.Rngs(0))


KEY = jax.random.PRNGKey(0)


def test_ode_sample_unknown_method_message_does_not_contradict_itself():
    x = jnp.ones((4, 2))
    with pytest.raises(ValueError, match="`method` 'euler' is not an ode_sample method") as err:
        rf.ode_sample(linear_field, 1.0, x, method="euler")
    assert "euler_sample" in str(err.value)
    with pytest.raises(ValueError, match="`method` must be one of") as err:
        rf.ode_sample(linear_field, 1.0, x, method="rk45")
    message = str(err.value)
    assert message.endswith("got 'rk45'.") and "'heun', 'rk4', 'dopri5'" in message


def test_paired_sampler_names_its_own_arguments():
    with pytest.raises(ValueError, match="`z0` and `z1` must have the same shape") as err:
        rf.paired_sampler(jnp.ones((5, 2)), jnp.ones((4, 2)), 2)
    assert "x0" not in str(err.value)
    with pytest.raises(ValueError, match="`batch_size`"):
        rf.paired_sampler(jnp.ones((5, 2)), jnp.ones((5, 2)), 0)


def test_energy_distance_rejects_empty_and_mismatched_samples():
    x = jnp.ones((5, 2))
    with pytest.raises(ValueError, match="`x` must not be empty"):
        rf.energy_distance(jnp.ones((0, 2)), x)
    with pytest.raises(ValueError, match="`y` must not be empty"):
        rf.energy_distance(x, jnp.ones((0, 2)))
    with pytest.raises(ValueError, match="`x` and `y` must have the same number of features"):
        rf.energy_distance(x, jnp.ones((5, 3)))
    with pytest.raises(ValueError, match="`y` contains 1 NaN"):
        rf.energy_distance(x, x.at[0, 0].set(jnp.nan))
    # Different sample sizes are fine; integer data is promoted.
    assert float(rf.energy_distance(x, jnp.zeros((3, 2), jnp.int32))) > 0


def test_loss_under_jit_with_time_closed_over():
    x0 = jax.random.normal(KEY, (16, 2))
    x1 = x0 + 2.0
    t = rf.sample_time(jax.random.PRNGKey(1), 16)
    eager = rf.rectified_flow_loss(linear_field, 0.5, x0, x1, t)
    jitted = jax.jit(lambda a: rf.rectified_flow_loss(linear_field, a, x0, x1, t))
    np.testing.assert_allclose(jitted(0.5), eager, rtol=1e-6)
    # A closed-over t is concrete, so its range is still checked while tracing.
    bad = t + 1.0
    with pytest.raises(ValueError, match="`t` must lie in"):
        jax.jit(lambda a: rf.rectified_flow_loss(linear_field, a, x0, x1, bad))(0.5)


def test_loss_rejects_velocity_of_the_wrong_shape():
    x = jnp.ones((4, 2))
    with pytest.raises(ValueError, match="`apply_fn` must return velocities shaped like"):
        rf.rectified_flow_loss(lambda p, x, t: x[:, :1], None, x, x, 0.5)


def test_train_compiles_once_for_same_model_optimizer_and_shapes():
    apply_fn, params = rf.split(rf.VelocityMLP(2, 16, 1, rngs=nnx.Rngs(0)))
    traces = []

    def counted(p, x, t):
        traces.append(x.shape)  # runs only while tracing
        return apply_fn(p, x, t)

    opt, keys = optax.adam(1e-3), jax.random.split(jax.random.PRNGKey(0), 4)
    pairs = [jax.random.normal(k, (2, 32, 2)) for k in keys[:2]]
    first = rf.train(counted, params, rf.paired_sampler(*pairs[0], 8), opt, 4, keys[2])
    traced = len(traces)
    assert traced > 0
    # New stored pairs of the same shape, another key and a custom sampler: no retrace for the
    # first two; the custom sampler is a new function, so it compiles once and only once.
    second = rf.train(counted, first.params, rf.paired_sampler(*pairs[1], 8), opt, 4, keys[3])
    assert len(traces) == traced
    assert not np.allclose(second.losses, first.losses)

    def sampler(key):
        return rf.paired_sampler(*pairs[1], 8)(key)

    a = rf.train(counted, params, sampler, opt, 4, keys[2]).losses
    retraced = len(traces)
    b = rf.train(counted, params, sampler, opt, 4, keys[2]).losses
    assert retraced > traced and len(traces) == retraced
    np.testing.assert_array_equal(a, b)


def test_interrupted_training_resumes_to_the_uninterrupted_result(tmp_path):
    from jaxpapers_shared.checkpoint import Checkpointer

    apply_fn, params = rf.split(rf.VelocityMLP(2, 16, 1, rngs=nnx.Rngs(0)))
    sampler = rf.paired_sampler(*jax.random.normal(jax.random.PRNGKey(1), (2, 64, 2)), 8)
    opt, key = optax.adam(1e-2), jax.random.PRNGKey(2)
    whole = rf.train(apply_fn, params, sampler, opt, 12, key, chunk=4)

    class Stop(Exception):
        pass

    class StopAfter8(Checkpointer):
        def save(self, step, state, *, force=False):
            saved = super().save(step, state, force=force)
            if step == 8:
                raise Stop
            return saved

    with StopAfter8(tmp_path, every=4) as ckpt, pytest.raises(Stop):
        rf.train(apply_fn, params, sampler, opt, 12, key, chunk=4, checkpointer=ckpt)
    with Checkpointer(tmp_path, every=4, resume=True) as ckpt:
        assert ckpt.latest_step == 8
        resumed = rf.train(apply_fn, params, sampler, opt, 12, key, chunk=4, checkpointer=ckpt)
    np.testing.assert_array_equal(resumed.losses, whole.losses)
    for a, b in zip(jax.tree.leaves(resumed.params), jax.tree.leaves(whole.params), strict=True):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="chunk"):
        rf.train(apply_fn, params, sampler, opt, 12, key, chunk=3, checkpointer=ckpt)
