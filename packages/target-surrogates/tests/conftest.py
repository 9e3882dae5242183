import jax
import jax.numpy as jnp
import numpy as np
import pytest

from target_surrogates import TargetProblem


@pytest.fixture
def logistic_problem() -> TargetProblem:
    """Linear scores and the per-example logistic loss log(1 + exp(-s z)) (1/4-smooth)."""
    return TargetProblem(lambda w, x: x @ w, lambda z, s: jax.nn.softplus(-s * z))


@pytest.fixture
def softmax_mlp_problem() -> TargetProblem:
    """A tanh MLP producing 3 logits, softmax cross-entropy (1/2-smooth in the logits)."""

    def apply(p, x):
        return jnp.tanh(x @ p["w1"] + p["b1"]) @ p["w2"]

    def xent(z, y):
        return -jnp.take_along_axis(jax.nn.log_softmax(z), y[:, None], 1)[:, 0]

    return TargetProblem(apply, xent)


@pytest.fixture
def logistic_data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 5)).astype(np.float32)
    s = np.sign(x @ rng.normal(size=5) + 0.5 * rng.normal(size=40)).astype(np.float32)
    return jnp.asarray(x), jnp.asarray(s)


@pytest.fixture
def mlp_data():
    rng = np.random.default_rng(1)
    x = jnp.asarray(rng.normal(size=(30, 4)).astype(np.float32))
    y = jnp.asarray(rng.integers(0, 3, size=30))
    params = {
        "w1": jnp.asarray(rng.normal(size=(4, 8)).astype(np.float32)),
        "b1": jnp.zeros(8),
        "w2": jnp.asarray(0.5 * rng.normal(size=(8, 3)).astype(np.float32)),
    }
    return params, (x, y)
