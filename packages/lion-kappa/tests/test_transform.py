import jax
import jax.numpy as jnp
import optax
import pytest

import lion_kappa as lk


def _tree(key):
    k1, k2, k3 = jax.random.split(key, 3)
    return {
        "w": jax.random.normal(k1, (7, 5)),
        "b": jax.random.normal(k2, (5,)),
        "nested": [jax.random.normal(k3, (3, 2, 2))],
    }


def _run(opt, params, steps, key):
    def body(carry, i):
        params, state = carry
        updates, state = opt.update(_tree(jax.random.fold_in(key, i)), state, params)
        return (optax.apply_updates(params, updates), state), None

    (params, state), _ = jax.lax.scan(body, (params, opt.init(params)), jnp.arange(steps))
    return params, state


def test_l1_equals_optax_lion_for_100_steps():
    key = jax.random.key(0)
    params = _tree(jax.random.key(1))
    ours, ours_state = _run(lk.lion_kappa(3e-3, lk.l1(), weight_decay=0.7), params, 100, key)
    ref, ref_state = _run(optax.lion(3e-3, weight_decay=0.7), params, 100, key)
    for a, b in zip(jax.tree.leaves(ours), jax.tree.leaves(ref), strict=True):
        assert jnp.array_equal(a, b)
    for a, b in zip(
        jax.tree.leaves(ours_state[0].mu), jax.tree.leaves(ref_state[0].mu), strict=True
    ):
        assert jnp.array_equal(a, b)


def test_paper_sign_convention_one_step_by_hand():
    # Eq. (3) with the paper's m = -mu: x+ = x + lr (dK(b1 m - (1-b1) g) - lam x).
    kappa, lr, lam, b1, b2 = lk.l2(), 0.1, 0.5, 0.9, 0.99
    x = {"a": jnp.array([1.0, -2.0, 0.5])}
    opt = lk.lion_kappa(lr, kappa, b1=b1, b2=b2, weight_decay=lam)
    state = opt.init(x)
    g1, g2 = {"a": jnp.array([0.3, 0.1, -1.0])}, {"a": jnp.array([-0.2, 0.4, 0.7])}
    u, state = opt.update(g1, state, x)
    x1 = optax.apply_updates(x, u)
    u, state = opt.update(g2, state, x1)
    x2 = optax.apply_updates(x1, u)
    m = jnp.zeros(3)
    xa = x["a"]
    for g in (g1["a"], g2["a"]):
        xa = xa + lr * (kappa.grad({"a": b1 * m - (1 - b1) * g})["a"] - lam * xa)
        m = b2 * m - (1 - b2) * g
    assert jnp.allclose(x2["a"], xa, atol=1e-6)


def test_b1_zero_l1_is_frank_wolfe_on_the_box():
    lr, lam = 0.05, 2.0
    x = {"a": jnp.array([0.3, -0.1, 0.2])}
    g = {"a": jnp.array([1.0, -2.0, 0.0])}
    opt = lk.lion_kappa(lr, lk.l1(), b1=0.0, weight_decay=lam)
    u, _ = opt.update(g, opt.init(x), x)
    vertex = jnp.sign(-g["a"]) / lam  # linear-minimization oracle of <g, .> on the box
    expected = (1 - lr * lam) * x["a"] + lr * lam * vertex
    assert jnp.allclose(optax.apply_updates(x, u)["a"], expected, atol=1e-7)


@pytest.mark.parametrize("kappa", [lk.l1(), lk.l2(), lk.l2("global"), lk.lp(3.0), lk.nuclear()])
def test_iterates_never_leave_the_set_once_inside(kappa):
    lam, lr = 4.0, 0.05
    params = jax.tree.map(lambda x: 0.01 * x, {"w": jax.random.normal(jax.random.key(2), (6, 4))})
    key = jax.random.key(3)
    opt = lk.lion_kappa(lr, kappa, weight_decay=lam)
    state = opt.init(params)
    for i in range(60):
        grads = {"w": 50.0 * jax.random.normal(jax.random.fold_in(key, i), (6, 4))}
        updates, state = opt.update(grads, state, params)
        params = optax.apply_updates(params, updates)
        assert float(lk.constraint_violation(params, kappa, lam)) <= 1e-6


def test_phase1_bound_holds_every_step_from_outside():
    lam, lr = 2.0, 0.01
    params = {"w": jnp.full((10,), 5.0)}
    key = jax.random.key(4)
    opt = lk.lion_kappa(lr, weight_decay=lam)

    def body(carry, t):
        params, state = carry
        grads = {"w": jax.random.normal(jax.random.fold_in(key, t), (10,))}
        updates, state = opt.update(grads, state, params)
        params = optax.apply_updates(params, updates)
        return (params, state), jnp.max(jnp.abs(params["w"]))

    _, norms = jax.lax.scan(body, (params, opt.init(params)), jnp.arange(1, 1001))
    bound = lk.phase1_bound(5.0, lr, lam, jnp.arange(1, 1001))
    # float32 rounding of (1 - lr*lam)^t and of x itself; the margin is 1e-5 of the radius scale.
    assert jnp.all(norms <= bound + 1e-5)
    assert norms[-1] < 1.0  # the envelope really was tracked down towards 1/lam


def test_mu_dtype_is_respected():
    opt = lk.scale_by_lion_kappa(lk.l2(), mu_dtype=jnp.bfloat16)
    state = opt.init({"w": jnp.ones((3,))})
    updates, state = opt.update({"w": jnp.ones((3,))}, state)
    assert state.mu["w"].dtype == jnp.bfloat16
    assert updates["w"].dtype == jnp.float32


def test_update_is_jittable():
    opt = lk.lion_kappa(1e-2, lk.l2("global"), weight_decay=1.0)
    params = _tree(jax.random.key(5))
    updates, _ = jax.jit(opt.update)(params, opt.init(params), params)
    assert all(jnp.all(jnp.isfinite(u)) for u in jax.tree.leaves(updates))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"learning_rate": 0.0}, "learning_rate"),
        ({"learning_rate": -1e-3}, "learning_rate"),
        ({"learning_rate": 1e-3, "weight_decay": -0.1}, "weight_decay"),
        ({"learning_rate": 1e-3, "b1": 1.5}, "b1"),
        ({"learning_rate": 1e-3, "b2": -0.01}, "b2"),
        ({"learning_rate": 0.5, "weight_decay": 3.0}, "learning_rate \\* weight_decay"),
    ],
)
def test_bad_hyperparameters_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        lk.lion_kappa(**kwargs)


def test_schedule_skips_the_constant_lr_checks():
    lk.lion_kappa(optax.constant_schedule(0.5), weight_decay=3.0)


def test_bad_kappa_type_raises():
    with pytest.raises(TypeError, match="kappa"):
        lk.lion_kappa(1e-3, kappa="l1")


def test_nuclear_on_vector_leaf_raises_at_init():
    opt = lk.lion_kappa(1e-3, lk.nuclear())
    with pytest.raises(ValueError, match="nuclear"):
        opt.init({"w": jnp.ones((3, 3)), "b": jnp.ones((3,))})


def test_phase1_envelope_is_exact_in_float64_on_a_logistic_problem():
    # Phase 1 (Sec. 3): from outside the box, ||x_t||_inf <= 1/lam + (1-lr lam)^t (||x0|| - 1/lam)
    # at every step; in float64 the only slack is the rounding of (1 - lr*lam)^t.
    lam, lr, steps = 2.0, 0.01, 1500
    with jax.enable_x64(True):
        a = jax.random.normal(jax.random.key(6), (200, 12), jnp.float64)
        y = jnp.sign(a @ jax.random.normal(jax.random.key(7), (12,), jnp.float64))

        def f(w):
            return jnp.mean(jnp.logaddexp(0.0, -y * (a @ w)))

        x0 = jnp.full(12, 10.0 / lam)
        opt = lk.lion_kappa(lr, weight_decay=lam)

        def body(carry, _):
            x, state = carry
            updates, state = opt.update(jax.grad(f)(x), state, x)
            x = optax.apply_updates(x, updates)
            return (x, state), jnp.max(jnp.abs(x))

        _, norms = jax.lax.scan(body, (x0, opt.init(x0)), None, length=steps)
        bound = lk.phase1_bound(10.0 / lam, lr, lam, jnp.arange(1, steps + 1))
        assert norms.dtype == jnp.float64
        assert int(jnp.sum(norms > bound + 1e-12)) == 0
        assert float(norms[-1]) <= 1.0 / lam + 1e-12  # inside the box by the end
