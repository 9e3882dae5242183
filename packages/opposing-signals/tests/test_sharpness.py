import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from jax.flatten_util import ravel_pytree

import opposing_signals as os_


def _problem():
    model = os_.TwoLayerLinear(5, 6, rngs=nnx.Rngs(0), init_scale=1.0)
    graphdef, params = nnx.split(model)
    x = jax.random.normal(jax.random.PRNGKey(1), (30, 5))
    y = jnp.sign(x[:, 0])

    def loss_fn(p, xi, yi):
        return 0.5 * (nnx.merge(graphdef, p)(xi[None])[0] - yi) ** 2

    flat, unravel = ravel_pytree(params)
    mean = lambda f: jnp.mean(jax.vmap(loss_fn, (None, 0, 0))(unravel(f), x, y))
    return loss_fn, params, (x, y), np.linalg.eigvalsh(np.asarray(jax.hessian(mean)(flat)))


def test_lanczos_sharpness_equals_dense_hessian_top_eigenvalue():
    with jax.enable_x64(True):
        loss_fn, params, batch, eigs = _problem()
        assert eigs.size == 36
        top = os_.sharpness(loss_fn, params, batch, key=jax.random.PRNGKey(2), iters=30)
        assert float(top.value) == pytest.approx(eigs[-1], rel=1e-8)
        assert bool(top.converged)


def test_power_sharpness_is_largest_magnitude_eigenvalue():
    with jax.enable_x64(True):
        loss_fn, params, batch, eigs = _problem()
        top = os_.sharpness(
            loss_fn, params, batch, key=jax.random.PRNGKey(2), method="power", iters=2000
        )
        assert abs(float(top.value)) == pytest.approx(np.max(np.abs(eigs)), rel=1e-3)


def test_sharpness_rejects_bad_arguments():
    loss_fn, params, batch, _ = _problem()
    with pytest.raises(ValueError, match="`method`"):
        os_.sharpness(loss_fn, params, batch, key=jax.random.PRNGKey(0), method="dense")
    with pytest.raises(ValueError, match="`iters`"):
        os_.sharpness(loss_fn, params, batch, key=jax.random.PRNGKey(0), iters=1)
