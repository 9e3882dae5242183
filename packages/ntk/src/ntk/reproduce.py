"""Reproduces Thm 1 and Thm 2 of *Neural Tangent Kernel* (Jacot et al., 2018, Fig. 1-2).

Claim A (Thm 1, Fig. 1): the empirical NTK at initialization converges to the analytic
Theta(L) as the width n grows, with fluctuations O(n^-1/2).
Claim B (Thm 2, Fig. 2): during gradient descent the NTK moves less as n grows, so the trained
network follows kernel gradient descent with its initial NTK, and at large width with Theta(L).
Claim C (Sec. 5, full mode): the residual decays along the kernel principal components at the
per-step rates 1 - eta lambda_i / N.

CPU-scale setup (the brief's): ReLU, depth L = 4 (3 hidden layers), beta = 0.1, NTK
parametrization, inputs x = (cos g, sin g) at 24 equally spaced angles. A: widths
{64, 256, 1024} (full: + 4096), 4 seeds (full: 8), structured empirical NTK. B: train on every
third angle (8 points), y = sin(2 g), full-batch GD with eta = 1 on (1/2N) sum of squares, widths
{128, 1024} for 300 steps (full: {128, 512, 2048} for 1000 steps;
the brief says {128, 512} for quick, but its own prototype puts the kernel change at 512
above the 0.1 bar, which it sets for widths >= 1024).
Pass criteria: A: e(1024) < 0.15 and log-log slope of e(n) in [-0.7, -0.3] (full: e(4096) < 0.08).
B: kernel change slope <= -0.4 and < 0.1 at the largest width; network vs linearized gap
d(n_max) < 0.1 and < d(n_min); analytic-kernel prediction within 0.1 of the network at n_max.
C: top-3 measured decay rates within 10% of 1 - eta lambda_i / N.
Baseline: the analytic kernel (A), the linearized network (B); neural-tangents is skipped when
it does not import (it fails on current JAX, google/neural-tangents#209).
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from jaxpapers_shared import experiment

from ._analytic import analytic_kernels
from ._dynamics import kernel_gd_predict
from ._empirical import empirical_ntk
from ._model import NTKMLP

DEPTH, BETA, NUM_ANGLES, LR = 4, 0.1, 24, 1.0
PAPER = "Neural Tangent Kernel: Convergence and Generalization in Neural Networks"


def circle(num: int) -> tuple[jax.Array, jax.Array]:
    angles = jnp.linspace(0.0, 2 * jnp.pi, num, endpoint=False)
    return angles, jnp.stack([jnp.cos(angles), jnp.sin(angles)], axis=1)


def make_net(width: int, seed: int) -> NTKMLP:
    return NTKMLP([2] + [width] * (DEPTH - 1) + [1], beta=BETA, rngs=nnx.Rngs(seed))


def loglog_slope(xs, ys) -> float:
    return float(np.polyfit(np.log(xs), np.log(ys), 1)[0])


def relative(a, b) -> float:
    return float(jnp.linalg.norm(a - b) / jnp.linalg.norm(b))


def train(net: NTKMLP, x: jax.Array, y: jax.Array, steps: int, lr: float):
    """Full-batch GD on (1/2N) sum ||f - y||^2; returns the trained net and f(x) at every step."""
    graphdef, params = nnx.split(net)

    def loss(p):
        return 0.5 * jnp.mean((nnx.merge(graphdef, p)(x)[:, 0] - y) ** 2)

    @jax.jit
    def run(p):
        def step(p, _):
            out = nnx.merge(graphdef, p)(x)[:, 0]
            grads = jax.grad(loss)(p)
            return jax.tree.map(lambda a, g: a - lr * g, p, grads), out

        return jax.lax.scan(step, p, None, length=steps)

    params, outputs = run(params)
    return nnx.merge(graphdef, params), outputs


def decay_rates(residuals: jax.Array, eigvec: jax.Array, top: int, window: int) -> np.ndarray:
    """Least-squares per-step ratio r_{k+1} / r_k of the residual along each top eigenvector."""
    proj = np.asarray(residuals @ eigvec[:, ::-1][:, :top])[: window + 1]
    return np.sum(proj[1:] * proj[:-1], axis=0) / np.sum(proj[:-1] ** 2, axis=0)


def claim_a(exp, quick: bool, seeds) -> None:
    widths = [64, 256, 1024] if quick else [64, 256, 1024, 4096]
    _, x = circle(NUM_ANGLES)
    theta = analytic_kernels(x, depth=DEPTH, beta=BETA).ntk
    errors, kernels = {}, {}
    for width in experiment.progress(widths, desc="widths"):
        errs = []
        for seed in seeds:
            emp = empirical_ntk(make_net(width, seed), None, x, method="mlp")
            errs.append(relative(emp, theta))
            kernels.setdefault(width, np.asarray(emp[0]))
        errors[width] = float(np.mean(errs))
    slope = loglog_slope(list(errors), list(errors.values()))
    exp.record("kernel_error", {str(k): v for k, v in errors.items()})
    exp.record("kernel_error_slope", slope)
    exp.claim(
        "NTK error at width 1024",
        reference="Thm 1, Fig. 1",
        ours=errors[1024],
        baseline=0.0,
        baseline_name="analytic Theta(4)",
        paper=0.099,
        criterion="e(1024) < 0.15",
        passed=errors[1024] < 0.15,
        note="relative Frobenius error vs the analytic kernel; paper column: brief's prototype",
    )
    exp.claim(
        "NTK error log-log slope",
        reference="Thm 1 (O(n^-1/2))",
        ours=slope,
        baseline=-0.5,
        baseline_name="n^-1/2",
        paper=-0.47,
        criterion="-0.7 <= slope <= -0.3",
        passed=-0.7 <= slope <= -0.3,
    )
    if not quick:
        exp.claim(
            "NTK error at width 4096",
            reference="Thm 1, Fig. 1",
            ours=errors[4096],
            baseline=0.0,
            baseline_name="analytic Theta(4)",
            paper=0.046,
            criterion="e(4096) < 0.08",
            passed=errors[4096] < 0.08,
        )
    angles, _ = circle(NUM_ANGLES)
    fig, ax = experiment.new_figure(size=(5.0, 3.5))
    for width, row in kernels.items():
        ax.plot(angles, row, "o", ms=3, label=f"empirical, n={width}")
    ax.plot(angles, theta[0], "k-", label="analytic Theta(4)")
    ax.set(xlabel="angle gamma", ylabel="Theta(x_0, x_gamma)", title="ReLU NTK, L=4, beta=0.1")
    ax.legend(fontsize=7)
    exp.save_figure(fig, "kernel_vs_angle")


def claim_bc(exp, quick: bool, seed: int) -> None:
    widths, steps = ([128, 1024], 300) if quick else ([128, 512, 2048], 1000)
    angles, x = circle(NUM_ANGLES)
    train_idx = jnp.arange(0, NUM_ANGLES, 3)
    x_train, y_train = x[train_idx], jnp.sin(2 * angles[train_idx])
    theta = analytic_kernels(x, depth=DEPTH, beta=BETA).ntk
    moves, gaps, analytic_gaps, curves = {}, {}, {}, {}
    residuals_max = None
    for width in experiment.progress(widths, desc="train"):
        net = make_net(width, seed)
        f0 = net(x)[:, 0]
        k0 = empirical_ntk(net, None, x, method="mlp")
        trained, outputs = train(net, x_train, y_train, steps, LR)
        k_end = empirical_ntk(trained, None, x, method="mlp")
        f_net = trained(x)[:, 0]

        def predict(kernel, f0=f0):
            return kernel_gd_predict(
                kernel[train_idx][:, train_idx],
                y_train,
                lr=LR,
                steps=steps,
                f0_train=f0[train_idx],
                k_test_train=kernel[:, train_idx],
                f0_test=f0,
            )

        lin, ana = predict(k0), predict(theta)
        if not (bool(lin.stable) and bool(ana.stable)):
            exp.log(f"   warning: eta * lambda_max / N >= 2 at width {width}: GD diverges")
        moves[width] = relative(k_end, k0)
        gaps[width] = float(jnp.linalg.norm(f_net - lin.test) / jnp.linalg.norm(lin.test - f0))
        analytic_gaps[width] = float(
            jnp.linalg.norm(f_net - ana.test) / jnp.linalg.norm(f_net - f0)
        )
        curves[width] = (np.asarray(f_net), np.asarray(lin.test), np.asarray(ana.test))
        residuals_max = outputs - y_train
    n_min, n_max = widths[0], widths[-1]
    move_slope = loglog_slope(list(moves), list(moves.values()))
    exp.record("kernel_change", {str(k): v for k, v in moves.items()})
    exp.record("linearization_gap", {str(k): v for k, v in gaps.items()})
    exp.record("analytic_gap", {str(k): v for k, v in analytic_gaps.items()})
    exp.claim(
        "NTK change during GD, slope",
        reference="Thm 2, Fig. 1",
        ours=move_slope,
        baseline=-0.5,
        baseline_name="n^-1/2",
        criterion="slope <= -0.4",
        passed=move_slope <= -0.4,
    )
    exp.claim(
        f"NTK change at width {n_max}",
        reference="Thm 2",
        ours=moves[n_max],
        baseline=moves[n_min],
        baseline_name=f"width {n_min}",
        paper=0.062 if n_max >= 1024 else None,
        criterion="< 0.1",
        passed=moves[n_max] < 0.1,
    )
    exp.claim(
        f"network vs linearized, width {n_max}",
        reference="Thm 2, Fig. 2",
        ours=gaps[n_max],
        baseline=gaps[n_min],
        baseline_name=f"width {n_min}",
        paper=0.045 if n_max >= 2048 else 0.056,
        criterion="< 0.1 and < width-min gap",
        passed=gaps[n_max] < 0.1 and gaps[n_max] < gaps[n_min],
        note="||f_net - f_lin|| / ||f_lin - f_0|| on 24 angles; f_lin = kernel GD with own Theta_0",
    )
    exp.claim(
        f"network vs analytic-kernel GD, width {n_max}",
        reference="Thm 2",
        ours=analytic_gaps[n_max],
        baseline=analytic_gaps[n_min],
        baseline_name=f"width {n_min}",
        paper=0.048,
        criterion="< 0.1",
        passed=analytic_gaps[n_max] < 0.1,
        note="||f_net - f_Theta(L)|| / ||f_net - f_0|| with the network's own f_0",
    )
    fig, ax = experiment.new_figure(size=(5.0, 3.5))
    for width, (f_net, f_lin, _) in curves.items():
        ax.plot(angles, f_net, "-", label=f"network, n={width}")
        ax.plot(angles, f_lin, ":", label=f"kernel GD (Theta_0), n={width}")
    ax.plot(angles, curves[n_max][2], "k--", label="kernel GD (analytic Theta)")
    ax.plot(angles[train_idx], y_train, "ko", label="train")
    ax.set(xlabel="angle gamma", ylabel="f(x_gamma)", title=f"after {steps} GD steps")
    ax.legend(fontsize=6)
    exp.save_figure(fig, "trained_functions")
    if not quick:
        eigval, eigvec = jnp.linalg.eigh(theta[train_idx][:, train_idx])
        predicted = 1 - LR * np.asarray(eigval[::-1][:3]) / len(train_idx)
        measured = decay_rates(residuals_max, eigvec, top=3, window=10)
        errors = np.abs(measured - predicted) / np.abs(predicted)
        exp.record("pc_decay", {"measured": measured, "predicted": predicted})
        exp.claim(
            "decay along top-3 kernel PCs",
            reference="Sec. 5",
            ours=float(np.max(errors)),
            baseline=0.0,
            baseline_name="1 - eta lambda_i / N",
            criterion="max relative rate error < 0.1",
            passed=bool(np.max(errors) < 0.1),
            note=f"measured {np.round(measured, 4)}, predicted {np.round(predicted, 4)}",
        )


def neural_tangents_status() -> str:
    # Imported by name: it is an optional baseline, never a dependency of this package.
    try:
        importlib.import_module("neural_tangents")
    except Exception as err:  # its import breaks on current JAX in many ways
        return f"skipped: {type(err).__name__}: {err}"
    return "importable (not used as a baseline here)"


def main(argv: Sequence[str] | None = None) -> int:
    args = experiment.parse_args(__doc__, argv, default_out="results/ntk")
    seeds = [args.seed + i for i in range(4 if args.quick else 8)]
    exp = experiment.Experiment("ntk", paper=PAPER, args=args, seeds=seeds)
    exp.record("neural_tangents", neural_tangents_status())
    with exp.section("A: empirical NTK -> analytic NTK"):
        claim_a(exp, args.quick, seeds)
    with exp.section("B: frozen kernel, linear dynamics"):
        claim_bc(exp, args.quick, args.seed)
    return exp.finish()


if __name__ == "__main__":
    raise SystemExit(main())
