"""Benchmarks of comp-sum-losses, measured in one run (time ratios; asserts nothing).

``python -m comp_sum_losses.bench [--quick]``.

1. Loss value + gradient w.r.t. the logits of a (B, n) batch, B = 4096, n = 100 (quick: 512 x
   10). Baseline: ``optax.softmax_cross_entropy_with_integer_labels``. Against it: the comp-sum
   loss at tau = 0, 1, 1.5 (generalized cross-entropy, q = 0.5) and 2 (MAE), and a naive
   ``(softmax_y^(tau-1) - 1) / (1 - tau)`` at tau = 1.5 (what a hand-written GCE computes).
2. One adversarial training step (batch 64 digits-sized inputs, 2 x 128 MLP, PGD-10): the
   smooth adversarial comp-sum loss against TRADES with the same PGD steps (baseline) and
   PGD-AT.
3. ``bound_gamma`` (60 bisection steps) on 10^5 surrogate regrets.

Times are medians of compiled, warm calls on the same inputs (``timing.compare``, interleaved).
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import optax

from jaxpapers_shared import experiment, timing

from ._adversarial import MLP, adversarial_loss, init_mlp
from ._bounds import bound_gamma
from ._losses import comp_sum_loss


def _naive(logits, labels, tau):
    p_y = jax.nn.softmax(logits)[jnp.arange(labels.shape[0]), labels]
    return (p_y ** (tau - 1.0) - 1.0) / (1.0 - tau)


def bench_losses(batch: int, classes: int) -> list[list]:
    logits = jax.random.normal(jax.random.PRNGKey(0), (batch, classes)) * 3.0
    labels = jax.random.randint(jax.random.PRNGKey(1), (batch,), 0, classes)
    losses = {
        "optax softmax CE": optax.softmax_cross_entropy_with_integer_labels,
        "comp-sum tau=1 (CE)": lambda z, y: comp_sum_loss(z, y, 1.0),
        "comp-sum tau=0 (sum-exp)": lambda z, y: comp_sum_loss(z, y, 0.0),
        "comp-sum tau=1.5 (GCE q=0.5)": lambda z, y: comp_sum_loss(z, y, 1.5),
        "comp-sum tau=2 (MAE)": lambda z, y: comp_sum_loss(z, y, 2.0),
        "naive softmax power tau=1.5": lambda z, y: _naive(z, y, 1.5),
    }
    fns = {
        name: jax.jit(jax.value_and_grad(lambda z, y, f=f: jnp.mean(f(z, y))))
        for name, f in losses.items()
    }
    seconds = timing.compare(fns, logits, labels, rounds=3, repeat=5)
    base = seconds["optax softmax CE"]
    return [[name, 1e3 * t, t / base, batch / t / 1e6] for name, t in seconds.items()]


def bench_adversarial(steps: int = 10) -> list[list]:
    params = init_mlp(jax.random.PRNGKey(0), [64, 128, 128, 10])
    x = jax.random.uniform(jax.random.PRNGKey(1), (64, 64))
    y = jax.random.randint(jax.random.PRNGKey(2), (64,), 0, 10)
    key = jax.random.PRNGKey(3)
    methods = {
        "TRADES (beta=6)": adversarial_loss("trades", MLP, beta=6.0, eps=0.1, steps=steps),
        "ADV-COMP-SUM (tau=1, nu=0.3)": adversarial_loss(
            "adv-comp-sum", MLP, tau=1.0, nu=0.3, eps=0.1, steps=steps
        ),
        "PGD-AT": adversarial_loss("pgd-at", MLP, eps=0.1, steps=steps),
        "standard CE (no attack)": adversarial_loss("standard", MLP),
    }
    fns = {name: jax.jit(jax.grad(loss)) for name, loss in methods.items()}
    seconds = timing.compare(fns, params, x, y, key, rounds=3, repeat=5)
    base = seconds["TRADES (beta=6)"]
    return [[name, 1e3 * t, t / base] for name, t in seconds.items()]


def main(argv: Sequence[str] | None = None) -> None:
    args = experiment.parse_bench_args(__doc__, argv)
    batch, classes = (512, 10) if args.quick else (4096, 100)
    print(f"\nLoss value + gradient, batch {batch} x {classes} classes\n")
    header = ["loss", "ms", "time / optax CE", "M examples / s"]
    print(timing.format_table(header, bench_losses(batch, classes)))
    steps = 3 if args.quick else 10
    print(f"\nOne adversarial training gradient, batch 64, 2 x 128 MLP, PGD-{steps}\n")
    print(timing.format_table(["loss", "ms", "time / TRADES"], bench_adversarial(steps)))
    count = 10_000 if args.quick else 100_000
    eps = jnp.linspace(0.0, 0.5, count)
    fns = {
        f"tau={t:g}": jax.jit(lambda e, t=t: bound_gamma(t, e, 10)) for t in (0.0, 1.0, 1.5, 2.0)
    }
    seconds = timing.compare(fns, eps, rounds=3, repeat=3)
    print(f"\nGamma_tau by bisection on {count} regrets, n = 10\n")
    rows = [[name, 1e3 * t, count / t / 1e6] for name, t in seconds.items()]
    print(timing.format_table(["tau", "ms", "M values / s"], rows))


if __name__ == "__main__":
    main()
