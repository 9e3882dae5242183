"""Benchmarks of lpinn, measured in one run (ratios, nothing asserted).

1. Training step time, LPINN vs PINN at equal width (64 x 50 grid, c = 30), and how it scales
   with the number of collocation points.
2. Residual derivatives by forward mode (``jax.jvp`` with a ones tangent, what the package uses)
   against reverse mode (``jax.grad`` of the sum of outputs, the usual PyTorch idiom).
3. Time to reach 5% relative L2 error at c = 30 (Adam lr 1e-3), LPINN vs PINN (which never gets
   there: reported as not reached within the step budget).

``python -m lpinn.bench [--quick]`` (``--quick``: two grids, 1000 steps). Both sides of every
ratio run on the same precomputed inputs in the same process, warmed up and timed interleaved
with ``timing.compare``; compile times are reported apart.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import optax
from flax import nnx

from jaxpapers_shared import experiment, timing
from lpinn._evaluate import predict_eulerian, relative_l2
from lpinn._models import EulerianPINN, LagrangianPINN
from lpinn._pde import Convection, grid, sine
from lpinn._reference import convection_diffusion_exact
from lpinn._residuals import eulerian_loss, lagrangian_loss

PDE = Convection(30.0)


def train_step(model, loss):
    graphdef, params = nnx.split(model)
    adam = optax.adam(1e-3)

    @jax.jit
    def step(params, state):
        value, grads = jax.value_and_grad(lambda p: loss(nnx.merge(graphdef, p)))(params)
        updates, state = adam.update(grads, state, params)
        return optax.apply_updates(params, updates), state, value

    return step, (params, adam.init(params))


def compile_seconds(fn, *args) -> float:
    start = time.perf_counter()
    fn.lower(*args).compile()
    return time.perf_counter() - start


def step_times(num_x: int, num_t: int) -> dict[str, float]:
    """Seconds per Adam step (warm) and compile seconds of each model's step."""
    x, t = grid(num_x, num_t)
    u0 = sine(x)
    pinn_step, pinn_args = train_step(
        EulerianPINN(50, 4, rngs=nnx.Rngs(0)), lambda m: eulerian_loss(m, PDE, x, t, u0)
    )
    lpinn_step, lpinn_args = train_step(
        LagrangianPINN(50, 4, 2, rngs=nnx.Rngs(0)), lambda m: lagrangian_loss(m, PDE, x, t, u0)
    )
    compiled = {
        "PINN compile": compile_seconds(pinn_step, *pinn_args),
        "LPINN compile": compile_seconds(lpinn_step, *lpinn_args),
    }
    steps = timing.compare(
        {"PINN": lambda: pinn_step(*pinn_args), "LPINN": lambda: lpinn_step(*lpinn_args)}
    )
    return steps | compiled


def derivative_times() -> tuple[float, float]:
    """d u / d t at every point of a 64 x 50 grid: one jvp vs grad of the summed outputs."""
    model = EulerianPINN(50, 4, rngs=nnx.Rngs(0))
    x, t = grid(64, 50)
    gx, gt = jnp.meshgrid(x, t, indexing="ij")
    forward = jax.jit(lambda tt: jax.jvp(lambda s: model(gx, s), (tt,), (jnp.ones_like(tt),))[1])
    reverse = jax.jit(jax.grad(lambda tt: jnp.sum(model(gx, tt))))
    if not jnp.allclose(forward(gt), reverse(gt), atol=1e-5):
        raise RuntimeError("jvp and grad-of-sum derivatives disagree")
    measured = timing.compare({"jvp": forward, "grad": reverse}, gt)
    return measured["jvp"], measured["grad"]


def time_to_error(kind: str, target: float = 0.05, max_steps: int = 3000, chunk: int = 250):
    """Wall time of Adam (lr 1e-3) until the relative L2 error is below ``target``, checking
    every ``chunk`` steps; one compiled chunk of steps, warmed up before the clock starts
    (the error evaluations count as part of the time)."""
    x, t = grid(64, 50)
    u0 = sine(x)
    reference = convection_diffusion_exact(sine, PDE.c, 0.0, x, t)
    if kind == "pinn":
        model = EulerianPINN(50, 4, rngs=nnx.Rngs(0))
        loss = lambda m: eulerian_loss(m, PDE, x, t, u0)
        error = lambda m: relative_l2(m(*jnp.meshgrid(x, t, indexing="ij")), reference)
    else:
        model = LagrangianPINN(50, 4, 2, rngs=nnx.Rngs(0))
        loss = lambda m: lagrangian_loss(m, PDE, x, t, u0)
        error = lambda m: relative_l2(predict_eulerian(m, x, t, x), reference)
    step, (params, state) = train_step(model, loss)
    graphdef = nnx.graphdef(model)

    @jax.jit
    def run_chunk(params, state):
        def body(carry, _):
            params, state, _ = step(*carry)
            return (params, state), None

        return jax.lax.scan(body, (params, state), length=chunk)[0]

    jax.block_until_ready(run_chunk(params, state))  # compile outside the clock
    error(model)
    start, steps, err = time.perf_counter(), 0, 1.0
    while steps < max_steps:
        params, state = run_chunk(params, state)
        steps += chunk
        err = error(nnx.merge(graphdef, params))
        if err < target:
            return time.perf_counter() - start, steps, err
    return None, steps, err


def main(argv: Sequence[str] | None = None) -> None:
    quick = experiment.parse_bench_args(__doc__, argv).quick
    grids = [(32, 25), (64, 50)] if quick else [(32, 25), (64, 50), (128, 100)]
    rows = []
    for num_x, num_t in grids:
        m = step_times(num_x, num_t)
        rows.append(
            [
                f"{num_x}x{num_t}",
                1e3 * m["PINN"],
                1e3 * m["LPINN"],
                m["LPINN"] / m["PINN"],
                m["PINN compile"],
                m["LPINN compile"],
            ]
        )
    print("Adam step, width 50 (PINN 4 layers; LPINN 4 + 2 layers), c = 30")
    header = ["grid", "PINN ms", "LPINN ms", "LPINN/PINN", "PINN compile s", "LPINN compile s"]
    print(timing.format_table(header, rows))
    fwd, rev = derivative_times()
    print("\ndu/dt at 3200 points")
    print(
        timing.format_table(
            ["jvp ms", "grad-of-sum ms", "jvp/grad"], [[1e3 * fwd, 1e3 * rev, fwd / rev]]
        )
    )
    max_steps = 1000 if quick else 3000
    rows = []
    for kind in ("lpinn", "pinn"):
        seconds, steps, err = time_to_error(kind, max_steps=max_steps)
        reached = f"{seconds:.1f} s ({steps} steps)" if seconds is not None else "not reached"
        rows.append([kind.upper(), reached, f"{err:.3f}"])
    print(f"\ntime to 5% relative L2 at c = 30 (64x50, Adam 1e-3, up to {max_steps} steps)")
    print(timing.format_table(["model", "time to 5%", "final error"], rows))


if __name__ == "__main__":
    main()
