"""Generalized and holomorphic equilibrium propagation on a recurrent MLP.

The network is the discrete-time dynamical system of the official code: the state ``u`` is a
tuple of layers, one update is ``u <- G(u; theta, x, beta)`` with

    G_i(u) = phi(u_{i-1}) W_i + b_i + phi(u_{i+1}) B_i     (u_0 = x, no feedback into the top)

plus ``beta * dl/da_out`` on the output layer, where ``l`` is the softmax cross-entropy of a
Dense readout of ``a_out = phi(u_out)``. Forward weights ``W`` (with bias) and feedback weights
``B`` (without) are separate parameters; ``B_i = W_{i+1}^T`` makes the dynamics symmetric.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxpapers_shared import checks, implicit

PyTree = Any

_ACTIVATIONS = {
    "sigmoid": (jax.nn.sigmoid, True),
    "tanh": (jnp.tanh, True),
    "relu": (jax.nn.relu, False),
    "hard_sigmoid": (jax.nn.hard_sigmoid, False),
}


class NotConvergedError(ValueError):
    """The free phase did not reach a fixed point (or met NaN/inf) in ``num_steps`` steps."""


@dataclasses.dataclass(frozen=True)
class VectorFieldMLP:
    """A recurrent MLP with forward weights (and biases) and separate feedback weights.

    Args:
      sizes: ``(n_in, n_1, ..., n_out)``: the input size, then the sizes of the state layers
        (hidden layers and the output layer ``u_out``).
      num_classes: outputs of the Dense readout of ``phi(u_out)``.
      activation: ``"sigmoid"`` (the paper's MLPs), ``"tanh"`` (both holomorphic), ``"relu"`` or
        ``"hard_sigmoid"`` (not holomorphic: no Cauchy estimate with ``num_nudges >= 3``).
    """

    sizes: tuple[int, ...] = (64, 64, 64, 10)
    num_classes: int = 10
    activation: str = "sigmoid"

    def __post_init__(self):
        object.__setattr__(self, "sizes", tuple(self.sizes))
        if len(self.sizes) < 2:
            raise ValueError(f"sizes must list the input and >= 1 state layer, got {self.sizes}")
        for n in self.sizes:
            checks.integer(n, "sizes", minimum=1)
        checks.integer(self.num_classes, "num_classes", minimum=2)
        checks.one_of(self.activation, "activation", tuple(_ACTIVATIONS))

    # ------------------------------------------------------------------ parameters and state
    @property
    def holomorphic(self) -> bool:
        return _ACTIVATIONS[self.activation][1]

    @property
    def num_state(self) -> int:
        return sum(self.sizes[1:])

    def phi(self, u):
        return _ACTIVATIONS[self.activation][0](u)

    def init(self, key: jax.Array, angle: float = 0.0) -> dict:
        """LeCun-normal forward and readout weights, zero biases; feedback
        ``B = sin(angle) B_rand + cos(angle) W^T`` (``angle`` in degrees, 0: symmetric)."""
        checks.in_range(angle, "angle", 0.0, 180.0)
        keys = jax.random.split(key, 2 * len(self.sizes) + 1)
        forward = []
        for i, (n_in, n_out) in enumerate(zip(self.sizes[:-1], self.sizes[1:], strict=False)):
            w = jax.random.normal(keys[i], (n_in, n_out)) / math.sqrt(n_in)
            forward.append({"w": w, "b": jnp.zeros(n_out)})
        feedback = [{"w": f["w"].T} for f in forward[1:]]
        n_out = self.sizes[-1]
        readout = {
            "w": jax.random.normal(keys[-1], (n_out, self.num_classes)) / math.sqrt(n_out),
            "b": jnp.zeros(self.num_classes),
        }
        params = {"forward": forward, "feedback": feedback, "readout": readout}
        return rotate_feedback(params, angle, keys[len(self.sizes)])

    def zero_state(self, batch: int, dtype=jnp.float32) -> tuple[jax.Array, ...]:
        return tuple(jnp.zeros((batch, n), dtype) for n in self.sizes[1:])

    # ------------------------------------------------------------------ dynamics
    def logits(self, params: dict, a_out: jax.Array) -> jax.Array:
        return a_out @ params["readout"]["w"] + params["readout"]["b"]

    def loss_grad(self, params: dict, a_out: jax.Array, y: jax.Array) -> jax.Array:
        """``dl/da_out`` of the per-example cross-entropy, by the explicit (holomorphic)
        softmax formula, so that it also holds for complex ``a_out``."""
        z = self.logits(params, a_out)
        z = z - jax.lax.stop_gradient(jnp.max(z.real, axis=-1, keepdims=True))
        p = jnp.exp(z) / jnp.sum(jnp.exp(z), axis=-1, keepdims=True)
        onehot = jax.nn.one_hot(y, self.num_classes, dtype=p.dtype)
        return (p - onehot) @ params["readout"]["w"].T

    def drive(self, params: dict, a: tuple, x: jax.Array) -> tuple:
        """``G`` with the activation bypassed: the input of each layer given the activities
        ``a`` (no nudge). Its Jacobian in ``a`` is the one the homeostatic loss symmetrizes."""
        out = []
        for i, fwd in enumerate(params["forward"]):
            below = x if i == 0 else a[i - 1]
            h = below @ fwd["w"] + fwd["b"]
            if i < len(a) - 1:
                h = h + a[i + 1] @ params["feedback"][i]["w"]
            out.append(h)
        return tuple(out)

    def step(self, params: dict, u: tuple, x: jax.Array, y: jax.Array, beta) -> tuple:
        """One update ``G(u; params, x, beta)``."""
        a = tuple(self.phi(v) for v in u)
        out = list(self.drive(params, a, x))
        out[-1] = out[-1] + beta * self.loss_grad(params, a[-1], y)
        return tuple(out)


# ---------------------------------------------------------------------- input checks


def _check_data(net: VectorFieldMLP, x, y=None) -> None:
    x = checks.array(x, "x", ndim=2)
    if x.shape[1] != net.sizes[0]:
        raise ValueError(f"x must have {net.sizes[0]} features (sizes[0]), got shape {x.shape}")
    if y is not None:
        y = checks.array(y, "y", ndim=1)
        if y.shape[0] != x.shape[0]:
            raise ValueError(f"y must have one label per row of x ({x.shape[0]}), got {y.shape}")
        if not jnp.issubdtype(y.dtype, jnp.integer):
            raise ValueError(f"y must hold integer class labels, got dtype {y.dtype}")


def _check_nudge(net: VectorFieldMLP, beta, num_nudges) -> None:
    checks.integer(num_nudges, "num_nudges", minimum=0)
    if isinstance(beta, complex) or jnp.iscomplexobj(beta):
        raise ValueError(
            f"beta must be a real nudge strength (its sign sets the first phase), got {beta!r}"
        )
    if num_nudges >= 1 and float(beta) == 0.0:
        raise ValueError(f"beta must be non-zero with num_nudges={num_nudges}, got beta=0")
    if num_nudges >= 3 and not net.holomorphic:
        raise ValueError(
            f"num_nudges={num_nudges} needs holomorphic dynamics; activation={net.activation!r} "
            "is not holomorphic (use sigmoid or tanh, or num_nudges <= 2)"
        )


def _complexify(tree: PyTree) -> PyTree:
    return jax.tree.map(lambda v: v.astype(jnp.complex64), tree)


# ---------------------------------------------------------------------- relaxation


def relax(net: VectorFieldMLP, params, u0, x, y, beta, num_steps: int) -> tuple:
    """``num_steps`` updates ``u <- G(u)`` from ``u0`` (real or complex ``beta``; complex
    ``beta`` needs complex ``params``/``u0``/``x``)."""
    checks.integer(num_steps, "num_steps", minimum=1)
    return jax.lax.fori_loop(0, num_steps, lambda _, u: net.step(params, u, x, y, beta), u0)


def residual(net: VectorFieldMLP, params, u, x, y=None, beta=0.0) -> jax.Array:
    """Max-norm of the vector field ``F(u) = G(u) - u`` (0 at a fixed point)."""
    yy = jnp.zeros(x.shape[0], jnp.int32) if y is None else y
    g = net.step(params, u, x, yy, beta)
    return jnp.max(jnp.stack([jnp.max(jnp.abs(gi - ui)) for gi, ui in zip(g, u, strict=False)]))


def free_phase(net: VectorFieldMLP, params, x, *, num_steps: int = 200, tol: float | None = 1e-4):
    """Relaxes from zero with ``beta = 0``; returns ``(u_star, residual)``. With ``tol`` (and
    concrete inputs) raises :class:`NotConvergedError` when the residual is above ``tol`` or
    not finite (asymmetric networks need not have an attracting fixed point)."""
    _check_data(net, x)
    checks.integer(num_steps, "num_steps", minimum=1)
    u_star, res = _free_phase(net, params, x, num_steps)
    if tol is not None and checks.is_concrete(res):
        check_converged(res, tol, num_steps)
    return u_star, res


@functools.partial(jax.jit, static_argnums=(0, 3))
def _free_phase(net, params, x, num_steps):
    y0 = jnp.zeros(x.shape[0], jnp.int32)
    u_star = relax(net, params, net.zero_state(x.shape[0], x.dtype), x, y0, 0.0, num_steps)
    return u_star, residual(net, params, u_star, x)


def check_converged(res, tol: float, num_steps: int, what: str = "free phase") -> None:
    res = float(res)
    if not np.isfinite(res) or res > tol:
        raise NotConvergedError(
            f"the {what} did not converge in num_steps={num_steps}: residual max|G(u) - u| = "
            f"{res:.3g} > tol={tol:g} (raise num_steps, or the dynamics may have no attracting "
            "fixed point: shrink the weights or the forward/feedback angle)"
        )


# ---------------------------------------------------------------------- neuronal errors


def neuronal_error(
    net: VectorFieldMLP,
    params,
    u_star,
    x,
    y,
    *,
    beta: float = 1.0,
    num_nudges: int = 4,
    num_steps: int = 60,
) -> tuple:
    """The estimate ``s`` of ``d phi(u_beta) / d beta`` at ``beta = 0`` (activity coordinates).

    ``num_nudges``: 0, the exact derivative (forward-mode AD of the nudged relaxation in
    ``beta``); 1, the one-sided difference ``(phi(u_beta) - phi(u*)) / beta``; 2, the symmetric
    difference ``(phi(u_beta) - phi(u_-beta)) / (2 beta)``; N >= 3, the Cauchy integral on the
    circle of radius ``|beta|`` by the trapezoidal rule,
    ``Re[(1/N) sum_k (phi(u_{beta_k}) - phi(u*)) / beta_k]``, ``beta_k = beta e^{2 pi i k/N}``
    (the ``phi(u*)`` term integrates to zero; it removes float cancellation). Conjugate nudges
    ``k`` and ``N - k`` share one complex relaxation. Every nudged phase starts at ``u_star``.
    """
    _check_data(net, x, y)
    _check_nudge(net, beta, num_nudges)
    checks.integer(num_steps, "num_steps", minimum=1)
    return _neuronal_error_jit(net, params, u_star, x, y, float(beta), num_nudges, num_steps)


def _neuronal_error(net, params, u_star, x, y, beta, num_nudges, num_steps):
    a_star = tuple(net.phi(u) for u in u_star)

    def nudged(b, p=params, u0=u_star, xx=x):
        return tuple(net.phi(u) for u in relax(net, p, u0, xx, y, b, num_steps))

    if num_nudges == 0:
        _, s = jax.jvp(lambda b: nudged(b), (jnp.asarray(0.0, x.dtype),), (jnp.ones((), x.dtype),))
        return s
    if num_nudges == 1:
        return jax.tree.map(lambda a, a0: (a - a0) / beta, nudged(beta), a_star)
    n = num_nudges
    # real phases: k = 0 (beta) and, for even N, k = N/2 (-beta)
    total = jax.tree.map(lambda a, a0: (a - a0) / beta, nudged(beta), a_star)
    if n % 2 == 0:
        total = jax.tree.map(lambda t, a, a0: t - (a - a0) / beta, total, nudged(-beta), a_star)
    pairs = (n - 1) // 2  # complex phases k = 1 .. pairs, each counted twice via 2 Re
    if pairs:
        betas = beta * jnp.exp(2j * jnp.pi * jnp.arange(1, pairs + 1) / n).astype(jnp.complex64)
        cp, cu, cx = _complexify(params), _complexify(u_star), x.astype(jnp.complex64)
        phases = jax.vmap(lambda b: nudged(b, cp, cu, cx))(betas)
        total = jax.tree.map(
            lambda t, a, a0: t + 2.0 * jnp.sum(((a - a0) / betas[:, None, None]).real, axis=0),
            total,
            phases,
            a_star,
        )
    return jax.tree.map(lambda t: t / n, total)


_neuronal_error_jit = jax.jit(_neuronal_error, static_argnums=(0, 6, 7))


# ---------------------------------------------------------------------- gradients


def _readout_loss(net, params, a_out, y):
    z = net.logits(params, a_out)
    return jnp.mean(-jnp.sum(jax.nn.log_softmax(z) * jax.nn.one_hot(y, net.num_classes), -1))


def surrogate_loss(net: VectorFieldMLP, params, u_star, s, x, y) -> jax.Array:
    """A function of ``params`` whose gradient is the EP gradient: ``<s, G(u*; params)> / B``
    with ``u*`` and ``s`` held fixed, plus the readout loss at the fixed ``phi(u*_out)`` (the
    readout learns by its direct gradient). Its value is not a loss; use its gradient."""
    u_star, s = jax.lax.stop_gradient((u_star, s))
    a = tuple(net.phi(u) for u in u_star)
    drive = net.drive(params, a, x)
    inner = sum(jnp.sum(si * di) for si, di in zip(s, drive, strict=False)) / x.shape[0]
    return inner + _readout_loss(net, params, a[-1], y)


def ep_gradient(
    net: VectorFieldMLP,
    params,
    x,
    y,
    *,
    beta: float = 1.0,
    num_nudges: int = 4,
    free_steps: int = 200,
    nudge_steps: int = 60,
    tol: float | None = 1e-4,
):
    """The (generalized, holomorphic) EP estimate of the gradient of the mean cross-entropy:
    ``(dG/dtheta)^T s`` at the free fixed point plus the readout's direct gradient. Returns
    ``(grads, s)``. Exact (equal to :func:`rbp_gradient`) for symmetric dynamics and exact
    ``s``; otherwise biased by the Jacobian asymmetry."""
    u_star, _ = free_phase(net, params, x, num_steps=free_steps, tol=tol)
    s = neuronal_error(
        net, params, u_star, x, y, beta=beta, num_nudges=num_nudges, num_steps=nudge_steps
    )
    _check_finite(s, beta)
    return _surrogate_grad(net, params, u_star, s, x, y), s


_surrogate_grad = jax.jit(jax.grad(surrogate_loss, argnums=1), static_argnums=0)


def _check_finite(s, beta) -> None:
    leaves = jax.tree.leaves(s)
    if all(checks.is_concrete(v) for v in leaves) and not all(
        bool(jnp.all(jnp.isfinite(v))) for v in leaves
    ):
        raise ValueError(
            f"the nudged phases produced NaN/inf at beta={beta}: |beta| too large for the "
            "dynamics (complex sigmoid has poles at Im z = +-pi); use a smaller beta"
        )


def rbp_gradient(net: VectorFieldMLP, params, x, y, *, max_iter: int = 500, tol: float = 1e-6):
    """Recurrent backprop, the exact gradient of the mean cross-entropy at the free fixed
    point, by :func:`jaxpapers_shared.implicit.fixed_point` (one adjoint GMRES solve).
    Returns ``(grads, delta)`` with ``delta = (I - dG/du)^{-T} dl/du``, the error that an
    exact ``s`` equals under symmetry (per example: the loss summed, not averaged)."""
    _check_data(net, x, y)
    return _rbp_gradient(net, params, x, y, max_iter, tol)


@functools.partial(jax.jit, static_argnums=(0, 4, 5))
def _rbp_gradient(net, params, x, y, max_iter, tol):
    y0 = jnp.zeros(x.shape[0], jnp.int32)
    zeros = net.zero_state(x.shape[0], x.dtype)

    def loss(p, pert):
        def g(u, p, pert):
            return tuple(gi + ei for gi, ei in zip(net.step(p, u, x, y0, 0.0), pert, strict=False))

        u = implicit.fixed_point(g, zeros, p, pert, atol=tol, rtol=tol, max_iter=max_iter).value
        return _readout_loss(net, p, net.phi(u[-1]), y)

    grads, delta = jax.grad(loss, argnums=(0, 1))(params, zeros)
    return grads, jax.tree.map(lambda d: d * x.shape[0], delta)


def bptt_gradient(net: VectorFieldMLP, params, x, y, *, num_steps: int = 200):
    """Backprop through time: reverse-mode AD through the ``num_steps`` free-phase updates."""
    _check_data(net, x, y)
    checks.integer(num_steps, "num_steps", minimum=1)
    return _bptt_gradient(net, params, x, y, num_steps)


@functools.partial(jax.jit, static_argnums=(0, 4))
def _bptt_gradient(net, params, x, y, num_steps):
    y0 = jnp.zeros(x.shape[0], jnp.int32)

    def loss(p):
        u = relax(net, p, net.zero_state(x.shape[0], x.dtype), x, y0, 0.0, num_steps)
        return _readout_loss(net, p, net.phi(u[-1]), y)

    return jax.grad(loss)(params)


# ---------------------------------------------------------------------- homeostasis


def homeostatic_loss(net: VectorFieldMLP, params, u_star, x, key, num_probes: int = 5):
    """Jacobian homeostasis (paper Eq. 12): ``E_eps[|J eps|^2 - eps^T J^2 eps]`` with Gaussian
    probes, ``= 2 ||(J - J^T)/2||_F^2``, where ``J`` is the Jacobian of the drive in the
    activities at ``phi(u*)`` (activation bypassed); per example, divided by the number of state
    units, averaged over the batch. ``u_star`` is held fixed (a partial derivative)."""
    checks.integer(num_probes, "num_probes", minimum=1)
    a = jax.lax.stop_gradient(tuple(net.phi(u) for u in u_star))

    def one(eps):
        f = lambda v: net.drive(params, v, x)  # noqa: E731
        _, jeps = jax.jvp(f, (a,), (eps,))
        _, j2eps = jax.jvp(f, (a,), (jeps,))
        sq = sum(jnp.sum(v**2, -1) for v in jeps)
        cross = sum(jnp.sum(e * v, -1) for e, v in zip(eps, j2eps, strict=False))
        return jnp.mean(sq - cross) / net.num_state

    keys = jax.random.split(key, num_probes)
    probes = jax.vmap(lambda k: tuple(jax.random.normal(kk, v.shape) for kk, v in
                                      zip(jax.random.split(k, len(a)), a, strict=False)))(keys)  # fmt: skip
    return jnp.mean(jax.vmap(one)(probes))


def jacobian(net: VectorFieldMLP, params, u_star, x) -> jax.Array:
    """The dense Jacobian ``d drive / d a`` at ``phi(u*)`` per example, ``(B, n, n)``."""
    a = tuple(net.phi(u) for u in u_star)
    flat = jnp.concatenate(a, -1)
    cuts = np.cumsum(net.sizes[1:])[:-1]

    def f(v, xi):
        parts = tuple(p[None] for p in jnp.split(v, cuts))
        return jnp.concatenate(net.drive(params, parts, xi[None]), -1)[0]

    return jax.vmap(jax.jacfwd(f))(flat, x)


def jacobian_asymmetry(net: VectorFieldMLP, params, u_star, x) -> dict:
    """``ratio = ||A||_F / ||J||_F`` with ``A = (J - J^T)/2`` and the official symmetry score
    ``||J_sym|| / (||J_sym|| + ||J_anti||)`` (1: symmetric), both averaged over the batch."""
    j = jacobian(net, params, u_star, x)
    sym = jnp.linalg.norm((j + jnp.swapaxes(j, -1, -2)) / 2, axis=(-2, -1))
    anti = jnp.linalg.norm((j - jnp.swapaxes(j, -1, -2)) / 2, axis=(-2, -1))
    return {
        "ratio": jnp.mean(anti / jnp.linalg.norm(j, axis=(-2, -1))),
        "symmetry": jnp.mean(sym / (sym + anti)),
    }


# ---------------------------------------------------------------------- feedback angle


def rotate_feedback(params: dict, angle: float, key: jax.Array) -> dict:
    """Sets every feedback matrix to ``sin(angle) B_rand + cos(angle) W^T`` (degrees),
    ``B_rand`` Gaussian with the same per-entry scale as ``W``."""
    checks.in_range(angle, "angle", 0.0, 180.0)
    rad = math.radians(angle)
    keys = jax.random.split(key, max(len(params["feedback"]), 1))
    feedback = []
    for k, fwd in zip(keys, params["forward"][1:], strict=False):
        wt = fwd["w"].T
        rand = jax.random.normal(k, wt.shape) / math.sqrt(wt.shape[1])
        feedback.append({"w": math.sin(rad) * rand + math.cos(rad) * wt})
    return {**params, "feedback": feedback}


def feedback_angle(params: dict) -> jax.Array:
    """The angle in degrees between the flattened forward ``W^T`` and feedback ``B`` weights."""
    w = jnp.concatenate([f["w"].T.ravel() for f in params["forward"][1:]])
    b = jnp.concatenate([f["w"].ravel() for f in params["feedback"]])
    cos = jnp.dot(w, b) / (jnp.linalg.norm(w) * jnp.linalg.norm(b))
    return jnp.degrees(jnp.arccos(jnp.clip(cos, -1.0, 1.0)))


def cosine(a: PyTree, b: PyTree) -> jax.Array:
    """Cosine similarity of two pytrees, flattened."""
    va = jnp.concatenate([v.ravel() for v in jax.tree.leaves(a)])
    vb = jnp.concatenate([v.ravel() for v in jax.tree.leaves(b)])
    return jnp.dot(va, vb) / (jnp.linalg.norm(va) * jnp.linalg.norm(vb))


def relative_error(est: PyTree, ref: PyTree) -> jax.Array:
    """``||est - ref|| / ||ref||`` over all leaves."""
    d = jnp.concatenate(
        [(e - r).ravel() for e, r in zip(jax.tree.leaves(est), jax.tree.leaves(ref), strict=False)]
    )
    r = jnp.concatenate([v.ravel() for v in jax.tree.leaves(ref)])
    return jnp.linalg.norm(d) / jnp.linalg.norm(r)


def error_alignment(s: tuple, delta: tuple) -> jax.Array:
    """Per-layer alignment of EP and RBP neuronal errors: the cosine of ``s_l`` and
    ``delta_l`` per example, averaged over examples; one value per state layer."""

    def one(a, b):
        num = jnp.sum(a * b, -1)
        den = jnp.linalg.norm(a, axis=-1) * jnp.linalg.norm(b, axis=-1)
        return jnp.mean(num / jnp.maximum(den, 1e-30))

    return jnp.stack([one(a, b) for a, b in zip(s, delta, strict=False)])
