"""Benchmarks DCDM against CG and Jacobi-PCG (time to 1e-4, network cost included; ratios only).

The network is untrained-at-size here (trained briefly at 32x32 and applied to larger grids, as
the paper does), so the iteration counts are what the transfer gives; the time ratio is the
honest number because one DCDM iteration costs a CNN forward pass.
"""

from __future__ import annotations

import sys

import jax
from flax import nnx

from dcdm import _data, _models, _poisson, _solver, _train
from jaxpapers_shared import timing

TOL = 1e-4


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    sizes = [64, 128] if "--quick" in argv else [64, 128, 256]
    A32 = _poisson.laplacian((32, 32))
    model = _models.DCDMNet(2, rngs=nnx.Rngs(0))
    rhs = _data.ritz_rhs(A32, 1000, jax.random.key(0))
    model, _ = _train.train(model, A32, rhs, jax.random.key(1), steps=1000)
    f = _train.direction_fn(model)
    rows = []
    for n in sizes:
        A = _poisson.laplacian((n, n))
        b = jax.random.normal(jax.random.key(n), (n, n))
        # Smooth right-hand side: the low modes are the hard case for CG.
        b = _solver.cg(A, b, tol=1e-2, max_iter=5)[0]
        runs = {
            "DCDM": jax.jit(lambda b, A=A: _solver.solve(A, b, f, tol=TOL, max_iter=500)),
            "CG": jax.jit(lambda b, A=A: _solver.cg(A, b, tol=TOL, max_iter=5000)),
            "Jacobi-PCG": jax.jit(
                lambda b, A=A: _solver.cg(
                    A, b, tol=TOL, max_iter=5000, preconditioner=_solver.jacobi(A)
                )
            ),
        }
        t_cg = None
        for name, fn in runs.items():
            info = fn(b)[1]
            t = timing.time_fn(fn, b)
            its = int(info.iterations)
            t_cg = t if name == "CG" else t_cg
            rows.append([f"{n}^2", name, its, bool(info.converged), 1e3 * t, 1e3 * t / max(its, 1)])
        for row in rows[-3:]:
            row.append(row[4] / (1e3 * t_cg))
    print(
        timing.format_table(
            ["grid", "solver", "iters", "converged", "time ms", "ms/iter", "time / CG"], rows
        )
    )
    net = jax.jit(lambda x: model(x))
    x = jax.random.normal(jax.random.key(0), (16, 128, 128))
    t = timing.time_fn(net, x)
    print(
        f"\nnetwork throughput at 128^2, batch 16: {16 / t:.1f} grids/s ({1e3 * t / 16:.2f} ms/grid)"
    )


if __name__ == "__main__":
    main()
