"""Benchmarks of the hard-constraint layer and training step, measured in one run.

``python -m hard_constraint_moe.bench [--quick]``. Float64, diffusion-sorption, interleaved
timings of compiled functions (``timing.compare``), compile time and XLA's temp memory
(``timing.compiled_memory``) reported apart; ratios are reported, never asserted.

1. Training step at the full reproduction size (64 x 26 grid, N = 16 basis functions, FNO,
   batch 4, m = 128 points; quick: 32 x 17, N = 8, m = 64): PI-SC (the soft-constraint
   baseline, one output channel) vs PI-HC (LM forward + IFT backward) vs PI-HC-MoE (4 experts,
   m points each as in the official configs, and m / 4 each for an equal point budget).
2. The constraint layer alone (solve + IFT gradient w.r.t. the basis, N = 8) vs mesh size and
   total points m: K = 1 (m points) vs K = 4 vmapped experts (m / 4 each) vs the same 4 experts
   as a Python loop of separate solves.

On CPU the experts do the same O(m N^2) arithmetic as one global solve, so any gain comes from
fewer LM iterations and batching, not from parallel hardware.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import optax

from hard_constraint_moe import constraint as C
from hard_constraint_moe import models as M
from hard_constraint_moe import pde as P
from hard_constraint_moe import reference as R
from hard_constraint_moe import training as T
from jaxpapers_shared import devices, experiment, timing

N = 8


def _compile(fn, *args) -> tuple[float, float]:
    """``(compile seconds, XLA temp MiB)`` of a jitted ``fn`` (``timing.compiled_memory``'s
    analysis, read off the same compilation: ``fn`` may carry compiler options)."""
    start = time.perf_counter()
    compiled = fn.lower(*args).compile()
    seconds = time.perf_counter() - start
    analysis = compiled.memory_analysis()
    return seconds, (analysis.temp_size_in_bytes / 2**20 if analysis is not None else -1.0)


def _rows(fns: dict, args: tuple, baseline: str, **compare_kw) -> list[list]:
    compiled = {k: _compile(f, *args) for k, f in fns.items()}
    compile_s = {k: c[0] for k, c in compiled.items()}
    memory = {k: c[1] for k, c in compiled.items()}
    seconds = timing.compare(fns, *args, **compare_kw)
    return [
        [k, 1e3 * t, t / seconds[baseline], compile_s[k], memory[k]] for k, t in seconds.items()
    ]


def bench_steps(quick: bool) -> list[list]:
    nx, nt, n, m = (32, 17, 8, 64) if quick else (64, 26, 16, 128)
    pde = P.DiffusionSorption1D()
    u0 = jnp.asarray(R.random_initial_conditions(0, 4, nx))
    keys = jax.random.split(jax.random.PRNGKey(0), 4)
    arms = {
        "PI-SC (soft)": T.Arm("sc", M.BasisFNO(1)),
        f"PI-HC (K=1, m={m})": T.Arm("hc", M.BasisFNO(n), C.HardConstraint(pde, n, m)),
        f"PI-HC-MoE (K=4, m={m} each)": T.Arm(
            "moe", M.BasisFNO(n), C.MoEHardConstraint(pde, n, (1, 4), m)
        ),
        f"PI-HC-MoE (K=4, m={m // 4} each)": T.Arm(
            "moe4", M.BasisFNO(n), C.MoEHardConstraint(pde, n, (1, 4), m // 4)
        ),
    }
    fns, states = {}, {}
    for name, arm in arms.items():
        params = arm.model.init(jax.random.PRNGKey(0))
        opt = optax.adam(1e-3)
        step = devices.data_parallel_step(T.make_loss(arm, pde, nt, nx), opt, per_example=True)
        states[name] = (params, opt.init(params))
        fns[name] = jax.jit(
            lambda batch, step=step, s=states[name]: step(s[0], s[1], batch),
            compiler_options=T.FAST_COMPILE,
        )
    rows = _rows(fns, ((u0, keys),), "PI-SC (soft)", rounds=2, repeat=3)
    hc = rows[1][1]
    return [[f"{nx}x{nt}, N={n}", *r[:3], r[1] / hc, *r[3:]] for r in rows]


def layer(constraint, u0, key):
    def f(basis):
        return jnp.sum(constraint.solve(basis, u0, key)[0] ** 2)

    return jax.jit(jax.value_and_grad(f), compiler_options=T.FAST_COMPILE)


def loop_of_experts(pde, nx, m, u0, key):
    """The 4 experts solved one after another (each a K = 1 problem on its own block)."""
    experts = C.MoEHardConstraint(pde, N, (1, 4), m // 4)

    def f(basis):
        pts, ic_w, bc_w, ic_b, u0_, bc_l, bc_r, bc_p, dx = experts._expert_args(basis, u0, key)
        total = 0.0
        for k in range(4):
            w = experts._solve_one(pts[k], ic_b, u0_, ic_w[k], bc_l, bc_r, bc_p, bc_w[k], dx)[0]
            total = total + jnp.sum((basis[:, k * nx // 4 : (k + 1) * nx // 4] @ w) ** 2)
        return total

    return jax.jit(jax.value_and_grad(f), compiler_options=T.FAST_COMPILE)


def bench_layer(quick: bool) -> list[list]:
    meshes = [(17, 32)] if quick else [(26, 64), (51, 128)]
    budgets = [64] if quick else [128, 512, 2048]
    pde = P.DiffusionSorption1D()
    rows = []
    for nt, nx in meshes:
        u0 = jnp.asarray(R.random_initial_conditions(0, 1, nx)[0])
        basis = 0.1 * jax.random.normal(jax.random.PRNGKey(0), (nt, nx, N)) + 0.2
        key = jax.random.PRNGKey(1)
        for m in budgets:
            if m // 4 > (nt - 1) * (nx // 4 - 2):
                continue
            fns = {
                "K=1": layer(C.HardConstraint(pde, N, m), u0, key),
                "K=4 vmap": layer(C.MoEHardConstraint(pde, N, (1, 4), m // 4), u0, key),
                "K=4 loop": loop_of_experts(pde, nx, m, u0, key),
            }
            r = {row[0]: row for row in _rows(fns, (basis,), "K=1")}
            rows.append([f"{nt}x{nx}", m, r["K=1"][1], r["K=4 vmap"][1],
                         r["K=1"][1] / r["K=4 vmap"][1], r["K=4 loop"][1],
                         r["K=4 loop"][1] / r["K=4 vmap"][1], r["K=1"][3], r["K=4 vmap"][3],
                         r["K=1"][4], r["K=4 vmap"][4]])  # fmt: skip
    return rows


def main(argv: Sequence[str] | None = None) -> None:
    args = experiment.parse_bench_args(__doc__, argv)
    with jax.enable_x64(True):
        steps = bench_steps(args.quick)
        print("Training step (batch 4, forward + backward + Adam):")
        print(timing.format_table(
            ["size", "arm", "ms / step", "time / PI-SC", "time / PI-HC", "compile s",
             "temp MiB"], steps))  # fmt: skip
        rows = bench_layer(args.quick)
    print("\nConstraint layer (solve + IFT gradient w.r.t. the basis, N = 8):")
    print(timing.format_table(
        ["mesh (t x x)", "points m", "K=1 ms", "K=4 vmap ms", "time K=1 / K=4", "K=4 loop ms",
         "loop / vmap", "K=1 compile s", "K=4 compile s", "K=1 temp MiB", "K=4 temp MiB"],
        rows))  # fmt: skip


if __name__ == "__main__":
    main()
