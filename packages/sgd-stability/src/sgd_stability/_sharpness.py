"""Sharpness of a trained model at a minimum: ``lambda_max(H)``, ``tr H`` and ``||H||_F``.

The loss is the paper's square loss ``L(theta) = (1/2n) sum_i (f(x_i; theta) - y_i)^2``. With it,
``H = J^T J / n + (1/n) sum_i (f_i - y_i) grad^2 f_i``, and at an interpolating minimum the second
term vanishes: ``H = J^T J / n``, whose nonzero spectrum is that of ``G / n`` with the ``n x n``
Gram matrix ``G = J J^T``. Hence, exactly, ``tr H = tr G / n``, ``lambda_max(H) = lambda_max(G)/n``
and ``||H||_F = ||G||_F / n``, at the cost of ``n`` per-example gradients.
"""

from __future__ import annotations

import functools
import warnings
from typing import Literal, NamedTuple

import jax
import jax.numpy as jnp
from flax import nnx
from jax.flatten_util import ravel_pytree
from jax.tree_util import Partial

from jaxpapers_shared import checks, curvature

__all__ = ["Sharpness", "gram_matrix", "sharpness", "square_loss"]


class Sharpness(NamedTuple):
    """Sharpness measures of the training loss at the model's parameters (:func:`sharpness`).

    Attributes:
      trace: () ``tr H``; SGD (batch size 1) can stay at the minimum only if ``lr * trace <= 2``.
      lambda_max: () ``lambda_max(H)``; GD can stay at the minimum only if
        ``lr * lambda_max <= 2``.
      frobenius: () ``||H||_F`` (Wu, Wang & Su 2022 bound it for SGD).
      loss: () the training loss ``(1/2n) sum_i (f(x_i) - y_i)^2``.
      grad_norm: () ``||grad L||``; both vanish at an interpolating minimum.
    """

    trace: jax.Array
    lambda_max: jax.Array
    frobenius: jax.Array
    loss: jax.Array
    grad_norm: jax.Array


def square_loss(model: nnx.Module, x: jax.Array, y: jax.Array) -> jax.Array:
    """``(1/2n) sum_i (f(x_i) - y_i)^2``, the loss the paper's analysis assumes."""
    return 0.5 * jnp.mean((model(x) - y) ** 2)


def _flat_loss(graphdef, params, x, y):
    return square_loss(nnx.merge(graphdef, params), x, y)


def _apply_twice(matvec, v):
    return matvec(matvec(v))


@functools.lru_cache(maxsize=64)
def _loss_of(graphdef):
    """One loss function per model structure, so :func:`curvature.hvp` reuses compiled code."""
    return functools.partial(_flat_loss, graphdef)


@functools.partial(jax.jit, static_argnums=0)
def _gram(graphdef, params, x):
    jac = jax.jacrev(lambda p: nnx.merge(graphdef, p)(x))(params)
    flat = jnp.concatenate([leaf.reshape(x.shape[0], -1) for leaf in jax.tree.leaves(jac)], 1)
    return flat @ flat.T


@functools.partial(jax.jit, static_argnums=0)
def _loss_and_grad_norm(graphdef, params, x, y):
    loss, grad = jax.value_and_grad(_loss_of(graphdef))(params, x, y)
    return loss, jnp.linalg.norm(ravel_pytree(grad)[0])


def _check_data(model: nnx.Module, x, y=None):
    if not isinstance(model, nnx.Module):
        raise TypeError(f"`model` must be a flax.nnx.Module, got {type(model).__name__}.")
    x = checks.array(x, "x", ndim=2, dtype="float")
    if y is None:
        return x, None
    y = checks.array(y, "y", ndim=1, dtype="float")
    if y.shape[0] != x.shape[0]:
        raise ValueError(
            f"`x` and `y` must hold the same number of examples, got x.shape={x.shape} and "
            f"y.shape={y.shape}."
        )
    return x, y


def gram_matrix(model: nnx.Module, x: jax.Array) -> jax.Array:
    """``G = J J^T`` (n, n): inner products of the per-example gradients ``grad_theta f(x_i)``.

    At an interpolating minimum ``H = J^T J / n`` shares its nonzero eigenvalues with ``G / n``;
    ``G`` is what :func:`stability_radius` and :func:`critical_lr` take.

    Args:
      model: a ``flax.nnx`` module mapping ``(n, d)`` inputs to ``(n,)`` outputs.
      x: (n, d) training inputs.

    Raises:
      ValueError: ``x`` not 2-D or non-finite. TypeError: ``model`` not an ``nnx.Module``.
    """
    x, _ = _check_data(model, x)
    graphdef, params = nnx.split(model)
    return _gram(graphdef, params, x)


def sharpness(
    model: nnx.Module,
    x: jax.Array,
    y: jax.Array,
    *,
    method: Literal["gram", "lanczos", "dense"] = "gram",
    key: jax.Array | None = None,
    loss_tol: float | None = 1e-5,
    order: int = 30,
    num_probes: int = 100,
) -> Sharpness:
    """Top eigenvalue, trace and Frobenius norm of the Hessian of the square loss at a minimum.

    Args:
      model: a ``flax.nnx`` module mapping ``(n, d)`` inputs to ``(n,)`` outputs.
      x: (n, d) training inputs.
      y: (n,) training targets.
      method: ``"gram"`` (exact at an interpolating minimum: ``G = J J^T / n``, ``n``
        per-example gradients), ``"lanczos"`` (the true Hessian, matrix-free through
        :mod:`jaxpapers_shared.curvature`: Lanczos for ``lambda_max`` with ``order`` steps,
        Hutchinson with ``num_probes`` Rademacher probes for ``tr H = E[z^T H z]`` and
        ``||H||_F^2 = E[||H z||^2]``; needs ``key``), or ``"dense"`` (``jax.hessian``, ``p x p``;
        small models only).
      key: PRNG key for the Hutchinson probes (``method="lanczos"`` only).
      loss_tol: the training loss above which the parameters are not an interpolating minimum
        and a ``ValueError`` is raised (the stability bounds, and ``H = J^T J / n``, hold at
        interpolating minima only). ``None`` measures anywhere (then ``"gram"`` gives the
        Gauss-Newton matrix, not the Hessian).
      order: Lanczos steps (``"lanczos"``).
      num_probes: Hutchinson probes (``"lanczos"``).

    Returns:
      :class:`Sharpness`.

    Raises:
      ValueError: ``model`` not at an interpolating minimum (training loss above ``loss_tol``);
        ``x``/``y`` of mismatched lengths or non-finite; an unknown ``method``; a missing
        ``key`` for ``"lanczos"``.
    """
    x, y = _check_data(model, x, y)
    checks.one_of(method, "method", ("gram", "lanczos", "dense"))
    graphdef, params = nnx.split(model)
    loss, grad_norm = _loss_and_grad_norm(graphdef, params, x, y)
    if loss_tol is not None:
        checks.positive(loss_tol, "loss_tol")
        if not loss <= loss_tol:
            raise ValueError(
                f"`model` is not at an interpolating minimum: training loss {float(loss):.3g} > "
                f"loss_tol = {loss_tol:g} (gradient norm {float(grad_norm):.3g}). The stability "
                "bounds on sharpness hold at global minima, where H = J^T J / n; train to "
                "interpolation first, or pass loss_tol=None to measure anyway."
            )
    n = x.shape[0]
    if method == "gram":
        gram = _gram(graphdef, params, x)
        top = jnp.linalg.eigvalsh(gram)[-1]
        return Sharpness(jnp.trace(gram) / n, top / n, jnp.linalg.norm(gram) / n, loss, grad_norm)
    if method == "dense":
        flat, unravel = ravel_pytree(params)
        hessian = jax.jit(jax.hessian(lambda f: _loss_of(graphdef)(unravel(f), x, y)))(flat)
        top = jnp.linalg.eigvalsh(hessian)[-1]
        return Sharpness(jnp.trace(hessian), top, jnp.linalg.norm(hessian), loss, grad_norm)
    if key is None:
        raise ValueError("`key` is required for method='lanczos' (Hutchinson probes).")
    matvec = curvature.hvp(_loss_of(graphdef), params, x, y)
    top = curvature.top_eigenvalue(matvec, params, order=order)
    if not bool(top.converged):
        warnings.warn(
            f"sharpness: Lanczos lambda_max did not converge in {order} steps (residual "
            f"{float(top.residual):.2g}); raise `order`.",
            RuntimeWarning,
            stacklevel=2,
        )
    trace = curvature.hutchinson_trace(matvec, key, params, num_probes=num_probes)
    squared = curvature.hutchinson_trace(
        Partial(_apply_twice, matvec), key, params, num_probes=num_probes
    )
    return Sharpness(trace.value, top.value, jnp.sqrt(squared.value), loss, grad_norm)
