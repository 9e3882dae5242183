"""Benchmarks DCDM against CG and Jacobi-PCG: wall-clock time to a 1e-4 relative residual.

``python -m dcdm.bench [--quick]``. The 2-D network is trained once at 32x32 and applied unchanged
at 64^2, 128^2 and 256^2 (the paper also applies lower-resolution models to larger grids); a 3-D
network trained at 16^3 is applied at 32^3 and 64^3. The
right-hand sides come from the training distribution at each size (low-mode-weighted sine
modes). Every solver is one jitted ``lax.while_loop``; times include the network's forward
passes, so the time ratio, not the iteration ratio, is the honest cost. Also reported: time per
iteration and the network's batched throughput. All solvers of a grid are timed on the same
precomputed right-hand sides with ``timing.compare`` after a warm-up call; the first call's extra
time (compilation) is reported apart. Prints Markdown tables; asserts nothing.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import jax
import numpy as np
from flax import nnx

from dcdm import _data, _models, _poisson, _solver, _train
from jaxpapers_shared import experiment, timing

TOL = 1e-4


def _solvers(A, models, max_iter):
    """CG, Jacobi-PCG and one DCDM per network; every function takes ``(states, b)``."""

    def dcdm_solver(name):
        def run(states, b):
            fn = _train.direction_fn(models[name], state=states[name])
            return _solver.solve(A, b, fn, tol=TOL, max_iter=max_iter)

        return run

    # No residual history for the baselines: it costs one more operator apply per iteration.
    def cg(states, b):
        return _solver.cg(A, b, tol=TOL, max_iter=20 * max_iter, residual_history=False)

    def jacobi_pcg(states, b):
        return _solver.cg(
            A,
            b,
            tol=TOL,
            max_iter=20 * max_iter,
            preconditioner=_solver.jacobi(A),
            residual_history=False,
        )

    fns = {"CG": jax.jit(cg), "Jacobi-PCG": jax.jit(jacobi_pcg)}
    fns.update({f"DCDM, {name}": jax.jit(dcdm_solver(name)) for name in models})
    return fns


def _train_net(ndim, n, steps, batch_size, **net):
    A = _poisson.laplacian((n,) * ndim)
    model = _models.DCDMNet(ndim, rngs=nnx.Rngs(0), **net)
    rhs = _data.ritz_rhs(A, 4000 if ndim == 2 else 2000, jax.random.key(0))
    t0 = time.perf_counter()
    model, _ = _train.train(
        model,
        A,
        rhs,
        jax.random.key(1),
        steps=steps,
        batch_size=batch_size,
        progress=lambda it: experiment.progress(it, desc=f"train at {n}^{ndim}"),
    )
    return model, time.perf_counter() - t0


def _time_to_tol(models, shapes):
    state = {name: nnx.state(m) for name, m in models.items()}
    rows, cg_ms_per_iter = [], {}
    for shape in experiment.progress(shapes, desc="grids"):
        A = _poisson.laplacian(shape)
        bs = _data.ritz_rhs(A, 3, jax.random.key(shape[0]))
        fns = _solvers(A, models, max_iter=500)
        its = {name: [] for name in fns}
        conv = {name: [] for name in fns}
        first = {name: [] for name in fns}
        times = {name: [] for name in fns}
        for b in bs:
            slow = False
            for name, fn in fns.items():
                t0 = time.perf_counter()
                info = jax.block_until_ready(fn(state, b)[1])  # compiles on the first b
                first[name].append(time.perf_counter() - t0)
                slow |= first[name][-1] > 2.0
                its[name].append(int(info.iterations))
                conv[name].append(bool(info.converged))
            # Same warm functions, same b, interleaved; one call per sample when a solve is slow.
            measured = timing.compare(
                fns, state, b, rounds=1 if slow else 3, repeat=1 if slow else 3
            )
            for name, seconds in measured.items():
                times[name].append(seconds)
        t_cg, it_cg = float(np.mean(times["CG"])), float(np.mean(its["CG"]))
        cg_ms_per_iter[shape] = 1e3 * t_cg / max(it_cg, 1)
        grid = f"{shape[0]}^{len(shape)}"
        for name in fns:
            it, t = float(np.mean(its[name])), float(np.mean(times[name]))
            compile_s = first[name][0] - times[name][0]
            rows.append(
                [
                    grid,
                    name,
                    it,
                    all(conv[name]),
                    1e3 * t,
                    1e3 * t / max(it, 1),
                    it / it_cg,
                    t / t_cg,
                    compile_s,
                ]
            )
    table = timing.format_table(
        [
            "grid",
            "solver",
            "iters",
            "converged",
            "time ms",
            "ms/iter",
            "iters/CG",
            "time/CG",
            "compile s",
        ],
        rows,
    )
    return table, cg_ms_per_iter


def _profile(models, sizes, cg_ms_per_iter):
    """One network apply on one grid (what a DCDM iteration adds) against one CG iteration."""
    rows = []
    for n in sizes:
        x = jax.random.normal(jax.random.key(0), (1, n, n))
        for name, model in models.items():
            graphdef, state = nnx.split(model)
            net = jax.jit(lambda s, x, graphdef=graphdef: nnx.merge(graphdef, s)(x))
            t = timing.time_fn(net, state, x)
            cg_ms = cg_ms_per_iter[(n, n)]
            rows.append([f"{n}^2", name, 1e3 * t, cg_ms, 1e3 * t / cg_ms])
    return timing.format_table(
        ["grid", "network", "apply ms", "CG ms/iter", "apply / CG iter"], rows
    )


def main(argv: Sequence[str] | None = None) -> None:
    quick = experiment.parse_bench_args(__doc__, argv).quick
    sizes = [64, 128] if quick else [64, 128, 256]
    sizes_3d = [32] if quick else [32, 64]
    print(f"devices: {jax.devices()}")
    steps = 300 if quick else 2000
    models, train_s = {}, {}
    for name, net in [("paper net", {"features": 16}), ("CPU config", _models.CPU_CONFIG)]:
        models[name], train_s[name] = _train_net(2, 32, steps, 16, **net)
        params = sum(x.size for x in jax.tree.leaves(nnx.state(models[name], nnx.Param)))
        print(f"{name}: {net}, {params} parameters, {steps} Adam steps in {train_s[name]:.0f} s")
    table_2d, cg_ms = _time_to_tol(models, [(n, n) for n in sizes])
    print("\n2-D, time to 1e-4 (mean over 3 right-hand sides), networks trained at 32^2:\n")
    print(table_2d)
    print("\nProfile: one network apply (jit, one grid) vs one CG iteration:\n")
    print(_profile(models, sizes, cg_ms))
    model3, _ = _train_net(3, 16, 100 if quick else 400, 8, features=8)
    table_3d, _ = _time_to_tol({"8-filter net": model3}, [(n, n, n) for n in sizes_3d])
    print("\n3-D, time to 1e-4 (mean over 3 right-hand sides), 8-filter network trained at 16^3:\n")
    print(table_3d)


if __name__ == "__main__":
    main()
