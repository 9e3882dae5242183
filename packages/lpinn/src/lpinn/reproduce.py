"""Reproduces the central claim of Lagrangian PINNs (Mojgani et al. 2022, Sec. 4.1, Figs. 5-6).

Claim: on convection u_t + c u_x = 0 with u0 = sin x and periodic boundaries, an Eulerian PINN
fails at large speed c (its error is O(1) from c ~ 30 on, although the periodic embedding enforces
the boundary conditions exactly), while a Lagrangian PINN of the same width and budget stays
accurate at every c.

CPU-scale setup: labels x0 on 32 x 25 (quick) or 64 x 50 (full) points of [0, 2 pi) x [0, 1];
tanh width 50; PINN 4 hidden layers; LPINN 4 hidden layers for U and 2 for X in residual form
(X = x0 + net); MSE losses with IC weight 100 (a named variant of the official non-squared
norms); Adam lr 1e-3 (fixed, not searched), 1500 (quick) or 5000 (full) full-batch steps. Both
models train on the same seeds in the same run. The headline error is the Eulerian relative L2
after periodic interpolation of the Lagrangian points onto the grid.

Pass criteria (claims on the LPINN, mean over every seed of the run): full (c in {10, 30, 50},
3 seeds): LPINN relative L2 < 0.05 at every c, and LPINN error <= 0.1 x the PINN's at c = 30.
Quick (c = 30, one seed, fewer steps on a coarser grid): LPINN < 0.15 and <= 0.1 x PINN.
The PINN's failure (relative L2 > 0.3 for c >= 30; quick: > 0.5) is a fact about the baseline,
shown as a control. Full mode also reports viscous Burgers (nu = 0.01) against a spectral
reference, without a pass criterion.

Training is data-parallel (``jaxpapers_shared.devices``): the grid's collocation points are split
over every device of every process along the label axis, so the same command runs on one CPU,
on simulated devices (``XLA_FLAGS=--xla_force_host_platform_device_count=8``) or as several
processes (``make reproduce PKG=lpinn PROCS=2``). Full mode checkpoints every training run every
500 Adam steps under ``<out>/checkpoints/``; ``--resume`` continues from there.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import jax.numpy as jnp
import numpy as np
from flax import nnx

from jaxpapers_shared import experiment
from jaxpapers_shared.experiment import BASELINE, above, at_most, below
from lpinn._evaluate import predict_eulerian, relative_l2
from lpinn._models import EulerianPINN, LagrangianPINN
from lpinn._pde import Burgers, Convection, grid, sine
from lpinn._reference import burgers_reference, convection_diffusion_exact
from lpinn._residuals import eulerian_loss, lagrangian_loss
from lpinn._train import collocation_points, fit

with experiment.reproduce_imports("lpinn"):
    import matplotlib  # noqa: F401  (figures)

PAPER = (
    "Lagrangian PINNs: A causality-conforming solution to failure modes of "
    "physics-informed neural networks"
)


@dataclasses.dataclass(frozen=True)
class Config:
    num_x: int = 64
    num_t: int = 50
    steps: int = 5000
    speeds: tuple[float, ...] = (10.0, 30.0, 50.0)
    num_seeds: int = 3
    width: int = 50
    learning_rate: float = 1e-3
    burgers: bool = True


CHECKPOINT_EVERY = 500  # Adam steps between checkpoints (full mode; ~25 s of CPU per model)
QUICK = Config(num_x=32, num_t=25, steps=1500, speeds=(30.0,), num_seeds=1, burgers=False)
QUICK_DIFFERENCES = (
    "c = 30 only, one seed, a 32 x 25 grid and 1500 Adam steps instead of c in {10, 30, 50}, "
    "3 seeds, 64 x 50 and 5000 steps; the LPINN bar is looser (relative L2 < 0.15 instead of "
    "0.05) because at 1500 steps the LPINN error is still falling fast (seed 0: 0.16 after "
    "1000 steps, 0.025 after 1500); the PINN control asks > 0.5 instead of > 0.3; no Burgers "
    "run and no figures."
)


def train_pair(
    pde, u0, x, t, reference, cfg: Config, seed: int, *, derivatives="physical", exp=None, tag=""
):
    """Trains the PINN and the LPINN on one problem; returns their errors and the LPINN model.

    Data-parallel: the grid's collocation points are split over every device (of every
    process). With ``exp`` (full mode) each training run is checkpointed under
    ``<out>/checkpoints/<tag>-<model>-seed<seed>`` and resumes with ``--resume``.
    """
    u0_values = u0(x)
    points = collocation_points(x, t)

    def train(name, model, loss):
        kwargs = dict(steps=cfg.steps, learning_rate=cfg.learning_rate, batch=points)
        if exp is None:
            return fit(loss, model, desc=f"{name} seed {seed}", **kwargs).model
        with exp.checkpointer(f"{tag}-{name}-seed{seed}", every=CHECKPOINT_EVERY) as ckpt:
            if ckpt.latest_step:
                exp.log(f"   resuming {name} seed {seed} at step {ckpt.latest_step}")
            return fit(loss, model, desc=f"{name} seed {seed}", checkpointer=ckpt, **kwargs).model

    pinn = train(
        "PINN",
        EulerianPINN(cfg.width, 4, rngs=nnx.Rngs(seed)),
        lambda m, pts: eulerian_loss(m, pde, x, t, u0_values, points=pts),
    )
    pinn_pred = pinn(*jnp.meshgrid(x, t, indexing="ij"))
    lpinn = train(
        "LPINN",
        LagrangianPINN(cfg.width, 4, 2, rngs=nnx.Rngs(seed)),
        lambda m, pts: lagrangian_loss(
            m, pde, x, t, u0_values, derivatives=derivatives, points=pts
        ),
    )
    lpinn_pred = predict_eulerian(lpinn, x, t, x)
    return {
        "pinn": relative_l2(pinn_pred, reference),
        "lpinn": relative_l2(lpinn_pred, reference),
        "pinn_pred": np.asarray(pinn_pred),
        "lpinn_pred": np.asarray(lpinn_pred),
        "lpinn_model": lpinn,
    }


def lagrangian_diagnostics(model, c: float, x, t) -> dict[str, float]:
    """Errors on the Lagrangian points: state vs the exact u at X, and X vs x0 + c t."""
    gx, gt = jnp.meshgrid(x, t, indexing="ij")
    u, pos = model(gx, gt)
    exact_at_pos = jnp.sin(pos - c * gt)
    return {
        "state_error": float(jnp.linalg.norm(u - exact_at_pos) / jnp.linalg.norm(exact_at_pos)),
        "characteristic_max_error": float(jnp.max(jnp.abs(pos - (gx + c * gt)))),
    }


def plot_solutions(exp, x, t, reference, run, c):
    fig, axes = experiment.new_figure(1, 3, size=(3.6, 3.0), sharey=True)
    extent = (float(t[0]), float(t[-1]), float(x[0]), float(x[-1]))
    for ax, (title, field) in zip(
        axes,
        [
            ("exact", reference),
            (f"PINN ({run['pinn']:.2f})", run["pinn_pred"]),
            (f"LPINN ({run['lpinn']:.3f})", run["lpinn_pred"]),
        ],
        strict=True,
    ):
        ax.imshow(
            np.asarray(field),
            aspect="auto",
            origin="lower",
            extent=extent,
            cmap="RdBu_r",
            vmin=-1,
            vmax=1,
        )
        ax.set_title(f"{title}, c={c:g}")
        ax.set_xlabel("t")
    axes[0].set_ylabel("x")
    exp.save_figure(fig, "solutions_c30")


def plot_characteristics(exp, model, c, x, t):
    fig, ax = experiment.new_figure(size=(4.5, 3.5))
    labels = x[:: max(1, x.shape[0] // 8)]
    gx, gt = jnp.meshgrid(labels, t, indexing="ij")
    _, pos = model(gx, gt)
    for i in range(labels.shape[0]):
        ax.plot(t, pos[i], color="C0", lw=1.5, label="learned X(x0, t)" if i == 0 else None)
        ax.plot(t, labels[i] + c * t, "k--", lw=0.8, label="x0 + c t" if i == 0 else None)
    ax.set_xlabel("t")
    ax.set_ylabel("X (unwrapped)")
    ax.set_title(f"learned characteristics, c={c:g}")
    ax.legend()
    exp.save_figure(fig, "characteristics_c30")


def main(argv: Sequence[str] | None = None) -> int:
    args = experiment.parse_args(__doc__, argv, default_out="results/lpinn")
    cfg = QUICK if args.quick else Config()
    seeds = [args.seed + i for i in range(cfg.num_seeds)]
    exp = experiment.Experiment(
        "lpinn", paper=PAPER, args=args, seeds=seeds, quick_differences=QUICK_DIFFERENCES
    )
    x, t = grid(cfg.num_x, cfg.num_t)
    checkpointing = None if args.quick else exp  # quick runs (~20 s) are not checkpointed
    errors = {}
    for c in cfg.speeds:
        with exp.section(f"convection c={c:g}"):
            reference = convection_diffusion_exact(sine, c, 0.0, x, t)
            runs = [
                train_pair(
                    Convection(c), sine, x, t, reference, cfg, s, exp=checkpointing, tag=f"c{c:g}"
                )
                for s in seeds
            ]
            errors[c] = {k: [r[k] for r in runs] for k in ("pinn", "lpinn")}
            exp.record(f"convection_c{c:g}", errors[c])
            exp.record(
                f"convection_c{c:g}_diagnostics",
                [lagrangian_diagnostics(r["lpinn_model"], c, x, t) for r in runs],
            )
            exp.log(
                f"   PINN {np.round(errors[c]['pinn'], 3)}  LPINN {np.round(errors[c]['lpinn'], 4)}"
            )
            if c == 30.0 and not args.quick:  # figures: full mode only (3-4 s of CPU)
                plot_solutions(exp, x, t, reference, runs[0], c)
                plot_characteristics(exp, runs[0]["lpinn_model"], c, x, t)

    lpinn_bar = 0.15 if args.quick else 0.05
    pinn_bar = 0.5 if args.quick else 0.3
    for c, e in errors.items():
        exp.claim(
            f"LPINN accurate at c = {c:g}",
            reference="Sec. 4.1, Fig. 5",
            ours=e["lpinn"],
            baseline=e["pinn"],
            baseline_name="PINN",
            expect=below(lpinn_bar),
            note="relative L2 on the Eulerian grid",
        )
        if c >= 30:
            exp.control(
                f"Eulerian PINN fails at c = {c:g}",
                reference="Sec. 4.1, Fig. 5",
                value=e["pinn"] if len(seeds) > 1 else e["pinn"][0],
                expect=above(pinn_bar),
                note="relative L2 on the Eulerian grid, per seed",
            )
    exp.claim(
        "LPINN error <= 0.1 x PINN error at c = 30",
        reference="Sec. 4.1, Fig. 5",
        ours=errors[30.0]["lpinn"],
        baseline=errors[30.0]["pinn"],
        baseline_name="PINN",
        expect=at_most(0.1 * BASELINE),
        note="per-seed pairs trained on the same seed",
    )
    if cfg.burgers:
        with exp.section("viscous Burgers nu=0.01 (reported, no pass criterion)"):
            pde = Burgers(0.01)
            reference = burgers_reference(sine, pde.nu, x, t)
            run = train_pair(
                pde, sine, x, t, reference, cfg, seeds[0], exp=checkpointing, tag="burgers"
            )
            exp.record(
                "burgers_nu0.01",
                {"seed": seeds[0], "pinn": run["pinn"], "lpinn": run["lpinn"]},
            )
            exp.log(f"   Burgers rel. L2: PINN {run['pinn']:.3f}, LPINN {run['lpinn']:.3f}")
    return exp.finish()


if __name__ == "__main__":
    raise SystemExit(main())
