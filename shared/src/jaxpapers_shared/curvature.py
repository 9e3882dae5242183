"""Matrix-free curvature of a loss: Hessian-vector products, Lanczos, stochastic Lanczos
quadrature, Hutchinson trace estimation and power iteration.

Everything here sees the Hessian only through a matrix-vector product ``matvec(v) -> H v`` on
pytrees shaped like the parameters, so it scales to models whose ``p x p`` Hessian could never be
formed. :func:`hvp` builds that product for a loss by forward-over-reverse differentiation::

    from jaxpapers_shared import curvature

    matvec = curvature.hvp(loss, params, x, y)                 # v -> (d^2 loss / d params^2) v
    top = curvature.top_eigenvalue(matvec, params, order=20)   # Lanczos: top.value, top.converged
    tr = curvature.hutchinson_trace(matvec, key, params, num_probes=100)   # tr.value, tr.stderr
    density = curvature.slq_density(matvec, key, params, order=30, num_probes=10)

| function | returns | cost in matvecs |
|---|---|---|
| :func:`hvp` | the product ``v -> H v`` | one forward + one backward pass per product |
| :func:`lanczos` | :class:`Lanczos`: tridiagonal ``T``, orthonormal basis, status | ``order`` |
| :func:`top_eigenvalue` | :class:`Eigenpair` from the top Ritz pair of a Lanczos run | ``order + 1`` |
| :func:`power_iteration` | :class:`Eigenpair` of largest magnitude | ``<= max_iter`` |
| :func:`hutchinson_trace` | :class:`TraceEstimate`: ``tr H`` with its standard error | ``num_probes`` |
| :func:`slq_density` | :class:`SpectralDensity`: nodes and weights, moments, smoothed density | ``num_probes * order`` |

Conventions: every function is pure and jit-friendly (loops are ``lax.scan`` / ``lax.while_loop``,
so tracing cost does not grow with ``order``); randomness comes only from an explicit ``key``; the
operator must be symmetric (a Hessian, a Gauss-Newton matrix), real and finite. Integer arguments
(``order``, ``num_probes``, ``max_iter``) are static. Argument checks run eagerly; a ``matvec``
that returns NaN/inf raises ``ValueError`` when called outside ``jit``, and inside ``jit`` shows up
as NaN values with ``converged=False``.

References:
  Lanczos (1950); Paige (1972) on the loss of orthogonality that full reorthogonalisation removes;
  Hutchinson (1989), "A stochastic estimator of the trace of the influence matrix";
  Golub & Meurant (2010), *Matrices, Moments and Quadrature*; Ubaru, Chen & Saad (2017),
  "Fast estimation of tr(f(A)) via stochastic Lanczos quadrature"; Ghorbani, Krishnan & Xiao
  (2019, arXiv:1901.10159) and Yao et al. (2020, PyHessian, arXiv:1912.07145) on Hessian spectra
  of neural networks.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree
from jax.tree_util import Partial

from jaxpapers_shared import checks

__all__ = [
    "Eigenpair",
    "Lanczos",
    "SpectralDensity",
    "TraceEstimate",
    "hutchinson_trace",
    "hvp",
    "lanczos",
    "power_iteration",
    "slq_density",
    "top_eigenvalue",
]

PyTree = Any
Matvec = Callable[[PyTree], PyTree]


# ----------------------------------------------------------------------------- results


class Lanczos(NamedTuple):
    """The result of :func:`lanczos`: ``H V^T = V^T T + r e_k^T`` with orthonormal rows ``V``.

    After an early stop at step ``k = iterations < order`` (an invariant subspace: ``order`` is
    larger than the number of eigen-directions ``v0`` touches, e.g. a low-rank Hessian), the
    remaining diagonal entries repeat ``alpha[0]`` with zero couplings and the basis rows are zero.
    The padded block is decoupled, so the extreme eigenvalues of :meth:`tridiagonal` and the
    quadrature weights ``(first eigenvector component)^2`` are those of the ``k``-step matrix.

    Attributes:
      alpha: (order,) diagonal of ``T``.
      beta: (order - 1,) off-diagonal of ``T``.
      basis: the Lanczos vectors, a pytree shaped like ``v0`` with a leading ``order`` axis.
      residual: () norm of the unnormalised next Lanczos vector ``r`` (0 at an invariant
        subspace); a Ritz pair ``(theta, s)`` of ``T`` has ``||H y - theta y|| = residual * |s_k|``
        in exact arithmetic.
      iterations: () int32, Lanczos steps taken (the size of the valid block of ``T``).
      invariant: () bool, the run stopped early at an invariant subspace.
      orthogonality: () ``max |V V^T - I|`` over the valid rows: roundoff with
        ``reorthogonalize=True``; without it, grows to O(1) once a Ritz value converges.
    """

    alpha: jax.Array
    beta: jax.Array
    basis: PyTree
    residual: jax.Array
    iterations: jax.Array
    invariant: jax.Array
    orthogonality: jax.Array

    def tridiagonal(self) -> jax.Array:
        """The dense ``(order, order)`` tridiagonal matrix ``T = V H V^T``."""
        return jnp.diag(self.alpha) + jnp.diag(self.beta, 1) + jnp.diag(self.beta, -1)


class Eigenpair(NamedTuple):
    """An approximate eigenpair from :func:`top_eigenvalue` or :func:`power_iteration`.

    Attributes:
      value: () the eigenvalue estimate (a Rayleigh quotient).
      vector: unit-norm eigenvector estimate, a pytree shaped like ``v0``.
      residual: () ``||H vector - value * vector||``, computed with a true product. For a
        symmetric ``H`` some eigenvalue lies within ``residual`` of ``value``.
      converged: () bool, ``residual <= tol * |value|`` and finite.
      iterations: () int32, Lanczos steps or power iterations taken.
    """

    value: jax.Array
    vector: PyTree
    residual: jax.Array
    converged: jax.Array
    iterations: jax.Array


class TraceEstimate(NamedTuple):
    """Hutchinson's estimate of ``tr H`` (:func:`hutchinson_trace`).

    Attributes:
      value: () the mean of ``z^T H z`` over the Rademacher probes ``z``.
      stderr: () its standard error, ``std(z^T H z) / sqrt(num_probes)`` (NaN for one probe).
    """

    value: jax.Array
    stderr: jax.Array


class SpectralDensity(NamedTuple):
    """Stochastic Lanczos quadrature of the spectral density (:func:`slq_density`).

    ``phi(t) = (1/p) sum_i delta(t - lambda_i)`` is approximated by the average over probes of the
    Gauss quadrature rules ``sum_j weights[i, j] delta(t - nodes[i, j])``; each row of ``weights``
    sums to one.

    Attributes:
      nodes: (num_probes, order) Ritz values of each probe's Lanczos run.
      weights: (num_probes, order) squared first components of the Ritz vectors.
      iterations: (num_probes,) int32, Lanczos steps taken per probe (see :class:`Lanczos`).
    """

    nodes: jax.Array
    weights: jax.Array
    iterations: jax.Array

    def moment(self, k: int) -> jax.Array:
        """``int t^k phi(t) dt``, an unbiased estimate of ``tr(H^k) / p`` (exact per probe in the
        quadrature sense for ``k < 2 * order``); multiply by ``p`` for ``tr(H^k)``."""
        k = checks.integer(k, "k", minimum=0)
        return jnp.mean(jnp.sum(self.weights * self.nodes**k, axis=-1))

    def smoothed(self, grid: jax.Array, sigma: float) -> jax.Array:
        """The density convolved with a Gaussian of width ``sigma``, evaluated on ``grid``.

        Returns an array shaped like ``grid``; it integrates to one over the real line.
        """
        checks.positive(sigma, "sigma")
        grid = jnp.asarray(grid)
        diff = grid[..., None, None] - self.nodes
        kernel = jnp.exp(-0.5 * (diff / sigma) ** 2) / (sigma * jnp.sqrt(2 * jnp.pi))
        return jnp.mean(jnp.sum(self.weights * kernel, axis=-1), axis=-1)


# ----------------------------------------------------------------------------- products


@dataclasses.dataclass(frozen=True)
class _HessianProduct:
    """``(params, *args, v) -> H v`` for one ``loss``; equal (and hashed) by ``loss`` alone, so
    jitted callers reuse their compiled code for every point and batch of the same loss."""

    loss: Callable[..., jax.Array]

    def __call__(self, params: PyTree, *args_and_v: Any) -> PyTree:
        *args, v = args_and_v
        return jax.jvp(lambda p: jax.grad(self.loss)(p, *args), (params,), (v,))[1]


def hvp(loss: Callable[..., jax.Array], params: PyTree, *args: Any) -> Matvec:
    """The Hessian of ``loss`` with respect to its first argument, as a product ``v -> H v``.

    ``H v = d/de grad loss(params + e v, *args)`` at ``e = 0``: forward-mode (``jax.jvp``) over
    reverse-mode (``jax.grad``), which costs about one gradient evaluation per product and never
    forms ``H``.

    The product is a ``jax.tree_util.Partial`` whose leaves are ``params`` and ``args``: it passes
    through ``jit``/``vmap`` as an argument, and the functions of this module reuse their compiled
    code across calls with the same ``loss`` (new parameters or batches do not recompile).

    Args:
      loss: a scalar function ``loss(params, *args)``.
      params: the point, any pytree of float arrays.
      *args: further arguments of ``loss`` (a batch), held fixed.

    Returns:
      ``matvec(v)``, where ``v`` and the result are pytrees shaped like ``params``.

    Raises:
      TypeError: if ``loss`` is not callable.
      ValueError: if ``params`` holds NaN/inf (concrete values only).
    """
    if not callable(loss):
        raise TypeError(
            f"`loss` must be a function loss(params, *args), got {type(loss).__name__}."
        )
    checks.finite(params, "params")
    return Partial(_HessianProduct(loss), params, *args)


def _as_operator(matvec: Matvec) -> Partial:
    """``matvec`` as a pytree, so that it can be an argument of the jitted cores below."""
    if not callable(matvec):
        raise TypeError(f"`matvec` must be a function v -> H v, got {type(matvec).__name__}.")
    return matvec if isinstance(matvec, Partial) else Partial(matvec)


def _check_floats(tree: PyTree, name: str) -> None:
    leaves = jax.tree_util.tree_leaves_with_path(tree)
    if not leaves:
        raise ValueError(f"`{name}` must have at least one array, got an empty pytree.")
    for path, leaf in leaves:
        if not jnp.issubdtype(jnp.result_type(leaf), jnp.floating):
            where = jax.tree_util.keystr(path)
            raise TypeError(f"`{name}{where}` must hold real floats, got {jnp.result_type(leaf)}.")


def _check_start(v0: PyTree) -> None:
    _check_floats(v0, "v0")
    checks.finite(v0, "v0")
    leaves = jax.tree.leaves(v0)
    if all(checks.is_concrete(leaf) for leaf in leaves) and not any(
        np.any(np.asarray(leaf) != 0) for leaf in leaves
    ):
        raise ValueError("`v0` must be a nonzero starting vector, got all zeros.")


def _flatten(matvec: Partial, like: PyTree):
    """``like`` raveled to a vector, its unravel map, and ``matvec`` acting on vectors."""
    flat, unravel = ravel_pytree(like)

    def flat_matvec(x: jax.Array) -> jax.Array:
        return ravel_pytree(matvec(unravel(x)))[0].astype(x.dtype)

    return flat, unravel, flat_matvec


def _check_output(*values: jax.Array) -> None:
    """Raises if a concrete result of repeated ``matvec`` calls is not finite."""
    if all(checks.is_concrete(v) for v in values) and not all(
        bool(np.all(np.isfinite(np.asarray(v)))) for v in values
    ):
        raise ValueError(
            "`matvec` returned NaN/inf: the products H v must be finite. Check the loss and the "
            "parameters at which the Hessian is taken."
        )


# ----------------------------------------------------------------------------- Lanczos


def _lanczos_flat(
    matvec: Callable[[jax.Array], jax.Array], v0: jax.Array, order: int, reorthogonalize: bool
):
    """Lanczos on vectors; returns (alpha, beta, basis, residual, iterations)."""
    dtype = v0.dtype
    # An invariant subspace leaves a next vector of roundoff size; eps^(3/4) of ||T|| separates it
    # from a genuine (if small) coupling in both float32 and float64.
    breakdown = jnp.finfo(dtype).eps ** 0.75
    q0 = v0 / jnp.linalg.norm(v0)

    def step(carry, j):
        basis, q, q_prev, beta_prev, scale, done = carry
        basis = basis.at[j].set(q)
        w = matvec(q)
        alpha = jnp.vdot(q, w)
        w = w - alpha * q - beta_prev * q_prev
        if reorthogonalize:  # classical Gram-Schmidt twice ("twice is enough")
            w = w - basis.T @ (basis @ w)
            w = w - basis.T @ (basis @ w)
        beta = jnp.linalg.norm(w)
        scale = jnp.maximum(scale, jnp.abs(alpha) + beta + beta_prev)
        stops = done | (beta <= breakdown * scale)
        q_next = jnp.where(stops, 0.0, w / jnp.where(beta > 0, beta, 1.0))
        carry = (basis, q_next, q, jnp.where(stops, 0.0, beta), scale, stops)
        return carry, (alpha, beta, done)

    init = (
        jnp.zeros((order, q0.size), dtype),
        q0,
        jnp.zeros_like(q0),
        jnp.zeros((), dtype),
        jnp.zeros((), dtype),
        jnp.zeros((), bool),
    )
    (basis, *_), (alpha, beta, was_done) = jax.lax.scan(step, init, jnp.arange(order))
    iterations = jnp.sum(~was_done).astype(jnp.int32)
    valid = jnp.arange(order) < iterations
    alpha = jnp.where(valid, alpha, alpha[0])
    residual = beta[iterations - 1]
    beta = jnp.where(jnp.arange(order - 1) < iterations - 1, beta[:-1], 0.0)
    return alpha, beta, basis, residual, iterations


def _tridiagonal(alpha: jax.Array, beta: jax.Array) -> jax.Array:
    return jnp.diag(alpha) + jnp.diag(beta, 1) + jnp.diag(beta, -1)


@functools.partial(jax.jit, static_argnames=("order", "reorthogonalize"))
def _lanczos(matvec: Partial, v0: PyTree, order: int, reorthogonalize: bool) -> Lanczos:
    flat, unravel, flat_matvec = _flatten(matvec, v0)
    alpha, beta, basis, residual, iterations = _lanczos_flat(
        flat_matvec, flat, order, reorthogonalize
    )
    valid = (jnp.arange(order) < iterations).astype(basis.dtype)
    gram = basis @ basis.T - jnp.diag(valid)
    return Lanczos(
        alpha=alpha,
        beta=beta,
        basis=jax.vmap(unravel)(basis),
        residual=residual,
        iterations=iterations,
        invariant=iterations < order,
        orthogonality=jnp.max(jnp.abs(gram)),
    )


def lanczos(matvec: Matvec, v0: PyTree, order: int, *, reorthogonalize: bool = True) -> Lanczos:
    """``order`` steps of the Lanczos iteration from ``v0`` for a symmetric operator.

    Builds orthonormal ``q_0 = v0 / ||v0||, q_1, ...`` spanning the Krylov space of ``v0`` and the
    tridiagonal ``T = Q H Q^T`` by the three-term recurrence
    ``beta_j q_{j+1} = H q_j - alpha_j q_j - beta_{j-1} q_{j-1}``. The eigenvalues of ``T`` (Ritz
    values) approximate the extreme eigenvalues of ``H`` first; ``e_1^T f(T) e_1`` approximates
    ``q_0^T f(H) q_0`` (Gauss quadrature, exact for polynomials of degree ``< 2 * order``).

    Args:
      matvec: the symmetric operator ``v -> H v`` on pytrees shaped like ``v0`` (e.g. :func:`hvp`).
      v0: the starting vector, a nonzero pytree of floats.
      order: the number of Lanczos steps (>= 2), the size of ``T``. Static.
      reorthogonalize: orthogonalise each new vector against all previous ones (twice). Costs
        ``O(order * p)`` per step and keeps ``Q`` orthonormal to roundoff; without it the
        recurrence loses orthogonality as Ritz values converge and ``T`` grows spurious copies of
        converged eigenvalues ("ghosts"), which upsets top-k eigenvalues but not quadrature.

    Returns:
      :class:`Lanczos`; the basis is stored either way (``order * p`` floats).

    Raises:
      ValueError: ``order < 2``; ``v0`` zero or non-finite; ``matvec`` returning NaN/inf (eager).
      TypeError: ``matvec`` not callable; ``v0`` not floats.
    """
    order = checks.integer(order, "order", minimum=2)
    matvec = _as_operator(matvec)
    _check_start(v0)
    result = _lanczos(matvec, v0, order, bool(reorthogonalize))
    _check_output(result.alpha, result.beta)
    return result


def _eigenpair(value, vector, residual, tol, iterations) -> Eigenpair:
    converged = jnp.isfinite(residual) & (residual <= tol * jnp.abs(value))
    return Eigenpair(value, vector, residual, converged, iterations)


@functools.partial(jax.jit, static_argnames=("order", "reorthogonalize"))
def _top_eigenvalue(
    matvec: Partial, v0: PyTree, tol: jax.Array, order: int, reorthogonalize: bool
) -> Eigenpair:
    flat, unravel, flat_matvec = _flatten(matvec, v0)
    alpha, beta, basis, _, iterations = _lanczos_flat(flat_matvec, flat, order, reorthogonalize)
    valid = jnp.arange(order) < iterations
    # Park the padded (decoupled) diagonal below every Ritz value of the valid block (Gershgorin)
    # so that the top eigenvector of T is never a padded one.
    lowest = jnp.min(jnp.where(valid, alpha, jnp.inf)) - 2 * jnp.max(jnp.abs(beta), initial=0.0)
    values, vectors = jnp.linalg.eigh(_tridiagonal(jnp.where(valid, alpha, lowest - 1.0), beta))
    theta = values[-1]
    y = vectors[:, -1] @ basis
    y = y / jnp.linalg.norm(y)
    residual = jnp.linalg.norm(flat_matvec(y) - theta * y)
    return _eigenpair(theta, unravel(y), residual, tol, iterations)


def top_eigenvalue(
    matvec: Matvec,
    v0: PyTree,
    *,
    order: int = 20,
    tol: float = 1e-3,
    reorthogonalize: bool = True,
) -> Eigenpair:
    """The largest (algebraic) eigenvalue of a symmetric operator by Lanczos.

    Runs :func:`lanczos` for ``order`` steps, takes the largest Ritz pair ``(theta, y)`` and checks
    it with one more product: ``residual = ||H y - theta y||``. Lanczos converges to the extreme
    eigenvalues much faster than power iteration (the rate depends on the relative gap
    ``(lambda_1 - lambda_2) / (lambda_2 - lambda_min)`` through Chebyshev polynomials).

    Args:
      matvec: the symmetric operator ``v -> H v`` (e.g. :func:`hvp`).
      v0: the starting vector (random or the parameters themselves), a nonzero pytree of floats.
      order: Lanczos steps (>= 2). Static.
      tol: ``converged`` is ``residual <= tol * |value|``.
      reorthogonalize: see :func:`lanczos`.

    Returns:
      :class:`Eigenpair` with ``iterations`` the Lanczos steps taken.

    Raises:
      ValueError: ``order < 2``, ``tol <= 0``; ``v0`` zero or non-finite; ``matvec`` returning
        NaN/inf (eager).
      TypeError: ``matvec`` not callable; ``v0`` not floats.
    """
    order = checks.integer(order, "order", minimum=2)
    checks.positive(tol, "tol")
    matvec = _as_operator(matvec)
    _check_start(v0)
    result = _top_eigenvalue(matvec, v0, tol, order, bool(reorthogonalize))
    _check_output(result.value, result.residual)
    return result


@functools.partial(jax.jit, static_argnames=("max_iter",))
def _power_iteration(matvec: Partial, v0: PyTree, tol: jax.Array, max_iter: int) -> Eigenpair:
    flat, unravel, flat_matvec = _flatten(matvec, v0)

    def iterate(state):
        _, v, _, _, i = state
        w = flat_matvec(v)
        theta = jnp.vdot(v, w)
        residual = jnp.linalg.norm(w - theta * v)
        return v, w / jnp.linalg.norm(w), theta, residual, i + 1

    def keep_going(state):
        _, _, theta, residual, i = state
        running = (residual > tol * jnp.abs(theta)) & jnp.isfinite(residual)
        return (i < max_iter) & ((i == 0) | running)

    v = flat / jnp.linalg.norm(flat)
    start = (v, v, jnp.zeros((), v.dtype), jnp.zeros((), v.dtype), jnp.zeros((), jnp.int32))
    v, _, theta, residual, iterations = jax.lax.while_loop(keep_going, iterate, start)
    return _eigenpair(theta, unravel(v), residual, tol, iterations)


def power_iteration(
    matvec: Matvec, v0: PyTree, *, max_iter: int = 100, tol: float = 1e-3
) -> Eigenpair:
    """The eigenvalue of largest magnitude by power iteration (the PyHessian baseline).

    ``v <- H v / ||H v||`` until the Rayleigh quotient ``theta = v^T H v`` has
    ``||H v - theta v|| <= tol * |theta|`` or ``max_iter`` products were used. Converges at the
    rate ``|lambda_2 / lambda_1|`` per step; for a positive semi-definite ``H`` (a Gauss-Newton
    matrix, a Hessian at a minimum) the result is the top eigenvalue, otherwise it may be the most
    negative one. :func:`top_eigenvalue` (Lanczos) is faster for the same accuracy.

    Args:
      matvec: the symmetric operator ``v -> H v`` (e.g. :func:`hvp`).
      v0: the starting vector, a nonzero pytree of floats.
      max_iter: the most products (>= 1). Static.
      tol: relative residual at which to stop.

    Returns:
      :class:`Eigenpair` with ``iterations`` the products used; ``value``, ``vector`` and
      ``residual`` refer to the same (last) iterate.

    Raises:
      ValueError: ``max_iter < 1``, ``tol <= 0``; ``v0`` zero or non-finite; ``matvec``
        returning NaN/inf (eager).
      TypeError: ``matvec`` not callable; ``v0`` not floats.
    """
    max_iter = checks.integer(max_iter, "max_iter", minimum=1)
    checks.positive(tol, "tol")
    matvec = _as_operator(matvec)
    _check_start(v0)
    result = _power_iteration(matvec, v0, tol, max_iter)
    _check_output(result.value, result.residual)
    return result


# ----------------------------------------------------------------------------- stochastic


def _over_probes(fn: Callable, key: jax.Array, num_probes: int, batch_size: int | None):
    keys = jax.random.split(key, num_probes)
    if batch_size is None:
        return jax.vmap(fn)(keys)
    return jax.lax.map(fn, keys, batch_size=batch_size)


def _check_probes(like: PyTree, num_probes: int, batch_size: int | None):
    _check_floats(like, "like")
    num_probes = checks.integer(num_probes, "num_probes", minimum=1)
    if batch_size is not None:
        batch_size = checks.integer(batch_size, "batch_size", minimum=1)
    return num_probes, batch_size


@functools.partial(jax.jit, static_argnames=("num_probes", "batch_size"))
def _hutchinson(matvec, key, like, num_probes, batch_size) -> TraceEstimate:
    flat, _, flat_matvec = _flatten(matvec, like)

    def quadratic_form(k):
        z = jax.random.rademacher(k, flat.shape, flat.dtype)
        return jnp.vdot(z, flat_matvec(z))

    samples = _over_probes(quadratic_form, key, num_probes, batch_size)
    if num_probes > 1:
        stderr = jnp.std(samples, ddof=1) / jnp.sqrt(num_probes)
    else:
        stderr = jnp.full((), jnp.nan, samples.dtype)
    return TraceEstimate(value=jnp.mean(samples), stderr=stderr)


def hutchinson_trace(
    matvec: Matvec,
    key: jax.Array,
    like: PyTree,
    *,
    num_probes: int = 100,
    batch_size: int | None = None,
) -> TraceEstimate:
    """Hutchinson's unbiased estimate of ``tr H``: the mean of ``z^T H z`` over Rademacher ``z``.

    ``E[z z^T] = I`` gives ``E[z^T H z] = tr H``; Rademacher probes have the smallest variance
    among i.i.d. probes, ``Var = 2 (||H||_F^2 - sum_i H_ii^2)``, so a diagonal ``H`` is exact.
    :func:`slq_density` with the same ``key`` and ``num_probes`` uses the same probes.

    Args:
      matvec: the symmetric operator ``v -> H v`` (e.g. :func:`hvp`).
      key: a PRNG key for the probes.
      like: a pytree of floats with the shapes and dtypes of the operator's vectors (the
        parameters); its values are not used.
      num_probes: the number of probes (>= 1). Static.
      batch_size: probes evaluated together with ``vmap``; ``None`` = all at once. Smaller
        batches bound memory for large models (``lax.map``).

    Returns:
      :class:`TraceEstimate` (value and standard error).

    Raises:
      ValueError: ``num_probes < 1`` or ``batch_size < 1``; ``matvec`` returning NaN/inf (eager).
      TypeError: ``matvec`` not callable; ``like`` holding non-float leaves.
    """
    num_probes, batch_size = _check_probes(like, num_probes, batch_size)
    result = _hutchinson(_as_operator(matvec), key, like, num_probes, batch_size)
    _check_output(result.value)
    return result


@functools.partial(
    jax.jit, static_argnames=("order", "num_probes", "reorthogonalize", "batch_size")
)
def _slq(matvec, key, like, order, num_probes, reorthogonalize, batch_size) -> SpectralDensity:
    flat, _, flat_matvec = _flatten(matvec, like)

    def quadrature(k):
        z = jax.random.rademacher(k, flat.shape, flat.dtype)
        alpha, beta, _, _, iterations = _lanczos_flat(flat_matvec, z, order, reorthogonalize)
        nodes, vectors = jnp.linalg.eigh(_tridiagonal(alpha, beta))
        return nodes, vectors[0] ** 2, iterations

    nodes, weights, iterations = _over_probes(quadrature, key, num_probes, batch_size)
    return SpectralDensity(nodes=nodes, weights=weights, iterations=iterations)


def slq_density(
    matvec: Matvec,
    key: jax.Array,
    like: PyTree,
    *,
    order: int = 30,
    num_probes: int = 10,
    reorthogonalize: bool = True,
    batch_size: int | None = None,
) -> SpectralDensity:
    """The spectral density of a symmetric operator by stochastic Lanczos quadrature.

    For each normalised Rademacher probe ``q``, ``order`` Lanczos steps give ``T = U diag(theta)
    U^T``, and ``q^T f(H) q ~= sum_j U_{0j}^2 f(theta_j)`` (Gauss quadrature). Averaging the rules
    over probes estimates ``(1/p) tr f(H) = int f(t) phi(t) dt`` for any smooth ``f``.

    Args:
      matvec: the symmetric operator ``v -> H v`` (e.g. :func:`hvp`).
      key: a PRNG key for the probes (the same probes as :func:`hutchinson_trace` with this key).
      like: a pytree of floats shaped like the operator's vectors; its values are not used.
      order: Lanczos steps per probe (>= 2). Static.
      num_probes: the number of probes (>= 1). Static.
      reorthogonalize: see :func:`lanczos` (quadrature is robust without it).
      batch_size: probes run together with ``vmap``; ``None`` = all at once. Each probe stores an
        ``order * p`` basis, so lower it for large models.

    Returns:
      :class:`SpectralDensity` with ``moment(k)`` and ``smoothed(grid, sigma)``.

    Raises:
      ValueError: ``order < 2``, ``num_probes < 1``, ``batch_size < 1``; ``matvec`` returning
        NaN/inf (eager).
      TypeError: ``matvec`` not callable; ``like`` holding non-float leaves.
    """
    order = checks.integer(order, "order", minimum=2)
    num_probes, batch_size = _check_probes(like, num_probes, batch_size)
    result = _slq(
        _as_operator(matvec), key, like, order, num_probes, bool(reorthogonalize), batch_size
    )
    _check_output(result.nodes, result.weights)
    return result
