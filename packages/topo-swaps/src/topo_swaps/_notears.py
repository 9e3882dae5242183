"""NOTEARS-linear baseline (Zheng et al. 2018): augmented Lagrangian with L-BFGS-B inner solves.

The objective and its closed-form gradient are NumPy/SciPy functions of the Gram matrix
C = X^T X / n, and the bound-constrained inner problem goes to scipy's L-BFGS-B, as in
``xunzheng/notears``. Differs from the issue: not JAX. L-BFGS-B makes ~10^4 sequential host
calls of a d x d objective, where JAX's per-call dispatch (and its expm) cost ~10x scipy's.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import scipy.optimize as sopt
from scipy.linalg import expm

from ._validate import check_data


class NotearsResult(NamedTuple):
    """``W`` thresholded estimate, ``W_raw`` before thresholding, final ``h``, ``rho``,
    outer ``iterations`` and ``converged`` (h <= h_tol before rho reached rho_max)."""

    W: np.ndarray
    W_raw: np.ndarray
    h: float
    rho: float
    iterations: int
    converged: bool


def _objective(w, C, rho, alpha, lambda1):
    d = C.shape[0]
    W = (w[: d * d] - w[d * d :]).reshape(d, d)
    R = np.eye(d) - W
    CR = C @ R
    loss = 0.5 * np.sum(R * CR)
    E = expm(W * W)
    h = np.trace(E) - d
    g_W = -CR + (rho * h + alpha) * E.T * 2 * W
    g = np.concatenate([g_W.ravel() + lambda1, -g_W.ravel() + lambda1])
    return loss + 0.5 * rho * h * h + alpha * h + lambda1 * np.sum(w), g


def _h(W):
    return float(np.trace(expm(W * W)) - W.shape[0])


def notears_linear(
    X,
    lambda1: float = 0.1,
    *,
    max_iter: int = 100,
    h_tol: float = 1e-8,
    rho_max: float = 1e16,
    w_threshold: float = 0.3,
) -> NotearsResult:
    """NOTEARS-linear: min (1/2n)||X - XW||^2 + lambda1 ||W||_1 s.t. h(W) = tr e^{W o W} - d = 0.

    Augmented Lagrangian (Zheng et al. 2018, Alg. 1): W = W+ - W- with bounds >= 0 and a zero
    diagonal; rho <- 10 rho until h drops by a factor 4, then alpha <- alpha + rho h; stop at
    h <= h_tol or rho >= rho_max.

    Args:
      X: ``(n, d)`` data (centred here). lambda1: L1 weight (>= 0).
      max_iter: outer iterations. h_tol, rho_max: stopping rule. w_threshold: final |W| cut.

    Returns:
      :class:`NotearsResult`; ``converged`` is False when rho hit rho_max before h <= h_tol.

    Raises:
      ValueError: bad data or negative ``lambda1``/``w_threshold``.
    """
    Xc = check_data(X)
    if lambda1 < 0:
        raise ValueError(f"`lambda1` must be >= 0, got {lambda1}.")
    if w_threshold < 0:
        raise ValueError(f"`w_threshold` must be >= 0, got {w_threshold}.")
    d = Xc.shape[1]
    if True:
        C = Xc.T @ Xc / Xc.shape[0]
        bounds = [
            (0, 0) if i == j else (0, None) for _ in range(2) for i in range(d) for j in range(d)
        ]
        w_est = np.zeros(2 * d * d)
        rho, alpha, h, it = 1.0, 0.0, np.inf, 0

        def to_W(w):
            return (w[: d * d] - w[d * d :]).reshape(d, d)

        for _ in range(max_iter):
            it += 1
            while rho < rho_max:
                sol = sopt.minimize(
                    _objective,
                    w_est,
                    args=(C, rho, alpha, lambda1),
                    jac=True,
                    method="L-BFGS-B",
                    bounds=bounds,
                )
                w_new = sol.x
                h_new = _h(to_W(w_new))
                if h_new > 0.25 * h:
                    rho *= 10
                else:
                    break
            w_est, h = w_new, h_new
            alpha += rho * h
            if h <= h_tol or rho >= rho_max:
                break
    W_raw = to_W(w_est)
    W = np.where(np.abs(W_raw) > w_threshold, W_raw, 0.0)
    return NotearsResult(W, W_raw, h, rho, it, bool(h <= h_tol))
