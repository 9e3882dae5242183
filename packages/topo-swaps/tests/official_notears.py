"""NumPy/SciPy transcription of the official NOTEARS-linear algorithm (xunzheng/notears).

Least-squares loss on the centred data matrix X, W = W+ - W- with bounds [0, inf) and a zero
diagonal, scipy's L-BFGS-B with its default options per augmented-Lagrangian subproblem,
rho <- 10 rho while h(W) does not drop below h/4 (each retry from the outer iterate),
alpha <- alpha + rho h, stop at h <= h_tol or rho >= rho_max, drop |W| < w_threshold.
Used by the tests (and timed by the bench) as the reference for ``topo_swaps.notears_linear``.
"""

import numpy as np
import scipy.linalg as slin
import scipy.optimize as sopt


def reference_notears_linear(X, lambda1, max_iter=100, h_tol=1e-8, rho_max=1e16, w_threshold=0.3):
    """Returns ``(W_thresholded, W_raw)``."""
    X = np.asarray(X, dtype=float)
    n, d = X.shape
    X = X - X.mean(axis=0, keepdims=True)

    def adj(w):
        return (w[: d * d] - w[d * d :]).reshape(d, d)

    def h_and_grad(W):
        E = slin.expm(W * W)
        return np.trace(E) - d, E.T * W * 2

    def objective(w, rho, alpha):
        W = adj(w)
        R = X - X @ W
        loss, g_loss = 0.5 / n * np.sum(R**2), -X.T @ R / n
        h, g_h = h_and_grad(W)
        value = loss + 0.5 * rho * h * h + alpha * h + lambda1 * w.sum()
        g = g_loss + (rho * h + alpha) * g_h
        return value, np.concatenate([(g + lambda1).ravel(), (-g + lambda1).ravel()])

    bounds = [(0, 0) if i == j else (0, None) for _ in range(2) for i in range(d) for j in range(d)]
    w, rho, alpha, h = np.zeros(2 * d * d), 1.0, 0.0, np.inf
    for _ in range(max_iter):
        w_new, h_new = w, h
        while rho < rho_max:
            sol = sopt.minimize(
                objective, w, args=(rho, alpha), method="L-BFGS-B", jac=True, bounds=bounds
            )
            w_new = sol.x
            h_new = h_and_grad(adj(w_new))[0]
            if h_new > 0.25 * h:
                rho *= 10
            else:
                break
        w, h = w_new, h_new
        alpha += rho * h
        if h <= h_tol or rho >= rho_max:
            break
    W_raw = adj(w)
    return np.where(np.abs(W_raw) < w_threshold, 0.0, W_raw), W_raw
