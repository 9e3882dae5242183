"""The hard-constraint layer (PI-HC) and its mixture of experts (PI-HC-MoE).

A basis ``B[nt, nx, N]`` is turned into ``u = B @ omega*`` where ``omega*`` minimises
``1/2 ||R(omega)||^2``: the PDE residual at ``m`` sampled points, the initial- and
boundary-condition residuals and a ridge term. The forward solve is Levenberg-Marquardt (never
differentiated); the backward pass is the implicit function theorem on the optimality condition
``grad_omega 1/2 ||R||^2 = 0`` through :func:`jaxpapers_shared.implicit.root` with a dense
``N x N`` adjoint. The mixture of experts splits the grid into ``K`` disjoint subdomains; expert
``k`` samples its points inside its subdomain, keeps the **global** IC/BC terms and solves its
own ``omega_k``; all experts are vmapped.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from hard_constraint_moe import router
from hard_constraint_moe.pde import derivative_bases, grid
from jaxpapers_shared import checks, implicit

#: Floor of the initial-condition values that the (relative) IC residual divides by.
IC_FLOOR = 1e-2
#: ``implicit.root`` only differentiates the LM solution: a tolerance it always meets.
_NO_POLISH = 1e300


@dataclasses.dataclass(frozen=True)
class SolverOptions:
    """Options of the per-expert Levenberg-Marquardt solve and its backward pass.

    Attributes:
      tol: converged when ``max |grad_omega 1/2 ||R||^2| <= tol``.
      rtol: also stop when a step changes every entry of ``omega`` by at most
        ``rtol (1 + max |omega|)`` and either lowers the objective by at most ``rtol`` times its
        value or is rejected (a Cauchy criterion like Optimistix's; the official code uses
        ``rtol = atol = 1e-4``). The safe-u guard of
        diffusion-sorption makes the objective non-smooth where ``u`` crosses 0, and a minimum
        there never meets the gradient test. ``0`` keeps only the gradient test.
      max_iter: most LM iterations (the paper caps at 50).
      ridge: weight of the ridge residual ``ridge * omega``.
      init: initial ``omega`` (all entries; the official diffusion-sorption code uses ones).
      adjoint: ``"exact"`` (Hessian of ``1/2 ||R||^2``, exact at nonzero residual) or
        ``"gauss_newton"`` (``J^T J``, exact only at zero residual).
      damping: initial LM damping.
      polish: Newton steps on ``grad_omega 1/2 ||R||^2 = 0`` after LM (exact Hessian, no
        safeguard; until the gradient's 2-norm is ``<= tol``). The ridge makes the Hessian's
        smallest eigenvalue ~``ridge^2``, so a gradient of ``tol`` can leave ``omega`` off by
        ``tol / ridge^2``; tight finite-difference checks polish, training does not.
    """

    tol: float = 1e-9
    rtol: float = 1e-4
    max_iter: int = 50
    ridge: float = 1e-4
    init: float = 1.0
    adjoint: str = "exact"
    damping: float = 1e-3
    polish: int = 0

    def __post_init__(self):
        checks.positive(self.tol, "tol")
        checks.in_range(self.rtol, "rtol", 0.0, 1.0)
        checks.integer(self.max_iter, "max_iter", minimum=1)
        checks.positive(self.ridge, "ridge", allow_zero=True)
        checks.finite(self.init, "init")
        checks.one_of(self.adjoint, "adjoint", ("exact", "gauss_newton"))
        checks.positive(self.damping, "damping")
        checks.integer(self.polish, "polish", minimum=0)


class Info(NamedTuple):
    """Per-expert status of a constraint solve (arrays of shape ``[K]``)."""

    iterations: jax.Array
    gradient_norm: jax.Array
    converged: jax.Array
    objective: jax.Array


class LMResult(NamedTuple):
    value: jax.Array
    iterations: jax.Array
    gradient_norm: jax.Array
    converged: jax.Array


def levenberg_marquardt(residual_fn, omega0, args, *, tol, rtol, max_iter, damping) -> LMResult:
    """Dense Levenberg-Marquardt on ``1/2 ||residual_fn(omega, *args)||^2`` (small ``N``).

    Stops when the max-norm gradient is ``<= tol`` or an accepted step meets the relative
    (Cauchy) criterion of :class:`SolverOptions`.
    """

    def linearise(w):
        r = residual_fn(w, *args)
        j = jax.jacfwd(residual_fn)(w, *args)
        return r, j

    def gnorm(r, j):
        return jnp.max(jnp.abs(j.T @ r))

    r0, j0 = linearise(omega0)
    false = jnp.asarray(False)
    init = (
        omega0,
        r0,
        j0,
        jnp.asarray(damping, omega0.dtype),
        jnp.asarray(0),
        gnorm(r0, j0),
        false,
    )

    def cond(s):
        return (s[4] < max_iter) & (s[5] > tol) & ~s[6]

    def body(s):
        w, r, j, lam, k, _, _ = s
        jtj = j.T @ j
        g = j.T @ r
        a = jtj + lam * (jnp.diag(jnp.diag(jtj)) + 1e-12 * jnp.eye(w.size, dtype=w.dtype))
        step = -jnp.linalg.solve(a, g)
        w_new = w + step
        r_new, j_new = linearise(w_new)
        f, f_new = jnp.sum(r**2), jnp.sum(r_new**2)
        better = (f_new < f) & jnp.all(jnp.isfinite(r_new))
        tiny_step = jnp.max(jnp.abs(step)) <= rtol * (1.0 + jnp.max(jnp.abs(w)))
        # stalled: a tiny accepted step that barely lowers f, or a tiny step LM still rejects
        stalled = tiny_step & (~better | (f - f_new <= rtol * f))
        w, r, j = jax.tree.map(
            lambda a, b: jnp.where(better, a, b), (w_new, r_new, j_new), (w, r, j)
        )
        lam = jnp.where(better, lam / 3.0, lam * 4.0)
        return w, r, j, lam, k + 1, gnorm(r, j), stalled

    w, _, _, _, k, gn, stalled = jax.lax.while_loop(cond, body, init)
    return LMResult(w, k, gn, (gn <= tol) | stalled)


def _check_basis(basis, num_basis: int, u0) -> None:
    if basis.ndim != 3 or basis.shape[-1] != num_basis:
        raise ValueError(
            f"`basis` must have shape [nt, nx, num_basis={num_basis}], got {basis.shape}."
        )
    if u0.shape != basis.shape[1:2]:
        raise ValueError(f"`u0` must have shape ({basis.shape[1]},) (nx), got {u0.shape}.")
    for name, a in (("basis", basis), ("u0", u0)):
        if checks.is_concrete(a) and not np.all(np.isfinite(np.asarray(a))):
            raise ValueError(f"`{name}` contains NaN or inf values.")


class MoEHardConstraint:
    """PI-HC-MoE: ``K = prod(splits)`` experts, each a hard constraint on its subdomain.

    Args:
      pde: a PDE of :mod:`hard_constraint_moe.pde`.
      num_basis: ``N``, the number of basis functions.
      splits: parts along ``(t, x)``; ``(1, 1)`` is the single global constraint.
      points_per_expert: PDE collocation points sampled inside each subdomain (re-drawn per key).
      share_ic_bc: give every expert the global initial and boundary conditions (the paper); with
        ``False`` an expert only sees the IC/BC points inside its subdomain (an ablation).
      solver_options: :class:`SolverOptions`.
    """

    def __init__(
        self,
        pde,
        num_basis: int,
        splits: Sequence[int] = (1, 4),
        points_per_expert: int = 64,
        share_ic_bc: bool = True,
        solver_options: SolverOptions | None = None,
    ):
        checks.integer(num_basis, "num_basis", minimum=1)
        checks.integer(points_per_expert, "points_per_expert", minimum=1)
        splits = tuple(splits)
        for i, s in enumerate(splits):
            if isinstance(s, bool) or not isinstance(s, int) or s < 1:
                raise ValueError(
                    f"`splits[{i}]` must be an integer >= 1 (no empty subdomains), got {s!r}."
                )
        if len(splits) != 2:
            raise ValueError(f"`splits` must be (t_parts, x_parts), got {splits}.")
        self.pde = pde
        self.num_basis = int(num_basis)
        self.splits = splits
        self.points_per_expert = int(points_per_expert)
        self.share_ic_bc = bool(share_ic_bc)
        self.options = solver_options or SolverOptions()
        if not jax.config.jax_enable_x64:
            warnings.warn(
                "the constraint solve runs in float32 (jax_enable_x64 is off); the official "
                "code requires float64 and so do tight LM tolerances.",
                stacklevel=2,
            )

    @property
    def num_experts(self) -> int:
        return math.prod(self.splits)

    # ------------------------------------------------------------------ residual of one expert

    def _residual(self, omega, pts, ic_b, u0, ic_w, bc_l, bc_r, bc_p, bc_w, dx):
        pde, n = self.pde, self.num_basis
        b, b_t, b_xx = pts[:, :n], pts[:, n : 2 * n], pts[:, 2 * n :]
        r_pde = pde.pde(b @ omega, b_t @ omega, b_xx @ omega) / jnp.sqrt(pts.shape[0])
        ic = (ic_b @ omega - u0) / jnp.maximum(jnp.abs(u0), IC_FLOOR)
        r_ic = ic * ic_w / jnp.sqrt(jnp.maximum(jnp.sum(ic_w), 1.0))
        nb = jnp.sqrt(jnp.maximum(2.0 * jnp.sum(bc_w), 1.0))
        r_l = (bc_l @ omega - pde.left_value) * bc_w[:, 0] / nb
        r_r = pde.right_bc(bc_r @ omega, bc_p @ omega, dx) * bc_w[:, 1] / nb
        return jnp.concatenate([r_pde, r_ic, r_l, r_r, self.options.ridge * omega])

    def _objective(self, omega, *args):
        return 0.5 * jnp.sum(self._residual(omega, *args) ** 2)

    def _optimality(self, omega, *args):
        if self.options.adjoint == "exact":
            return jax.grad(self._objective)(omega, *args)
        r = self._residual(omega, *args)
        j = jax.jacfwd(self._residual)(jax.lax.stop_gradient(omega), *args)
        return j.T @ r

    def _solve_one(self, pts, ic_b, u0, ic_w, bc_l, bc_r, bc_p, bc_w, dx):
        args = (pts, ic_b, u0, ic_w, bc_l, bc_r, bc_p, bc_w, dx)
        o = self.options
        omega0 = jnp.full((self.num_basis,), o.init, dtype=pts.dtype)
        lm = levenberg_marquardt(
            self._residual, omega0, jax.lax.stop_gradient(args), tol=o.tol, rtol=o.rtol,
            max_iter=o.max_iter, damping=o.damping,
        )  # fmt: skip
        # root() supplies the IFT backward on the optimality condition grad 1/2 ||R||^2 = 0;
        # without polish its forward takes no step (a tolerance met at the start).
        sol = implicit.root(
            self._optimality, jax.lax.stop_gradient(lm.value), *args, solver="newton",
            atol=o.tol if o.polish else _NO_POLISH, rtol=0.0, max_iter=max(o.polish, 1),
            adjoint="dense", throw=False,
        )  # fmt: skip
        if o.polish:
            return sol.value, lm.iterations + sol.iterations, sol.residual, sol.converged
        return sol.value, lm.iterations, lm.gradient_norm, lm.converged

    # ------------------------------------------------------------------ data layout

    def _layout(self, basis, u0, key):
        """Per-expert arguments: sampled points ``[K, m, 3N]`` and the IC/BC terms."""
        nt, nx, n = basis.shape
        router.check_splits(self.splits, (nt, nx))
        _, _, dt, dx = grid(nt, nx, self.pde.t_max)
        b_t, b_xx = derivative_bases(basis, dt, dx)
        stack = jnp.concatenate([basis, b_t, b_xx], axis=-1)
        eligible = np.zeros((nt, nx), bool)
        eligible[1:, 1:-1] = True
        blocks = router.partition(stack, self.splits)
        masks = np.asarray(router.partition(eligible, self.splits))
        k = self.num_experts
        per_block = int(masks.sum(axis=(1, 2)).min())
        if self.points_per_expert > per_block:
            raise ValueError(
                f"`points_per_expert` = {self.points_per_expert} exceeds the {per_block} interior "
                f"grid points of a subdomain (grid {nt}x{nx}, splits {self.splits})."
            )
        keys = jax.random.split(key, k)

        def sample(block, mask, key):
            flat = block.reshape(-1, 3 * n)
            scores = jax.random.gumbel(key, (mask.size,)) + jnp.where(
                mask.reshape(-1), 0.0, -jnp.inf
            )
            _, idx = jax.lax.top_k(scores, self.points_per_expert)
            return flat[idx]

        pts = jax.vmap(sample)(blocks, masks, keys)
        # IC / BC rows and, per expert, which of them it sees
        owner_of = np.asarray(router.unpartition(
            np.ascontiguousarray(np.broadcast_to(
                np.arange(k)[:, None, None], (k, nt // self.splits[0], nx // self.splits[1]))),
            self.splits,
        ))  # fmt: skip
        experts = np.arange(k)
        if self.share_ic_bc:
            ic_w = jnp.ones((k, nx), basis.dtype)
            bc_w = jnp.ones((k, nt - 1, 2), basis.dtype)
        else:
            ic_w = jnp.asarray(owner_of[0][None] == experts[:, None], basis.dtype)
            bc_w = np.stack(
                [
                    owner_of[1:, 0][None] == experts[:, None],
                    owner_of[1:, -1][None] == experts[:, None],
                ],
                axis=-1,
            )
            bc_w = jnp.asarray(bc_w, basis.dtype)
        shared = (basis[0], u0, basis[1:, 0], basis[1:, -1], basis[1:, -2], dx)
        return pts, ic_w, bc_w, shared

    def _expert_args(self, basis, u0, key):
        pts, ic_w, bc_w, (ic_b, u0, bc_l, bc_r, bc_p, dx) = self._layout(basis, u0, key)
        return pts, ic_w, bc_w, ic_b, u0, bc_l, bc_r, bc_p, dx

    # ------------------------------------------------------------------ public

    def solve(
        self, basis: jax.Array, u0: jax.Array, key: jax.Array
    ) -> tuple[jax.Array, jax.Array, Info]:
        """``(u[nt, nx], omega[K, N], info)`` for one basis ``[nt, nx, N]`` and IC ``u0[nx]``."""
        basis = jnp.asarray(basis)
        u0 = jnp.asarray(u0, basis.dtype)
        _check_basis(basis, self.num_basis, u0)
        pts, ic_w, bc_w, ic_b, u0_, bc_l, bc_r, bc_p, dx = self._expert_args(basis, u0, key)
        one = lambda p, iw, bw: self._solve_one(p, ic_b, u0_, iw, bc_l, bc_r, bc_p, bw, dx)
        omegas, iters, gnorm, conv = jax.vmap(one)(pts, ic_w, bc_w)
        blocks = router.partition(basis, self.splits)
        u = router.unpartition(jnp.einsum("kabn,kn->kab", blocks, omegas), self.splits)
        obj = self.expert_objectives(
            basis, u0, key, omegas, _args=(pts, ic_w, bc_w, ic_b, u0_, bc_l, bc_r, bc_p, dx)
        )
        return u, omegas, Info(iters, gnorm, conv, obj)

    def expert_objectives(self, basis, u0, key, omegas, _args=None) -> jax.Array:
        """Each expert's objective ``1/2 ||R_k(omega_k)||^2`` (same sampled points as ``solve``).

        ``omegas`` is ``[K, N]``, or ``[N]`` to evaluate every expert at the same ``omega``.
        """
        if _args is None:
            basis = jnp.asarray(basis)
            u0 = jnp.asarray(u0, basis.dtype)
            _args = self._expert_args(basis, u0, key)
        pts, ic_w, bc_w, ic_b, u0_, bc_l, bc_r, bc_p, dx = _args
        omegas = jnp.broadcast_to(omegas, (pts.shape[0], self.num_basis))
        f = lambda w, p, iw, bw: self._objective(w, p, ic_b, u0_, iw, bc_l, bc_r, bc_p, bw, dx)
        return jax.vmap(f)(omegas, pts, ic_w, bc_w)


class HardConstraint(MoEHardConstraint):
    """PI-HC: one global hard constraint (the ``K = 1`` case), ``points`` sampled on the grid."""

    def __init__(
        self, pde, num_basis: int, points: int = 256, solver_options: SolverOptions | None = None
    ):
        super().__init__(pde, num_basis, (1, 1), points, True, solver_options)


def unrolled_gauss_newton(
    constraint: MoEHardConstraint, basis, u0, key, steps: int = 30
) -> jax.Array:
    """``u`` from ``steps`` fixed Gauss-Newton iterations per expert, differentiated by unrolling.

    A reference for the IFT backward (which never differentiates the solver loop).
    """
    basis = jnp.asarray(basis)
    u0 = jnp.asarray(u0, basis.dtype)
    pts, ic_w, bc_w, ic_b, u0_, bc_l, bc_r, bc_p, dx = constraint._expert_args(basis, u0, key)

    def one(p, iw, bw):
        args = (p, ic_b, u0_, iw, bc_l, bc_r, bc_p, bw, dx)
        w = jnp.full((constraint.num_basis,), constraint.options.init, basis.dtype)

        def body(_, w):
            r = constraint._residual(w, *args)
            j = jax.jacfwd(constraint._residual)(w, *args)
            return w - jnp.linalg.solve(j.T @ j, j.T @ r)

        return jax.lax.fori_loop(0, steps, body, w)

    omegas = jax.vmap(one)(pts, ic_w, bc_w)
    blocks = router.partition(basis, constraint.splits)
    return router.unpartition(jnp.einsum("kabn,kn->kab", blocks, omegas), constraint.splits)
