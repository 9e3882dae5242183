"""Reproduces the claims of *Gradient is All You Need? How Consensus-Based Optimization can be
Interpreted as a Stochastic Relaxation of Gradient Descent* (Riedl, Klock, Geldhauser, Fornasier).

A. Global minimization where gradient descent stalls (Figs. 1b, 2a-c). The paper's landscape
GrandCanyon3noisy (d = 2, global minimum 0 at x* = 0) from (8, 8), with the official settings:
CBO isotropic, lam 1, dt 0.01, sigma 1.6, alpha 100, N 200, 250 steps, particles started at
N((8, 8), 0.5^2 I); consensus hopping (CH) N 200, sigma 0.7, alpha 100, 250 hops; gradient
descent (step 0.001, 10^4 steps) and annealed Langevin (sigma_k = 10 / log(k + 1)) from (8, 8),
all in the same run. 10 runs per seed (5 seeds: the paper's 50 runs). A run succeeds when its
final consensus point (or iterate) is within 0.25 of x*.
Pass: CBO success rate >= 0.9, CH success rate >= 0.6, and the median final energy of CBO below
a tenth of the energy where gradient descent stops (its stall is shown as a control).

B. Laplace principle. 2 x 10^5 uniform samples on [-2, 8]^2 per seed; the distance of the
consensus point v_alpha to x* for alpha in 0.3, 1, 3, 10, 30, 100.
Pass: the distance never grows by more than 10% from one alpha to the next, and is <= 0.05 at
alpha = 100.

C. One consensus hop is an implicit gradient (proximal) step with tau = alpha sigma^2. Quadratic
E(x) = (x - a)^T H (x - a) / 2, H = [[2, .5], [.5, 1]], a = (1, -1), from x_k = a + (s, -s) with
s = sigma (so the proximal point lies within reach of the samples), N = 10^5 samples per hop,
(alpha, sigma) in (10, 0.3), (100, 0.1), (1000, 0.03). For a quadratic the mean-field identity
is exact, so the error is the finite-sample error only.
Pass: ||hop - (I + tau H)^{-1} (x_k + tau H a)|| <= 5e-3 for each pair; the explicit gradient step
x_k - tau grad E(x_k) is the baseline.

Every hyperparameter is the official scripts' value; nothing is tuned.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jaxpapers_shared import experiment
from jaxpapers_shared.experiment import BASELINE, at_least, at_most, below

from ._baselines import annealed_langevin, gradient_descent
from ._consensus import consensus_point
from ._dynamics import CBOParams, cbo, consensus_hopping, hopping_step
from ._objectives import grand_canyon3
from ._proximal import proximal_step_quadratic

PAPER = (
    "Gradient is All You Need? How Consensus-Based Optimization can be Interpreted as a "
    "Stochastic Relaxation of Gradient Descent"
)
START = (8.0, 8.0)
SUCCESS_RADIUS = 0.25


@dataclasses.dataclass(frozen=True)
class Config:
    seeds: tuple[int, ...] = (0, 1, 2, 3, 4)
    runs_per_seed: int = 10
    langevin_runs_per_seed: int = 10
    num_particles: int = 200
    num_steps: int = 250
    cbo_params: CBOParams = CBOParams(dt=0.01, lam=1.0, sigma=1.6, alpha=100.0)
    cbo_init_std: float = 0.5
    ch_sigma: float = 0.7
    ch_alpha: float = 100.0
    gd_step: float = 1e-3
    gd_steps: int = 10_000
    langevin_sigma: float = 10.0
    laplace_samples: int = 200_000
    laplace_alphas: tuple[float, ...] = (0.3, 1.0, 3.0, 10.0, 30.0, 100.0)
    prox_samples: int = 100_000
    prox_pairs: tuple[tuple[float, float], ...] = ((10.0, 0.3), (100.0, 0.1), (1000.0, 0.03))
    figures: bool = True


QUICK = Config(langevin_runs_per_seed=2, figures=False)


# ----------------------------------------------------------------------------- A


def _langevin_runs(energy, x0, keys, cfg: Config):
    """Independent annealed Langevin runs for all seeds, one compiled call: keys (S, R)."""

    def one(k):
        return annealed_langevin(
            energy, x0, k, step=cfg.gd_step, sigma=cfg.langevin_sigma, num_steps=cfg.gd_steps
        )

    return jax.jit(jax.vmap(jax.vmap(one)))(keys)


def _section_minimization(exp: experiment.Experiment, cfg: Config) -> dict:
    energy = grand_canyon3()
    x0 = jnp.array(START)
    rate = lambda points: float(np.mean(np.linalg.norm(points, axis=-1) <= SUCCESS_RADIUS))  # noqa: E731
    out = {k: [] for k in ("cbo", "ch", "langevin", "cbo_energy", "cbo_dist", "ch_dist")}
    traj = {}
    lv_keys = jnp.stack(
        [
            jax.random.split(
                jax.random.split(jax.random.PRNGKey(seed), 3)[2], cfg.langevin_runs_per_seed
            )
            for seed in cfg.seeds
        ]
    )
    lv_finals, lv_trajs = _langevin_runs(energy, x0, lv_keys, cfg)
    for i, seed in enumerate(experiment.progress(cfg.seeds, desc="minimization seeds")):
        key_cbo, key_ch, _ = jax.random.split(jax.random.PRNGKey(seed), 3)
        r_cbo = cbo(
            energy,
            x0,
            key_cbo,
            num_particles=cfg.num_particles,
            num_steps=cfg.num_steps,
            params=cfg.cbo_params,
            init_std=cfg.cbo_init_std,
            num_runs=cfg.runs_per_seed,
        )
        r_ch = consensus_hopping(
            energy,
            x0,
            key_ch,
            num_particles=cfg.num_particles,
            num_steps=cfg.num_steps,
            sigma=cfg.ch_sigma,
            alpha=cfg.ch_alpha,
            num_runs=cfg.runs_per_seed,
        )
        lv_final, lv_traj = lv_finals[i], lv_trajs[i]
        cbo_final = np.asarray(r_cbo.consensus)
        out["cbo"].append(rate(cbo_final))
        out["ch"].append(rate(np.asarray(r_ch.consensus)))
        out["langevin"].append(rate(np.asarray(lv_final)))
        out["cbo_energy"].append(float(np.median(jax.vmap(energy)(r_cbo.consensus))))
        out["cbo_dist"].append(float(np.median(np.linalg.norm(cbo_final, axis=-1))))
        out["ch_dist"].append(float(np.median(np.linalg.norm(np.asarray(r_ch.consensus), axis=-1))))
        if seed == cfg.seeds[0]:
            traj = {"cbo": r_cbo.trajectory, "ch": r_ch.trajectory, "langevin": lv_traj}
    gd_final, gd_traj = gradient_descent(energy, x0, step=cfg.gd_step, num_steps=cfg.gd_steps)
    gd_energy = float(energy(gd_final))
    gd_rate = rate(np.asarray(gd_final))
    n = len(cfg.seeds) * cfg.runs_per_seed
    gd_rates = [gd_rate] * len(cfg.seeds)  # deterministic: the same on every seed

    exp.claim(
        f"CBO reaches x* (within {SUCCESS_RADIUS}) in >= 90% of runs",
        reference="Fig. 1b (CBO on GrandCanyon3noisy from (8, 8))",
        ours=out["cbo"],
        baseline=gd_rates,
        baseline_name="gradient descent",
        expect=at_least(0.9),
        note=f"success rate per seed, {cfg.runs_per_seed} runs each ({n} runs)",
    )
    exp.claim(
        f"consensus hopping reaches x* (within {SUCCESS_RADIUS}) in >= 60% of runs",
        reference="Fig. 2a (CH on GrandCanyon3noisy)",
        ours=out["ch"],
        baseline=gd_rates,
        baseline_name="gradient descent",
        expect=at_least(0.6),
        note=f"success rate per seed, {cfg.runs_per_seed} runs each ({n} runs)",
    )
    exp.claim(
        "CBO's median final energy is < 1/10 of where gradient descent stops",
        reference="Figs. 1b, 2b",
        ours=out["cbo_energy"],
        baseline=[gd_energy] * len(cfg.seeds),
        baseline_name="gradient descent",
        expect=below(0.1 * BASELINE),
    )
    exp.control(
        "gradient descent stalls in a local minimum: final energy",
        reference="Fig. 2b",
        value=gd_energy,
        expect=at_least(1.0),
        note=f"stops at {np.round(np.asarray(gd_final), 3).tolist()}",
    )
    exp.control(
        f"annealed Langevin success rate (within {SUCCESS_RADIUS})",
        reference="Fig. 2c",
        value=float(np.mean(out["langevin"])),
        note=f"{len(cfg.seeds) * cfg.langevin_runs_per_seed} runs of 10^4 steps",
    )
    exp.record("minimization", {**out, "gd_energy": gd_energy, "gd_final": gd_final})
    return traj | {"gd": gd_traj}


# ----------------------------------------------------------------------------- B


def _section_laplace(exp: experiment.Experiment, cfg: Config) -> np.ndarray:
    energy = jax.jit(jax.vmap(grand_canyon3()))
    dists = []
    for seed in cfg.seeds:
        x = jax.random.uniform(
            jax.random.PRNGKey(1000 + seed), (cfg.laplace_samples, 2), minval=-2.0, maxval=8.0
        )
        e = energy(x)
        dists.append([float(jnp.linalg.norm(consensus_point(x, e, a))) for a in cfg.laplace_alphas])
    dists = np.asarray(dists)  # (seeds, alphas)
    growth = np.max(dists[:, 1:] / dists[:, :-1], axis=1)
    alphas = ", ".join(f"{a:g}" for a in cfg.laplace_alphas)
    exp.claim(
        f"Laplace principle: ||v_alpha - x*|| never grows along alpha = {alphas} (10% slack)",
        reference="quantitative Laplace principle",
        ours=growth,
        expect=at_most(1.1),
        note="largest ratio of consecutive distances, per seed",
    )
    exp.claim(
        f"Laplace principle: ||v_alpha - x*|| <= 0.05 at alpha = {cfg.laplace_alphas[-1]:g}",
        reference="quantitative Laplace principle",
        ours=dists[:, -1],
        baseline=dists[:, 0],
        baseline_name=f"alpha = {cfg.laplace_alphas[0]:g}",
        expect=at_most(0.05),
    )
    exp.record("laplace", {"alphas": cfg.laplace_alphas, "distances": dists})
    return dists


# ----------------------------------------------------------------------------- C

H = np.array([[2.0, 0.5], [0.5, 1.0]])
A = np.array([1.0, -1.0])


def _quadratic(x):
    d = x - jnp.asarray(A, x.dtype)
    return 0.5 * d @ jnp.asarray(H, x.dtype) @ d


@functools.partial(jax.jit, static_argnums=4)
def _hops(x, keys, sigma, alpha, num_particles):
    """One consensus hop from ``x`` per key (``hopping_step`` for several seeds at once)."""
    return jax.vmap(
        lambda k: hopping_step(
            _quadratic, x, k, num_particles=num_particles, sigma=sigma, alpha=alpha
        )
    )(keys)


def _section_proximal(exp: experiment.Experiment, cfg: Config) -> dict:
    rows = {}
    for alpha, sigma in cfg.prox_pairs:
        tau = alpha * sigma**2
        x = jnp.asarray(A + np.array([sigma, -sigma]), jnp.float32)
        prox = proximal_step_quadratic(jnp.asarray(H), jnp.asarray(A), x, tau)
        explicit = x - tau * jax.grad(_quadratic)(x)
        residual = float(jnp.linalg.norm(prox - x + tau * jax.grad(_quadratic)(prox)))
        keys = jnp.stack([jax.random.PRNGKey(2000 + seed) for seed in cfg.seeds])
        hops = _hops(x, keys, sigma, alpha, cfg.prox_samples)
        errors = np.linalg.norm(np.asarray(hops) - np.asarray(prox), axis=-1).tolist()
        gd_error = float(jnp.linalg.norm(explicit - prox))
        exp.claim(
            f"a consensus hop is the proximal step, tau = alpha sigma^2 (alpha {alpha:g}, sigma {sigma:g})",
            reference="CH as a stochastic relaxation of the minimizing movement scheme",
            ours=errors,
            baseline=[gd_error] * len(cfg.seeds),
            baseline_name="explicit GD step",
            expect=at_most(5e-3),
            note=f"||hop - prox||, tau = {tau:g}, N = {cfg.prox_samples}",
        )
        exp.control(
            f"the exact proximal point is an implicit GD step (alpha {alpha:g}): residual",
            reference="minimizing movement scheme",
            value=residual,
            expect=at_most(1e-5),
        )
        rows[f"{alpha:g},{sigma:g}"] = {"errors": errors, "explicit": gd_error, "tau": tau}
    exp.record("proximal", rows)
    return rows


# ----------------------------------------------------------------------------- figures


def _figures(exp, cfg: Config, traj: dict, dists: np.ndarray, prox: dict) -> None:
    energy = jax.vmap(grand_canyon3())
    g = np.linspace(-2.0, 8.0, 300)
    gx, gy = np.meshgrid(g, g)
    z = np.asarray(energy(jnp.asarray(np.stack([gx.ravel(), gy.ravel()], -1)))).reshape(gx.shape)
    fig, axes = experiment.new_figure(1, 4, size=(3.6, 3.4))
    panels = [
        ("CBO consensus points (Fig. 1b)", np.asarray(traj["cbo"])),
        ("consensus hopping (Fig. 2a)", np.asarray(traj["ch"])),
        ("gradient descent (Fig. 2b)", np.asarray(traj["gd"])[None, ::20]),
        ("annealed Langevin (Fig. 2c)", np.asarray(traj["langevin"])[:, ::20]),
    ]
    for ax, (title, paths) in zip(axes, panels, strict=True):
        ax.contour(gx, gy, z, levels=22, linewidths=0.5, cmap="viridis")
        for path in paths:
            ax.plot(path[:, 0], path[:, 1], "-", lw=0.7, alpha=0.6, color="tab:red")
            ax.plot(path[-1, 0], path[-1, 1], ".", color="tab:red", ms=4)
        ax.plot(0, 0, "*", color="k", ms=10)
        ax.set(title=title, xlim=(-2, 8), ylim=(-2, 8))
        ax.title.set_fontsize(9)
    fig.tight_layout()
    exp.save_figure(fig, "trajectories")

    fig, (ax_l, ax_p) = experiment.new_figure(1, 2, size=(4.0, 3.2))
    alphas = np.asarray(cfg.laplace_alphas)
    for row in dists:
        ax_l.loglog(alphas, row, "o-", color="tab:blue", alpha=0.5)
    ax_l.axhline(0.05, ls="--", color="gray")
    ax_l.set(xlabel="alpha", ylabel="||v_alpha - x*||", title="Laplace principle")
    labels = list(prox)
    hop = [np.mean(prox[k]["errors"]) for k in labels]
    gd = [prox[k]["explicit"] for k in labels]
    pos = np.arange(len(labels))
    ax_p.bar(pos - 0.2, hop, 0.4, label="consensus hop")
    ax_p.bar(pos + 0.2, gd, 0.4, label="explicit GD step")
    ax_p.set_yscale("log")
    ticks = [f"alpha {k.split(',')[0]}\nsigma {k.split(',')[1]}" for k in labels]
    ax_p.set_xticks(pos, ticks, fontsize=8)
    ax_p.set(ylabel="distance to the proximal point", title="hop = implicit GD step")
    ax_p.legend(fontsize=8)
    fig.tight_layout()
    exp.save_figure(fig, "laplace_proximal")


# ----------------------------------------------------------------------------- main


def main(argv: Sequence[str] | None = None) -> int:
    args = experiment.parse_args(__doc__, argv, default_out="results/cbo")
    cfg = QUICK if args.quick else Config()
    exp = experiment.Experiment(
        "cbo",
        paper=PAPER,
        args=args,
        seeds=list(cfg.seeds),
        quick_differences=(
            "2 annealed Langevin runs per seed instead of 10 (a control, not a claim); no figures"
        ),
    )
    with exp.section("A. global minimization on GrandCanyon3noisy"):
        traj = _section_minimization(exp, cfg)
    with exp.section("B. Laplace principle"):
        dists = _section_laplace(exp, cfg)
    with exp.section("C. consensus hop vs proximal step"):
        prox = _section_proximal(exp, cfg)
    if cfg.figures:
        with exp.section("figures"):
            _figures(exp, cfg, traj, dists, prox)
    return exp.finish()


if __name__ == "__main__":
    raise SystemExit(main())
