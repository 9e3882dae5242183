"""Deep NNGP/NTK kernels in the log domain, the ridgeless kernel classifier and its baselines.

With inputs on the unit sphere and ``xi_0 = x . z``, the kernels of a depth-``L`` fully connected
network (NTK parametrisation, no biases) follow the official recursion

    NNGP: xi_{l+1} = dual(xi_l),                      K_NNGP = xi_L
    NTK:  K_0 = xi_0,  K_{l+1} = dual(xi_l) + K_l dual'(xi_l).

Off-diagonal values of deep kernels leave the range of floating point numbers: ``a_1^(2L)`` for a
singular kernel (1e-120 at ``L = 100`` for ``9d_opt``), ``xi^(k^L)`` for ``dual = xi^k`` (exactly
0 in float64 within ten layers), while the NTK diagonal grows like ``dual'(1)^L``. The recursion
here carries every value as ``(sign, log|value|)`` in float64: ``dual`` is applied directly while
``|xi| >= 1e-4`` and, below, through its power series factored as
``xi^k (c_k + c_{k+1} xi + ...)`` so that ``k log|xi|`` carries the scale (exact for polynomial
duals, where the series is used everywhere). The classifier only needs ratios of kernel values,
so it forms a log-sum-exp-weighted vote.
"""

from __future__ import annotations

import functools
import math
from typing import Literal, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxpapers_shared import checks

from ._duals import DualActivation

__all__ = [
    "LogKernel",
    "Scores",
    "deep_kernel",
    "deep_kernel_classifier",
    "hilbert_classifier",
    "iterate_kernel",
    "majority_vote_classifier",
    "nearest_neighbor_classifier",
    "predict_labels",
]

_SERIES_BELOW = math.log(1e-4)
_NORM_TOL = 1e-6
_DUPLICATE_TOL = 1e-15  # a few float64 ulps below 1: equal directions


class LogKernel(NamedTuple):
    """A kernel matrix as ``sign * exp(log_abs)`` (``sign = 0``, ``log_abs = -inf`` for 0)."""

    log_abs: jax.Array
    sign: jax.Array

    def value(self) -> jax.Array:
        """The kernel in the linear domain (underflows/overflows where the log domain does not)."""
        return self.sign * jnp.exp(self.log_abs)


class Scores(NamedTuple):
    """Classifier scores ``scores * exp(log_scale)[:, None]``, kept apart to avoid under/overflow.

    ``scores``: ``(n_test,)`` for labels in {-1, +1}, ``(n_test, classes)`` for one-hot labels;
    ``log_scale``: ``(n_test,)``. The positive factor never changes a predicted label.
    """

    scores: jax.Array
    log_scale: jax.Array


# --------------------------------------------------------------------------------------------
# The recursion.


def _horner(coeffs: np.ndarray, x: jax.Array) -> jax.Array:
    out = jnp.zeros_like(x)
    for c in coeffs[::-1]:
        out = out * x + float(c)
    return out


def _series_log(coeffs: np.ndarray, sign: jax.Array, log_abs: jax.Array):
    """``(sign, log|.|)`` of ``sum_i coeffs[i] xi^i`` for ``xi = sign * exp(log_abs)``."""
    nonzero = np.flatnonzero(coeffs > 0.0)
    if nonzero.size == 0:
        return jnp.zeros_like(sign), jnp.full_like(log_abs, -jnp.inf)
    k = int(nonzero[0])
    rest = _horner(coeffs[k:], sign * jnp.exp(log_abs))
    out_log = jnp.log(jnp.abs(rest))
    out_sign = jnp.sign(rest)
    if k:
        out_log = out_log + k * log_abs
        out_sign = out_sign * sign**k
    return out_sign, out_log


def _linear_log(fn, sign: jax.Array, log_abs: jax.Array):
    value = fn(jnp.clip(sign * jnp.exp(jnp.minimum(log_abs, 0.0)), -1.0, 1.0))
    return jnp.sign(value), jnp.log(jnp.abs(value))


def _log_apply(dual: DualActivation, derivative: bool, sign, log_abs):
    coeffs = dual.coeffs
    if derivative:
        coeffs = coeffs[1:] * np.arange(1, coeffs.size)
        if coeffs.size == 0:
            coeffs = np.zeros(1)
    series = _series_log(coeffs, sign, log_abs)
    if dual.exact_series:
        return series
    fn = dual.dual_deriv if derivative else dual.dual
    linear = _linear_log(fn, sign, log_abs)
    use_linear = log_abs > _SERIES_BELOW
    return tuple(jnp.where(use_linear, a, b) for a, b in zip(linear, series, strict=True))


def _signed_logaddexp(s1, t1, s2, t2):
    top = jnp.maximum(t1, t2)
    top = jnp.where(jnp.isfinite(top), top, 0.0)
    total = s1 * jnp.exp(t1 - top) + s2 * jnp.exp(t2 - top)
    return jnp.sign(total), top + jnp.log(jnp.abs(total))


def _uses_log_domain(dual: DualActivation, domain: str) -> bool:
    if domain != "auto":
        return domain == "log"
    # dual'(1) <= 1 (the majority-vote regime): correlations climb to 1 and the NTK grows at most
    # linearly with depth, so float64 holds every value and the cheaper linear recursion is exact.
    return dual.slope_at_one > 1.0 + 1e-12


@functools.partial(jax.jit, static_argnames=("depth", "dual", "kind", "domain"))
def _iterate(correlation: jax.Array, depth: int, dual: DualActivation, kind: str, domain: str):
    xi = jnp.clip(correlation, -1.0, 1.0)
    if not _uses_log_domain(dual, domain):

        def linear_layer(_, state):
            xi, k = state
            new = jnp.clip(dual.dual(xi), -1.0, 1.0)
            return new, (new + k * dual.dual_deriv(xi)) if kind == "ntk" else new

        _, value = jax.lax.fori_loop(0, depth, linear_layer, (xi, xi))
        return LogKernel(jnp.log(jnp.abs(value)), jnp.sign(value))

    sign, log_abs = jnp.sign(xi), jnp.log(jnp.abs(xi))

    def nngp_layer(_, state):
        s, t = _log_apply(dual, False, *state)
        return s, jnp.minimum(t, 0.0)  # |xi| <= 1: clip rounding above 1

    def ntk_layer(_, state):
        s, t, ks, kt = state
        ds, dt = _log_apply(dual, True, s, t)
        s_new, t_new = nngp_layer(None, (s, t))
        ks, kt = _signed_logaddexp(s_new, t_new, ks * ds, kt + dt)
        return s_new, t_new, ks, kt

    if kind == "nngp":
        sign, log_abs = jax.lax.fori_loop(0, depth, nngp_layer, (sign, log_abs))
        return LogKernel(log_abs, sign)
    _, _, ks, kt = jax.lax.fori_loop(0, depth, ntk_layer, (sign, log_abs, sign, log_abs))
    return LogKernel(kt, ks)


def _check_common(depth, dual, kind) -> int:
    depth = checks.integer(depth, "depth", minimum=1)
    if not isinstance(dual, DualActivation):
        raise TypeError(
            f"`dual` must be a DualActivation (relu_dual(), sine_dual(a), OPTIMAL_DUALS[d], "
            f"dual_from_activation(phi), ...), got {type(dual).__name__}."
        )
    checks.one_of(kind, "kind", ("nngp", "ntk"))
    return depth


def iterate_kernel(
    correlation,
    *,
    depth: int,
    dual: DualActivation,
    kind: Literal["nngp", "ntk"] = "nngp",
    domain: Literal["auto", "log", "linear"] = "auto",
) -> LogKernel:
    """The depth-``depth`` kernel as a function of the input correlation ``xi_0 = x . z``.

    Args:
      correlation: any shape, values in ``[-1, 1]`` (rounding outside is clipped).
      depth: number of layers ``L >= 1``.
      dual: the dual activation.
      kind: ``"nngp"`` or ``"ntk"``.
      domain: ``"log"`` (the recursion on ``(sign, log|value|)``), ``"linear"`` (the plain
        float64 recursion of the official code, which underflows at depth) or ``"auto"``: linear
        in the majority-vote regime (``dual'(1) <= 1``), where float64 holds every value, else log.

    Returns:
      :class:`LogKernel` of the shape of ``correlation`` (float64). A nonzero value whose
      magnitude is below ``exp(-1.8e308)`` (``xi^(2^L)`` past ``L ~ 1000``) has
      ``log_abs = -inf`` and a nonzero ``sign``.

    Raises:
      ValueError/TypeError: on a bad ``depth``, ``dual``, ``kind`` or a non-finite
        ``correlation``, or values outside ``[-1 - 1e-6, 1 + 1e-6]``.
    """
    depth = _check_common(depth, dual, kind)
    checks.one_of(domain, "domain", ("auto", "log", "linear"))
    with jax.enable_x64(True):
        xi = checks.array(correlation, "correlation", dtype="float", nonempty=False)
        xi = jnp.asarray(xi, jnp.float64)
        if xi.size and float(jnp.max(jnp.abs(xi))) > 1.0 + _NORM_TOL:
            raise ValueError(
                f"`correlation` must lie in [-1, 1] (inner products of unit vectors), got "
                f"max |correlation| = {float(jnp.max(jnp.abs(xi)))!r}."
            )
        return _iterate(xi, depth, dual, kind, domain)


# --------------------------------------------------------------------------------------------
# Inputs.


def _float64(value, name: str, ndim) -> np.ndarray:
    with jax.enable_x64(True):
        return np.asarray(checks.array(value, name, ndim=ndim, dtype="float"), dtype=np.float64)


def _sphere_points(x, name: str, normalize: bool) -> np.ndarray:
    x = _float64(x, name, 2)
    norms = np.linalg.norm(x, axis=1)
    zero = np.flatnonzero(norms == 0.0)
    if zero.size:
        raise ValueError(
            f"`{name}` has zero vectors (rows {zero[:5].tolist()}{'...' if zero.size > 5 else ''}): "
            "they have no direction on the unit sphere, so the kernel is undefined there."
        )
    if normalize:
        return x / norms[:, None]
    off = np.abs(norms - 1.0)
    if np.max(off) > _NORM_TOL:
        row = int(np.argmax(off))
        raise ValueError(
            f"`{name}` rows must have unit norm (within {_NORM_TOL:g}); row {row} has norm "
            f"{norms[row]!r}. Pass `normalize=True` to project the inputs onto the sphere."
        )
    return x


def _labels(y, n: int) -> np.ndarray:
    y = _float64(y, "y_train", (1, 2))
    if y.shape[0] != n:
        raise ValueError(
            f"`y_train` must have {n} rows (one per x_train row), got shape {y.shape}."
        )
    if y.ndim == 1:
        if not np.all(np.isin(y, (-1.0, 1.0))):
            bad = np.unique(y[~np.isin(y, (-1.0, 1.0))])[:5].tolist()
            raise ValueError(f"`y_train` must hold labels in {{-1, +1}}, got values {bad}.")
    elif not (np.all(np.isin(y, (0.0, 1.0))) and np.all(y.sum(axis=1) == 1.0)):
        raise ValueError("`y_train` with two axes must be one-hot: rows of 0s with a single 1.")
    return y


def _train_test(x_train, y_train, x_test, normalize: bool):
    xtr = _sphere_points(x_train, "x_train", normalize)
    xte = _sphere_points(x_test, "x_test", normalize)
    if xtr.shape[1] != xte.shape[1]:
        raise ValueError(
            f"`x_train` and `x_test` must have the same columns, got {xtr.shape} and {xte.shape}."
        )
    return xtr, _labels(y_train, xtr.shape[0]), xte


def _check_duplicates(x: np.ndarray) -> None:
    gram = x @ x.T
    np.fill_diagonal(gram, -np.inf)
    i, j = np.nonzero(np.triu(gram >= 1.0 - _DUPLICATE_TOL))
    if i.size:
        pairs = list(zip(i[:5].tolist(), j[:5].tolist(), strict=True))
        raise ValueError(
            f"`x_train` has duplicate points (index pairs {pairs}{'...' if i.size > 5 else ''}): "
            "their kernel rows coincide, so the Gram matrix is singular and a singular kernel "
            "is infinite there. Remove or merge them."
        )


def deep_kernel(
    x1,
    x2,
    *,
    depth: int,
    dual: DualActivation,
    kind: Literal["nngp", "ntk"] = "nngp",
    normalize: bool = False,
) -> LogKernel:
    """The depth-``depth`` NNGP or NTK kernel matrix between unit-norm rows of ``x1`` and ``x2``.

    Args:
      x1: ``(n1, D)``; x2: ``(n2, D)``; rows on the unit sphere (``normalize=True`` projects
        them there instead of raising).
      depth: number of layers ``L >= 1``.
      dual: the dual activation.
      kind: ``"nngp"`` (``xi_L``) or ``"ntk"``.

    Returns:
      :class:`LogKernel` of shape ``(n1, n2)``, float64.

    Raises:
      ValueError: ``depth < 1``; a zero row; rows not of unit norm without ``normalize``;
        NaN/inf; different feature dimensions.
    """
    depth = _check_common(depth, dual, kind)
    a = _sphere_points(x1, "x1", normalize)
    b = _sphere_points(x2, "x2", normalize)
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"`x1` and `x2` must have the same columns, got {a.shape} and {b.shape}.")
    with jax.enable_x64(True):
        return _iterate(jnp.asarray(a @ b.T), depth, dual, kind, "auto")


# --------------------------------------------------------------------------------------------
# Classifiers.


def _solve(gram: jax.Array, y: jax.Array, method: str) -> jax.Array:
    off = float(jnp.max(jnp.abs(gram - jnp.eye(gram.shape[0], dtype=gram.dtype))))
    if method == "diagonal" or (method == "auto" and off < 1e-17):
        if off > 1e-8:
            raise ValueError(
                f"`solve='diagonal'` needs a Gram matrix equal to the identity up to 1e-8, its "
                f"largest off-diagonal entry is {off:.3g}; use solve='auto'."
            )
        return y
    if method in ("auto", "cholesky"):
        factor = jax.scipy.linalg.cho_factor(gram, lower=True)
        beta = jax.scipy.linalg.cho_solve(factor, y)
        if method == "cholesky" or bool(jnp.all(jnp.isfinite(beta))):
            return beta
    return jnp.linalg.solve(gram, y)


def deep_kernel_classifier(
    x_train,
    y_train,
    x_test,
    *,
    depth: int,
    dual: DualActivation,
    kind: Literal["nngp", "ntk"] = "nngp",
    solve: Literal["auto", "cholesky", "lu", "diagonal"] = "auto",
    normalize: bool = False,
) -> Scores:
    """Ridgeless regression with the deep kernel: ``y^T K(X, X)^{-1} K(X, x)`` (fit + predict).

    The kernel is divided by its diagonal value ``K_L(1)`` (so the Gram matrix has unit
    diagonal; for the NNGP the diagonal is set exactly to 1, as the official code does) and each
    test column by its largest entry, which the returned ``log_scale`` keeps.

    Args:
      x_train: ``(n, D)`` unit-norm rows, no duplicates.
      y_train: ``(n,)`` labels in {-1, +1}, or ``(n, C)`` one-hot.
      x_test: ``(m, D)`` unit-norm rows.
      depth, dual, kind: as in :func:`deep_kernel`.
      solve: ``"auto"`` (the identity shortcut when every off-diagonal entry is below 1e-17,
        else Cholesky, LU if Cholesky fails), ``"cholesky"``, ``"lu"`` or ``"diagonal"``.
      normalize: project rows onto the sphere instead of raising.

    Returns:
      :class:`Scores`; ``predict_labels(scores)`` gives the labels.

    Raises:
      ValueError: bad inputs (see :func:`deep_kernel`), labels not in {-1, +1} / not one-hot,
        duplicate training points (their indices are named), a non-finite solve, or a depth at
        which kernel values leave even the float64 log domain.
    """
    depth = _check_common(depth, dual, kind)
    checks.one_of(solve, "solve", ("auto", "cholesky", "lu", "diagonal"))
    xtr, y, xte = _train_test(x_train, y_train, x_test, normalize)
    _check_duplicates(xtr)
    n, m = xtr.shape[0], xte.shape[0]
    with jax.enable_x64(True):
        # One flat call: the diagonal value K_L(1), the Gram matrix and the test block share a
        # single compiled recursion.
        flat = np.concatenate([[1.0], (xtr @ xtr.T).ravel(), (xtr @ xte.T).ravel()])
        out = _iterate(jnp.asarray(flat), depth, dual, kind, "auto")
        beyond = jnp.isneginf(out.log_abs) & (out.sign != 0)
        if bool(jnp.any(beyond)):
            raise ValueError(
                f"`depth`={depth} is too deep for {dual.name!r}: some kernel values are below "
                "exp(-1.8e308), beyond even the float64 log domain (the 1-NN regime reaches this "
                "near depth 1000 for dual = xi^2), so their ordering is lost; use a smaller depth."
            )
        diag = out.log_abs[0]
        gram = (out.sign[1 : 1 + n * n] * jnp.exp(out.log_abs[1 : 1 + n * n] - diag)).reshape(n, n)
        gram = gram.at[jnp.diag_indices(n)].set(1.0)
        beta = _solve(gram, jnp.asarray(y), solve)
        if not bool(jnp.all(jnp.isfinite(beta))):
            raise ValueError(
                f"the {kind} Gram matrix at depth {depth} is numerically singular (the solve "
                "returned NaN/inf); reduce `depth` or remove near-duplicate training points."
            )
        test = LogKernel(
            out.log_abs[1 + n * n :].reshape(n, m), out.sign[1 + n * n :].reshape(n, m)
        )
        return _weighted_vote(test.sign, test.log_abs, beta, diag)


@jax.jit
def _weighted_vote(sign, log_abs, beta, offset):
    top = jnp.max(log_abs, axis=0)
    safe = jnp.where(jnp.isfinite(top), top, 0.0)
    weights = sign * jnp.exp(log_abs - safe)
    return Scores(jnp.tensordot(weights, beta, axes=(0, 0)), safe - offset)


def hilbert_classifier(
    x_train, y_train, x_test, *, alpha: float, normalize: bool = False
) -> Scores:
    """The Hilbert kernel estimate ``sum_i y_i ||x - x_i||^(-alpha)`` (Devroye et al. 1998).

    With unit-norm inputs ``||x - x_i||^2 = 2 - 2 x . x_i`` (as in the official code). A test
    point that coincides with training points takes their (summed) labels.

    Raises:
      ValueError: ``alpha <= 0``, bad inputs or labels (as :func:`deep_kernel_classifier`).
    """
    alpha = float(checks.positive(alpha, "alpha"))
    xtr, y, xte = _train_test(x_train, y_train, x_test, normalize)
    with jax.enable_x64(True):
        squared = jnp.maximum(2.0 - 2.0 * jnp.asarray(xtr @ xte.T), 0.0)
        log_w = -0.5 * alpha * jnp.log(squared)
        exact = jnp.isinf(log_w)
        hit = jnp.any(exact, axis=0)
        log_w = jnp.where(hit[None, :], jnp.where(exact, 0.0, -jnp.inf), log_w)
        scores = _weighted_vote(jnp.ones_like(log_w), log_w, jnp.asarray(y), 0.0)
        return Scores(scores.scores, jnp.where(hit, jnp.inf, scores.log_scale))


def nearest_neighbor_classifier(x_train, y_train, x_test, *, normalize: bool = False) -> jax.Array:
    """1-nearest neighbour on the sphere (largest ``x . x_i``; ties go to the lowest index)."""
    xtr, y, xte = _train_test(x_train, y_train, x_test, normalize)
    nearest = np.argmax(xte @ xtr.T, axis=1)
    return jnp.asarray(y[nearest])


def majority_vote_classifier(y_train, n_test: int) -> jax.Array:
    """The majority training class for every test point (binary ties go to -1, as officially)."""
    n_test = checks.integer(n_test, "n_test", minimum=1)
    y = _float64(y_train, "y_train", (1, 2))
    y = _labels(y, y.shape[0])
    if y.ndim == 1:
        return jnp.full((n_test,), 1.0 if np.sum(y > 0) > np.sum(y < 0) else -1.0)
    return jnp.tile(jnp.eye(y.shape[1])[int(np.argmax(y.sum(axis=0)))], (n_test, 1))


def predict_labels(scores: Scores | jax.Array) -> jax.Array:
    """Labels from scores: ``-1`` where the score is negative, else ``+1`` (official rule), or
    the one-hot argmax for ``(m, C)`` scores. Labels are exact in float32, which they use."""
    with jax.enable_x64(True):
        s = scores.scores if isinstance(scores, Scores) else jnp.asarray(scores)
        if s.ndim == 1:
            return jnp.where(s < 0, -1.0, 1.0).astype(jnp.float32)
        return jax.nn.one_hot(jnp.argmax(s, axis=1), s.shape[1], dtype=jnp.float32)
