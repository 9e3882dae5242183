"""Implicit (IFT) backward vs unrolled autodiff through the same fixed-point iteration.

``python -m jaxpapers_shared.bench`` differentiates a DEQ-style layer x = tanh(W x + U z + c)
(batch 64, width 256) through K = 50, 200 and 1000 forward iterations, both ways:

* IFT: ``implicit.fixed_point(..., solver="iterate", max_iter=K)``; the backward pass is one
  GMRES solve with ``(I - df/dx)^T``, whatever K is.
* unrolled: the same K iterations in a ``lax.scan``, differentiated by reverse-mode autodiff,
  which stores every iterate.

It prints the time of one forward+backward pass and XLA's compiled memory for both, and their
ratios. The IFT memory stays flat as K grows; the unrolled memory grows linearly.

Then, in the same run, what the status checks cost: the same layer solved to tolerance by
Anderson, its gradient (GMRES and Neumann adjoints) with the checks off, with the adjoint's
status check and NaN mask (``throw=False``), and with ``throw=True`` (host callbacks that raise
inside ``jit``), timed interleaved, as fractions of the backward pass's own time (gradient minus
forward).
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp

from jaxpapers_shared import _status, implicit, timing

BATCH, WIDTH, INPUT = 64, 256, 32


def deq_layer(x, w, u, c, z):
    return jnp.tanh(x @ w.T + z @ u.T + c)


def make_problem(key):
    kw, ku, kz = jax.random.split(key, 3)
    w = jax.random.normal(kw, (WIDTH, WIDTH))
    w = 0.9 * w / jnp.linalg.norm(w, 2)
    u = jax.random.normal(ku, (WIDTH, INPUT)) / jnp.sqrt(INPUT)
    z = jax.random.normal(kz, (BATCH, INPUT))
    return (w, u, jnp.zeros(WIDTH)), z


def ift_loss(params, z, iterations):
    sol = implicit.fixed_point(
        deq_layer,
        jnp.zeros((BATCH, WIDTH)),
        *params,
        z,
        solver="iterate",
        tol=1e-30,
        max_iter=iterations,
        throw=False,
    )
    return jnp.mean(sol.value**2)


def unrolled_loss(params, z, iterations):
    def body(x, _):
        return deq_layer(x, *params, z), None

    x, _ = jax.lax.scan(body, jnp.zeros((BATCH, WIDTH)), length=iterations)
    return jnp.mean(x**2)


def checked_loss(params, z, adjoint, throw):
    sol = implicit.fixed_point(
        deq_layer, jnp.zeros((BATCH, WIDTH)), *params, z, adjoint=adjoint, throw=throw
    )
    return jnp.mean(sol.value**2)


def cpu_times(fns, *args, rounds: int, number: int = 50) -> dict[str, float]:
    """Process CPU seconds per call (all threads), interleaved rounds, fastest round kept.

    CPU time, not wall time: differences of a few percent drown in wall-clock noise on a shared
    machine, while the CPU a call consumes barely depends on what else runs.
    """
    best = dict.fromkeys(fns, float("inf"))
    for _ in range(rounds):
        for name, fn in fns.items():
            start = time.process_time()
            for _ in range(number):
                jax.block_until_ready(fn(*args))
            best[name] = min(best[name], (time.process_time() - start) / number)
    return best


def status_overhead(params, z, rounds: int) -> list[list]:
    """Gradient times with the status checks off, on, and on with the raising path.

    * off: no forward report, no adjoint check (``_status.checks_disabled``, ``throw=False``);
    * checks: the adjoint solve's status and the NaN mask of the gradient (``throw=False``);
    * raise: ``throw=True``, which adds the host callbacks that raise inside ``jit`` (a program
      with a host callback leaves JAX's C++ dispatch fast path: a fixed cost per call).
    """
    rows = []
    for adjoint in ("gmres", "neumann"):
        loss = lambda p, z, throw, a=adjoint: checked_loss(p, z, a, throw)
        fns = {
            "checks": jax.jit(jax.grad(lambda p, z: loss(p, z, False))),
            "raise": jax.jit(jax.grad(lambda p, z: loss(p, z, True))),
        }
        with _status.checks_disabled():  # traced (and compiled) without checks
            fns["forward"] = jax.jit(lambda p, z: loss(p, z, False))
            fns["off"] = jax.jit(jax.grad(lambda p, z: loss(p, z, False)))
            for fn in fns.values():
                jax.block_until_ready(fn(params, z))
        times = cpu_times(fns, params, z, rounds=rounds)
        backward = times["off"] - times["forward"]
        # The check's own operations on an adjoint of this size, alone (A/B above is noisier).
        u, converged = jnp.ones((BATCH, WIDTH)), jnp.asarray(True)
        check = jax.jit(lambda u, ok: jnp.where(ok, u, jnp.nan))
        jax.block_until_ready(check(u, converged))
        alone = cpu_times({"check": check}, u, converged, rounds=rounds, number=500)["check"]
        rows.append(
            [
                adjoint,
                1e3 * times["forward"],
                1e3 * backward,
                1e3 * times["off"],
                1e3 * times["checks"],
                (times["checks"] - times["off"]) / backward,
                alone / backward,
                1e3 * times["raise"],
                (times["raise"] - times["off"]) / backward,
            ]
        )
    return rows


def adjoint_backends(params, z, rounds: int) -> list[list] | None:
    """The fixed-point adjoint system solved by our solvers, lineax's and jax.scipy's.

    ``(I - df/dx)^T u = b`` at the layer's fixed point, float32, relative tolerance 1.2e-5 in the
    l2 norm for all. Needs ``lineax`` (not a dependency: ``pip install lineax`` to run this part);
    returns None without it.
    """
    try:
        import lineax as lx
    except ImportError:
        return None
    import jax.scipy.sparse.linalg as jsl

    from jaxpapers_shared import linear_solve

    x = implicit.fixed_point(deq_layer, jnp.zeros((BATCH, WIDTH)), *params, z).value
    _, vjp = jax.vjp(lambda x: x - deq_layer(x, *params, z), x)
    matvec = lambda u: vjp(u)[0]
    b = jax.random.normal(jax.random.PRNGKey(1), (BATCH, WIDTH))
    rtol = 1.2e-5
    operator = lx.FunctionLinearOperator(matvec, jax.eval_shape(lambda: b))

    def with_lineax(solver):
        def solve(b):
            sol = lx.linear_solve(operator, b, solver, throw=False)
            return sol.value, sol.stats["num_steps"]

        return solve

    ours = lambda name: (
        lambda b: (lambda s: (s.value, s.iterations))(
            linear_solve.get_solver(name)(matvec, b, rtol=rtol, norm="l2")
        )
    )
    scipy_gmres = lambda method: (
        lambda b: (
            jsl.gmres(matvec, b, tol=rtol, atol=0.0, restart=30, solve_method=method)[0],
            jnp.asarray(-1),
        )
    )
    fns = {
        "ours: gmres": ours("gmres"),
        "ours: bicgstab": ours("bicgstab"),
        "ours: neumann": ours("neumann"),
        "lineax: GMRES": with_lineax(lx.GMRES(rtol=rtol, atol=0.0, restart=30)),
        "lineax: BiCGStab": with_lineax(lx.BiCGStab(rtol=rtol, atol=0.0)),
        "jax.scipy: gmres batched": scipy_gmres("batched"),
        "jax.scipy: gmres incremental": scipy_gmres("incremental"),
        "jax.scipy: bicgstab": lambda b: (jsl.bicgstab(matvec, b, tol=rtol, atol=0.0)[0], -1),
    }
    fns = {name: jax.jit(fn) for name, fn in fns.items()}
    times = timing.compare(fns, b, rounds=rounds)
    rows = []
    for name, fn in fns.items():
        u, steps = fn(b)
        residual = float(jnp.linalg.norm(b - matvec(u)) / jnp.linalg.norm(b))
        rows.append([name, 1e3 * times[name], int(steps) if int(steps) >= 0 else "-", residual])
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, nargs="+", default=[50, 200, 1000])
    parser.add_argument("--rounds", type=int, default=5, help="interleaved timing rounds")
    parser.add_argument("--quick", action="store_true", help="K = 50 only, 2 rounds")
    args = parser.parse_args(argv)
    if args.quick:
        args.iterations, args.rounds = [50], 2
    params, z = make_problem(jax.random.PRNGKey(0))
    rows = []
    for k in args.iterations:
        ift = jax.jit(jax.grad(lambda p, z, k=k: ift_loss(p, z, k)))
        unrolled = jax.jit(jax.grad(lambda p, z, k=k: unrolled_loss(p, z, k)))
        t_ift, t_unrolled = timing.time_fn(ift, params, z), timing.time_fn(unrolled, params, z)
        m_ift = timing.compiled_memory(ift, params, z)["temp"]
        m_unrolled = timing.compiled_memory(unrolled, params, z)["temp"]
        rows.append(
            [
                k,
                1e3 * t_ift,
                1e3 * t_unrolled,
                t_ift / t_unrolled,
                m_ift / 2**20,
                m_unrolled / 2**20,
                m_ift / m_unrolled,
            ]
        )
        print(f"K={k}: done", flush=True)
    print(f"\nfixed_point backward, batch {BATCH} x width {WIDTH}, {jax.devices()[0].device_kind}")
    print(
        timing.format_table(
            [
                "K",
                "IFT ms",
                "unrolled ms",
                "time IFT/unrolled",
                "IFT temp MiB",
                "unrolled temp MiB",
                "memory IFT/unrolled",
            ],
            rows,
        )
    )
    overhead = status_overhead(params, z, args.rounds)
    print("\nstatus checks: gradient of the Anderson-solved layer, CPU ms per call (interleaved)")
    print(
        timing.format_table(
            [
                "adjoint",
                "forward ms",
                "backward ms",
                "grad, checks off ms",
                "grad, checks ms",
                "checks / backward",
                "check ops alone / backward",
                "grad, throw=True ms",
                "throw=True / backward",
            ],
            overhead,
        )
    )
    backends = adjoint_backends(params, z, args.rounds)
    if backends is None:
        print("\nadjoint backends: lineax is not installed; skipped (pip install lineax)")
    else:
        print("\nadjoint backends: (I - df/dx)^T u = b at the fixed point, rtol 1.2e-5 (l2)")
        print(timing.format_table(["solver", "ms", "steps", "true rel. residual"], backends))


if __name__ == "__main__":
    main()
