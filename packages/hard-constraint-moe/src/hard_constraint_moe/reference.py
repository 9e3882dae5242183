"""Offline reference solutions: finite-volume method of lines with a stiff (BDF) integrator."""

from __future__ import annotations

import numpy as np

from hard_constraint_moe.pde import SAFE_U, DiffusionSorption1D
from jaxpapers_shared import checks


def random_initial_conditions(key_seed: int, count: int, nx: int, low=0.05, high=0.3):
    """Smooth random fields in ``[low, high]`` on the node grid (a few random sine modes).

    A substitute for PDEBench's initial-condition distribution, which is not available offline.
    """
    checks.integer(count, "count", minimum=1)
    checks.integer(nx, "nx", minimum=3)
    rng = np.random.default_rng(key_seed)
    x = np.linspace(0.0, 1.0, nx)
    modes = np.arange(1, 5)
    amp = rng.normal(size=(count, modes.size)) / modes
    phase = rng.uniform(0, 2 * np.pi, size=(count, modes.size))
    f = np.sum(amp[:, :, None] * np.sin(np.pi * modes[None, :, None] * x + phase[:, :, None]), 1)
    lo, hi = f.min(1, keepdims=True), f.max(1, keepdims=True)
    return low + (high - low) * (f - lo) / np.maximum(hi - lo, 1e-12)


def diffusion_sorption(
    u0: np.ndarray, nt: int, pde: DiffusionSorption1D | None = None, refine: int = 2
) -> np.ndarray:
    """Solves diffusion-sorption from ``u0`` (on ``nx`` nodes) and returns ``u[nt, nx]``.

    The solve runs on a grid ``refine`` times finer in x (cell-centred finite volumes, ghost
    cells for ``u(0) = 1`` and ``u(1) = D u_x(1)``), integrated by scipy's BDF to rtol 1e-6,
    then sampled at the coarse nodes and ``nt`` output times.
    """
    from scipy.integrate import solve_ivp

    pde = pde or DiffusionSorption1D()
    u0 = np.asarray(u0, dtype=np.float64)
    if u0.ndim != 1 or u0.size < 3:
        raise ValueError(f"`u0` must be a 1-D array of >= 3 nodes, got shape {u0.shape}.")
    if not np.all(np.isfinite(u0)) or np.any(u0 < 0):
        raise ValueError("`u0` must be finite and non-negative (u^(n_f-1) is singular below 0).")
    checks.integer(nt, "nt", minimum=2)
    checks.integer(refine, "refine", minimum=1)
    nx = u0.size
    m = refine * (nx - 1) + 1
    xc = (np.arange(m) + 0.5) / m
    h = 1.0 / m
    y0 = np.interp(xc, np.linspace(0, 1, nx), u0)
    c = (1.0 - pde.phi) / pde.phi * pde.rho_s * pde.k * pde.n_f

    def ghosts(u):
        left = 2.0 * 1.0 - u[0]  # u(0) = 1 at the face
        # face value u_f = (u_N + g)/2, slope (g - u_N)/h: u_f = D * slope
        a = pde.D / h
        right = u[-1] * (a + 0.5) / (a - 0.5)
        return left, right

    def rhs(_, u):
        left, right = ghosts(u)
        full = np.concatenate([[left], u, [right]])
        lap = (full[2:] - 2 * full[1:-1] + full[:-2]) / h**2
        r = 1.0 + c * np.maximum(u, SAFE_U) ** (pde.n_f - 1.0)
        return pde.D / r * lap

    from scipy.sparse import diags

    sparsity = diags([1.0, 1.0, 1.0], [-1, 0, 1], shape=(m, m))
    t_eval = np.linspace(0, pde.t_max, nt)
    sol = solve_ivp(rhs, (0, pde.t_max), y0, method="BDF", t_eval=t_eval, rtol=1e-6,
                    atol=1e-9, jac_sparsity=sparsity)  # fmt: skip
    if not sol.success:
        raise RuntimeError(f"reference solve failed: {sol.message}")
    xn = np.linspace(0, 1, nx)
    xs = np.concatenate([[0.0], xc, [1.0]])
    rows = []
    for y in sol.y.T:
        face = 0.5 * (y[-1] + ghosts(y)[1])
        rows.append(np.interp(xn, xs, np.concatenate([[1.0], y, [face]])))
    out = np.stack(rows)
    out[0] = u0
    return out
