"""The inner problem: the best W whose support respects a topological order (Sec. 3, Eq. 4).

Given an order pi the constrained problem min F(W) s.t. W_ij = 0 on Z_pi decouples per node:
column j is the regression of X_j on the nodes before j. For least squares every column is one
masked normal-equation solve on the Gram matrix C = X^T X / n, so all d columns are solved at
once with ``vmap``. Candidate swaps re-solve only the span of positions they change.
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
def swap_scores_full(stat, pos, pairs, loss="l2"):
    """Scores of every candidate swap by refitting all d columns per candidate (reference).

    Same values as :func:`swap_scores` (which re-solves only the changed span); kept for the
    tests and the bench, and used for ``loss="logistic"``.
    """

    def one(pair):
        i, j = pair[0], pair[1]
        new = pos.at[i].set(pos[j]).at[j].set(pos[i])
        return jnp.sum(_fit(stat, new, loss)[1])

    return jax.vmap(one)(pairs)


@partial(jax.jit, static_argnames="span")
def _l2_span_scores(C, pos, pairs, span):
    """Least-squares swap scores re-solving only the nodes at positions lo..hi of each swap.

    With C permuted into the current order, C_pi = L L^T (Cholesky), the loss of the node at
    position p is L_pp^2 / 2 (its residual variance given its predecessors). A swap of the
    nodes at positions lo < hi keeps positions < lo and > hi: their losses are unchanged. The
    span's new losses are the squared Cholesky diagonal of the Schur complement of the prefix
    (positions < lo), taken on the span in its new order: S = C_qq - L_q,<lo L_q,<lo^T, one
    ``span x span`` factorisation per candidate (padded with identity rows to the static
    ``span``) instead of d ``d x d`` solves.
    """
    d = C.shape[0]
    order = jnp.argsort(pos)
    Cp = C[order][:, order]
    L = jnp.linalg.cholesky(Cp)
    base = 0.5 * jnp.diag(L) ** 2
    total = jnp.sum(base)
    t, idx = jnp.arange(span), jnp.arange(d)

    def one(pair):
        a, b = pos[pair[0]], pos[pair[1]]
        lo, hi = jnp.minimum(a, b), jnp.maximum(a, b)
        n_span = hi - lo + 1
        valid = t < n_span
        q = jnp.where(t == 0, hi, jnp.where(t == n_span - 1, lo, lo + t))
        q = jnp.where(valid, q, lo)
        F = L[q] * (idx < lo)[None, :]
        S = Cp[q][:, q] - F @ F.T
        both = valid[:, None] & valid[None, :]
        S = jnp.where(both, S, jnp.eye(span, dtype=C.dtype))
        new = 0.5 * jnp.sum(jnp.where(valid, jnp.diag(jnp.linalg.cholesky(S)) ** 2, 0.0))
        old = jnp.sum(jnp.where((idx >= lo) & (idx <= hi), base, 0.0))
        return total - old + new

    return jax.vmap(one)(pairs)


def _bucket(k: int, cap: int) -> int:
    """Smallest power of two >= k (at least 8), capped at ``cap``: few distinct compiled shapes."""
    return min(cap, max(8, 1 << (max(k, 1) - 1).bit_length()))


def swap_scores(stat, pos, pairs, loss="l2"):
    """Scores F(W_pi') of every candidate order pi' = pi with pair (i, j) swapped.

    For ``loss="l2"`` only the columns whose allowed parents change (the nodes at positions
    lo..hi of the swap) are re-solved; the candidates are grouped by span length into
    power-of-two buckets and each bucket is one jitted ``vmap`` (candidate counts padded to
    powers of two, so few shapes compile). ``loss="logistic"`` refits every column
    (:func:`swap_scores_full`).

    Args:
      stat: Gram matrix ``(d, d)`` (l2) or binary data ``(n, d)`` (logistic).
      pos: int ``(d,)`` positions of the current order.
      pairs: int ``(k, 2)`` candidate pairs.

    Returns:
      ``(k,)`` scores (a NumPy array).
    """
    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    if loss != "l2":
        return np.asarray(swap_scores_full(stat, pos, jnp.asarray(pairs), loss))
    d = stat.shape[0]
    pos_np = np.asarray(pos)
    spans = np.abs(pos_np[pairs[:, 0]] - pos_np[pairs[:, 1]]) + 1
    sizes = np.array([_bucket(int(s), d) for s in spans])
    out = np.empty(len(pairs))
    for size in np.unique(sizes):
        sel = np.flatnonzero(sizes == size)
        padded = np.zeros((_bucket(len(sel), 1 << 30), 2), dtype=np.int64)
        padded[: len(sel)] = pairs[sel]
        res = _l2_span_scores(stat, pos, jnp.asarray(padded), int(size))
        out[sel] = np.asarray(res)[: len(sel)]
    return out


def gram(X: np.ndarray) -> jnp.ndarray:
    return jnp.asarray(X.T @ X / X.shape[0])


def l2_gradient(C, W) -> np.ndarray:
    """grad_W of F(W) = tr((I - W)^T C (I - W)) / 2, i.e. -C (I - W)."""
    C = np.asarray(C)
    return -C @ (np.eye(C.shape[0]) - np.asarray(W))
