"""Benchmarks of batch-size-lr, measured in one run (ratios, never asserts).

``python -m batch_size_lr.bench [--quick]``.

1. The Lanczos learner's cost per training step against a plain ``optax.sgd`` heavy-ball step
   (MLP 40-128-128-10, batch 64, MNIST-1D): with an estimate at every step (20 Lanczos steps on a
   batch of 256) and amortised over one epoch (an estimate every 62 steps), both as compiled
   scans over the same batches.
2. One Hessian-vector product against one gradient on the same batch.
3. The spectral density of a 2698-parameter MLP's Hessian (40-32-32-10, 1000 examples): SLQ
   (8 probes x 30 Lanczos steps) against the dense Hessian and its eigendecomposition; time and
   the Wasserstein-1 distance between the two densities, and the error of the top eigenvalue.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx
from jax.flatten_util import ravel_pytree

from jaxpapers_shared import curvature, experiment, timing

from ._data import mnist1d
from ._learner import lanczos_lr_momentum
from ._models import MLP, SplitLoss, functional
from ._stability import batch_order


def _training_scan(loss, optimizer, learner: bool):
    @jax.jit
    def run(params, x, y, order, curv):
        def step(carry, idx):
            p, state = carry
            grads = jax.grad(loss)(p, x[idx[0]], y[idx[0]])
            extra = {"batch": (x[idx[1]], y[idx[1]])} if learner else {}
            updates, state = optimizer.update(grads, state, p, **extra)
            return (optax.apply_updates(p, updates), state), None

        return jax.lax.scan(step, (params, optimizer.init(params)), (order, curv))[0][0]

    return run


def learner_cost(quick: bool) -> list[list]:
    data = mnist1d()
    x, y = jnp.asarray(data.x), jnp.asarray(data.y)
    apply_fn, params = functional(MLP((40, 128, 128, 10), rngs=nnx.Rngs(0)))
    loss = SplitLoss(apply_fn)
    steps = 62  # one epoch of 4000 examples at batch 64
    key = jax.random.PRNGKey(0)
    order = batch_order(key, x.shape[0], 64, steps)
    curv = jax.random.randint(jax.random.fold_in(key, 1), (steps, 256), 0, x.shape[0])
    fns = {
        "optax.sgd(momentum=0.9)": _training_scan(loss, optax.sgd(0.05, momentum=0.9), False),
        "learner, estimate every step": _training_scan(
            loss, lanczos_lr_momentum(loss, interval=1, order=20), True
        ),
        "learner, estimate every 62 steps": _training_scan(
            loss, lanczos_lr_momentum(loss, interval=steps, order=20), True
        ),
    }
    times = timing.compare(fns, params, x, y, order, curv, rounds=1 if quick else 3)
    base = times["optax.sgd(momentum=0.9)"]
    return [[name, 1e3 * t / steps, t / base] for name, t in times.items()]


def hvp_cost(quick: bool) -> list[list]:
    data = mnist1d()
    x, y = jnp.asarray(data.x[:256]), jnp.asarray(data.y[:256])
    apply_fn, params = functional(MLP((40, 128, 128, 10), rngs=nnx.Rngs(0)))
    loss = SplitLoss(apply_fn)
    v = jax.tree.map(jnp.ones_like, params)
    fns = {
        "gradient": jax.jit(lambda p: jax.grad(loss)(p, x, y)),
        "Hessian-vector product": jax.jit(lambda p: curvature.hvp(loss, p, x, y)(v)),
    }
    times = timing.compare(fns, params, rounds=1 if quick else 3)
    return [[name, 1e3 * t, t / times["gradient"]] for name, t in times.items()]


def density_cost(quick: bool) -> tuple[list[list], dict]:
    from scipy.stats import wasserstein_distance

    data = mnist1d(num_samples=1250)  # 1000 training examples
    x, y = jnp.asarray(data.x), jnp.asarray(data.y)
    apply_fn, params = functional(MLP((40, 32, 32, 10), rngs=nnx.Rngs(0)))
    loss = SplitLoss(apply_fn)
    flat, unravel = ravel_pytree(params)
    key = jax.random.PRNGKey(0)

    @jax.jit
    def dense(flat):
        return jnp.linalg.eigvalsh(jax.hessian(lambda f: loss(unravel(f), x, y))(flat))

    @functools.partial(jax.jit, static_argnames="reorthogonalize")
    def slq(flat, reorthogonalize=True):
        density = curvature.slq_density(curvature.hvp(loss, unravel(flat), x, y), key,
                                        unravel(flat), order=30, num_probes=8,
                                        reorthogonalize=reorthogonalize)  # fmt: skip
        return density.nodes, density.weights

    # The dense side takes seconds per call: one timed call after the warm-up.
    times = {
        "dense Hessian + eigh": timing.time_fn(dense, flat, repeat=1, number=1),
        "SLQ 8 x 30": timing.time_fn(slq, flat, repeat=3),
    }
    eigs = np.asarray(dense(flat), np.float64)
    nodes, weights = (np.asarray(a, np.float64) for a in slq(flat))
    w1 = wasserstein_distance(eigs, nodes.ravel(), None, weights.ravel() / weights.sum())
    top_err = abs(nodes.max() - eigs.max()) / abs(eigs.max())
    spread = eigs.max() - eigs.min()
    base = times["dense Hessian + eigh"]
    rows = [[name, 1e3 * t, t / base] for name, t in times.items()]
    stats = {"params": int(flat.size), "w1": w1, "w1_over_range": w1 / spread, "top_rel": top_err}
    return rows, stats


def main(argv: Sequence[str] | None = None) -> None:
    args = experiment.parse_bench_args(__doc__, argv)
    print("## Lanczos learner vs plain optax (per training step, MLP 40-128-128-10, batch 64)")
    print(timing.format_table(["optimizer", "ms / step", "x optax"], learner_cost(args.quick)))
    print("\n## Hessian-vector product vs gradient (batch 256)")
    print(timing.format_table(["what", "ms", "x gradient"], hvp_cost(args.quick)))
    rows, stats = density_cost(args.quick)
    print(f"\n## Spectral density, {stats['params']} parameters, 1000 examples")
    print(timing.format_table(["method", "ms", "x dense"], rows))
    print(
        f"\nWasserstein-1(SLQ, dense eigenvalues) = {stats['w1']:.4g} "
        f"({100 * stats['w1_over_range']:.2f}% of the spectrum's range); "
        f"top eigenvalue relative error {stats['top_rel']:.2g}"
    )


if __name__ == "__main__":
    main()
