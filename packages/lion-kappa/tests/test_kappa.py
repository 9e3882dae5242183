import jax
import jax.numpy as jnp
import numpy as np
import pytest

import lion_kappa as lk

SMOOTH = [
    lk.l2(),
    lk.l2("global"),
    lk.lp(1.5),
    lk.lp(3.0, "global"),
    lk.half_squared(),
    lk.huber(0.7),
]


def _tree(key):
    k1, k2 = jax.random.split(key)
    return {"w": jax.random.normal(k1, (4, 3)), "b": jax.random.normal(k2, (5,))}


@pytest.mark.parametrize("kappa", SMOOTH, ids=lambda k: k.name)
def test_grad_matches_autodiff_of_value(kappa):
    x = _tree(jax.random.key(0))
    auto = jax.grad(kappa.value)(x)
    for a, b in zip(jax.tree.leaves(kappa.grad(x)), jax.tree.leaves(auto), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_nuclear_grad_matches_autodiff_of_value():
    x = {"w": jax.random.normal(jax.random.key(1), (5, 3))}
    np.testing.assert_allclose(
        lk.nuclear().grad(x)["w"], jax.grad(lk.nuclear().value)(x)["w"], atol=1e-5
    )


@pytest.mark.parametrize("kappa", [*SMOOTH, lk.l1(), lk.nuclear()], ids=lambda k: k.name)
def test_fenchel_young_equality_at_the_subgradient(kappa):
    # K(x) + K*(y) = <x, y> exactly when y in dK(x): checks conjugate and grad together.
    x = {"w": jax.random.normal(jax.random.key(2), (4, 3))}
    y = kappa.grad(x)
    inner = jnp.vdot(x["w"], y["w"])
    assert jnp.allclose(kappa.value(x) + kappa.conjugate(y), inner, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kappa", [*SMOOTH, lk.l1(), lk.nuclear()], ids=lambda k: k.name)
def test_fenchel_young_inequality_on_random_pairs(kappa):
    for seed in range(5):
        kx, ky = jax.random.split(jax.random.key(10 + seed))
        x = {"w": jax.random.normal(kx, (4, 3))}
        y = {"w": 0.2 * jax.random.normal(ky, (4, 3))}
        assert kappa.value(x) + kappa.conjugate(y) >= jnp.vdot(x["w"], y["w"]) - 1e-5


def test_l1_is_sign_and_lp1_is_l1():
    x = {"w": jnp.array([-2.0, 0.0, 3.0])}
    assert jnp.array_equal(lk.l1().grad(x)["w"], jnp.array([-1.0, 0.0, 1.0]))
    assert lk.lp(1).name == "l1"


def test_leaf_and_global_l2_differ_and_have_unit_norms():
    x = _tree(jax.random.key(3))
    leaf = lk.l2("leaf").grad(x)
    glob = lk.l2("global").grad(x)
    for g in jax.tree.leaves(leaf):
        assert jnp.isclose(jnp.linalg.norm(g), 1.0, atol=1e-6)
    total = jnp.sqrt(sum(jnp.sum(g**2) for g in jax.tree.leaves(glob)))
    assert jnp.isclose(total, 1.0, atol=1e-6)


@pytest.mark.parametrize("kappa", [lk.l2(), lk.l2("global"), lk.lp(3.0)], ids=lambda k: k.name)
def test_zero_vector_gives_zero_subgradient_and_finite_derivatives(kappa):
    zero = {"w": jnp.zeros((3, 2))}
    assert jnp.array_equal(kappa.grad(zero)["w"], jnp.zeros((3, 2)))
    jac = jax.jacobian(lambda z: kappa.grad({"w": z})["w"])(jnp.zeros((3, 2)))
    assert jnp.all(jnp.isfinite(jac))


def test_lp_is_stable_for_large_values_and_large_p():
    x = {"w": jnp.array([1e20, -3e19, 0.0])}
    g = lk.lp(8.0).grad(x)["w"]
    assert jnp.all(jnp.isfinite(g))
    assert jnp.isclose(jnp.sum(jnp.abs(g) ** (8.0 / 7.0)) ** (7.0 / 8.0), 1.0, atol=1e-5)


def test_nuclear_gauge_is_spectral_norm():
    x = {"w": jax.random.normal(jax.random.key(4), (5, 3))}
    assert jnp.isclose(lk.nuclear().gauge(x), jnp.linalg.norm(x["w"], 2), rtol=1e-5)


@pytest.mark.parametrize("p", [0.5, 0.0, -1.0, float("inf"), float("nan")])
def test_lp_rejects_bad_p(p):
    with pytest.raises(ValueError, match="`p`"):
        lk.lp(p)


def test_bad_scope_and_delta_raise():
    with pytest.raises(ValueError, match="scope"):
        lk.l2("layer")
    with pytest.raises(ValueError, match="delta"):
        lk.huber(0.0)


def test_nuclear_rejects_non_matrix_leaves():
    with pytest.raises(ValueError, match="2-D"):
        lk.nuclear().grad({"b": jnp.ones((4,))})
