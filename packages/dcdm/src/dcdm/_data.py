"""Training right-hand sides from the low end of the spectrum (official ``datasetcreate.py``)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from dcdm._poisson import PoissonOperator, dense_matrix


def ritz_rhs(
    apply_A: PoissonOperator,
    num_samples: int,
    key: jax.Array,
    *,
    theta: int = 50,
    low_scale: float = 9.0,
) -> jax.Array:
    """Unit-norm right-hand sides ``b = sum_i c_i v_i / ||.||`` weighted to the low modes (Sec. 4).

    ``c_i ~ low_scale * N(0, 1)`` for the lowest ``n/2 + theta`` eigenvectors ``v_i`` of A and
    ``c_i ~ N(0, 1)`` for the rest, so the network learns the modes CG resolves worst.

    Args:
        apply_A: the grid operator (its ``shape`` gives n = prod(shape)).
        num_samples: number of right-hand sides.
        key: PRNG key.
        theta: extra low modes weighted up (paper: 500 with m = 10,000 Lanczos steps).
        low_scale: weight of the low modes (paper: 9).

    Returns:
        ``(num_samples, *shape)`` float32 array of unit-norm right-hand sides (zero on solids).

    Raises:
        ValueError: ``num_samples < 1`` or ``theta < 0``.

    Differs from the paper: exact eigenvectors from a dense ``eigh`` replace the Ritz vectors
    of a 10,000-step Lanczos run (identical for the small grids used here; n <= 64^2).
    """
    if int(num_samples) < 1:
        raise ValueError(f"`num_samples` must be >= 1, got {num_samples}.")
    if int(theta) < 0:
        raise ValueError(f"`theta` must be >= 0, got {theta}.")
    M = np.asarray(dense_matrix(apply_A), np.float64)
    if apply_A.mask is not None:
        fluid = np.asarray(apply_A.mask).ravel() > 0
        M = M[np.ix_(fluid, fluid)]
    else:
        fluid = None
    evals, evecs = np.linalg.eigh(M)
    n = evals.shape[0]
    n_low = min(n, n // 2 + int(theta))
    scale = np.where(np.arange(n) < n_low, low_scale, 1.0).astype(np.float32)
    c = jax.random.normal(key, (int(num_samples), n)) * scale
    b = c @ jnp.asarray(evecs.T, jnp.float32)
    b = b / jnp.linalg.norm(b, axis=1, keepdims=True)
    if fluid is not None:
        full = jnp.zeros((int(num_samples), fluid.size), jnp.float32)
        b = full.at[:, np.flatnonzero(fluid)].set(b)
    return b.reshape((int(num_samples), *apply_A.shape))
