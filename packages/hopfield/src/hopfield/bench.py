"""Benchmarks of hopfield against its baselines, measured in one run (ratios, never asserts).

1. ``Hopfield`` (update_steps_max=0) vs ``flax.linen.MultiHeadDotProductAttention`` at equal
   shapes (B=32, N=S=256, d=64, 4 heads): forward and forward+backward. The Hopfield layer is
   timed with hflayers' default LayerNorms and without them (then it is the same math as MHA).
2. Retrieval from 10^5 stored patterns (d=64, 1024 queries): one dense ``update`` vs the
   chunked, memory-bounded ``update(..., chunk_size=...)``; queries/s and XLA temp memory.
3. Iterated updates (``update_steps_max`` in {0, 1, 3, None}): layer cost, and for the pure
   ``retrieve`` on correlated digit images (half the pixels erased) the distance to the stored
   image after 1, 2, 4 updates and at convergence.
4. ``hflayers`` (PyTorch) is timed only if torch and hflayers are installed.
"""

from __future__ import annotations

import importlib.util

import flax.linen as linen
import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from jaxpapers_shared import timing

from ._digits import load_digits
from ._layers import Hopfield
from ._memory import retrieve, update

NO_NORMS = dict(
    normalize_stored_pattern=False,
    normalize_stored_pattern_affine=False,
    normalize_state_pattern=False,
    normalize_state_pattern_affine=False,
    normalize_pattern_projection=False,
    normalize_pattern_projection_affine=False,
)


def _layer_fns(layer):
    graphdef, params, rest = nnx.split(layer, nnx.Param, ...)

    def forward(params, x):
        return nnx.merge(graphdef, params, rest)(x)

    grad = jax.grad(lambda p, x: jnp.sum(forward(p, x)))
    return jax.jit(forward), jax.jit(grad), params


def bench_layers(batch=32, length=256, dim=64, heads=4):
    x = jax.random.normal(jax.random.PRNGKey(0), (batch, length, dim))
    mha = linen.MultiHeadDotProductAttention(num_heads=heads, qkv_features=dim, out_features=dim)
    mha_params = mha.init(jax.random.PRNGKey(1), x)
    mha_fwd = jax.jit(lambda p, x: mha.apply(p, x))
    mha_grad = jax.jit(jax.grad(lambda p, x: jnp.sum(mha.apply(p, x))))
    base_f = timing.time_fn(mha_fwd, mha_params, x)
    base_b = timing.time_fn(mha_grad, mha_params, x)
    rows = [["linen MultiHeadDotProductAttention", 1e3 * base_f, 1.0, 1e3 * base_b, 1.0]]
    for name, kwargs in (
        ("Hopfield (hflayers defaults: 3 LayerNorms)", {}),
        ("Hopfield (no LayerNorms: same math as MHA)", NO_NORMS),
        ("Hopfield, update_steps_max=1", {"update_steps_max": 1}),
        ("Hopfield, update_steps_max=3", {"update_steps_max": 3}),
        ("Hopfield, update_steps_max=None", {"update_steps_max": None}),
    ):
        layer = Hopfield(dim, num_heads=heads, rngs=nnx.Rngs(0), **kwargs)
        fwd, grad, params = _layer_fns(layer)
        f = timing.time_fn(fwd, params, x)
        b = (
            timing.time_fn(grad, params, x)
            if kwargs.get("update_steps_max", 0) is not None
            else None
        )
        rows.append(
            [
                name,
                1e3 * f,
                f / base_f,
                "-" if b is None else 1e3 * b,
                "-" if b is None else b / base_b,
            ]
        )
    header = ["layer (B=32, N=S=256, d=64, 4 heads)", "fwd ms", "fwd ratio", "fwd+bwd ms", "ratio"]
    return timing.format_table(header, rows)


def bench_retrieval(num_stored=100_000, dim=64, num_queries=1024, chunk_size=8192):
    kx, kq = jax.random.split(jax.random.PRNGKey(2))
    patterns = jax.random.normal(kx, (num_stored, dim)) / np.sqrt(dim)
    queries = jax.random.normal(kq, (num_queries, dim)) / np.sqrt(dim)

    def dense(q, x):
        return update(q, x, 8.0)

    def chunked(q, x):
        return update(q, x, 8.0, chunk_size=chunk_size)

    rows = []
    reference = None
    for name, fn in (
        ("dense update (one matmul + softmax)", dense),
        (f"chunked update ({chunk_size})", chunked),
    ):
        jitted = jax.jit(fn)
        seconds = timing.time_fn(jitted, queries, patterns, repeat=3)
        memory = timing.compiled_memory(fn, queries, patterns)
        out = jitted(queries, patterns)
        reference = out if reference is None else reference
        rows.append(
            [
                name,
                num_queries / seconds,
                memory["temp"] / 2**20,
                float(jnp.max(jnp.abs(out - reference))),
            ]
        )
    header = ["retrieval, N=1e5, d=64, 1024 queries", "queries/s", "XLA temp MiB", "max abs diff"]
    return timing.format_table(header, rows)


def bench_iterations(num_stored=1000, beta=2.0):
    images = load_digits()[0][:num_stored] / 16.0
    patterns = jnp.asarray(images)
    rng = np.random.default_rng(0)
    erase = rng.random(patterns.shape) < 0.5
    queries = jnp.where(erase, 0.0, patterns)[:200]
    targets = patterns[:200]
    rows = []
    for steps in (1, 2, 4, 200):
        res = retrieve(queries, patterns, beta, max_steps=steps, tol=1e-4)
        fn = jax.jit(lambda q, x, s=steps: retrieve(q, x, beta, max_steps=s, tol=1e-4).state)
        seconds = timing.time_fn(fn, queries, patterns, repeat=3)
        error = float(jnp.mean(jnp.linalg.norm(res.state - targets, axis=-1)))
        label = f"{steps}" if steps < 200 else "until converged (<= 200)"
        rows.append([label, float(jnp.mean(res.steps)), 1e3 * seconds, error])
    header = [
        "updates (digits, beta=2, 50% erased)",
        "mean steps",
        "ms",
        "mean L2 error to stored image",
    ]
    return timing.format_table(header, rows)


def main() -> None:
    print(f"device: {jax.devices()[0].device_kind}, jax {jax.__version__}\n")
    print(bench_layers(), end="\n\n")
    print(bench_retrieval(), end="\n\n")
    print(bench_iterations(), end="\n\n")
    if not (importlib.util.find_spec("torch") and importlib.util.find_spec("hflayers")):
        print("hflayers row skipped: torch and hflayers are not installed.")


if __name__ == "__main__":
    main()
