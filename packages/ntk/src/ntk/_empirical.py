"""Finite-width (empirical) NTK: Theta(x, x') = J(x) J(x')^T (Jacot et al., Sec. 4)."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any, Literal

import jax
import jax.numpy as jnp
from flax import nnx

from ._checks import check_pair
from ._model import NTKMLP

Method = Literal["auto", "jacobian", "ntk_vp", "mlp"]
_METHODS = ("auto", "jacobian", "ntk_vp", "mlp")
# Above this many Jacobian bytes (N1 * P * out * 4), "auto" switches to NTK-vector products.
_JACOBIAN_BYTES = 2**28


def _finish(full: jax.Array, trace_outputs: bool) -> jax.Array:
    """``(N1, N2, out, out)`` -> itself or its output trace divided by ``out``."""
    if not trace_outputs:
        return full
    return jnp.trace(full, axis1=2, axis2=3) / full.shape[-1]


@functools.partial(jax.jit, static_argnames=("apply_fn", "trace_outputs"))
def _jacobian_ntk(apply_fn, params, x1, x2, *, trace_outputs):
    def jac(x):
        leaves = jax.tree.leaves(jax.jacrev(apply_fn)(params, x))
        n, out = x.shape[0], leaves[0].shape[1]
        return [leaf.reshape(n, out, -1) for leaf in leaves]

    j1, j2 = jac(x1), jac(x2)
    full = sum(jnp.einsum("aip,bjp->abij", a, b) for a, b in zip(j1, j2, strict=True))
    return _finish(full, trace_outputs)


@functools.partial(jax.jit, static_argnames=("apply_fn", "trace_outputs", "batch_size"))
def _ntk_vp(apply_fn, params, x1, x2, *, trace_outputs, batch_size):
    out = jax.eval_shape(apply_fn, params, x1[:1]).shape[-1]

    def column(x):
        # J(x)^T e_k for every output k (one VJP each), then J(x1) of those vectors (JVPs).
        _, vjp = jax.vjp(lambda p: apply_fn(p, x[None])[0], params)
        cotangents = jax.vmap(lambda e: vjp(e)[0])(jnp.eye(out, dtype=x1.dtype))

        def jvp(tangent):
            return jax.jvp(lambda p: apply_fn(p, x1), (params,), (tangent,))[1]

        return jax.vmap(jvp)(cotangents)  # (out_k, N1, out_j)

    cols = jax.lax.map(column, x2, batch_size=batch_size)  # (N2, out_k, N1, out_j)
    full = jnp.transpose(cols, (2, 0, 3, 1))
    return _finish(full, trace_outputs)


@functools.partial(jax.jit, static_argnames=("activation", "beta", "trace_outputs"))
def _structured_ntk(weights, x1, x2, *, activation, beta, trace_outputs):
    def forward(x):
        """Pre-activation inputs a(l) and sigma'(h(l)) on the hidden layers."""
        acts, derivs = [x], []
        h = x
        for i, (w, b) in enumerate(weights):
            if i > 0:
                derivs.append(jax.vmap(jax.vmap(jax.grad(activation.fn)))(h))
                acts.append(activation.fn(h))
            h = acts[-1] @ w / math.sqrt(w.shape[0]) + beta * b
        return acts, derivs

    def backward(derivs, n):
        """delta(l+1) for every output unit: ``[(N, out, n_{l+1})]`` for l = 0..L-1."""
        out = weights[-1][0].shape[1]
        delta = jnp.broadcast_to(jnp.eye(out, dtype=x1.dtype), (n, out, out))
        deltas = [delta]
        for (w, _), d in zip(weights[:0:-1], derivs[::-1], strict=True):
            delta = d[:, None, :] * (delta @ w.T) / math.sqrt(w.shape[0])
            deltas.append(delta)
        return deltas[::-1]

    a1, d1 = forward(x1)
    a2, d2 = forward(x2)
    full = 0.0
    for acts1, acts2, delta1, delta2 in zip(
        a1, a2, backward(d1, x1.shape[0]), backward(d2, x2.shape[0]), strict=True
    ):
        # Weights contribute <a, a'> / n_l and biases beta^2, both times <delta, delta'>.
        feature = acts1 @ acts2.T / acts1.shape[1] + beta**2
        full = full + jnp.einsum("aim,bjm->abij", delta1, delta2) * feature[:, :, None, None]
    return _finish(full, trace_outputs)


def _num_params(params: Any) -> int:
    return sum(math.prod(leaf.shape) for leaf in jax.tree.leaves(params))


def empirical_ntk(
    fn: Callable[[Any, jax.Array], jax.Array] | NTKMLP,
    params: Any,
    x1: jax.typing.ArrayLike,
    x2: jax.typing.ArrayLike | None = None,
    *,
    method: Method = "auto",
    trace_outputs: bool = True,
    batch_size: int | None = None,
) -> jax.Array:
    """Empirical NTK ``Theta(x, x') = sum_p df(x)/dp df(x')/dp^T`` (Jacot et al., Sec. 4).

    Three exact computations:

    * ``"jacobian"``: Jacobians of ``fn`` over the batch, contracted leaf by leaf;
      memory ``O(N * P * out)``.
    * ``"ntk_vp"``: per point of ``x2``, VJPs of the one-hot outputs then JVPs at all of ``x1``;
      memory ``O(batch_size * P * out)`` with ``lax.map``.
    * ``"mlp"``: the structured formula for :class:`NTKMLP` (``fn`` must be the module),
      ``Theta = sum_l <delta(l+1), delta'(l+1)> (<a(l), a'(l)> / n_l + beta^2)``; memory
      ``O(N * L * n * out)``.

    ``"auto"`` picks ``"mlp"`` for an :class:`NTKMLP`, else ``"jacobian"`` while the Jacobian
    fits in 256 MiB, else ``"ntk_vp"``.

    Args:
      fn: ``apply_fn(params, x) -> (N, out)`` (a pure function, hashable: it is a static jit
        argument), or an :class:`NTKMLP` (then ``params`` must be ``None``).
      params: the pytree ``apply_fn`` differentiates, e.g. ``nnx.split(model)[1]``.
      x1: ``(N1, d)``; x2: ``(N2, d)``, default ``x1``.
      method: one of ``"auto"``, ``"jacobian"``, ``"ntk_vp"``, ``"mlp"`` (keyword-only).
      trace_outputs: return the output trace divided by ``out`` (``(N1, N2)``) instead of the
        full ``(N1, N2, out, out)`` tensor. The limit is ``Theta (x) Id``: the off-diagonal output
        blocks are finite-width noise.
      batch_size: points of ``x2`` per ``lax.map`` step for ``"ntk_vp"`` (default: all).

    Returns:
      ``(N1, N2)`` or ``(N1, N2, out, out)``.

    Raises:
      ValueError: unknown ``method``; ``"mlp"`` without an :class:`NTKMLP`; bad inputs (not
        2-D, non-finite, mismatched feature sizes); ``batch_size < 1``.
      TypeError: ``params`` given with an :class:`NTKMLP` or missing with an apply function.
    """
    if method not in _METHODS:
        raise ValueError(f"`method` must be one of {_METHODS}, got {method!r}.")
    if batch_size is not None and (not isinstance(batch_size, int) or batch_size < 1):
        raise ValueError(f"`batch_size` must be a positive int or None, got {batch_size!r}.")
    x1, x2 = check_pair(x1, x2)
    if isinstance(fn, NTKMLP):
        if params is not None:
            raise TypeError("`params` must be None when `fn` is an NTKMLP (it holds its own).")
        if x1.shape[1] != fn.widths[0]:
            raise ValueError(f"`x1` must be (N, {fn.widths[0]}), got x1.shape={x1.shape}.")
        if method in ("auto", "mlp"):
            return _structured_ntk(
                fn.weights(),
                x1,
                x2,
                activation=fn.activation,
                beta=fn.beta,
                trace_outputs=trace_outputs,
            )
        graphdef, state = nnx.split(fn)
        fn, params = _MergedApply(graphdef), state
    elif method == "mlp":
        raise ValueError(
            f"`method`='mlp' needs `fn` to be an NTKMLP module, got {type(fn).__name__}; use "
            "'jacobian' or 'ntk_vp' for other networks."
        )
    if params is None:
        raise TypeError("`params` must be the pytree `fn` is differentiated in, got None.")
    if method == "auto":
        out = jax.eval_shape(fn, params, x1[:1]).shape[-1]
        too_big = x1.shape[0] * _num_params(params) * out * 4 > _JACOBIAN_BYTES
        method = "ntk_vp" if too_big else "jacobian"
    if method == "jacobian":
        return _jacobian_ntk(fn, params, x1, x2, trace_outputs=trace_outputs)
    return _ntk_vp(fn, params, x1, x2, trace_outputs=trace_outputs, batch_size=batch_size)


class _MergedApply:
    """``(state, x) -> nnx.merge(graphdef, state)(x)``, hashable by its graphdef for jit."""

    def __init__(self, graphdef):
        self.graphdef = graphdef

    def __call__(self, state, x):
        return nnx.merge(self.graphdef, state)(x)

    def __hash__(self):
        return hash(self.graphdef)

    def __eq__(self, other):
        return isinstance(other, _MergedApply) and self.graphdef == other.graphdef
