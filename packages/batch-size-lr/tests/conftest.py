import jax
import pytest
from flax import nnx

from batch_size_lr import MLP, SplitLoss, functional


@pytest.fixture(scope="session")
def small():
    """A 4-6-3 MLP (51 parameters) on 40 random examples, its loss and data."""
    apply_fn, params = functional(MLP((4, 6, 3), rngs=nnx.Rngs(0)))
    kx, ky = jax.random.split(jax.random.PRNGKey(0))
    x = jax.random.normal(kx, (40, 4))
    y = jax.random.randint(ky, (40,), 0, 3)
    return SplitLoss(apply_fn), params, (x, y)
