"""Matrix-free Dirichlet Poisson operators on 2-D/3-D grids, with optional solid-cell masks."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np


@dataclasses.dataclass(frozen=True, eq=False)
class PoissonOperator:
    """The negative Laplacian ``-Δ`` (5-point in 2-D, 7-point in 3-D, no ``h^2`` factor).

    Cells outside the grid are Dirichlet (value 0). Solid cells (``mask == 0``) are removed from
    the system: fluid cells see a zero-flux (Neumann) wall there, as in the paper's pressure
    Poisson matrix, and the operator acts as the identity on solid cells so it stays SPD.

    Call it on an array of shape ``shape`` (or ``(..., *shape)``, batched over leading axes).

    Attributes:
        shape: the grid shape ``(nx, ny)`` or ``(nx, ny, nz)``.
        mask: ``None`` (all fluid) or a float array of ``shape`` with 1 = fluid, 0 = solid.
    """

    shape: tuple[int, ...]
    mask: jax.Array | None = None

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __call__(self, x: jax.Array) -> jax.Array:
        nd = self.ndim
        lead = x.ndim - nd
        if lead < 0 or tuple(x.shape[lead:]) != tuple(self.shape):
            raise ValueError(f"`x` must have trailing shape {self.shape}, got {x.shape}.")
        if self.mask is None:
            return 2 * nd * x - _neighbours(x, nd)
        m = self.mask
        xm = x * m
        # Diagonal: 2d minus the faces shared with solid cells (Neumann walls); grid boundary
        # faces stay in the diagonal (Dirichlet).
        solid_faces = _neighbours(jnp.broadcast_to(1.0 - m, x.shape), nd, pad_value=0.0)
        diag = 2 * nd - solid_faces
        fluid = m * (diag * xm - _neighbours(xm, nd))
        return fluid + (1.0 - m) * x


def _neighbours(x: jax.Array, nd: int, pad_value: float = 0.0) -> jax.Array:
    """Sum of the 2·nd face neighbours of every cell of the last ``nd`` axes (zero outside)."""
    total = jnp.zeros_like(x)
    for axis in range(x.ndim - nd, x.ndim):
        n = x.shape[axis]
        widths = [(0, 0)] * x.ndim
        widths[axis] = (1, 1)
        xp = jnp.pad(x, widths, constant_values=pad_value)
        total = total + jax.lax.slice_in_dim(xp, 0, n, axis=axis)
        total = total + jax.lax.slice_in_dim(xp, 2, n + 2, axis=axis)
    return total


def laplacian(
    shape: tuple[int, ...], mask: jax.Array | np.ndarray | None = None
) -> PoissonOperator:
    """The matrix-free Dirichlet Poisson operator of the paper's pressure solve (Sec. 3).

    Args:
        shape: grid shape, 2-D ``(nx, ny)`` or 3-D ``(nx, ny, nz)``, every side >= 2.
        mask: optional boolean/float array of ``shape``; 1 (True) = fluid, 0 = solid obstacle.

    Returns:
        A :class:`PoissonOperator` ``A`` with ``A(x)`` of the same shape as ``x``.

    Raises:
        ValueError: bad ``shape``; ``mask`` of the wrong shape, without fluid cells, or with a
            fluid cell enclosed by solid cells on every face (its row would be zero: singular).

    Differs from the paper: the paper also has air (free-surface) cells; here every non-solid
    cell is fluid and the domain boundary is Dirichlet.
    """
    shape = tuple(int(s) for s in shape)
    if len(shape) not in (2, 3) or min(shape) < 2:
        raise ValueError(f"`shape` must be 2-D or 3-D with sides >= 2, got {shape}.")
    if mask is None:
        return PoissonOperator(shape)
    m = np.asarray(mask)
    if m.shape != shape:
        raise ValueError(f"`mask` must have shape {shape}, got {m.shape}.")
    m = (m != 0).astype(np.float32)
    if m.sum() == 0:
        raise ValueError("`mask` has no fluid cells (expected at least one nonzero entry).")
    solid_faces = np.asarray(_neighbours(jnp.asarray(1.0 - m), len(shape)))
    isolated = (m > 0) & (solid_faces >= 2 * len(shape))
    if isolated.any():
        idx = tuple(int(i) for i in np.argwhere(isolated)[0])
        raise ValueError(
            f"`mask` leaves isolated fluid cells (e.g. at {idx}) enclosed by solid cells; "
            "expected every fluid cell to touch another fluid cell or the domain boundary."
        )
    return PoissonOperator(shape, jnp.asarray(m))


def dense_matrix(op: PoissonOperator) -> jax.Array:
    """The operator as a dense ``(n, n)`` matrix (n = prod(shape)); for small grids only."""
    n = int(np.prod(op.shape))
    eye = jnp.eye(n, dtype=jnp.float32).reshape((n, *op.shape))
    return op(eye).reshape(n, n).T


def box_obstacle(shape: tuple[int, ...], frac: float = 0.25) -> np.ndarray:
    """A fluid mask with a centred solid box of side ``frac`` times the grid (for tests/demos)."""
    m = np.ones(shape, dtype=bool)
    sl = tuple(slice(int(s * (0.5 - frac / 2)), int(s * (0.5 + frac / 2))) for s in shape)
    m[sl] = False
    return m
