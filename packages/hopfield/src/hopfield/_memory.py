"""The modern continuous Hopfield network: energy, CCCP update, iterated retrieval.

Ramsauer et al., "Hopfield Networks is All You Need", ICLR 2021, arXiv:2008.02217, Section 2.

Orientation: the paper writes stored patterns as columns, X = (x_1 .. x_N) in R^{d x N}. Here
they are rows, ``patterns`` of shape (N, d), so the paper's ``X softmax(beta X^T xi)`` reads
``softmax(beta patterns @ xi) @ patterns``. The softmax is always over the N stored patterns.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp

from jaxpapers_shared import implicit

from ._checks import (
    check_beta,
    check_patterns,
    check_positive_float,
    check_positive_int,
    check_state,
)

__all__ = ["RetrievalResult", "energy", "retrieve", "update"]


class RetrievalResult(NamedTuple):
    """The outcome of :func:`retrieve` for each query.

    Attributes:
      state: (..., d) the retrieved pattern (the last iterate).
      steps: (...,) int32, how many updates were applied to each query.
      residual: (...,) ``||xi_t - xi_{t-1}||_2`` of the last applied update.
      converged: (...,) bool, ``residual <= tol`` (the iterate is a fixed point to ``tol``).
    """

    state: jax.Array
    steps: jax.Array
    residual: jax.Array
    converged: jax.Array


@jax.jit
def _energy(xi, patterns, beta):
    n = patterns.shape[0]
    scores = xi @ patterns.T
    lse = jax.nn.logsumexp(beta * scores, axis=-1) / beta
    max_norm_sq = jnp.max(jnp.sum(patterns**2, axis=-1))
    return -lse + 0.5 * jnp.sum(xi**2, axis=-1) + jnp.log(n) / beta + 0.5 * max_norm_sq


def energy(xi: jax.Array, patterns: jax.Array, beta: float = 1.0) -> jax.Array:
    r"""Energy of the modern continuous Hopfield network, Eq. (2) of the paper.

    .. math:: E(\xi) = -\mathrm{lse}(\beta, X^\top \xi) + \tfrac12 \xi^\top \xi
              + \beta^{-1} \log N + \tfrac12 M^2,

    with :math:`\mathrm{lse}(\beta, z) = \beta^{-1} \log \sum_i e^{\beta z_i}` and
    :math:`M = \max_i \|x_i\|`. The constants make :math:`0 \le E \le 2M^2` on the convex hull of
    the patterns, where every update lands (as stated in the paper's appendix).

    Args:
      xi: (..., d) state patterns (queries).
      patterns: (N, d) stored patterns X, one per row.
      beta: inverse temperature, > 0.

    Returns:
      (...,) the energy of each state.

    Raises:
      ValueError: ``beta`` not a finite positive scalar; ``patterns`` not a non-empty (N, d)
        matrix; ``xi`` whose last dimension is not d; NaN/inf input.
    """
    check_beta(beta)
    check_patterns(patterns)
    check_state(xi, patterns.shape[-1])
    return _energy(jnp.asarray(xi), jnp.asarray(patterns), jnp.asarray(beta, jnp.result_type(xi)))


def _update_dense(xi, patterns, beta):
    weights = jax.nn.softmax(beta * (xi @ patterns.T), axis=-1)
    return weights @ patterns


def _update_chunked(xi, patterns, beta, chunk_size):
    """The same update with the N stored patterns streamed in chunks (online softmax).

    Memory is O(S * chunk_size) instead of O(S * N): a running max, normaliser and weighted sum
    per query are rescaled as each chunk arrives, as in memory-efficient attention.
    """
    n, d = patterns.shape
    lead = xi.shape[:-1]
    queries = xi.reshape(-1, d)
    num_chunks = -(-n // chunk_size)
    pad = num_chunks * chunk_size - n
    chunks = jnp.pad(patterns, ((0, pad), (0, 0))).reshape(num_chunks, chunk_size, d)
    valid = (jnp.arange(num_chunks * chunk_size) < n).reshape(num_chunks, chunk_size)

    def step(carry, chunk):
        running_max, normaliser, acc = carry
        block, block_valid = chunk
        logits = jnp.where(block_valid, beta * (queries @ block.T), -jnp.inf)
        new_max = jnp.maximum(running_max, jnp.max(logits, axis=-1))
        rescale = jnp.exp(running_max - new_max)
        probs = jnp.exp(logits - new_max[:, None])
        normaliser = normaliser * rescale + probs.sum(-1)
        acc = acc * rescale[:, None] + probs @ block
        return (new_max, normaliser, acc), None

    s = queries.shape[0]
    init = (
        jnp.full((s,), -jnp.inf, xi.dtype),
        jnp.zeros((s,), xi.dtype),
        jnp.zeros((s, d), xi.dtype),
    )
    (_, normaliser, acc), _ = jax.lax.scan(step, init, (chunks, valid))
    return (acc / normaliser[:, None]).reshape(*lead, d)


@functools.partial(jax.jit, static_argnames=("chunk_size",))
def _update(xi, patterns, beta, chunk_size=None):
    if chunk_size is None or chunk_size >= patterns.shape[0]:
        return _update_dense(xi, patterns, beta)
    return _update_chunked(xi, patterns, beta, chunk_size)


def update(
    xi: jax.Array, patterns: jax.Array, beta: float = 1.0, *, chunk_size: int | None = None
) -> jax.Array:
    r"""One CCCP step of the modern Hopfield network, Eq. (3) of the paper.

    .. math:: \xi^{\mathrm{new}} = X \,\mathrm{softmax}(\beta X^\top \xi).

    This is transformer attention with query ``xi``, keys = values = the stored patterns and
    softmax temperature ``1 / beta``. Each step does not increase :func:`energy` (Theorem 1).

    Args:
      xi: (..., d) state patterns (queries); every query is updated independently.
      patterns: (N, d) stored patterns X, one per row.
      beta: inverse temperature, > 0.
      chunk_size: if given, stream the stored patterns in chunks of this many rows with an
        online softmax, so memory is O(S * chunk_size) rather than O(S * N) for S queries
        (same result up to rounding; for very large memories).

    Returns:
      (..., d) the updated states.

    Raises:
      ValueError: bad ``beta``, ``patterns``, ``xi`` (see :func:`energy`) or ``chunk_size``.
    """
    check_beta(beta)
    check_patterns(patterns)
    check_state(xi, patterns.shape[-1])
    if chunk_size is not None:
        check_positive_int(chunk_size, "chunk_size")
    xi = jnp.asarray(xi)
    return _update(xi, jnp.asarray(patterns), jnp.asarray(beta, xi.dtype), chunk_size=chunk_size)


@functools.partial(jax.jit, static_argnames=("max_steps",))
def _retrieve_unrolled(xi, patterns, beta, tol, max_steps):
    def step(carry, _):
        state, done, steps, residual = carry
        new = _update_dense(state, patterns, beta)
        res = jnp.linalg.norm(new - state, axis=-1)
        state = jnp.where(done[..., None], state, new)
        residual = jnp.where(done, residual, res)
        steps = steps + (~done).astype(jnp.int32)
        return (state, done | (res <= tol), steps, residual), None

    lead = xi.shape[:-1]
    init = (
        xi,
        jnp.zeros(lead, bool),
        jnp.zeros(lead, jnp.int32),
        jnp.full(lead, jnp.inf, xi.dtype),
    )
    (state, _, steps, residual), _ = jax.lax.scan(step, init, None, length=max_steps)
    return RetrievalResult(state, steps, residual, residual <= tol)


@functools.partial(jax.jit, static_argnames=("max_steps", "tol"))
def _retrieve_implicit(xi, patterns, beta, tol, max_steps):
    d = patterns.shape[-1]

    def one(query):
        sol = implicit.fixed_point(
            _update_dense,
            query,
            patterns,
            beta,
            solver="iterate",
            tol=tol,
            max_iter=max_steps,
            # The adjoint system is d x d per query: solve it exactly while that is cheap.
            adjoint="dense" if d <= 512 else "gmres",
            throw=False,
        )
        return RetrievalResult(sol.value, sol.iterations, sol.residual, sol.converged)

    flat = jax.vmap(one)(xi.reshape(-1, d))
    lead = xi.shape[:-1]
    return RetrievalResult(
        flat.state.reshape(*lead, d),
        flat.steps.reshape(lead),
        flat.residual.reshape(lead),
        flat.converged.reshape(lead),
    )


def retrieve(
    xi: jax.Array,
    patterns: jax.Array,
    beta: float = 1.0,
    *,
    max_steps: int = 1,
    tol: float = 1e-4,
    implicit_diff: bool = False,
) -> RetrievalResult:
    r"""Iterates :func:`update` until ``||xi_t - xi_{t-1}|| <= tol`` or ``max_steps`` updates.

    The iteration converges to a stationary point of :func:`energy` (Theorem 2): a global
    average (small ``beta``), a metastable state averaging similar patterns, or a fixed point
    near one well-separated pattern. Well-separated patterns are retrieved after one update
    (Theorem 4), which is why ``max_steps`` defaults to 1.

    Args:
      xi: (..., d) initial states (queries), each iterated independently.
      patterns: (N, d) stored patterns, one per row.
      beta: inverse temperature, > 0.
      max_steps: most updates per query.
      tol: stop a query once an update moves it by at most ``tol`` (Euclidean norm).
      implicit_diff: ``False`` differentiates by unrolling: a ``lax.scan`` always evaluates
        ``max_steps`` updates (converged queries are frozen) and memory grows with it. ``True``
        stops as soon as every query converged (a ``while_loop``); it solves the fixed point with
        ``jaxpapers_shared.implicit.fixed_point`` and differentiates it by the implicit function
        theorem (memory independent of the step count; the d x d adjoint system is solved densely
        for d <= 512, by GMRES above). That gradient is only valid for queries with
        ``converged = True`` near a stable fixed point; check ``converged``.

    Returns:
      A :class:`RetrievalResult` (state, steps, residual, converged), one entry per query.

    Raises:
      ValueError: bad ``beta``, ``patterns`` or ``xi``; ``max_steps`` < 1; ``tol`` <= 0.
    """
    check_beta(beta)
    check_patterns(patterns)
    check_state(xi, patterns.shape[-1])
    check_positive_int(max_steps, "max_steps")
    check_positive_float(tol, "tol")
    xi = jnp.asarray(xi)
    beta = jnp.asarray(beta, xi.dtype)
    patterns = jnp.asarray(patterns)
    if implicit_diff:
        return _retrieve_implicit(xi, patterns, beta, float(tol), int(max_steps))
    return _retrieve_unrolled(xi, patterns, beta, jnp.asarray(tol, xi.dtype), int(max_steps))
