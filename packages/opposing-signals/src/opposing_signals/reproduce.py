"""Reproduces the central claims of *Outliers with Opposing Signals Have an Outsized Effect on
Neural Network Optimization* (Rosenfeld & Risteski, ICLR 2024).

Claim (Sec. 2-3, Figs. 1-3): paired groups of outliers share a large feature that points to
opposite labels; it drives progressive sharpening up to the gradient-descent stability edge
``2 / eta``, after which the two groups' losses oscillate out of phase, and the examples whose
loss changes most from one step to the next are those outliers.

A. The two-layer linear toy (``opposing_signals_toy``): n = 1000, d = 20, opposing feature
alpha = 8 on 4% of the points (groups A: +1, B: -1), noise 1.5, ``f(x) = b^T A x`` of width 50
with init scale 0.1, square loss, full-batch GD at eta = 0.6 (the control's peak sharpness is
then ~0.3 of the edge), 3000 steps, sharpness (Lanczos, 20 steps) every 10 steps, 5 seeds.
Control, same run and seeds: the same points and labels with the feature removed (alpha = 0).
Measurement window, the edge-of-stability phase: from the first to just past the last sharpness
measurement at or above ``2 / eta`` (around the peak if the edge is never reached); the control is
measured on the opposing run's window.
Pass (seed means): (a) peak sharpness >= 2x the control's; (b) out-of-phase score (correlation
of the step-to-step changes of the A and B losses) <= -0.3; (c) precision of the top-k examples
by |loss change| (k = number of outliers) >= 0.5, ten times chance (0.04). Reported, not gated:
Adam (learning rate from a grid, the one whose final loss is closest to GD's) vs GD, the largest
single-step loss increase and the A/B oscillation amplitude.

B. Real data (sklearn ``load_digits``, 1797 images 8x8, pixels / 16, centred). An opposing pair
is planted: the 2x2 top-left patch set to 8 (8x the largest pixel value) in 10% of the 3s (group
A) and 10% of the 8s (group B). MLP 64-64-64-10 (tanh), cross-entropy, full-batch GD at
eta = 1.2 for 600 steps (the unplanted run's peak sharpness is ~0.5 of the edge), sharpness every
20 steps, seeds 0-2. Control: the same network and seed on the unplanted images.
Pass (seed means): top-k precision of the planted images (k = their number) >= 0.5 over the
window defined as in A; out-of-phase score of the planted groups <= -0.2 (the control: the same
images unplanted, on the same steps); peak sharpness on the planted data above the control's. Reported: the top changers on the unplanted data (figure), and
Adam vs GD as in A.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from jaxpapers_shared import experiment
from jaxpapers_shared.experiment import BASELINE, above, at_least, at_most

from ._data import opposing_signals_toy, plant_opposing_signal
from ._models import MLP, TwoLayerLinear
from ._signals import (
    max_loss_increase,
    oscillation_amplitude,
    oscillation_score,
    precision_at_k,
)
from ._train import Trace, train_and_track

with experiment.reproduce_imports("opposing-signals"):
    from sklearn.datasets import load_digits

PAPER = "Outliers with Opposing Signals Have an Outsized Effect on Neural Network Optimization"


@dataclasses.dataclass(frozen=True)
class Config:
    seeds: tuple[int, ...] = (0, 1, 2, 3, 4)
    # A: toy
    toy_steps: int = 3000
    toy_lr: float = 0.6
    toy_every: int = 10
    adam_grid: tuple[float, ...] = (0.003, 0.01, 0.03, 0.1)
    # B: digits
    digits: bool = True
    digits_seeds: tuple[int, ...] = (0, 1, 2)
    digits_steps: int = 600
    digits_lr: float = 1.2
    digits_frac: float = 0.1
    digits_magnitude: float = 8.0
    digits_every: int = 20
    digits_hidden: int = 64
    digits_adam_grid: tuple[float, ...] = (0.001, 0.003, 0.01)


FULL = Config()
QUICK = dataclasses.replace(FULL, seeds=(0, 1), toy_steps=600, adam_grid=(0.01, 0.03), digits=False)


def window_of(trace: Trace, lr: float) -> slice:
    """The edge-of-stability phase: from the first to just past the last sharpness measurement at
    or above ``2 / lr`` (one measurement interval around the peak if the edge is never reached)."""
    every = int(trace.sharpness_steps[1] - trace.sharpness_steps[0])
    edge = np.flatnonzero(trace.sharpness * lr / 2 >= 1.0)
    if not edge.size:
        edge = np.array([int(np.argmax(trace.sharpness))])
    return slice(int(trace.sharpness_steps[edge[0]]), int(trace.sharpness_steps[edge[-1]]) + every)


def signal_metrics(trace: Trace, outliers: np.ndarray, window: slice) -> dict[str, float]:
    a, b = trace.group("A")[window], trace.group("B")[window]
    return {
        "score": oscillation_score(a, b),
        "precision": float(np.mean([precision_at_k(c, outliers) for c in trace.changers[window]])),
        "amplitude": oscillation_amplitude(a, b),
        "max_increase": max_loss_increase(trace.loss),
    }


def closest_final_loss(runs: dict[float, Trace], target: float) -> float:
    """The learning rate whose run ends with the training loss closest to ``target``."""
    return min(runs, key=lambda lr: abs(np.log(runs[lr].loss[-1]) - np.log(target)))


def col(rows: list[dict], name: str) -> np.ndarray:
    """One metric of every run (seed), as an array."""
    return np.array([r[name] for r in rows])


def _adam_vs_gd_controls(exp: experiment.Experiment, tag: str, runs) -> None:
    """The Adam-vs-GD comparison (Sec. 4), shown as controls: it is not a claim of the paper."""
    exp.control(
        f"{tag}: largest one-step loss increase, GD / Adam",
        reference="Sec. 4",
        value=[
            float(col(runs, "max_increase").mean()),
            float(col(runs, "adam_max_increase").mean()),
        ],
    )
    exp.control(
        f"{tag}: A/B oscillation amplitude, GD / Adam",
        reference="Sec. 4",
        value=[float(col(runs, "gd_amplitude").mean()), float(col(runs, "adam_amplitude").mean())],
    )


def toy(exp: experiment.Experiment, cfg: Config) -> None:
    gd = optax.sgd(cfg.toy_lr)
    adams = {lr: optax.adam(lr) for lr in cfg.adam_grid}
    ours, ctrl, kept = [], [], {}
    for seed in experiment.progress(cfg.seeds, desc="toy seeds"):
        key = jax.random.PRNGKey(seed)
        runs = {}
        for opposing in (True, False):
            x, y, groups = opposing_signals_toy(key, 1000, 20, opposing=opposing)
            outliers = np.asarray(groups["A"] | groups["B"])
            model = TwoLayerLinear(20, 50, rngs=nnx.Rngs(seed))
            _, runs[opposing] = train_and_track(
                model,
                x,
                y,
                gd,
                steps=cfg.toy_steps,
                key=key,
                groups=groups,
                k=int(outliers.sum()),
                sharpness_every=cfg.toy_every,
            )
        window = window_of(runs[True], cfg.toy_lr)
        x, y, groups = opposing_signals_toy(key, 1000, 20)
        adam_runs = {
            lr: train_and_track(
                TwoLayerLinear(20, 50, rngs=nnx.Rngs(seed)),
                x,
                y,
                opt,
                steps=cfg.toy_steps,
                key=key,
                groups=groups,
                k=int(outliers.sum()),
            )[1]
            for lr, opt in adams.items()
        }
        adam_lr = closest_final_loss(adam_runs, float(runs[True].loss[-1]))
        adam = adam_runs[adam_lr]
        full = slice(0, cfg.toy_steps)
        ours.append(
            signal_metrics(runs[True], outliers, window)
            | {
                "peak": runs[True].sharpness.max() * cfg.toy_lr / 2,
                "window": [window.start, window.stop],
            }
        )
        ctrl.append(
            signal_metrics(runs[False], outliers, window)
            | {"peak": runs[False].sharpness.max() * cfg.toy_lr / 2}
        )
        ours[-1]["gd_amplitude"] = oscillation_amplitude(*(runs[True].group(g)[full] for g in "AB"))
        ours[-1]["adam_amplitude"] = oscillation_amplitude(*(adam.group(g)[full] for g in "AB"))
        ours[-1]["adam_max_increase"] = max_loss_increase(adam.loss)
        ours[-1]["adam_lr"] = adam_lr
        if seed == cfg.seeds[0]:
            kept = {"runs": runs, "adam": adam, "window": window, "outliers": outliers}
    note = f"fraction of the edge: lambda_max * eta / 2 at eta = {cfg.toy_lr}"
    exp.claim(
        "opposing outliers raise peak sharpness (toy)",
        reference="Sec. 3, Fig. 3",
        ours=col(ours, "peak"),
        baseline=col(ctrl, "peak"),
        baseline_name="no opposing feature",
        expect=at_least(2 * BASELINE),
        note=note,
    )
    exp.claim(
        "group losses oscillate out of phase (toy)",
        reference="Sec. 2, Fig. 1",
        ours=col(ours, "score"),
        baseline=col(ctrl, "score"),
        baseline_name="no opposing feature",
        expect=at_most(-0.3),
        note="corr of step-to-step changes of the A and B losses",
    )
    exp.claim(
        "top loss changers are the outliers (toy)",
        reference="Sec. 2",
        ours=col(ours, "precision"),
        baseline=col(ctrl, "precision"),
        baseline_name="no opposing feature",
        expect=at_least(0.5),
        note="precision@k, k = #outliers; chance 0.04",
    )
    _adam_vs_gd_controls(exp, "toy", ours)
    exp.record("toy", {"opposing": ours, "control": ctrl})
    _toy_figure(exp, cfg, kept)


def _toy_figure(exp, cfg, kept) -> None:
    runs, window = kept["runs"], kept["window"]
    fig, ax = experiment.new_figure(1, 3, size=(4.2, 3.2))
    for opposing, label in ((True, "opposing feature"), (False, "no opposing feature")):
        tr = runs[opposing]
        ax[0].plot(tr.sharpness_steps, tr.sharpness * cfg.toy_lr / 2, label=label)
    ax[0].axhline(1.0, color="k", ls=":", label="2 / eta")
    horizon = min(cfg.toy_steps, 2 * window.stop + 50)
    ax[0].set(xlabel="step", ylabel="sharpness * eta / 2", xlim=(0, horizon), title="sharpness")
    ax[0].legend(fontsize=7)
    steps = np.arange(window.start, window.stop)
    for g in "AB":
        ax[1].plot(steps, runs[True].group(g)[steps], label=f"group {g}")
    ax[1].plot(steps, runs[True].loss[steps], "k", lw=0.8, label="all")
    ax[1].set(xlabel="step", ylabel="loss", title="group losses at the edge (GD)")
    ax[1].legend(fontsize=7)
    for name, tr in (("GD", runs[True]), ("Adam", kept["adam"])):
        ax[2].plot(tr.group("A") - tr.group("B"), label=name, lw=0.8)
    ax[2].set(xlabel="step", ylabel="loss A - loss B", xlim=(0, horizon), title="GD vs Adam")
    ax[2].legend(fontsize=7)
    fig.tight_layout()
    exp.save_figure(fig, "toy")


def digits(exp: experiment.Experiment, cfg: Config) -> None:
    images, labels = load_digits(return_X_y=True)
    images = images / 16.0
    x_clean = jnp.asarray(images - images.mean(0), jnp.float32)
    y = jnp.asarray(labels)
    gd = optax.sgd(cfg.digits_lr)
    adams = {lr: optax.adam(lr) for lr in cfg.digits_adam_grid}
    ours, ctrl, kept = [], [], {}
    patch = [0, 1, 8, 9]  # the 2x2 top-left corner of the 8x8 image
    for seed in experiment.progress(cfg.digits_seeds, desc="digits seeds"):
        key = jax.random.PRNGKey(seed)
        x_planted, groups = plant_opposing_signal(
            key,
            x_clean,
            y,
            classes=(3, 8),
            frac=cfg.digits_frac,
            patch=patch,
            magnitude=cfg.digits_magnitude,
        )
        planted = np.asarray(groups["A"] | groups["B"])
        k = int(planted.sum())

        def run(x, opt, every):
            model = MLP(64, [cfg.digits_hidden] * 2, 10, rngs=nnx.Rngs(seed))
            return train_and_track(
                model,
                x,
                y,
                opt,
                steps=cfg.digits_steps,
                key=key,
                loss="cross_entropy",
                groups=groups,
                k=k,
                sharpness_every=every,
            )[1]

        runs = {
            True: run(x_planted, gd, cfg.digits_every),
            False: run(x_clean, gd, cfg.digits_every),
        }
        window = window_of(runs[True], cfg.digits_lr)
        adam_runs = {lr: run(x_planted, opt, 0) for lr, opt in adams.items()}
        adam_lr = closest_final_loss(adam_runs, float(runs[True].loss[-1]))
        adam = adam_runs[adam_lr]
        full = slice(0, cfg.digits_steps)
        ours.append(
            signal_metrics(runs[True], planted, window)
            | {
                "peak": runs[True].sharpness.max() * cfg.digits_lr / 2,
                "window": window.start,
                "gd_amplitude": oscillation_amplitude(*(runs[True].group(g)[full] for g in "AB")),
                "adam_amplitude": oscillation_amplitude(*(adam.group(g)[full] for g in "AB")),
                "adam_max_increase": max_loss_increase(adam.loss),
                "adam_lr": adam_lr,
            }
        )
        ctrl.append(
            signal_metrics(runs[False], planted, window)
            | {"peak": runs[False].sharpness.max() * cfg.digits_lr / 2}
        )
        if seed == cfg.digits_seeds[0]:
            kept = {
                "runs": runs,
                "adam": adam,
                "images": images,
                "labels": labels,
                "window": window,
            }
    seeds = list(cfg.digits_seeds)
    exp.claim(
        "planted images are the top loss changers (digits)",
        reference="Sec. 2",
        ours=col(ours, "precision"),
        baseline=col(ctrl, "precision"),
        baseline_name="unplanted images",
        expect=at_least(0.5),
        seeds=seeds,
        note="precision@k, k = #planted (chance ~0.006)",
    )
    exp.claim(
        "planted groups oscillate out of phase (digits)",
        reference="Sec. 2, Fig. 1",
        ours=col(ours, "score"),
        baseline=col(ctrl, "score"),
        baseline_name="unplanted images",
        expect=at_most(-0.2),
        seeds=seeds,
    )
    exp.claim(
        "planted signal raises peak sharpness (digits)",
        reference="Sec. 3",
        ours=col(ours, "peak"),
        baseline=col(ctrl, "peak"),
        baseline_name="unplanted images",
        expect=above(BASELINE),
        seeds=seeds,
        note=f"lambda_max * eta / 2 at eta = {cfg.digits_lr}",
    )
    _adam_vs_gd_controls(exp, "digits", ours)
    exp.record("digits", {"planted": ours, "unplanted": ctrl})
    _digits_figures(exp, cfg, kept)


def _digits_figures(exp, cfg, kept) -> None:
    runs = kept["runs"]
    fig, ax = experiment.new_figure(1, 3, size=(4.2, 3.2))
    for planted, label in ((True, "planted"), (False, "unplanted")):
        tr = runs[planted]
        ax[0].plot(tr.sharpness_steps, tr.sharpness * cfg.digits_lr / 2, label=label)
    ax[0].axhline(1.0, color="k", ls=":", label="2 / eta")
    ax[0].set(xlabel="step", ylabel="sharpness * eta / 2", title="sharpness")
    ax[0].legend(fontsize=7)
    tr = runs[True]
    for g in "AB":
        ax[1].plot(tr.group(g), label=f"planted {'3s' if g == 'A' else '8s'}", lw=0.8)
    ax[1].plot(tr.loss, "k", lw=0.8, label="all")
    ax[1].set(xlabel="step", ylabel="loss", yscale="log", title="loss spikes (GD)")
    ax[1].legend(fontsize=7)
    for name, t in (("GD", tr), ("Adam", kept["adam"])):
        ax[2].plot(t.loss, label=name, lw=0.8)
    ax[2].set(xlabel="step", ylabel="training loss", yscale="log", title="GD vs Adam")
    ax[2].legend(fontsize=7)
    fig.tight_layout()
    exp.save_figure(fig, "digits")
    # The paper inspects the top changers of natural data at a loss spike: here the unplanted
    # images at their largest one-step loss increase, or, without one, where the planted run
    # reached the edge.
    clean = runs[False]
    rises = np.diff(clean.loss)
    step = int(np.argmax(rises)) if rises.max() > 0 else kept["window"].start
    top = clean.changers[step][:8]
    fig, ax = experiment.new_figure(1, len(top), size=(1.3, 1.6))
    for a, i in zip(np.atleast_1d(ax), top, strict=True):
        a.imshow(kept["images"][i].reshape(8, 8), cmap="gray_r")
        a.set_title(f"label {kept['labels'][i]}", fontsize=7)
        a.axis("off")
    fig.suptitle(f"top loss changers, unplanted digits, update {step}", fontsize=8)
    exp.save_figure(fig, "digits_top_changers")


def main(argv: Sequence[str] | None = None) -> int:
    args = experiment.parse_args(__doc__, argv, default_out="results/opposing-signals")
    cfg = QUICK if args.quick else FULL
    exp = experiment.Experiment(
        "opposing-signals",
        paper=PAPER,
        args=args,
        seeds=list(cfg.seeds),
        quick_differences=(
            f"toy: seeds {list(QUICK.seeds)}, {QUICK.toy_steps} steps, Adam grid "
            f"{list(QUICK.adam_grid)}; no digits experiment (B)"
        ),
    )
    with exp.section("A. two-layer linear toy"):
        toy(exp, cfg)
    if cfg.digits:
        with exp.section("B. digits with a planted opposing pair"):
            digits(exp, cfg)
    return exp.finish()


if __name__ == "__main__":
    raise SystemExit(main())
