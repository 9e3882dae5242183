import jax
import jax.numpy as jnp
import numpy as np
import pytest

import comp_sum_losses as csl

KEY = jax.random.PRNGKey(0)
PARAMS = csl.init_mlp(KEY, [8, 16, 3])
X = jax.random.uniform(jax.random.PRNGKey(1), (32, 8))
Y = jnp.argmax(X[:, :3], axis=1)
OPTS = dict(eps=0.1, steps=5, key=jax.random.PRNGKey(2))


@pytest.mark.parametrize("norm", ["inf", 2])
def test_pgd_stays_in_ball_and_raises_the_loss(norm):
    x_adv = csl.pgd_attack(csl.MLP, PARAMS, X, Y, norm=norm, **OPTS)
    delta = x_adv - X
    size = jnp.max(jnp.abs(delta), 1) if norm == "inf" else jnp.linalg.norm(delta, axis=1)
    assert float(jnp.max(size)) <= 0.1 + 1e-6
    assert float(jnp.min(x_adv)) >= 0.0 and float(jnp.max(x_adv)) <= 1.0
    loss = lambda x: jnp.mean(csl.logistic_loss(csl.MLP(PARAMS, x), Y))  # noqa: E731
    assert float(loss(x_adv)) > float(loss(X))


def test_smooth_adversarial_loss_structure():
    plain = csl.comp_sum_loss(csl.MLP(PARAMS, X), Y, 1.5)
    zero = csl.smooth_adv_comp_sum_loss(csl.MLP, PARAMS, X, Y, tau=1.5, nu=0.0, **OPTS)
    np.testing.assert_allclose(zero, plain, rtol=1e-6)
    with_term = csl.smooth_adv_comp_sum_loss(csl.MLP, PARAMS, X, Y, tau=1.5, nu=2.0, **OPTS)
    assert bool(jnp.all(with_term >= plain)) and float(jnp.mean(with_term - plain)) > 0
    # no perturbation, no smooth term; gradients are finite there
    none = csl.smooth_adv_comp_sum_loss(csl.MLP, PARAMS, X, Y, nu=2.0, eps=0.0, steps=1, key=KEY)
    np.testing.assert_allclose(none, csl.logistic_loss(csl.MLP(PARAMS, X), Y), rtol=1e-6)
    g = jax.grad(lambda p: jnp.mean(csl.smooth_adv_comp_sum_loss(csl.MLP, p, X, Y, nu=1.0, eps=0.0, steps=1, key=KEY)))(PARAMS)  # fmt: skip
    assert all(bool(jnp.all(jnp.isfinite(leaf))) for leaf in jax.tree.leaves(g))
    trades = csl.trades_loss(csl.MLP, PARAMS, X, Y, beta=6.0, **OPTS)
    assert bool(jnp.all(trades >= csl.logistic_loss(csl.MLP(PARAMS, X), Y) - 1e-6))


def test_adversarial_training_improves_robust_accuracy():
    loss = csl.adversarial_loss("adv-comp-sum", csl.MLP, nu=1.0, eps=0.1, steps=3)
    trained = csl.train(loss, PARAMS, X, Y, epochs=60, batch_size=16, learning_rate=1e-2, key=KEY)
    before = csl.robust_accuracy(csl.MLP, PARAMS, X, Y, eps=0.1, steps=5, key=KEY)
    after = csl.robust_accuracy(csl.MLP, trained, X, Y, eps=0.1, steps=5, key=KEY)
    assert float(after) > float(before) + 0.2


def test_bad_inputs():
    with pytest.raises(ValueError, match="`norm`"):
        csl.pgd_attack(csl.MLP, PARAMS, X, Y, eps=0.1, norm=3, key=KEY)
    with pytest.raises(ValueError, match="`steps`"):
        csl.pgd_attack(csl.MLP, PARAMS, X, Y, eps=0.1, steps=0, key=KEY)
    with pytest.raises(ValueError, match="`eps`"):
        csl.pgd_attack(csl.MLP, PARAMS, X, Y, eps=-0.1, key=KEY)
    with pytest.raises(ValueError, match="`nu`"):
        csl.smooth_adv_comp_sum_loss(csl.MLP, PARAMS, X, Y, nu=-1.0, eps=0.1, key=KEY)
    with pytest.raises(ValueError, match="`method`"):
        csl.adversarial_loss("mart", csl.MLP)
