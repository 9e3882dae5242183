"""Benchmarks of cbo, measured in one run (particle-steps per second and ratios; asserts nothing).

``python -m cbo.bench [--quick]``.

1. The paper's Figure 1b problem: CBO on GrandCanyon3noisy, 50 independent runs x 200 particles
   x 250 steps (isotropic, lam 1, dt 0.01, sigma 1.6, alpha 100), as one call. Ours: ``cbo(...,
   num_runs=50)`` (``jit`` + ``vmap`` over runs and particles, ``lax.scan`` over steps). Baselines:
   CBXPy (``cbx.dynamics.CBO``, NumPy, the same M x N x d batch, when ``cbx`` is installed) and a
   NumPy reference loop (the official scheme vectorized over runs and particles).
2. Scaling with the dimension on Rastrigin (d = 2, 20, 200), 10 runs x 200 particles x 100
   steps, same three implementations. Quick: 50 and 20 steps, d = 2, 20, one round.

Times are medians of warm calls on the same inputs (``timing.compare``, interleaved); the first
call of ours (trace + compile) is reported apart.
"""

from __future__ import annotations

import importlib.metadata
import time
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jaxpapers_shared import experiment, timing

from ._dynamics import CBOParams, cbo
from ._objectives import grand_canyon3, rastrigin

PARAMS = CBOParams(dt=0.01, lam=1.0, sigma=1.6, alpha=100.0)


def grand_canyon3_numpy(v: np.ndarray, c: float = 1.1625) -> np.ndarray:
    """GrandCanyon3noisy on the last axis of ``v`` (NumPy, for the baselines)."""
    v1, v2 = v[..., 0], v[..., 1]
    q = v2 - ((2.0 / 16.0) * (v1 - 1.0) * (v1 - 4.0) ** 2 + 2.0)
    b = -v1 - 1.6 * v2
    return (
        25.0 * (1.0 - np.exp(-1.4 * q**2 * np.exp(-0.002 * v1**4)))
        + 0.4 * v1**2
        + 0.2 * v2**2
        + c * np.sum(1.0 - np.cos(0.75 * np.pi * v), axis=-1)
        + 4.0 * np.exp(1.0 - 2.0 * q**4) * np.maximum((1.0 - np.exp(-9.0 * b**2)) * np.sign(b), 0.0)
    )


def rastrigin_numpy(v: np.ndarray) -> np.ndarray:
    return np.sum(v**2 + 10.0 * (1.0 - np.cos(2.0 * np.pi * v)), axis=-1)


def numpy_cbo(f: Callable, x: np.ndarray, steps: int, p: CBOParams, rng) -> np.ndarray:
    """Reference NumPy CBO on particles ``x`` of shape (M, N, d); returns the consensus points."""
    x = x.copy()
    for _ in range(steps):
        e = f(x)
        w = np.exp(-p.alpha * (e - e.min(axis=1, keepdims=True)))
        v = np.einsum("mn,mnd->md", w, x)[:, None] / w.sum(axis=1)[:, None, None]
        diff = x - v
        norm = np.linalg.norm(diff, axis=-1, keepdims=True)
        x += -p.lam * p.dt * diff + p.sigma * np.sqrt(p.dt) * norm * rng.standard_normal(x.shape)
    e = f(x)
    w = np.exp(-p.alpha * (e - e.min(axis=1, keepdims=True)))
    return np.einsum("mn,mnd->md", w, x) / w.sum(axis=1)[:, None]


def _cbx_runner(f_np: Callable, x0: np.ndarray, steps: int, p: CBOParams):
    try:
        from cbx.dynamics import CBO
    except ImportError:
        return None

    def run():
        dyn = CBO(
            f_np,
            f_dim="3D",
            x=x0.copy(),
            dt=p.dt,
            lamda=p.lam,
            alpha=p.alpha,
            sigma=p.sigma,
            noise="isotropic",
            max_it=steps,
            verbosity=0,
        )
        dyn.optimize()
        return dyn.consensus

    return run


def bench_problem(
    f, f_np, d: int, runs: int, particles: int, steps: int, params: CBOParams, quick: bool
):
    x0 = jnp.full((d,), 8.0 if d == 2 and f is not rastrigin else 2.0)
    rng = np.random.default_rng(0)
    init = np.asarray(x0) + 0.5 * rng.standard_normal((runs, particles, d))

    def ours(key):
        return cbo(
            f,
            x0,
            key,
            num_particles=particles,
            num_steps=steps,
            params=params,
            init_std=0.5,
            num_runs=runs,
        ).consensus

    key = jax.random.PRNGKey(0)
    start = time.perf_counter()
    jax.block_until_ready(ours(key))
    first = time.perf_counter() - start
    fns = {
        "ours (JAX, jit + vmap)": ours,
        "NumPy reference loop": lambda key: numpy_cbo(f_np, init, steps, params, rng),
    }
    cbx_run = _cbx_runner(f_np, init, steps, params)
    if cbx_run is not None:
        fns["CBXPy (cbx, NumPy)"] = lambda key: cbx_run()
    seconds = timing.compare(fns, key, rounds=1 if quick else 2, repeat=2)
    work = runs * particles * steps
    base = seconds.get("CBXPy (cbx, NumPy)", seconds["NumPy reference loop"])
    return [
        [d, name, 1e3 * t, work / t / 1e6, base / t, first if name.startswith("ours") else ""]
        for name, t in seconds.items()
    ]


def main(argv: Sequence[str] | None = None) -> None:
    args = experiment.parse_bench_args(__doc__, argv)
    header = ["d", "implementation", "ms", "M particle-steps/s", "speed-up vs cbx", "first call s"]
    try:
        print(f"\ncbx {importlib.metadata.version('cbx')} installed")
    except importlib.metadata.PackageNotFoundError:
        header[4] = "speed-up vs NumPy loop"
        print("\ncbx not installed: the NumPy reference loop is the baseline")
    steps = 50 if args.quick else 250
    print(f"\nGrandCanyon3noisy (Fig. 1b): 50 runs x 200 particles x {steps} steps\n")
    rows = bench_problem(
        grand_canyon3(), grand_canyon3_numpy, 2, 50, 200, steps, PARAMS, args.quick
    )
    print(timing.format_table(header, rows))
    dims, steps = ((2, 20), 20) if args.quick else ((2, 20, 200), 100)
    print(f"\nRastrigin, 10 runs x 200 particles x {steps} steps, by dimension\n")
    params = CBOParams(sigma=0.5)
    rows = [
        row
        for d in dims
        for row in bench_problem(rastrigin, rastrigin_numpy, d, 10, 200, steps, params, args.quick)
    ]
    print(timing.format_table(header, rows))


if __name__ == "__main__":
    main()
