"""Benchmarks of the hard-constraint layer: one global constraint vs K experts, measured in one run.

``python -m hard_constraint_moe.bench [--quick]``. For each mesh and total point budget m:
forward+backward time of the layer (solve + IFT gradient w.r.t. the basis) and XLA's compiled
temp memory for K = 1 (PI-HC, m points) and K = 4 experts (m / 4 each), vmapped; and the K = 4
experts vmapped vs a Python loop of 4 separate solves. Float64, diffusion-sorption, N = 8.
On CPU the experts do the same O(m N^2) arithmetic as one global solve, so any gain comes from
fewer LM iterations and batching, not from parallel hardware. Ratios are reported, never asserted.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp

from hard_constraint_moe import constraint as C
from hard_constraint_moe import pde as P
from hard_constraint_moe import reference as R
from jaxpapers_shared import experiment, timing

N = 8


def layer(constraint, u0, key):
    def f(basis):
        return jnp.sum(constraint.solve(basis, u0, key)[0] ** 2)

    return jax.jit(jax.value_and_grad(f))


def loop_of_experts(pde, nt, nx, m, u0, key):
    """The 4 experts solved one after another (each a K = 1 problem on its own block)."""
    experts = C.MoEHardConstraint(pde, N, (1, 4), m // 4)

    def f(basis):
        pts, ic_w, bc_w, ic_b, u0_, bc_l, bc_r, bc_p, dx = experts._expert_args(basis, u0, key)
        total = 0.0
        for k in range(4):
            w = experts._solve_one(pts[k], ic_b, u0_, ic_w[k], bc_l, bc_r, bc_p, bc_w[k], dx)[0]
            total = total + jnp.sum((basis[:, k * nx // 4 : (k + 1) * nx // 4] @ w) ** 2)
        return total

    return jax.jit(jax.value_and_grad(f))


def main(argv: Sequence[str] | None = None) -> None:
    args = experiment.parse_bench_args(__doc__, argv)
    meshes = [(17, 32)] if args.quick else [(17, 32), (26, 64), (51, 128)]
    budgets = [64] if args.quick else [64, 256, 1024]
    pde = P.DiffusionSorption1D()
    rows = []
    with jax.enable_x64(True):
        for nt, nx in meshes:
            u0 = jnp.asarray(R.random_initial_conditions(0, 1, nx)[0])
            basis = 0.1 * jax.random.normal(jax.random.PRNGKey(0), (nt, nx, N)) + 0.2
            key = jax.random.PRNGKey(1)
            for m in budgets:
                if m // 4 > (nt - 1) * (nx // 4 - 1):
                    continue
                hc = layer(C.HardConstraint(pde, N, m), u0, key)
                moe = layer(C.MoEHardConstraint(pde, N, (1, 4), m // 4), u0, key)
                loop = loop_of_experts(pde, nt, nx, m, u0, key)
                t = timing.compare({"hc": hc, "moe": moe, "loop": loop}, basis)
                mem_hc = timing.compiled_memory(hc, basis)["temp"] / 2**20
                mem_moe = timing.compiled_memory(moe, basis)["temp"] / 2**20
                rows.append([f"{nt}x{nx}", m, 1e3 * t["hc"], 1e3 * t["moe"], t["hc"] / t["moe"],
                             1e3 * t["loop"], t["loop"] / t["moe"], mem_hc, mem_moe])  # fmt: skip
    print(timing.format_table(
        ["mesh (t x x)", "points m", "K=1 ms", "K=4 vmap ms", "time K=1 / K=4", "K=4 loop ms",
         "loop / vmap", "K=1 temp MiB", "K=4 temp MiB"], rows))  # fmt: skip


if __name__ == "__main__":
    main()
