"""The inner problem: the best W whose support respects a topological order (Sec. 3, Eq. 4).

Given an order pi the constrained problem min F(W) s.t. W_ij = 0 on Z_pi decouples per node:
column j is the regression of X_j on the nodes before j. For least squares every column is one
masked normal-equation solve on the Gram matrix C = X^T X / n, so all d columns (and all
candidate orders) are solved at once with ``vmap``.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

_NEWTON_STEPS = 30
_LOGISTIC_RIDGE = 1e-6


def _allowed(pos):
    return pos[:, None] < pos[None, :]


def _l2_column(c_j, c_jj, m, C):
    m = m.astype(C.dtype)
    # Masked normal equations: identity on excluded rows keeps the system square and regular.
    A = C * m[:, None] * m[None, :] + jnp.diag(1.0 - m)
    w = jnp.linalg.solve(A, c_j * m)
    # At the optimum w^T C w = w^T c_j, so the node loss is (C_jj - w^T c_j) / 2.
    return w, 0.5 * (c_jj - w @ c_j)


def _l2_fit(C, allowed):
    cols = jax.vmap(_l2_column, in_axes=(1, 0, 1, None), out_axes=(1, 0))
    return cols(C, jnp.diag(C), allowed, C)


def _logistic_column(x_j, m, X):
    n = X.shape[0]
    m = m.astype(X.dtype)
    Xm = X * m[None, :]

    def step(_, w):
        z = Xm @ w
        p = jax.nn.sigmoid(z)
        g = Xm.T @ (p - x_j) / n + _LOGISTIC_RIDGE * w
        H = (Xm * (p * (1 - p))[:, None]).T @ Xm / n
        H = H + jnp.diag(1.0 - m) + _LOGISTIC_RIDGE * jnp.eye(X.shape[1])
        return (w - jnp.linalg.solve(H, g)) * m

    w = jax.lax.fori_loop(0, _NEWTON_STEPS, step, jnp.zeros(X.shape[1], X.dtype))
    z = X @ w
    return w, jnp.mean(jax.nn.softplus(z) - x_j * z)


def _logistic_fit(X, allowed):
    cols = jax.vmap(_logistic_column, in_axes=(1, 1, None), out_axes=(1, 0))
    return cols(X, allowed, X)


def _fit(stat, pos, loss):
    allowed = _allowed(pos)
    return _l2_fit(stat, allowed) if loss == "l2" else _logistic_fit(stat, allowed)


@partial(jax.jit, static_argnames="loss")
def fit_positions(stat, pos, loss="l2"):
    """``(W, node_losses)`` for positions ``pos`` (``pos[k]`` = place of node k in the order).

    ``stat`` is the Gram matrix C = X^T X / n for ``loss="l2"`` and the binary data X for
    ``loss="logistic"``.
    """
    return _fit(stat, pos, loss)


@partial(jax.jit, static_argnames="loss")
def swap_scores(stat, pos, pairs, loss="l2"):
    """Scores F(W_pi') of every candidate order pi' = pi with pair (i, j) swapped, vectorised.

    Args:
      stat: Gram matrix ``(d, d)`` (l2) or binary data ``(n, d)`` (logistic).
      pos: int ``(d,)`` positions of the current order.
      pairs: int ``(k, 2)`` candidate pairs.

    Returns:
      ``(k,)`` scores. Every column is re-solved; only the span pos(j)..pos(i) actually changes,
      which the loop reference (``refit_span``) exploits instead.
    """

    def one(pair):
        i, j = pair[0], pair[1]
        new = pos.at[i].set(pos[j]).at[j].set(pos[i])
        return jnp.sum(_fit(stat, new, loss)[1])

    return jax.vmap(one)(pairs)


def gram(X: np.ndarray) -> jnp.ndarray:
    return jnp.asarray(X.T @ X / X.shape[0])


def l2_gradient(C, W) -> np.ndarray:
    """grad_W of F(W) = tr((I - W)^T C (I - W)) / 2, i.e. -C (I - W)."""
    C = np.asarray(C)
    return -C @ (np.eye(C.shape[0]) - np.asarray(W))
