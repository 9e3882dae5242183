"""Times ``hopfield.Hopfield`` against the official PyTorch layer ``hflayers.Hopfield``.

Not part of the package and never imported by it or its tests: PyTorch is no dependency. Run it
from an environment where ``torch`` and the official ``hflayers`` (github.com/ml-jku/
hopfield-layers) import next to this package, e.g. a throw-away one::

    python3 -m venv /tmp/torchenv && /tmp/torchenv/bin/pip install torch \\
        --index-url https://download.pytorch.org/whl/cpu
    git clone https://github.com/ml-jku/hopfield-layers /tmp/hfl
    PYTHONPATH=/tmp/torchenv/lib/python3.11/site-packages:/tmp/hfl \\
        .venv/bin/python packages/hopfield/bench_official.py [--quick]

(torch's site-packages are put on the path of this repository's interpreter; the throw-away
environment must not hold its own numpy). Without torch or hflayers it says so and exits 0.

Both layers get the same parameters (hflayers' defaults: three LayerNorms, biases, output
projection; LayerNorm and bias values drawn away from their initial 1 and 0 so that no two
inputs coincide) and the same inputs: stored patterns (B, N, d) that also serve as pattern
projections, state patterns (B, S, d). Outputs and all parameter gradients of
``sum(output)`` are compared. Forward: ours jitted, theirs under ``torch.no_grad``; forward +
backward: the parameter gradients of ``sum(output)``. "explicit association" is our layer
forced through the path that forms the normalised association matrix (what it did before it
read out ``(e v) / sum(e)``). Every function is run once before timing (our compile time is
reported apart); then the candidates are called in alternation, each keeping its fastest wall
time and fastest process CPU time over the passes, and that round is repeated: ratios are the
median over rounds (range in brackets). Both frameworks use the same 2 threads.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numpy as np

try:
    import hflayers
    import torch
except ImportError as error:  # pragma: no cover - depends on the environment
    print(f"hflayers comparison skipped: {error} (see this file's docstring).")
    sys.exit(0)

import jax
import jax.numpy as jnp
from flax import nnx

import hopfield
from jaxpapers_shared import timing

SIZES = ((32, 128, 1024, 64, 4), (32, 256, 2048, 64, 4), (32, 128, 2048, 128, 8))


def _to_torch(layer: hopfield.Hopfield) -> torch.nn.Module:
    official = hflayers.Hopfield(
        input_size=layer.input_size, num_heads=layer.num_heads, batch_first=True
    )

    def tensor(x):
        return torch.tensor(np.asarray(x))

    with torch.no_grad():
        for ours, theirs in (
            (layer.norm_stored, official.norm_stored_pattern),
            (layer.norm_state, official.norm_state_pattern),
            (layer.norm_projection, official.norm_pattern_projection),
        ):
            theirs.weight.copy_(tensor(ours.scale[...]))
            theirs.bias.copy_(tensor(ours.bias[...]))
        core = official.association_core
        projections = (layer.q_proj, layer.k_proj, layer.v_proj)
        core.in_proj_weight.copy_(
            tensor(jnp.concatenate([p.kernel[...] for p in projections], 1).T)
        )
        core.in_proj_bias.copy_(tensor(jnp.concatenate([p.bias[...] for p in projections])))
        core.out_proj.weight.copy_(tensor(layer.out_proj.kernel[...].T))
        core.out_proj.bias.copy_(tensor(layer.out_proj.bias[...]))
    return official


def _torch_grads_like_ours(official, grads):
    """The official gradients in our parameter layout, next to ours: [(ours, theirs), ...]."""
    core = official.association_core
    w, b = core.in_proj_weight.grad.numpy(), core.in_proj_bias.grad.numpy()
    hd = w.shape[0] // 3
    pairs = [
        (grads["norm_stored"]["scale"], official.norm_stored_pattern.weight.grad),
        (grads["norm_stored"]["bias"], official.norm_stored_pattern.bias.grad),
        (grads["norm_state"]["scale"], official.norm_state_pattern.weight.grad),
        (grads["norm_state"]["bias"], official.norm_state_pattern.bias.grad),
        (grads["norm_projection"]["scale"], official.norm_pattern_projection.weight.grad),
        (grads["norm_projection"]["bias"], official.norm_pattern_projection.bias.grad),
        (grads["out_proj"]["kernel"], core.out_proj.weight.grad.numpy().T),
        (grads["out_proj"]["bias"], core.out_proj.bias.grad),
    ]
    for i, name in enumerate(("q_proj", "k_proj", "v_proj")):
        pairs.append((grads[name]["kernel"], w[i * hd : (i + 1) * hd].T))
        pairs.append((grads[name]["bias"], b[i * hd : (i + 1) * hd]))
    return [(np.asarray(ours[...]), np.asarray(theirs)) for ours, theirs in pairs]


def _best(fns, passes):
    wall = dict.fromkeys(fns, float("inf"))
    cpu = dict.fromkeys(fns, float("inf"))
    for _ in range(passes):
        for name, fn in fns.items():
            start, start_cpu = time.perf_counter(), time.process_time()
            fn()
            cpu[name] = min(cpu[name], time.process_time() - start_cpu)
            wall[name] = min(wall[name], time.perf_counter() - start)
    return wall, cpu


def bench_size(batch, state_count, stored_count, dim, heads, passes, rounds):
    keys = jax.random.split(jax.random.PRNGKey(0), 4)
    stored = jax.random.normal(keys[0], (batch, stored_count, dim))
    state = jax.random.normal(keys[1], (batch, state_count, dim))
    layer = hopfield.Hopfield(dim, num_heads=heads, rngs=nnx.Rngs(0))
    modules = (layer.norm_stored, layer.norm_state, layer.norm_projection)
    for i, module in enumerate(modules):
        k1, k2 = jax.random.split(jax.random.fold_in(keys[2], i))
        module.scale[...] = 1.0 + 0.1 * jax.random.normal(k1, module.scale.shape)
        module.bias[...] = 0.1 * jax.random.normal(k2, module.bias.shape)
    for i, module in enumerate((layer.q_proj, layer.k_proj, layer.v_proj, layer.out_proj)):
        module.bias[...] = 0.1 * jax.random.normal(
            jax.random.fold_in(keys[3], i), (module.bias.shape)
        )
    official = _to_torch(layer)
    t_stored, t_state = torch.tensor(np.asarray(stored)), torch.tensor(np.asarray(state))

    graphdef, params, rest = nnx.split(layer, nnx.Param, ...)

    def forward(p, stored, state, explicit=False):
        out = nnx.merge(graphdef, p, rest)((stored, state, stored), return_association=explicit)
        return out[0] if explicit else out

    def grad(p, stored, state, explicit=False):
        return jax.grad(lambda p: jnp.sum(forward(p, stored, state, explicit)))(p)

    jitted, compile_s = {}, {}
    for name, fn, explicit in (
        ("ours fwd", forward, False),
        ("ours fwd+bwd", grad, False),
        ("explicit fwd", forward, True),
        ("explicit fwd+bwd", grad, True),
    ):
        start = time.perf_counter()
        jitted[name] = (
            jax.jit(fn, static_argnums=3).lower(params, stored, state, explicit).compile()
        )
        compile_s[name] = time.perf_counter() - start

    def torch_forward():
        with torch.no_grad():
            return official((t_stored, t_state, t_stored))

    def torch_grad():
        for p in official.parameters():
            p.grad = None
        official((t_stored, t_state, t_stored)).sum().backward()

    out_diff = float(
        np.max(
            np.abs(np.asarray(jitted["ours fwd"](params, stored, state)) - torch_forward().numpy())
        )
    )
    torch_grad()
    grad_pairs = _torch_grads_like_ours(official, jitted["ours fwd+bwd"](params, stored, state))
    grad_diff = max(float(np.max(np.abs(a - b))) for a, b in grad_pairs)
    grad_scale = max(float(np.max(np.abs(b))) for _, b in grad_pairs)

    fns = {
        "hflayers fwd": torch_forward,
        "hflayers fwd+bwd": torch_grad,
        **{
            name: (lambda c=c: jax.block_until_ready(c(params, stored, state)))
            for name, c in jitted.items()
        },
    }
    for fn in fns.values():
        fn()
    results = [_best(fns, passes) for _ in range(rounds)]
    size = f"B={batch}, S={state_count}, N={stored_count}, d={dim}, {heads} heads"
    rows = []
    for who in ("ours", "explicit"):
        row = [size, "ours" if who == "ours" else "ours, explicit association"]
        for kind in ("fwd", "fwd+bwd"):
            wall = [w[f"{who} {kind}"] / w[f"hflayers {kind}"] for w, _ in results]
            cpu = [c[f"{who} {kind}"] / c[f"hflayers {kind}"] for _, c in results]
            row += [
                1e3 * min(w[f"{who} {kind}"] for w, _ in results),
                1e3 * min(w[f"hflayers {kind}"] for w, _ in results),
                f"{statistics.median(wall):.2f} ({min(wall):.2f}-{max(wall):.2f})",
                f"{statistics.median(cpu):.2f} ({min(cpu):.2f}-{max(cpu):.2f})",
            ]
        row += [
            out_diff,
            grad_diff / grad_scale,
            compile_s[f"{who} fwd"] + compile_s[f"{who} fwd+bwd"],
        ]
        rows.append(row)
    return rows


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the first size only, fewer passes")
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    sizes, passes, rounds = (SIZES[:1], 2, 2) if args.quick else (SIZES, 4, 3)
    rows = []
    for size in sizes:
        rows += bench_size(*size, passes=passes, rounds=rounds)
    print(
        f"hopfield.Hopfield vs hflayers.Hopfield (torch {torch.__version__}, jax {jax.__version__}, "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}); ratios ours / hflayers"
    )
    header = [
        "size",
        "layer",
        "fwd ms",
        "hflayers fwd ms",
        "fwd wall ratio",
        "fwd CPU ratio",
        "fwd+bwd ms",
        "hflayers fwd+bwd ms",
        "fwd+bwd wall ratio",
        "fwd+bwd CPU ratio",
        "max |out diff|",
        "max |grad diff| / max |grad|",
        "compile s (apart)",
    ]
    print(timing.format_table(header, rows))


if __name__ == "__main__":
    main()
