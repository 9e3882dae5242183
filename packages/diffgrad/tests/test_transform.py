import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import diffgrad
from diffgrad._transform import _scale_by_friction_adam

B1, B2, EPS = 0.9, 0.999, 1e-8


def _grad_sequence(num_steps=6, seed=0):
    rng = np.random.default_rng(seed)
    return [
        {
            "w": jnp.asarray(rng.normal(size=(3, 4)), jnp.float32),
            "b": jnp.asarray(rng.normal(size=4)),
        }
        for _ in range(num_steps)
    ]


def _params():
    return {"w": jnp.ones((3, 4), jnp.float32), "b": jnp.zeros(4, jnp.float32)}


def _run(tx, grads, params=None):
    """Feeds a fixed gradient sequence, applying the updates; returns the updates per step."""
    params = _params() if params is None else params
    state = tx.init(params)
    out = []
    for g in grads:
        updates, state = tx.update(g, state, params)
        params = optax.apply_updates(params, updates)
        out.append(updates)
    return out, state


def _assert_trees_close(a, b, rtol=1e-6, atol=1e-7):
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=rtol, atol=atol)


def _forced(value, lr, amsgrad=False):
    scale = _scale_by_friction_adam(
        B1, B2, EPS, None, amsgrad, lambda g, pg: jnp.full_like(g, value)
    )
    return optax.chain(scale, optax.scale(-lr))


def test_friction_one_equals_optax_adam():
    grads = _grad_sequence()
    ours, _ = _run(_forced(1.0, 1e-2), grads)
    adam, _ = _run(optax.adam(1e-2, B1, B2, EPS), grads)
    _assert_trees_close(ours, adam)


def test_friction_half_equals_adam_at_half_lr_the_original_code_bug():
    grads = _grad_sequence()
    ours, _ = _run(_forced(0.5, 1e-2), grads)
    adam, _ = _run(optax.adam(5e-3, B1, B2, EPS), grads)
    _assert_trees_close(ours, adam)


def test_amsgrad_variant_with_friction_one_equals_optax_amsgrad():
    grads = _grad_sequence(8)
    ours, _ = _run(_forced(1.0, 1e-2, amsgrad=True), grads)
    ams, _ = _run(optax.amsgrad(1e-2, B1, B2, EPS), grads)
    _assert_trees_close(ours, ams)


def test_update_matches_numpy_transcription_of_algorithm():
    grads = _grad_sequence(7, seed=3)
    lr = 3e-2
    ours, _ = _run(diffgrad.diffgrad(lr), grads)
    for key in ("w", "b"):
        m = v = prev = 0.0
        for t, g in enumerate(grads, start=1):
            g = np.asarray(g[key], np.float64)
            m = B1 * m + (1 - B1) * g
            v = B2 * v + (1 - B2) * g**2
            xi = 1.0 / (1.0 + np.exp(-np.abs(prev - g)))
            step = -lr * xi * (m / (1 - B1**t)) / (np.sqrt(v / (1 - B2**t)) + EPS)
            prev = g
            np.testing.assert_allclose(np.asarray(ours[t - 1][key]), step, rtol=2e-5, atol=1e-8)


def test_friction_range_and_special_values():
    key_a, key_b = jax.random.split(jax.random.key(0))
    g = 5.0 * jax.random.normal(key_a, (1000,))
    pg = 5.0 * jax.random.normal(key_b, (1000,))
    xi = diffgrad.friction_coefficient(g, pg)
    assert float(xi.min()) >= 0.5 and float(xi.max()) <= 1.0
    assert float(xi.max()) < 1.0 or float(jnp.abs(g - pg).max()) > 16.0
    np.testing.assert_array_equal(diffgrad.friction_coefficient(g, g), 0.5)
    # Symmetric in the two gradients: only the size of the change matters.
    np.testing.assert_array_equal(xi, diffgrad.friction_coefficient(pg, g))
    np.testing.assert_allclose(
        diffgrad.friction_coefficient(jnp.array([1.0, -2.0]), jnp.zeros(2)),
        1.0 / (1.0 + np.exp(-np.array([1.0, 2.0]))),
        rtol=1e-6,
    )


def test_friction_rejects_gradients_of_different_shapes():
    with pytest.raises(ValueError, match="`grad` and `prev_grad` must have the same shape"):
        diffgrad.friction_coefficient(jnp.ones(3), jnp.ones((2, 3)))


def test_friction_is_between_adam_and_half_adam():
    grads = _grad_sequence(5, seed=1)
    ours, _ = _run(diffgrad.scale_by_diffgrad(), grads)
    full, _ = _run(optax.scale_by_adam(), grads)
    for o, f in zip(jax.tree.leaves(ours), jax.tree.leaves(full), strict=True):
        ratio = np.asarray(o) / np.asarray(f)
        assert np.all(ratio >= 0.5 - 1e-6) and np.all(ratio < 1.0)


def test_prev_grad_is_a_copy_of_current_gradient_not_an_alias():
    tx = diffgrad.scale_by_diffgrad()
    params = _params()
    g1, g2 = _grad_sequence(2)
    state = tx.init(params)
    _assert_trees_close(state.prev_grad, jax.tree.map(jnp.zeros_like, params), 0, 0)
    _, state = tx.update(g1, state, params)
    _assert_trees_close(state.prev_grad, g1, 0, 0)
    _, state2 = tx.update(g2, state, params)
    _assert_trees_close(state2.prev_grad, g2, 0, 0)
    # With the previous gradient really the previous one, the friction differs from the bug's 0.5.
    xi = diffgrad.friction_coefficient(g2["w"], state.prev_grad["w"])
    assert float(jnp.min(xi)) > 0.5


def test_first_step_friction_is_sigmoid_of_first_gradient():
    g = {"w": jnp.array([0.5, -3.0]), "b": jnp.array([2.0])}
    params = jax.tree.map(jnp.zeros_like, g)
    ours, _ = _run(diffgrad.scale_by_diffgrad(), [g], params)
    adam, _ = _run(optax.scale_by_adam(), [g], params)
    for key in g:
        expected = np.asarray(adam[0][key]) / (1 + np.exp(-np.abs(np.asarray(g[key]))))
        np.testing.assert_allclose(np.asarray(ours[0][key]), expected, rtol=1e-6)


def test_coupled_weight_decay_is_l2_added_to_the_gradient():
    wd, lr = 0.1, 1e-2
    params = _params()
    g = _grad_sequence(1)[0]
    updates, _ = _run(diffgrad.diffgrad(lr, weight_decay=wd), [g], params)
    g_l2 = jax.tree.map(lambda gi, p: gi + wd * p, g, params)
    expected, _ = _run(diffgrad.diffgrad(lr), [g_l2], params)
    _assert_trees_close(updates, expected)


def test_decoupled_weight_decay_is_adamw_style():
    wd, lr = 0.1, 1e-2
    params = _params()
    g = _grad_sequence(1)[0]
    updates, _ = _run(diffgrad.diffgrad(lr, weight_decay=wd, decoupled_weight_decay=True), [g])
    plain, _ = _run(diffgrad.diffgrad(lr), [g])
    expected = jax.tree.map(lambda u, p: u - lr * wd * p, plain[0], params)
    _assert_trees_close(updates[0], expected)


def test_weight_decay_mask_excludes_leaves():
    g = _grad_sequence(1)[0]
    mask = {"w": True, "b": False}
    tx = diffgrad.diffgrad(1e-2, weight_decay=0.5, decoupled_weight_decay=True, mask=mask)
    updates, _ = _run(tx, [g])
    plain, _ = _run(diffgrad.diffgrad(1e-2), [g])
    _assert_trees_close(updates[0]["b"], plain[0]["b"])
    assert not np.allclose(updates[0]["w"], plain[0]["w"])


def test_jit_matches_eager_and_does_not_recompile():
    tx = diffgrad.diffgrad(1e-2)
    params = _params()
    grads = _grad_sequence(3)
    eager, _ = _run(tx, grads)
    traces = []

    @jax.jit
    def step(g, state):
        traces.append(None)
        return tx.update(g, state, params)

    state = tx.init(params)
    for i, g in enumerate(grads):
        updates, state = step(g, state)
        _assert_trees_close(updates, eager[i])
    assert len(traces) == 1


@pytest.mark.parametrize("dtype", [jnp.bfloat16, jnp.float32])
def test_dtypes_updates_follow_grads_state_kept_in_float32(dtype):
    params = {"w": jnp.ones(5, dtype)}
    tx = diffgrad.scale_by_diffgrad(mu_dtype=dtype)
    state = tx.init(params)
    updates, state = tx.update({"w": jnp.linspace(-1, 1, 5).astype(dtype)}, state, params)
    assert updates["w"].dtype == dtype
    assert state.mu["w"].dtype == dtype
    assert state.nu["w"].dtype == jnp.float32
    assert state.prev_grad["w"].dtype == jnp.float32


def test_mu_dtype_sets_only_the_first_moment():
    state = diffgrad.scale_by_diffgrad(mu_dtype=jnp.bfloat16).init({"w": jnp.ones(3)})
    assert state.mu["w"].dtype == jnp.bfloat16
    assert state.nu["w"].dtype == jnp.float32 and state.prev_grad["w"].dtype == jnp.float32


def test_state_holds_one_more_buffer_than_adam():
    params = _params()

    def nbytes(state):
        return sum(x.nbytes for x in jax.tree.leaves(state))

    param_bytes = nbytes(params)
    extra = nbytes(diffgrad.diffgrad(1e-3).init(params)) - nbytes(optax.adam(1e-3).init(params))
    assert extra == param_bytes


def test_apply_if_finite_skips_and_counts_nan_gradients():
    tx = optax.apply_if_finite(diffgrad.diffgrad(1e-2), max_consecutive_errors=3)
    params = _params()
    state = tx.init(params)
    bad = jax.tree.map(lambda p: jnp.full_like(p, jnp.nan), params)
    updates, state = tx.update(bad, state, params)
    assert all(float(jnp.abs(u).max()) == 0.0 for u in jax.tree.leaves(updates))
    assert int(state.notfinite_count) == 1 and not bool(state.last_finite)
    # The diffGrad state was not polluted: its previous gradient is still the zero init.
    assert all(float(jnp.abs(x).max()) == 0.0 for x in jax.tree.leaves(state.inner_state))


def test_rejects_mismatched_tree_structure():
    tx = diffgrad.diffgrad(1e-2)
    state = tx.init(_params())
    with pytest.raises((ValueError, TypeError)):
        tx.update({"w": jnp.ones((3, 4))}, state, _params())


@pytest.mark.parametrize(
    "kwargs, arg",
    [
        ({"learning_rate": 0.0}, "learning_rate"),
        ({"learning_rate": -0.1}, "learning_rate"),
        ({"b1": 1.0}, "b1"),
        ({"b1": -0.1}, "b1"),
        ({"b2": 1.0}, "b2"),
        ({"b2": 1.5}, "b2"),
        ({"eps": 0.0}, "eps"),
        ({"eps": -1e-8}, "eps"),
        ({"weight_decay": -0.1}, "weight_decay"),
        ({"learning_rate": float("nan")}, "learning_rate"),
        ({"eps": float("inf")}, "eps"),
    ],
)
def test_rejects_bad_hyperparameters(kwargs, arg):
    kwargs = {"learning_rate": 1e-3, **kwargs}
    with pytest.raises(ValueError, match=arg):
        diffgrad.diffgrad(**kwargs)


def test_rejects_non_numeric_learning_rate():
    with pytest.raises(TypeError, match="`learning_rate` must be a real number"):
        diffgrad.diffgrad("0.1")
    with pytest.raises(TypeError, match="`learning_rate` must be a real number, got bool"):
        diffgrad.diffgrad(True)


def test_error_message_names_argument_value_and_expectation():
    with pytest.raises(
        ValueError, match=r"^`learning_rate` must be a finite number > 0, got -0\.1\.$"
    ):
        diffgrad.diffgrad(-0.1)


def test_vmapped_learning_rate_grid_is_accepted():
    # A traced lr (a vmapped grid) cannot be inspected; it must not be rejected either.
    grads = _grad_sequence(2)

    def first_update(lr):
        tx = diffgrad.diffgrad(lr)
        return tx.update(grads[0], tx.init(_params()), _params())[0]["b"]

    lrs = jnp.array([1e-3, 2e-3])
    updates = jax.vmap(first_update)(lrs)
    np.testing.assert_allclose(updates[1], 2 * updates[0], rtol=1e-6)


def test_scale_by_diffgrad_rejects_bad_betas():
    with pytest.raises(ValueError, match="b2"):
        diffgrad.scale_by_diffgrad(b2=1.0)


def test_accepts_a_schedule():
    tx = diffgrad.diffgrad(optax.linear_schedule(1e-2, 0.0, 10))
    updates, _ = _run(tx, _grad_sequence(2))
    assert all(np.all(np.isfinite(u)) for u in jax.tree.leaves(updates))
