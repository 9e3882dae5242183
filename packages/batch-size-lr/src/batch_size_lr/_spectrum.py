"""Spectra of batch and full-data Hessians (and Gauss-Newton matrices) by Lanczos and SLQ.

The matrix-free linear algebra (Hessian-vector products, Lanczos, stochastic Lanczos quadrature,
Hutchinson) is :mod:`jaxpapers_shared.curvature`; this module samples the batches, builds the
operators and solves the Lanczos tridiagonal matrices in float64.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Sequence
from typing import Any, Literal, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.tree_util import Partial

from jaxpapers_shared import checks
from jaxpapers_shared import curvature as cv

from ._models import SplitLoss

PyTree = Any
Curvature = Literal["hessian", "ggn"]
# The models are small: XLA's backend optimisation passes cost far more compile time than they
# save at run time (same results up to rounding).
FAST_COMPILE = {"xla_backend_optimization_level": 0}
_NONFINITE = (
    "the Hessian-vector products of `loss_fn` returned NaN/inf: they must be finite. Check the "
    "loss and the `params` at which the curvature is taken."
)


class BatchSpectrum(NamedTuple):
    """Extremal eigenvalues of ``num_batches`` independent batch Hessians (or GGNs).

    Attributes:
      lambda_max: () mean over batches of the largest (algebraic) eigenvalue.
      lambda_min: () mean over batches of the smallest eigenvalue.
      top: (num_batches,) the largest Ritz value of each batch's Lanczos run.
      bottom: (num_batches,) the smallest Ritz value of each batch's run.
    """

    lambda_max: float
    lambda_min: float
    top: np.ndarray
    bottom: np.ndarray


# ----------------------------------------------------------------------------- operators


@dataclasses.dataclass(frozen=True)
class _GGNProduct:
    """``(params, x, *targets, v) -> J^T H_out J v`` for one :class:`SplitLoss`."""

    loss: SplitLoss

    def __call__(self, params: PyTree, x: jax.Array, *targets_and_v: Any) -> PyTree:
        *targets, v = targets_and_v
        model = functools.partial(self.loss.apply_fn, x=x)
        outputs, jv = jax.jvp(lambda p: model(p), (params,), (v,))
        grad_out = jax.grad(lambda o: self.loss.output_loss(o, *targets))
        hjv = jax.jvp(grad_out, (outputs,), (jv,))[1]
        return jax.vjp(lambda p: model(p), params)[1](hjv)[0]


def ggn_product(loss: SplitLoss, params: PyTree, x: jax.Array, *targets: jax.Array):
    """The generalised Gauss-Newton matrix ``G = J^T H_out J`` as a product ``v -> G v``.

    ``J`` is the Jacobian of ``loss.apply_fn`` at ``params`` on the inputs ``x`` and ``H_out``
    the Hessian of ``loss.output_loss`` in the outputs (one JVP, one HVP in output space, one
    VJP). ``G`` drops the second-derivative-of-the-network term of the Hessian and is positive
    semi-definite for a convex output loss.

    Raises:
      TypeError: ``loss`` is not a :class:`SplitLoss`.
      ValueError: ``params`` not finite (concrete values).
    """
    if not isinstance(loss, SplitLoss):
        raise TypeError(
            "`loss` must be a SplitLoss(apply_fn, output_loss) for curvature='ggn', got "
            f"{type(loss).__name__}."
        )
    checks.finite(params, "params")
    return Partial(_GGNProduct(loss), params, x, *targets)


def _operator(loss_fn, params, batch, kind: Curvature):
    if kind == "ggn":
        return ggn_product(loss_fn, params, *batch)
    return cv.hvp(loss_fn, params, *batch)


# ----------------------------------------------------------------------------- checks


def _check_loss(loss_fn, kind) -> None:
    checks.one_of(kind, "curvature", ("hessian", "ggn"))
    if not callable(loss_fn):
        raise TypeError(f"`loss_fn` must be a function loss(params, *batch), got {loss_fn!r}.")
    if kind == "ggn" and not isinstance(loss_fn, SplitLoss):
        raise TypeError(
            "`loss_fn` must be a SplitLoss(apply_fn, output_loss) for curvature='ggn', got "
            f"{type(loss_fn).__name__}."
        )


def _check_data(data: Sequence[Any]) -> tuple[jax.Array, ...]:
    if not isinstance(data, tuple | list) or not data:
        raise TypeError(
            f"`data` must be a tuple of arrays with a leading example axis, got {type(data).__name__}."
        )
    data = tuple(jnp.asarray(a) for a in data)
    n = data[0].shape[0] if data[0].ndim else 0
    if n < 1 or any(a.ndim == 0 or a.shape[0] != n for a in data):
        shapes = [tuple(a.shape) for a in data]
        raise ValueError(f"`data` arrays must share a leading example axis >= 1, got {shapes}.")
    checks.finite(data, "data")
    return data


def _check_scalar_loss(loss_fn, params, data) -> None:
    out = jax.eval_shape(loss_fn, params, *(a[:1] for a in data))
    if getattr(out, "shape", None) != ():
        raise ValueError(
            f"`loss_fn` must return a scalar, got an output of shape {getattr(out, 'shape', out)}."
        )


def _ritz_extremes(alpha: np.ndarray, beta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Largest and smallest eigenvalues of each tridiagonal matrix, solved in float64."""
    alpha, beta = np.asarray(alpha, np.float64), np.asarray(beta, np.float64)
    if not (np.all(np.isfinite(alpha)) and np.all(np.isfinite(beta))):
        raise ValueError(_NONFINITE)
    k = alpha.shape[-1]
    t = np.zeros(alpha.shape[:-1] + (k, k))
    idx = np.arange(k)
    t[..., idx, idx] = alpha
    t[..., idx[:-1], idx[1:]] = beta
    t[..., idx[1:], idx[:-1]] = beta
    values = np.linalg.eigvalsh(t)
    return values[..., -1], values[..., 0]


# ----------------------------------------------------------------------------- extremes


def _start(key: jax.Array, like: PyTree) -> PyTree:
    leaves, treedef = jax.tree.flatten(like)
    keys = jax.random.split(key, len(leaves))
    return jax.tree.unflatten(
        treedef, [jax.random.normal(k, a.shape, a.dtype) for k, a in zip(keys, leaves, strict=True)]
    )


@dataclasses.dataclass(frozen=True)
class _WeightedOutput:
    """``(outputs, *targets, w) -> sum_i w_i output_loss(outputs_i, targets_i)``."""

    output_loss: Callable[..., jax.Array]

    def __call__(self, outputs, *targets_and_w):
        *targets, w = targets_and_w
        one = lambda o, *t: self.output_loss(o[None], *(a[None] for a in t))  # noqa: E731
        return jnp.sum(w * jax.vmap(one)(outputs, *targets))


@dataclasses.dataclass(frozen=True)
class _WeightedLoss:
    """``(params, *batch, w) -> sum_i w_i loss_fn(params, example_i)``."""

    loss_fn: Callable[..., jax.Array]

    def __call__(self, params, *batch_and_w):
        *batch, w = batch_and_w
        one = lambda *ex: self.loss_fn(params, *(a[None] for a in ex))  # noqa: E731
        return jnp.sum(w * jax.vmap(one)(*batch))


def weighted(loss_fn: Callable[..., jax.Array]) -> Callable[..., jax.Array]:
    """``loss_fn`` as a weighted sum of per-example losses, taking the weights last.

    A batch of ``B`` examples padded to a fixed size with zero weights (``1/B`` on the real ones)
    has the loss, gradient, Hessian and GGN of the ``B``-example batch, so that every batch size
    runs through one compiled program. A :class:`SplitLoss` stays one (for the GGN).
    """
    if isinstance(loss_fn, SplitLoss):
        return SplitLoss(loss_fn.apply_fn, _WeightedOutput(loss_fn.output_loss))
    return _WeightedLoss(loss_fn)


def padded_batch(key: jax.Array, n: int, batch_size: jax.Array, pad_to: int):
    """``pad_to`` example indices whose first ``batch_size`` are distinct and uniformly drawn,
    and weights ``1/batch_size`` on those, 0 on the padding."""
    idx = jax.random.permutation(key, n)[:pad_to]
    real = jnp.arange(pad_to) < batch_size
    return jnp.where(real, idx, 0), real / batch_size


@functools.partial(
    jax.jit,
    static_argnames=("loss_fn", "num_batches", "order", "kind", "pad_to"),
    compiler_options=FAST_COMPILE,
)
def _batch_tridiagonals(loss_fn, params, data, key, batch_size, num_batches, order, kind, pad_to):
    n = data[0].shape[0]
    batch_keys, start_keys = jax.random.split(key)
    loss = weighted(loss_fn)

    def one(batch_key, start_key):
        idx, w = padded_batch(batch_key, n, batch_size, pad_to)
        batch = (*(a[idx] for a in data), w)
        run = cv.lanczos(_operator(loss, params, batch, kind), _start(start_key, params), order)
        return run.alpha, run.beta

    return jax.vmap(one)(
        jax.random.split(batch_keys, num_batches), jax.random.split(start_keys, num_batches)
    )


def batch_hessian_extremes(
    loss_fn: Callable[..., jax.Array],
    params: PyTree,
    data: Sequence[jax.Array],
    *,
    batch_size: int,
    num_batches: int,
    key: jax.Array,
    order: int = 30,
    curvature: Curvature = "hessian",
    pad_to: int | None = None,
) -> BatchSpectrum:
    """Extremal eigenvalues of the batch Hessian ``H_B = (1/B) sum_{i in batch} d^2 l_i``.

    Draws ``num_batches`` batches of ``batch_size`` distinct examples (each with its own key) and
    runs ``order`` Lanczos steps with full reorthogonalisation on each batch's Hessian (or GGN),
    from its own Gaussian start vector; the tridiagonal matrices are solved in float64. The paper
    predicts ``lambda_max(H_B)`` above the full-data ``lambda_max(H_N)`` and growing as ``B``
    shrinks (spiked random-matrix model, see :func:`spiked_extremal_eigenvalue`).

    Args:
      loss_fn: ``loss_fn(params, *batch) -> scalar``, the mean loss over a batch (a
        :class:`SplitLoss` for ``curvature="ggn"``).
      params: the point (a fixed checkpoint), a pytree of float arrays.
      data: tuple of arrays with a leading axis of ``N`` examples (``(x, y)``).
      batch_size: ``B``, 1 <= B <= N.
      num_batches: independent batches (>= 1).
      key: PRNG key for the batches and the Lanczos start vectors.
      order: Lanczos steps (>= 2).
      curvature: ``"hessian"`` or ``"ggn"`` (the generalised Gauss-Newton matrix).
      pad_to: evaluate each batch padded to this many examples with zero weights (>=
        ``batch_size``), so that calls with different batch sizes and the same ``pad_to`` share
        one compiled program; ``None`` = ``batch_size``.

    Returns:
      :class:`BatchSpectrum` (means over batches and the per-batch values).

    Raises:
      ValueError: ``batch_size`` outside [1, N], ``num_batches < 1``, ``order < 2``, non-finite
        ``params``/``data``, a non-scalar loss, or Hessian-vector products that are NaN/inf.
      TypeError: ``loss_fn`` not callable (or not a :class:`SplitLoss` for ``"ggn"``).
    """
    _check_loss(loss_fn, curvature)
    data = _check_data(data)
    n = data[0].shape[0]
    batch_size = checks.integer(batch_size, "batch_size", minimum=1, maximum=n)
    num_batches = checks.integer(num_batches, "num_batches", minimum=1)
    order = checks.integer(order, "order", minimum=2)
    checks.finite(params, "params")
    _check_scalar_loss(loss_fn, params, data)
    if pad_to is None:
        pad_to = batch_size
    pad_to = checks.integer(pad_to, "pad_to", minimum=batch_size, maximum=n)
    size = jnp.asarray(batch_size, jnp.float32)
    alpha, beta = _batch_tridiagonals(
        loss_fn, params, data, key, size, num_batches, order, curvature, pad_to
    )
    top, bottom = _ritz_extremes(alpha, beta)
    return BatchSpectrum(float(np.mean(top)), float(np.mean(bottom)), top, bottom)


def hessian_extremes(
    loss_fn: Callable[..., jax.Array],
    params: PyTree,
    data: Sequence[jax.Array],
    *,
    key: jax.Array,
    order: int = 30,
    curvature: Curvature = "hessian",
) -> tuple[float, float]:
    """``(lambda_max, lambda_min)`` of the full-data Hessian ``H_N`` (or GGN) on all of ``data``.

    One ``order``-step Lanczos run (full reorthogonalisation, float64 tridiagonal solve) on the
    Hessian of the mean loss over every example. Arguments and errors as in
    :func:`batch_hessian_extremes`.
    """
    _check_loss(loss_fn, curvature)
    data = _check_data(data)
    order = checks.integer(order, "order", minimum=2)
    checks.finite(params, "params")
    _check_scalar_loss(loss_fn, params, data)
    alpha, beta = _full_tridiagonal(loss_fn, params, data, key, order, curvature)
    top, bottom = _ritz_extremes(alpha[None], beta[None])
    return float(top[0]), float(bottom[0])


@functools.partial(
    jax.jit, static_argnames=("loss_fn", "order", "kind"), compiler_options=FAST_COMPILE
)
def _full_tridiagonal(loss_fn, params, data, key, order, kind):
    run = cv.lanczos(_operator(loss_fn, params, data, kind), _start(key, params), order)
    return run.alpha, run.beta


# ----------------------------------------------------------------------------- densities


def hessian_density(
    loss_fn: Callable[..., jax.Array],
    params: PyTree,
    data: Sequence[jax.Array],
    *,
    key: jax.Array,
    batch_size: int | None = None,
    order: int = 30,
    num_probes: int = 8,
    curvature: Curvature = "hessian",
) -> cv.SpectralDensity:
    """The spectral density of a batch Hessian (or of the full-data one) by stochastic Lanczos
    quadrature: ``phi(t) ~ mean over probes of sum_k tau_k delta(t - theta_k)``.

    Args:
      loss_fn, params, data, curvature: as in :func:`batch_hessian_extremes`.
      key: PRNG key for the batch and the probes.
      batch_size: ``B`` examples drawn without replacement, or ``None`` for all ``N``.
      order: Lanczos steps per probe (>= 2).
      num_probes: Rademacher probes (>= 1).

    Returns:
      ``jaxpapers_shared.curvature.SpectralDensity`` (nodes, weights; ``moment``, ``smoothed``).

    Raises:
      ValueError: as :func:`batch_hessian_extremes`, and ``num_probes < 1``.
    """
    _check_loss(loss_fn, curvature)
    data = _check_data(data)
    n = data[0].shape[0]
    order = checks.integer(order, "order", minimum=2)
    num_probes = checks.integer(num_probes, "num_probes", minimum=1)
    checks.finite(params, "params")
    _check_scalar_loss(loss_fn, params, data)
    batch_key, probe_key = jax.random.split(key)
    if batch_size is not None:
        batch_size = checks.integer(batch_size, "batch_size", minimum=1, maximum=n)
        idx = jax.random.choice(batch_key, n, (batch_size,), replace=False)
        data = tuple(a[idx] for a in data)
    operator = _operator(loss_fn, params, data, curvature)
    try:
        return cv.slq_density(operator, probe_key, params, order=order, num_probes=num_probes)
    except ValueError:
        raise ValueError(_NONFINITE) from None


# ----------------------------------------------------------------------------- noise


@functools.partial(
    jax.jit, static_argnames=("loss_fn", "num_samples", "num_probes"), compiler_options=FAST_COMPILE
)
def _noise(loss_fn, params, data, key, num_samples, num_probes):
    from jax.flatten_util import ravel_pytree

    n = data[0].shape[0]
    sample_key, probe_key = jax.random.split(key)
    idx = jax.random.choice(sample_key, n, (num_samples,), replace=False)
    flat, unravel = ravel_pytree(params)

    def product(batch, z):
        return ravel_pytree(cv.hvp(loss_fn, params, *batch)(unravel(z)))[0]

    def per_probe(k):
        z = jax.random.rademacher(k, flat.shape, flat.dtype)
        full = product(data, z)
        per_sample = jax.lax.map(
            lambda i: product(tuple(a[i][None] for a in data), z), idx, batch_size=32
        )
        return jnp.sum((per_sample - full) ** 2, axis=1)  # ||(H_i - H) z||^2

    squares = jax.lax.map(per_probe, jax.random.split(probe_key, num_probes))
    return jnp.mean(squares) / flat.size, jnp.std(jnp.mean(squares, 0)) / flat.size


def per_sample_hessian_noise(
    loss_fn: Callable[..., jax.Array],
    params: PyTree,
    data: Sequence[jax.Array],
    key: jax.Array,
    *,
    num_samples: int = 256,
    num_probes: int = 4,
) -> float:
    """``v_F = E_i ||H_i - H_N||_F^2 / P``: the per-sample Hessian noise of the spiked model.

    ``H_i`` is the Hessian of the loss on example ``i``, ``H_N`` the full-data Hessian and ``P``
    the number of parameters. Each ``||H_i - H_N||_F^2`` is estimated as
    ``E_z ||(H_i - H_N) z||^2`` over Rademacher ``z`` (Hutchinson on ``(H_i - H_N)^2``), averaged
    over ``num_samples`` distinct examples. A batch of ``B`` examples drawn without replacement
    has fluctuation ``E_B = H_B - H_N`` with ``E ||E_B||_F^2 / P = v_F (N - B) / (B (N - 1))``,
    the squared semicircle radius scale ``s^2`` of :func:`spiked_extremal_eigenvalue`.

    Args:
      loss_fn, params, data: as in :func:`batch_hessian_extremes`.
      key: PRNG key for the examples and probes.
      num_samples: examples (1 <= num_samples <= N).
      num_probes: Rademacher probes per example (>= 1).

    Raises:
      ValueError: bad counts, non-finite inputs or Hessian-vector products.
    """
    _check_loss(loss_fn, "hessian")
    data = _check_data(data)
    n = data[0].shape[0]
    num_samples = checks.integer(num_samples, "num_samples", minimum=1, maximum=n)
    num_probes = checks.integer(num_probes, "num_probes", minimum=1)
    checks.finite(params, "params")
    _check_scalar_loss(loss_fn, params, data)
    value, _ = _noise(loss_fn, params, data, key, num_samples, num_probes)
    value = float(value)
    if not np.isfinite(value):
        raise ValueError(_NONFINITE)
    return value
