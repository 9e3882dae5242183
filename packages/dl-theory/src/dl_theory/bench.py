"""Benchmarks of dl-theory, measured in one run (time ratios; asserts nothing).

``python -m dl_theory.bench [--quick]``.

1. Same accuracy: the excess-kurtosis ratio ``r`` of critical ReLU and tanh networks at width
   128 and depth 7 (quick: 64, 5), to a 5% relative standard error. Analytic: one call of
   ``kurtosis_prediction`` (the kernel and four-point recursions; no error at all at leading
   order). Monte Carlo: networks needed for a 5% error, from the standard error measured on a
   pilot ensemble, times the measured seconds per network, for the Rao-Blackwellized estimator
   and for raw fourth moments (the statistical efficiency of the estimator).
2. Ensemble sampler throughput (networks/s), n = 128, L = 8 (quick: 64, 4), ReLU: the exact
   Gram-matrix sampler (``method="conditional"``) vs explicit weight matrices in ``vmap``
   chunks (``method="weights"``) vs a Python loop over networks calling one compiled
   network at a time. Compile time is excluded (each is warmed up first); the two ``O(n^2)``
   samplers run 1/16 of the networks and their time is scaled per network.
3. The recursion's Gaussian expectations, ReLU, two correlated inputs, 100 layers: the
   arc-cosine closed form vs the same ReLU through 128 x 128-node Gauss-Hermite quadrature
   (time and error: the kink makes quadrature converge slowly off the diagonal; single-input
   ReLU moments are exact under the symmetric rule).
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jaxpapers_shared import experiment, timing

from ._activations import RELU, TANH, Activation
from ._ensemble import finite_width_statistics, sample_mlp_ensemble
from ._recursions import kernel_recursion, kurtosis_prediction


def _seconds(fn, repeat: int = 3) -> float:
    fn()  # warm-up (compiles)
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return float(np.median(samples))


def same_accuracy(width: int, depth: int, pilot: int) -> list[list]:
    x = np.ones(16)
    rows = []
    for act, C_W in ((RELU, 2.0), (TANH, 1.0)):
        analytic = _seconds(
            lambda act=act, C_W=C_W: kurtosis_prediction(
                act, width=width, depth=depth, C_b=0.0, C_W=C_W, x=x
            )
        )
        r_theory = float(
            kurtosis_prediction(act, width=width, depth=depth, C_b=0.0, C_W=C_W, x=x)[-1]
        )

        def run(act=act, C_W=C_W, seed=0):
            return sample_mlp_ensemble(jax.random.PRNGKey(seed), act, width=width, depth=depth,
                                       C_b=0.0, C_W=C_W, num_nets=pilot, x=x, chunk=1024,
                                       track_gradients=False)  # fmt: skip

        per_net = _seconds(run) / pilot
        samples = run(seed=1)
        rows.append([act.name, "analytic recursion", f"{r_theory:.4f}", "-", 1e3 * analytic, 1.0])
        for estimator in ("rao_blackwell", "raw"):
            st = finite_width_statistics(samples, estimator=estimator)
            needed = pilot * (st.r_stderr / (0.05 * st.r)) ** 2
            t = needed * per_net
            rows.append([act.name, f"Monte Carlo, {estimator}", f"{st.r:.4f}", int(needed),
                         1e3 * t, t / analytic])  # fmt: skip
    return rows


def throughput(width: int, depth: int, nets: int) -> list[list]:
    x = np.ones(16)
    kw = dict(width=width, depth=depth, C_b=0.0, C_W=2.0, x=x, track_gradients=False)
    rows = []
    gram = _seconds(lambda: sample_mlp_ensemble(jax.random.PRNGKey(0), RELU, num_nets=nets,
                                                chunk=min(nets, 1024), **kw))  # fmt: skip
    few = max(nets // 16, 32)  # the O(n^2) samplers: fewer networks, time scaled per network
    weights = _seconds(lambda: sample_mlp_ensemble(jax.random.PRNGKey(0), RELU, num_nets=few,
                                                   method="weights", chunk=32, **kw))  # fmt: skip
    weights *= nets / few

    @jax.jit
    def one_network(key):
        with jax.enable_x64(True):
            h = jnp.asarray(x)
            for i in range(depth):
                kw_, kb = jax.random.split(jax.random.fold_in(key, i))
                n_in = h.shape[0]
                W = jax.random.normal(kw_, (width, n_in), jnp.float64) * jnp.sqrt(2.0 / n_in)
                h = W @ (h if i == 0 else jax.nn.relu(h))
            return jnp.mean(h**2), jnp.mean(h**4)

    loop_nets = few

    def python_loop():
        with jax.enable_x64(True):
            out = [one_network(jax.random.PRNGKey(i)) for i in range(loop_nets)]
            jax.block_until_ready(out)

    loop = _seconds(python_loop) * nets / loop_nets
    for name, t in (("Gram-matrix sampler (vmap chunks)", gram),
                    ("explicit weights (vmap chunks)", weights),
                    ("explicit weights, Python loop over networks", loop)):  # fmt: skip
        rows.append([name, nets / t, t / gram])
    return rows


def quadrature(depth: int) -> list[list]:
    """Two correlated inputs: the arc-cosine closed form vs 128 x 128 bivariate quadrature."""
    relu_gh = Activation("relu (quadrature)", jax.nn.relu)
    x = np.stack([np.ones(16), np.linspace(-0.5, 1.5, 16)])
    kw = dict(depth=depth, C_b=0.1, C_W=1.9, x=x)
    exact = kernel_recursion(RELU, **kw)
    closed = _seconds(lambda: kernel_recursion(RELU, **kw))
    gh = _seconds(lambda: kernel_recursion(relu_gh, **kw))
    err = float(np.max(np.abs(kernel_recursion(relu_gh, **kw) / exact - 1)))
    return [
        ["closed form (arc-cosine kernel)", 1e3 * closed, 1.0, 0.0],
        ["Gauss-Hermite, 128 x 128 nodes", 1e3 * gh, gh / closed, err],
    ]


def main(argv: Sequence[str] | None = None) -> None:
    args = experiment.parse_bench_args(__doc__, argv)
    width, depth, pilot = (64, 5, 2000) if args.quick else (128, 7, 8000)
    print(f"## same accuracy: r at n = {width}, L = {depth}, to a 5% standard error\n")
    print(timing.format_table(
        ["activation", "method", "r", "networks needed", "ms", "time / analytic"],
        same_accuracy(width, depth, pilot),
    ))  # fmt: skip
    width, depth, nets = (64, 4, 512) if args.quick else (128, 8, 4096)
    print(f"\n## ensemble sampler throughput: ReLU, n = {width}, L = {depth}, {nets} networks\n")
    print(timing.format_table(
        ["sampler", "networks / s", "time / Gram sampler"], throughput(width, depth, nets)
    ))  # fmt: skip
    print("\n## Gaussian expectations in the two-input kernel recursion: ReLU, 100 layers\n")
    print(timing.format_table(
        ["expectation", "ms", "time / closed form", "max relative error of K"], quadrature(100)
    ))  # fmt: skip


if __name__ == "__main__":
    main()
