"""Reproduces the central claim of *Flow Straight and Fast* (Liu, Gong, Liu, ICLR 2023).

Claim (sec. 2.3, Fig. 1/4, Table 1): reflow straightens the flow, so one Euler step of the
2-rectified flow is accurate while one step of the 1-rectified flow is useless, and every
rectification keeps the (convex) transport cost no larger than that of the coupling it starts from.
CPU-scale setup: pi_0 = N(0, I_2) -> pi_1 = 8 Gaussians (radius 4, std 0.3); VelocityMLP 3x128
SiLU, Adam 1e-3, batch 512. 1-RF on the independent coupling, 2-RF (and 3-RF in full mode) by
fine-tuning on 100-step Euler reflow pairs. Full mode adds digits (64-dim), one-step distillation
and domain transfer (two moons -> 8 Gaussians).
Pass criterion: S(2-RF) < 0.1 S(1-RF); one-step ED(2-RF) < 0.2 ED(1-RF) and < 0.05; cost grows
<= 5% per reflow and cost(1-RF) <= 0.8 cost(independent); 100-step ED(1-RF) < 0.05.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

import rectified_flow as rf
from jaxpapers_shared import experiment

PAPER = "Flow Straight and Fast: Learning to Generate and Transfer Data with Rectified Flow"
N_EVAL = 2000


def _sample_pi0(key, n):
    return rf.standard_normal(key, n, 2)


def _flows(key, pi0, pi1, steps, num_pairs, rounds, dim, batch=512):
    """Trains 1-RF on the independent coupling, then ``rounds - 1`` reflows; returns the params."""
    kinit, ktrain, kpairs = jax.random.split(key, 3)
    apply_fn, params = rf.split(rf.VelocityMLP(dim, 128, 3, rngs=nnx.Rngs(kinit)))
    opt = optax.adam(1e-3)
    sampler = rf.independent_sampler(pi0, pi1, batch)
    state = rf.train(apply_fn, params, sampler, opt, steps, ktrain)
    out = [state.params]
    for k in range(1, rounds):
        kp, kt = jax.random.split(jax.random.fold_in(kpairs, k))
        z0, z1 = rf.reflow_pairs(apply_fn, out[-1], kp, num_pairs, pi0, num_steps=100)
        # Fine-tune from the previous flow, as the official reflow scripts do.
        state = rf.train(apply_fn, out[-1], rf.paired_sampler(z0, z1, batch), opt, steps, kt)
        out.append(state.params)
    return apply_fn, out


def _evaluate(apply_fn, params, z0, target, step_grid):
    z1 = rf.euler_sample(apply_fn, params, z0, 100)
    return {
        "straightness": float(rf.straightness(apply_fn, params, z0, 100)),
        "cost": float(rf.transport_cost(z0, z1)),
        **{
            f"ed_{n}": float(rf.energy_distance(rf.euler_sample(apply_fn, params, z0, n), target))
            for n in step_grid
        },
    }


def _gaussian_reflow(exp, seeds, steps, num_pairs, rounds, step_grid):
    per_seed = []
    for seed in seeds:
        key = jax.random.PRNGKey(seed)
        kf, k0, k1, kx0, kx1 = jax.random.split(key, 5)
        apply_fn, flows = _flows(
            kf, _sample_pi0, rf.eight_gaussians, steps, num_pairs, rounds, dim=2
        )
        z0, target = _sample_pi0(k0, N_EVAL), rf.eight_gaussians(k1, N_EVAL)
        res = {
            f"{k + 1}-RF": _evaluate(apply_fn, p, z0, target, step_grid)
            for k, p in enumerate(flows)
        }
        res["independent_cost"] = float(
            rf.transport_cost(_sample_pi0(kx0, N_EVAL), rf.eight_gaussians(kx1, N_EVAL))
        )
        per_seed.append(res)
        exp.log(f"   seed {seed}: {res}")
    mean = jax.tree.map(lambda *v: float(np.mean(v)), *per_seed)
    exp.record("gaussians_per_seed", per_seed)
    exp.record("gaussians_mean", mean)
    return mean, apply_fn, flows


def _claims(exp, m, rounds, quick):
    r1, r2 = m["1-RF"], m["2-RF"]
    exp.claim(
        "straightness S(2-RF) < 0.1 S(1-RF)",
        reference="Sec. 2.3 / Fig. 4 (straightness falls with reflow)",
        ours=r2["straightness"],
        baseline=r1["straightness"],
        baseline_name="1-RF",
        criterion="ours < 0.1 x baseline",
        passed=r2["straightness"] < 0.1 * r1["straightness"],
        paper="2-RF nearly straight",
    )
    exp.claim(
        "one-step energy distance 2-RF",
        reference="Table 1 (one Euler step: 1-RF FID 378 vs 2-RF 12.21)",
        ours=r2["ed_1"],
        baseline=r1["ed_1"],
        baseline_name="1-RF",
        criterion="ours < 0.2 x baseline and ours < 0.05",
        passed=r2["ed_1"] < 0.2 * r1["ed_1"] and r2["ed_1"] < 0.05,
        paper="FID 12.21 vs 378 (CIFAR-10)",
    )
    exp.claim(
        "transport cost 1-RF vs independent coupling",
        reference="Theorem 3.5 (convex cost does not increase)",
        ours=r1["cost"],
        baseline=m["independent_cost"],
        baseline_name="independent",
        criterion="ours <= 0.8 x baseline",
        passed=r1["cost"] <= 0.8 * m["independent_cost"],
    )
    worst = max(m[f"{k + 1}-RF"]["cost"] / m[f"{k}-RF"]["cost"] for k in range(1, rounds))
    exp.claim(
        "transport cost per reflow round (max ratio)",
        reference="Theorem 3.5",
        ours=worst,
        baseline=1.0,
        baseline_name="no increase",
        criterion="cost(k+1-RF) / cost(k-RF) <= 1.05 every round",
        passed=worst <= 1.05,
        note="5% slack: the theorem is for the exact v*, ours is trained",
    )
    exp.claim(
        "100-step 1-RF is a good model",
        reference="Table 1 (1-RF with ODE solver FID 2.58)",
        ours=r1["ed_100"],
        criterion="ED < 0.05",
        passed=r1["ed_100"] < 0.05,
    )


def _figures(exp, apply_fn, flows, mean, step_grid):
    z0 = _sample_pi0(jax.random.PRNGKey(123), 300)
    fig, axes = experiment.new_figure(1, 2, size=(4.5, 4.5))
    for ax, k in zip(axes, (0, 1), strict=True):
        _, path, _ = rf.euler_sample(apply_fn, flows[k], z0, 100, return_path=True)
        path = np.asarray(path)
        ax.plot(path[:, :, 0], path[:, :, 1], lw=0.3, alpha=0.5, color="C0")
        ax.scatter(path[0, :, 0], path[0, :, 1], s=2, color="k")
        ax.set_title(f"{k + 1}-rectified flow trajectories")
        ax.set_aspect("equal")
    exp.save_figure(fig, "trajectories")
    fig, ax = experiment.new_figure()
    for k in range(len(flows)):
        ax.plot(
            step_grid,
            [mean[f"{k + 1}-RF"][f"ed_{n}"] for n in step_grid],
            "o-",
            label=f"{k + 1}-RF",
        )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("Euler steps N")
    ax.set_ylabel("energy distance to pi_1")
    ax.legend()
    exp.save_figure(fig, "quality_vs_steps")


def _digits(exp, seed, steps, num_pairs, step_grid):
    from sklearn.datasets import load_digits

    x = load_digits().data.astype(np.float32) / 8.0 - 1.0
    rng = np.random.default_rng(seed)
    perm = rng.permutation(len(x))
    train_x, test_x = jnp.asarray(x[perm[:1400]]), jnp.asarray(x[perm[1400:]])

    def pi0(key, n):
        return jax.random.normal(key, (n, 64))

    def pi1(key, n):
        return train_x[jax.random.randint(key, (n,), 0, train_x.shape[0])]

    key = jax.random.PRNGKey(seed)
    apply_fn, flows = _flows(key, pi0, pi1, steps, num_pairs, 2, dim=64, batch=256)
    z0 = pi0(jax.random.PRNGKey(seed + 1000), test_x.shape[0])
    table = {}
    for k, p in enumerate(flows):
        table[f"{k + 1}-RF"] = {
            n: float(rf.energy_distance(rf.euler_sample(apply_fn, p, z0, n), test_x))
            for n in step_grid
        }
    # One-step distillation of 2-RF on its own pairs (L2; the paper's best uses LPIPS).
    zd0, zd1 = rf.reflow_pairs(apply_fn, flows[1], jax.random.PRNGKey(seed + 7), num_pairs, pi0)
    dist = rf.train(
        apply_fn,
        flows[1],
        rf.paired_sampler(zd0, zd1, 256),
        optax.adam(3e-4),
        steps // 2,
        jax.random.PRNGKey(seed + 8),
        grid=1,
    )
    table["2-RF distilled"] = {
        1: float(rf.energy_distance(rf.one_step(apply_fn, dist.params, z0), test_x))
    }
    exp.record("digits_energy_distance", table)
    exp.log(f"   digits ED (held-out): {table}")
    exp.claim(
        "digits: one-step ED 2-RF vs 1-RF",
        reference="Table 1 (one-step 2-RF >> 1-RF)",
        ours=table["2-RF"][1],
        baseline=table["1-RF"][1],
        baseline_name="1-RF",
        criterion="ours < 0.5 x baseline",
        passed=table["2-RF"][1] < 0.5 * table["1-RF"][1],
        note="ED on 397 held-out digits; no FID offline",
    )
    exp.claim(
        "digits: one-step distilled 2-RF vs one-step 2-RF",
        reference="Table 1 (distillation improves one-step)",
        ours=table["2-RF distilled"][1],
        baseline=table["2-RF"][1],
        baseline_name="2-RF, 1 step",
        criterion="ours <= baseline",
        passed=table["2-RF distilled"][1] <= table["2-RF"][1],
    )


def _domain_transfer(exp, seed, steps, num_pairs):
    from sklearn.datasets import make_moons

    moons = jnp.asarray(
        make_moons(20000, noise=0.05, random_state=seed)[0] * 2.0 - 1.0, dtype=jnp.float32
    )

    def pi0(key, n):
        return moons[jax.random.randint(key, (n,), 0, moons.shape[0])]

    apply_fn, flows = _flows(
        jax.random.PRNGKey(seed), pi0, rf.eight_gaussians, steps, num_pairs, 2, dim=2
    )
    z0 = pi0(jax.random.PRNGKey(seed + 1), N_EVAL)
    target = rf.eight_gaussians(jax.random.PRNGKey(seed + 2), N_EVAL)
    eds = [
        float(rf.energy_distance(rf.euler_sample(apply_fn, p, z0, n), target))
        for p in flows
        for n in (1, 100)
    ]
    exp.record("transfer_moons_to_8g_ed", {"1-RF": eds[:2], "2-RF": eds[2:]})
    exp.claim(
        "domain transfer moons -> 8 Gaussians (100-step ED)",
        reference="Sec. 4 (image-to-image transfer, same algorithm with pi_0 = data)",
        ours=eds[1],
        criterion="ED < 0.05",
        passed=eds[1] < 0.05,
    )
    exp.claim(
        "domain transfer: one-step ED 2-RF vs 1-RF",
        reference="Sec. 4",
        ours=eds[2],
        baseline=eds[0],
        baseline_name="1-RF",
        criterion="ours < 0.2 x baseline",
        passed=eds[2] < 0.2 * eds[0],
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = experiment.parse_args(__doc__, argv, default_out="results/rectified-flow")
    quick = args.quick
    seeds = [args.seed] if quick else [args.seed + i for i in range(3)]
    exp = experiment.Experiment("rectified-flow", paper=PAPER, args=args, seeds=seeds)
    steps, num_pairs, rounds = (1000, 5000, 2) if quick else (3000, 20000, 3)
    step_grid = (1, 100) if quick else (1, 2, 4, 8, 100)
    with exp.section("2D reflow: N(0, I) -> 8 Gaussians"):
        mean, apply_fn, flows = _gaussian_reflow(exp, seeds, steps, num_pairs, rounds, step_grid)
        _claims(exp, mean, rounds, quick)
    if not quick:
        with exp.section("figures"):
            _figures(exp, apply_fn, flows, mean, step_grid)
        with exp.section("digits (64-dim)"):
            _digits(exp, args.seed, 2000, 10000, step_grid)
        with exp.section("domain transfer"):
            _domain_transfer(exp, args.seed, 2000, 20000)
    return exp.finish()


if __name__ == "__main__":
    raise SystemExit(main())
