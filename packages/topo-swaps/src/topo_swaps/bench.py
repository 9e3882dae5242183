"""Benchmarks: candidates refit per second, vectorised (vmap) vs a loop of span lstsq refits."""

from __future__ import annotations

import time

import jax
import numpy as np

from jaxpapers_shared import timing

from . import _inner
from ._order import swap_order
from ._sem import simulate_dag, simulate_linear_sem, simulate_parameter
from ._topo import fit_given_order, refit_span


def main() -> None:
    rows = []
    for d in (20, 50):
        k1, k2, k3 = jax.random.split(jax.random.key(d), 3)
        X = simulate_linear_sem(k3, simulate_parameter(k2, simulate_dag(k1, d, 2 * d)), 1000)
        order = np.arange(d)
        pairs = np.array([(i, j) for i in range(d) for j in range(i)])[: 4 * d]
        with jax.enable_x64(True):
            C = _inner.gram(X - X.mean(0))
            t_vec = timing.time_fn(lambda c, p, q: _inner.swap_scores(c, p, q), C, order, pairs)
        W = fit_given_order(X, order)
        t0 = time.perf_counter()
        for i, j in pairs:
            refit_span(X, W, order, swap_order(order, (i, j)), (i, j))
        t_loop = time.perf_counter() - t0
        rows.append([d, len(pairs) / t_vec, len(pairs) / t_loop, t_loop / t_vec])
    print(timing.format_table(["d", "vmap cand/s", "loop cand/s", "speed-up"], rows))


if __name__ == "__main__":
    main()
