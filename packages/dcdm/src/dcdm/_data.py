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

    Differs from the paper: exact eigenvectors replace the Ritz vectors of a 10,000-step
    Lanczos run. Without solids they are the separable sine modes (any grid size, no
    eigendecomposition); with a solid ``mask`` a dense ``eigh`` of the fluid block is used
    (small grids only, n <= 64^2).
    """
    if int(num_samples) < 1:
        raise ValueError(f"`num_samples` must be >= 1, got {num_samples}.")
    if int(theta) < 0:
        raise ValueError(f"`theta` must be >= 0, got {theta}.")
    num = int(num_samples)
    if apply_A.mask is None:
        return _ritz_rhs_sine(apply_A.shape, num, key, int(theta), low_scale)
    M = np.asarray(dense_matrix(apply_A), np.float64)
    fluid = np.asarray(apply_A.mask).ravel() > 0
    M = M[np.ix_(fluid, fluid)]
    evals, evecs = np.linalg.eigh(M)
    n = evals.shape[0]
    scale = _mode_weights(n, theta, low_scale)
    c = jax.random.normal(key, (num, n)) * scale
    b = c @ jnp.asarray(evecs.T, jnp.float32)
    b = b / jnp.linalg.norm(b, axis=1, keepdims=True)
    full = jnp.zeros((num, fluid.size), jnp.float32)
    b = full.at[:, np.flatnonzero(fluid)].set(b)
    return b.reshape((num, *apply_A.shape))


def dirichlet_eigenvalues(shape: tuple[int, ...]) -> np.ndarray:
    """Eigenvalues of the unmasked operator on the mode grid: ``sum_a 2 - 2 cos(pi k_a / (n_a+1))``.

    Mode ``(k_1, ..., k_d)`` (0-based index ``k_a - 1``) has the separable sine eigenvector
    ``prod_a sin(pi k_a j_a / (n_a + 1))``.
    """
    out = np.zeros(shape)
    for axis, n in enumerate(shape):
        lam = 2 - 2 * np.cos(np.pi * np.arange(1, n + 1) / (n + 1))
        out = out + lam.reshape([-1 if a == axis else 1 for a in range(len(shape))])
    return out


def _mode_weights(n: int, theta: int, low_scale: float) -> np.ndarray:
    n_low = min(n, n // 2 + int(theta))
    return np.where(np.arange(n) < n_low, low_scale, 1.0).astype(np.float32)


def _ritz_rhs_sine(shape, num, key, theta, low_scale):
    # Without solids the eigenvectors are separable sines: b = S_1 C S_2^T (..) in O(n^{d+1}).
    lam = dirichlet_eigenvalues(shape).ravel()
    rank = np.empty(lam.size, np.int64)
    rank[np.argsort(lam, kind="stable")] = np.arange(lam.size)
    scale = _mode_weights(lam.size, theta, low_scale)[rank].reshape(shape)
    c = jax.random.normal(key, (num, *shape)) * scale
    for axis, n in enumerate(shape):
        j = np.arange(1, n + 1)
        S = np.sqrt(2.0 / (n + 1)) * np.sin(np.pi * np.outer(j, j) / (n + 1))
        c = jnp.moveaxis(
            jnp.tensordot(c, jnp.asarray(S, jnp.float32), axes=([1 + axis], [1])), -1, 1 + axis
        )
    b = c.reshape(num, -1)
    b = b / jnp.linalg.norm(b, axis=1, keepdims=True)
    return b.reshape((num, *shape))
