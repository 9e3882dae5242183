"""Reproduces the central claims of *The Implicit Regularization of Dynamical Stability in SGD*.

Claim (Wu & Su, ICML 2023, abstract and Sec. 3-5): a global minimum that is linearly stable for
SGD with batch size 1 has ``tr H <= 2 / eta``, whereas GD's stability constrains only
``lambda_max(H) <= 2 / eta``; so SGD's minima are flatter in trace (and, for two-layer ReLU and
diagonal linear networks, smaller in a parameter norm) and the effect grows with ``eta``.

A. The theorem, no training. Random interpolating minima, given by Gram matrices ``G = J J^T``
(``n`` in [3, 12], mixed rank, per-example gradient scales, shared mean direction): the exact edge
``eta*_SGD`` of mean-square stability (``critical_lr``). Pass: ``eta*_SGD tr H <= 2`` on every
instance for B = 1. Baseline: GD's edge ``2 / lambda_max(H)``. Reported (controls): the same
maximum at B = 2 and 4, with and without replacement, where the 2/eta bound does not hold.

B. Two-layer ReLU, SGD (B = 1) vs GD at equal ``eta``. Inputs on the sphere S^{d-1}, d = 10,
n = 50, teacher ``sum_{k<=3} relu(w*_k . x)``; student width 200, LeCun-normal init; train until
the loss stays below 1e-6 for 10 epochs. The ``eta`` grid is calibrated per seed from GD at
``eta = 0.05`` (a gradient-flow-like minimum with sharpness ``lambda``, trace ``t``):
``2 / eta = lambda^(1-q) t^q`` for q from -0.25 to 1.25, so q in (0, 1) puts ``2 / eta`` between
that minimum's ``lambda_max`` and ``tr H``. Sharpness from the Gram matrix at each converged
minimum, the exact SGD edge ``eta*_SGD`` there (``rho(T) = 1``), the path norm, test MSE on 1000
fresh points. Pass: every converged SGD run has ``eta tr H <= 2.1`` and ``eta <= 1.05 eta*_SGD``
(linearly stable for SGD, up to 5%); every converged GD
run has ``eta lambda_max <= 2.1``; at the largest ``eta`` where both converge, GD's minimum has
``eta tr H > 2`` and a larger trace than SGD's; SGD's ``tr H`` falls as ``eta`` grows.

C (full mode). Generalisation: test MSE of SGD vs GD at the largest common ``eta``. Diagonal
linear network ``beta = u*u - v*v`` (init 0.2) on 3-sparse regression, d = 100, n = 30: every
converged SGD run has ``eta sum_j s_j |beta_j| <= 0.5 * 1.05`` (= ``eta tr H / 4``); SGD's
``||beta||_1`` is below GD's at the largest common ``eta``.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from jaxpapers_shared import experiment
from jaxpapers_shared.experiment import BASELINE, above, at_most, below

from ._models import DiagonalLinearNet, TwoLayerReLU, data_path_norm, weighted_l1
from ._sharpness import gram_matrix, sharpness
from ._stability import critical_lr, stability_radius
from ._train import train_to_interpolation

PAPER = "The Implicit Regularization of Dynamical Stability in Stochastic Gradient Descent"
REF = "abstract; Sec. 3"


@dataclasses.dataclass(frozen=True)
class Config:
    seeds: tuple[int, ...] = (0, 1, 2)
    # A: random minima per seed, sizes n in [n_min, n_max]
    instances: int = 700
    n_range: tuple[int, int] = (3, 12)
    # B: two-layer ReLU
    dim: int = 10
    n_train: int = 50
    width: int = 200
    n_test: int = 1000
    grid: tuple[float, ...] = (-0.25, 0.0, 0.25, 0.5, 0.75, 0.9, 1.0, 1.25)
    calibration_lr: float = 0.05
    loss_tol: float = 1e-6
    patience: int = 10
    max_epochs: int = 50_000
    # C: diagonal linear network (full mode only)
    diagonal: bool = True
    dln_dim: int = 100
    dln_n: int = 30
    dln_init: float = 0.2
    dln_lr: float = 0.002


QUICK = dict(
    seeds=(0, 1),
    instances=100,
    n_range=(3, 8),
    dim=5,
    n_train=20,
    width=50,
    n_test=500,
    grid=(0.9, 1.0),
    max_epochs=20_000,
    diagonal=False,
)


# ----------------------------------------------------------------------------- A: theorem


def random_minima(seed: int, count: int, n_range: tuple[int, int]) -> list[np.ndarray]:
    """Gram matrices of random interpolating minima: mixed rank (p in [1, 2n]), log-normal
    per-example gradient scales and a shared mean gradient direction of random strength."""
    rng = np.random.default_rng(seed)
    grams = []
    for _ in range(count):
        n = int(rng.integers(n_range[0], n_range[1] + 1))
        p = int(rng.integers(1, 2 * n + 1))
        jac = rng.normal(size=(n, p)) * np.exp(rng.normal(size=(n, 1)))
        jac += rng.uniform(0.0, 3.0) * rng.normal(size=(1, p))
        grams.append(jac @ jac.T)
    return grams


def _edges(grams: list[np.ndarray], batch_size: int, replacement: bool = True):
    """``eta* tr H`` at the SGD and GD edges per instance, one vmapped call per size n."""
    sgd, gd = np.full(len(grams), np.nan), np.full(len(grams), np.nan)
    sizes = np.array([g.shape[0] for g in grams])
    for n in np.unique(sizes):
        if batch_size > n:
            continue
        idx = np.flatnonzero(sizes == n)
        batch = jnp.asarray(np.stack([grams[i] for i in idx]))
        edge = jax.vmap(
            functools.partial(critical_lr, batch_size=batch_size, replacement=replacement)
        )(batch)
        trace = jnp.trace(batch, axis1=1, axis2=2) / n
        sgd[idx], gd[idx] = np.asarray(edge.sgd * trace), np.asarray(edge.gd * trace)
    return sgd, gd


def theorem_check(exp: experiment.Experiment, cfg: Config) -> None:
    grams = [g for s in exp.seeds for g in random_minima(s, cfg.instances, cfg.n_range)]
    with jax.enable_x64(True):
        sgd1, gd = _edges(grams, 1)
        larger = {(b, r): _edges(grams, b, r)[0] for b in (2, 4) for r in (True, False)}
    exp.claim(
        "B = 1: every SGD-stable minimum has eta tr H <= 2 (max over random minima)",
        reference=REF,
        ours=float(np.max(sgd1)),
        baseline=float(np.max(gd)),
        baseline_name="GD edge eta = 2/lambda_max",
        expect=at_most(2.0 * (1 + 1e-6)),
        paper=2.0,
        seeds=exp.seeds,
        note=f"{len(grams)} minima, n in {list(cfg.n_range)}, exact eta*_SGD (critical_lr)",
    )
    for (b, r), values in larger.items():
        exp.control(
            f"B = {b} ({'with' if r else 'without'} replacement): max eta* tr H exceeds 2",
            reference=REF,
            value=float(np.nanmax(values)),
            expect=above(2.0),
            note="the 2/eta trace bound is a batch-size-1 statement",
        )
    exp.record("theorem_eta_trace_b1", sgd1)
    exp.record("theorem_eta_trace_gd_edge", gd)
    exp.record(
        "theorem_eta_trace_max",
        {
            f"B={b},{'with' if r else 'without'}": float(np.nanmax(v))
            for (b, r), v in larger.items()
        },
    )


# ----------------------------------------------------------------------------- B: ReLU


def _sphere(key: jax.Array, n: int, d: int) -> jax.Array:
    z = jax.random.normal(key, (n, d))
    return z / jnp.linalg.norm(z, axis=1, keepdims=True)


def _measure(model, lr: float, *, x, y, x_test, y_test) -> dict[str, float]:
    """Sharpness (Gram route), the SGD stability edge for B = 1, the path norm and test MSE."""
    sharp = sharpness(model, x, y, loss_tol=None)
    gram = gram_matrix(model, x)
    return {
        "trace": float(sharp.trace),
        "lambda_max": float(sharp.lambda_max),
        "frobenius": float(sharp.frobenius),
        "edge_ratio": lr / float(critical_lr(gram, batch_size=1).sgd),
        "rho": float(stability_radius(gram, lr=lr, batch_size=1).value),
        "path_norm": float(data_path_norm(model, x)),
        "test_mse": float(jnp.mean((model(x_test) - y_test) ** 2)),
    }


def _runner(cfg: Config, model0, x, y, key, measure):
    """``run(lr, optimizer) -> row``: train GD (full batch) or SGD (B = 1) from ``model0``,
    then ``measure(model, lr)`` at the minimum when the run converged."""

    def run(lr: float, optimizer: str) -> dict:
        gd = optimizer == "gd"
        model, report = train_to_interpolation(
            model0,
            x,
            y,
            lr=lr,
            batch_size=x.shape[0] if gd else 1,
            replacement=not gd,
            key=key,
            loss_tol=cfg.loss_tol,
            patience=cfg.patience,
            max_epochs=cfg.max_epochs,
        )
        row = dict(optimizer=optimizer, lr=lr, converged=bool(report.converged))
        row.update(diverged=bool(report.diverged), epochs=int(report.epochs))
        return row | (measure(model, lr) if row["converged"] else {})

    return run


def _sweep(cfg: Config, calibration_lr: float, run) -> list[dict]:
    """The calibration GD run, then GD and SGD at ``2 / eta = lambda^(1-q) t^q`` for each q."""
    calibration = run(calibration_lr, "gd")
    low, high = np.log(calibration["lambda_max"]), np.log(calibration["trace"])
    rows = [calibration | {"optimizer": "gd-calibration"}]
    for q in cfg.grid:
        lr = float(2.0 / np.exp(low + q * (high - low)))
        rows += [run(lr, "gd") | {"q": q}, run(lr, "sgd") | {"q": q}]
    return rows


def relu_seed(cfg: Config, seed: int) -> list[dict]:
    """All two-layer ReLU runs of one seed."""
    keys = jax.random.split(jax.random.PRNGKey(seed), 5)
    x, teacher = _sphere(keys[0], cfg.n_train, cfg.dim), _sphere(keys[1], 3, cfg.dim)
    x_test = _sphere(keys[2], cfg.n_test, cfg.dim)
    y, y_test = (jax.nn.relu(v @ teacher.T).sum(1) for v in (x, x_test))
    model0 = TwoLayerReLU(cfg.dim, cfg.width, rngs=nnx.Rngs(seed))
    measure = functools.partial(_measure, x=x, y=y, x_test=x_test, y_test=y_test)
    return _sweep(cfg, cfg.calibration_lr, _runner(cfg, model0, x, y, keys[3], measure))


def _converged(rows: list[dict], optimizer: str) -> list[dict]:
    return [r for r in rows if r["optimizer"] == optimizer and r["converged"]]


def _pooled_max(per_seed: list[list[dict]], optimizer: str, fn) -> float:
    values = [fn(r) for rows in per_seed for r in _converged(rows, optimizer)]
    return float(np.max(values)) if values else float("nan")


def _largest_common(rows: list[dict]) -> tuple[dict, dict] | None:
    """GD and SGD rows at the largest eta of the grid where both converged."""
    by_lr = {}
    for r in rows:
        if r["optimizer"] in ("gd", "sgd") and r["converged"]:
            by_lr.setdefault(r["lr"], {})[r["optimizer"]] = r
    common = [lr for lr, pair in by_lr.items() if len(pair) == 2]
    return None if not common else (by_lr[max(common)]["gd"], by_lr[max(common)]["sgd"])


def relu_claims(exp: experiment.Experiment, per_seed: list[list[dict]]) -> None:
    eta_tr = lambda r: r["lr"] * r["trace"]  # noqa: E731
    eta_lmax = lambda r: r["lr"] * r["lambda_max"]  # noqa: E731
    exp.claim(
        "converged SGD (B = 1) minima: eta tr H <= 2.1 (max over runs)",
        reference=REF,
        ours=_pooled_max(per_seed, "sgd", eta_tr),
        baseline=_pooled_max(per_seed, "gd", eta_tr),
        baseline_name="GD",
        expect=at_most(2.1),
        seeds=exp.seeds,
    )
    exp.claim(
        "converged SGD minima are SGD-stable: eta / eta*_SGD <= 1.05 (max over runs)",
        reference="Sec. 3 (Wu et al. 2018)",
        ours=_pooled_max(per_seed, "sgd", lambda r: r["edge_ratio"]),
        baseline=_pooled_max(per_seed, "gd", lambda r: r["edge_ratio"]),
        baseline_name="GD minima",
        expect=at_most(1.05),
        seeds=exp.seeds,
        note="eta <= eta*_SGD iff rho(T) <= 1; rho(T) itself is in metrics.relu_runs",
    )
    exp.claim(
        "converged GD minima: eta lambda_max <= 2.1 (max over runs)",
        reference=REF,
        ours=_pooled_max(per_seed, "gd", eta_lmax),
        baseline=_pooled_max(per_seed, "sgd", eta_lmax),
        baseline_name="SGD",
        expect=at_most(2.1),
        seeds=exp.seeds,
    )
    pairs = [_largest_common(rows) for rows in per_seed]
    gd = [p[0] if p else None for p in pairs]
    sgd = [p[1] if p else None for p in pairs]
    nan = float("nan")
    exp.claim(
        "GD's minimum violates SGD's bound: eta tr H > 2 (largest eta both converge)",
        reference=REF,
        ours=[eta_tr(r) if r else nan for r in gd],
        baseline=[eta_tr(r) if r else nan for r in sgd],
        baseline_name="SGD",
        expect=above(2.0),
    )
    exp.claim(
        "SGD's minimum is flatter than GD's: tr H (largest eta both converge)",
        reference=REF,
        ours=[r["trace"] if r else nan for r in sgd],
        baseline=[r["trace"] if r else nan for r in gd],
        baseline_name="GD",
        expect=below(BASELINE),
    )
    exp.claim(
        "larger eta, flatter SGD minimum: max tr H(eta_next) / tr H(eta) over the grid",
        reference="abstract (Sec. 5)",
        ours=[_steepest_step(_converged(rows, "sgd")) for rows in per_seed],
        expect=below(1.0),
        note="ratio of consecutive converged SGD runs, eta increasing; < 1 means monotone",
    )
    ratio = [r["trace"] / (2 * r["path_norm"]) for rows in per_seed for r in rows if r["converged"]]
    exp.record("relu_trace_over_2_path_norm", {"min": min(ratio), "max": max(ratio)})
    exp.record("relu_runs", per_seed)


def _steepest_step(rows: list[dict]) -> float:
    rows = sorted(rows, key=lambda r: r["lr"])
    ratios = [b["trace"] / a["trace"] for a, b in zip(rows, rows[1:], strict=False)]
    return float(max(ratios)) if ratios else float("nan")


def generalization_claim(exp: experiment.Experiment, per_seed: list[list[dict]]) -> None:
    pairs = [_largest_common(rows) for rows in per_seed]
    nan = float("nan")
    exp.claim(
        "SGD generalises better than GD: test MSE (largest eta both converge)",
        reference="abstract (Sec. 4-5)",
        ours=[p[1]["test_mse"] if p else nan for p in pairs],
        baseline=[p[0]["test_mse"] if p else nan for p in pairs],
        baseline_name="GD",
        expect=below(BASELINE),
    )


# ----------------------------------------------------------------------------- C: DLN


def diagonal_seed(cfg: Config, seed: int) -> list[dict]:
    """All diagonal-linear-network runs of one seed (3-sparse beta* with +-1 entries)."""
    keys = jax.random.split(jax.random.PRNGKey(1000 + seed), 4)
    beta_star = jnp.zeros(cfg.dln_dim).at[:3].set(jnp.sign(jax.random.normal(keys[0], (3,))))
    x = jax.random.normal(keys[1], (cfg.dln_n, cfg.dln_dim))
    x_test = jax.random.normal(keys[2], (cfg.n_test, cfg.dln_dim))
    y, y_test = x @ beta_star, x_test @ beta_star

    def measure(model, lr):
        sharp = sharpness(model, x, y, loss_tol=None)
        return dict(
            trace=float(sharp.trace),
            lambda_max=float(sharp.lambda_max),
            edge_ratio=lr / float(critical_lr(gram_matrix(model, x), batch_size=1).sgd),
            weighted_l1=float(weighted_l1(model, x)),
            l1=float(jnp.abs(model.beta()).sum()),
            test_mse=float(jnp.mean((model(x_test) - y_test) ** 2)),
        )

    model0 = DiagonalLinearNet(cfg.dln_dim, init_scale=cfg.dln_init)
    return _sweep(cfg, cfg.dln_lr, _runner(cfg, model0, x, y, keys[3], measure))


def diagonal_claims(exp: experiment.Experiment, per_seed: list[list[dict]]) -> None:
    exp.claim(
        "diagonal net, converged SGD: eta sum_j s_j |beta_j| <= 0.5 * 1.05 (max over runs)",
        reference="Sec. 4 (diagonal linear networks)",
        ours=_pooled_max(per_seed, "sgd", lambda r: r["lr"] * r["weighted_l1"]),
        baseline=_pooled_max(per_seed, "gd", lambda r: r["lr"] * r["weighted_l1"]),
        baseline_name="GD",
        expect=at_most(0.5 * 1.05),
        seeds=exp.seeds,
    )
    pairs = [_largest_common(rows) for rows in per_seed]
    nan = float("nan")
    exp.claim(
        "diagonal net: SGD's ||beta||_1 below GD's (largest eta both converge)",
        reference="Sec. 4 (diagonal linear networks)",
        ours=[p[1]["l1"] if p else nan for p in pairs],
        baseline=[p[0]["l1"] if p else nan for p in pairs],
        baseline_name="GD",
        expect=below(BASELINE),
    )
    exp.record("diagonal_runs", per_seed)


# ----------------------------------------------------------------------------- figures


# (key, title, scale by eta?, the stability bound on the plotted quantity or None)
RELU_PANELS = (
    ("lambda_max", "eta lambda_max(H)  (GD-stable: <= 2)", True, 2.0),
    ("trace", "eta tr H  (SGD-stable, B = 1: <= 2)", True, 2.0),
    ("frobenius", "eta ||H||_F", True, None),
    ("edge_ratio", "eta / eta*_SGD  (SGD-stable: <= 1)", False, 1.0),
    ("path_norm", "eta x data path norm  (<= eta tr H / 2)", True, 1.0),
    ("test_mse", "test MSE (train loss < 1e-6)", False, None),
)
DIAGONAL_PANELS = (
    ("lambda_max", "eta lambda_max(H)  (GD-stable: <= 2)", True, 2.0),
    ("trace", "eta tr H  (SGD-stable, B = 1: <= 2)", True, 2.0),
    ("edge_ratio", "eta / eta*_SGD  (SGD-stable: <= 1)", False, 1.0),
    ("weighted_l1", "eta sum_j s_j |beta_j|  (<= eta tr H / 4)", True, 0.5),
    ("l1", "||beta||_1  (beta*: 3)", False, 3.0),
    ("test_mse", "test MSE (train loss < 1e-6)", False, None),
)


def _log_x(ax, values, ticks=None) -> None:
    """A log x axis with plainly labelled ticks (matplotlib crowds sub-decade ranges)."""
    from matplotlib.ticker import NullFormatter

    ticks = np.geomspace(np.min(values), np.max(values), 4) if ticks is None else ticks
    ax.set_xscale("log")
    ax.set_xticks(ticks, [f"{t:.2g}" for t in ticks])
    ax.xaxis.set_minor_formatter(NullFormatter())


def sweep_figure(exp: experiment.Experiment, per_seed: list[list[dict]], panels, name: str):
    """Each measure at the converged minima against eta: GD and SGD, one line per seed."""
    fig, axes = experiment.new_figure(2, 3, size=(3.6, 3.0))
    axes = axes.ravel()
    colors = {"gd": "tab:blue", "sgd": "tab:orange"}
    for ax, (key, title, scaled, bound) in zip(axes, panels, strict=True):
        for optimizer, marker in (("gd", "s"), ("sgd", "o")):
            for i, rows in enumerate(per_seed):
                done = sorted(_converged(rows, optimizer), key=lambda r: r["lr"])
                lrs = np.array([r["lr"] for r in done])
                values = np.array([r[key] for r in done]) * (lrs if scaled else 1.0)
                label = f"{optimizer.upper()} (converged runs)" if i == 0 else None
                ax.plot(lrs, values, marker=marker, color=colors[optimizer], lw=0.8, ms=4,
                        alpha=0.8, label=label)  # fmt: skip
        if bound is not None:
            ax.axhline(bound, color="k", ls="--", lw=1)
        _log_x(
            ax, [r["lr"] for rows in per_seed for r in rows if r["optimizer"] != "gd-calibration"]
        )
        ax.set_xlabel("learning rate eta")
        ax.set_title(title, fontsize=8)
    axes[-1].legend(fontsize=7)
    fig.tight_layout()
    exp.save_figure(fig, name)


def theorem_figure(exp: experiment.Experiment) -> None:
    sgd, gd = exp.metrics["theorem_eta_trace_b1"], exp.metrics["theorem_eta_trace_gd_edge"]
    fig, ax = experiment.new_figure(size=(5.0, 3.2))
    bins = np.geomspace(min(sgd), max(gd), 80)
    ax.hist(sgd, bins=bins, alpha=0.7, label="SGD edge eta*_SGD, B = 1")
    ax.hist(gd, bins=bins, alpha=0.5, label="GD edge 2 / lambda_max(H)")
    ax.axvline(2.0, color="k", ls="--", lw=1, label="2 (Wu & Su)")
    _log_x(ax, sgd, ticks=(0.2, 0.5, 1.0, 2.0, 5.0))
    ax.set(xlabel="eta* tr H at the edge of stability", ylabel="random minima")
    ax.legend(fontsize=8)
    exp.save_figure(fig, "theorem_check")


# ----------------------------------------------------------------------------- main


def main(argv: Sequence[str] | None = None) -> int:
    args = experiment.parse_args(__doc__, argv, default_out="results/sgd-stability")
    cfg = Config(**QUICK) if args.quick else Config()
    exp = experiment.Experiment(
        "sgd-stability",
        paper=PAPER,
        args=args,
        seeds=cfg.seeds,
        quick_differences=(
            "2 seeds; 200 random minima with n in [3, 8]; ReLU d = 5, n = 20, width 50, eta grid "
            "q = 0.9, 1.0, at most 20000 epochs; no generalisation or diagonal-network claims, no "
            "figures"
        ),
    )
    with exp.section("A. the theorem on random minima (exact eta*_SGD)"):
        theorem_check(exp, cfg)
    with exp.section("B. two-layer ReLU: SGD vs GD on an eta grid"):
        relu = [relu_seed(cfg, s) for s in experiment.progress(exp.seeds, desc="seeds")]
        relu_claims(exp, relu)
    if cfg.diagonal:
        with exp.section("C. generalisation and the diagonal linear network"):
            generalization_claim(exp, relu)
            dln = [diagonal_seed(cfg, s) for s in experiment.progress(exp.seeds, desc="seeds")]
            diagonal_claims(exp, dln)
            theorem_figure(exp)
            sweep_figure(exp, relu, RELU_PANELS, "relu_sweep")
            sweep_figure(exp, dln, DIAGONAL_PANELS, "diagonal_sweep")
    return exp.finish()


if __name__ == "__main__":
    raise SystemExit(main())
