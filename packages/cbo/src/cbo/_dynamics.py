"""Consensus-based optimization (CBO) and consensus hopping (CH), as compiled ``lax`` loops."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Literal, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxpapers_shared import checks

from ._consensus import _consensus

__all__ = [
    "CBOParams",
    "CBOResult",
    "CHResult",
    "MinimizeResult",
    "cbo",
    "consensus_hopping",
    "hopping_step",
    "minimize",
]

Objective = Callable[[jax.Array], jax.Array]


class CBOParams(NamedTuple):
    """Hyperparameters of the CBO dynamics (their Euler-Maruyama scheme).

    Attributes:
      dt: time step ``dt > 0``.
      lam: drift strength ``lambda >= 0`` towards the consensus point.
      sigma: noise strength ``sigma >= 0``.
      alpha: inverse temperature ``alpha > 0`` of the consensus point.
      noise: ``"isotropic"`` (``sigma sqrt(dt) ||X_i - v|| xi_i``) or ``"anisotropic"``
        (``sigma sqrt(dt) (X_i - v) * xi_i``, elementwise).
      batch_size: ``None`` (every particle sees the consensus point of all particles) or the
        size of the random batches (random batch method): each step the particles are shuffled
        into ``N / batch_size`` batches, each moving towards its own batch's consensus point.
    """

    dt: float = 0.01
    lam: float = 1.0
    sigma: float = 1.0
    alpha: float = 100.0
    noise: Literal["isotropic", "anisotropic"] = "isotropic"
    batch_size: int | None = None


class CBOResult(NamedTuple):
    """Output of :func:`cbo` (a leading ``num_runs`` axis on every array when runs are batched).

    Attributes:
      consensus: the consensus point of the final particles, ``(d,)``.
      trajectory: the consensus point before each of the ``num_steps`` updates, ``(K, d)``.
      particles: the final particles, ``(N, d)``.
      num_evaluations: objective evaluations of one run, ``N (K + 1)``.
      nonfinite_step: first step whose energies were not all finite (``-1``: none). Outside
        ``jit`` :func:`cbo` raises instead; inside, this field is the only report.
      nonfinite_particle: a particle with a non-finite energy at that step (``-1``: none).
    """

    consensus: jax.Array
    trajectory: jax.Array
    particles: jax.Array
    num_evaluations: int
    nonfinite_step: jax.Array
    nonfinite_particle: jax.Array


class CHResult(NamedTuple):
    """Output of :func:`consensus_hopping` (a leading ``num_runs`` axis when runs are batched).

    Attributes:
      consensus: ``v_alpha`` of the last samples, ``(d,)``.
      trajectory: the consensus points ``v_1 .. v_K`` the scheme hopped to, ``(K, d)``.
      num_evaluations: objective evaluations of one run, ``N (K + 1)``.
      nonfinite_step, nonfinite_particle: as in :class:`CBOResult`.
    """

    consensus: jax.Array
    trajectory: jax.Array
    num_evaluations: int
    nonfinite_step: jax.Array
    nonfinite_particle: jax.Array


class MinimizeResult(NamedTuple):
    """Output of :func:`minimize`.

    Attributes:
      x: the consensus point when the run stopped, ``(d,)``.
      fun: ``f(x)``.
      converged: the particles collapsed: mean distance to the consensus point ``<= tol``.
      iterations: CBO steps taken.
      spread: mean distance ``mean_i ||X_i - v||`` at the end.
      num_evaluations: objective evaluations.
    """

    x: jax.Array
    fun: jax.Array
    converged: jax.Array
    iterations: jax.Array
    spread: jax.Array
    num_evaluations: jax.Array


DEFAULT_PARAMS = CBOParams()

# -- validation -----------------------------------------------------------------------------


def _check_params(params: CBOParams, num_particles: int) -> CBOParams:
    if not isinstance(params, CBOParams):
        raise TypeError(f"`params` must be a CBOParams, got {type(params).__name__}.")
    checks.positive(params.dt, "params.dt")
    checks.positive(params.lam, "params.lam", allow_zero=True)
    checks.positive(params.sigma, "params.sigma", allow_zero=True)
    checks.positive(params.alpha, "params.alpha")
    checks.one_of(params.noise, "params.noise", ("isotropic", "anisotropic"))
    if params.batch_size is not None:
        checks.integer(params.batch_size, "params.batch_size", minimum=2, maximum=num_particles)
        if num_particles % params.batch_size:
            raise ValueError(
                f"`params.batch_size` must divide `num_particles` ({num_particles}), "
                f"got {params.batch_size}."
            )
    return params


def _check_problem(f: Objective, x0, num_particles: int, num_steps: int, num_runs, min_steps=1):
    if not callable(f):
        raise TypeError(f"`f` must be callable (d,) -> scalar, got {type(f).__name__}.")
    x0 = checks.array(x0, "x0", ndim=1, dtype="float")
    checks.integer(num_particles, "num_particles", minimum=2)
    checks.integer(num_steps, "num_steps", minimum=min_steps)
    if num_runs is not None:
        checks.integer(num_runs, "num_runs", minimum=1)
    try:
        out = jax.eval_shape(f, jax.ShapeDtypeStruct(x0.shape, x0.dtype))
    except Exception as error:  # noqa: BLE001 - reported with the argument's name
        raise ValueError(
            f"`f` failed on a point of shape {x0.shape} (the shape of `x0`): {error}"
        ) from error
    if not hasattr(out, "shape") or out.shape != ():
        shape = getattr(out, "shape", type(out).__name__)
        raise ValueError(f"`f` must return a scalar for a point of shape {x0.shape}, got {shape}.")
    return x0


def _raise_nonfinite(result, method: str):
    if not checks.is_concrete(result.nonfinite_step):
        return
    step = np.asarray(result.nonfinite_step)
    if np.all(step < 0):
        return
    flat = np.atleast_1d(step)
    run = int(np.argmax(flat >= 0))
    particle = int(np.atleast_1d(np.asarray(result.nonfinite_particle))[run])
    where = f" (run {run})" if step.ndim else ""
    raise ValueError(
        f"`f` returned a non-finite value (NaN/inf) at step {int(flat[run])} for particle "
        f"{particle}{where} of {method}; the consensus weights need finite energies."
    )


# -- one step -------------------------------------------------------------------------------


def _first_bad(energies: jax.Array, step, found_step, found_particle):
    bad = ~jnp.isfinite(energies)
    new = (found_step < 0) & jnp.any(bad)
    return (
        jnp.where(new, step, found_step),
        jnp.where(new, jnp.argmax(bad), found_particle),
    )


def _per_particle_consensus(x, energies, key, params: CBOParams):
    """The consensus point each particle moves to: shared, or of its random batch."""
    if params.batch_size is None or params.batch_size == x.shape[0]:
        return _consensus(x, energies, params.alpha)[None, :]
    n, d = x.shape
    b = params.batch_size
    perm = jax.random.permutation(key, n)
    vb = jax.vmap(_consensus, in_axes=(0, 0, None))(
        x[perm].reshape(n // b, b, d), energies[perm].reshape(n // b, b), params.alpha
    )
    return jnp.zeros_like(x).at[perm].set(jnp.repeat(vb, b, axis=0))


def _cbo_update(x, v, key, params: CBOParams):
    diff = x - v
    xi = jax.random.normal(key, x.shape, x.dtype)
    sqdt = jnp.sqrt(params.dt)
    if params.noise == "isotropic":
        noise = params.sigma * sqdt * jnp.linalg.norm(diff, axis=-1, keepdims=True) * xi
    else:
        noise = params.sigma * sqdt * diff * xi
    return x - params.lam * params.dt * diff + noise


def _init_particles(x0, key, num_particles, init_std):
    return x0 + init_std * jax.random.normal(key, (num_particles, x0.shape[0]), x0.dtype)


# -- CBO ------------------------------------------------------------------------------------


def _cbo_run(f, x0, key, init_std, *, num_particles, num_steps, params):
    energy = jax.vmap(f)
    key, init_key = jax.random.split(key)
    x = _init_particles(x0, init_key, num_particles, init_std)

    def step(carry, k):
        x, found_step, found_particle = carry
        e = energy(x)
        found_step, found_particle = _first_bad(e, k, found_step, found_particle)
        v = _consensus(x, e, params.alpha)
        batch_key, noise_key = jax.random.split(jax.random.fold_in(key, k))
        v_each = (
            v[None, :]
            if params.batch_size is None
            else _per_particle_consensus(x, e, batch_key, params)
        )
        return (_cbo_update(x, v_each, noise_key, params), found_step, found_particle), v

    init = (x, jnp.int32(-1), jnp.int32(-1))
    (x, found_step, found_particle), trajectory = jax.lax.scan(step, init, jnp.arange(num_steps))
    e = energy(x)
    found_step, found_particle = _first_bad(e, num_steps, found_step, found_particle)
    return _consensus(x, e, params.alpha), trajectory, x, found_step, found_particle


_CBO_STATIC = ("f", "num_particles", "num_steps", "params")
_cbo_one = jax.jit(_cbo_run, static_argnames=_CBO_STATIC)


@functools.partial(jax.jit, static_argnames=_CBO_STATIC)
def _cbo_many(f, x0, keys, init_std, *, num_particles, num_steps, params):
    run = functools.partial(
        _cbo_run, f, num_particles=num_particles, num_steps=num_steps, params=params
    )
    return jax.vmap(run, in_axes=(None, 0, None))(x0, keys, init_std)


def cbo(
    f: Objective,
    x0: jax.Array,
    key: jax.Array,
    *,
    num_particles: int = 200,
    num_steps: int = 250,
    params: CBOParams = DEFAULT_PARAMS,
    init_std: float = 1.0,
    num_runs: int | None = None,
) -> CBOResult:
    """Consensus-based optimization: ``N`` interacting particles, no gradients.

    Euler-Maruyama discretization of the CBO dynamics (the paper's SDE, Pinnau et al.
    2017), all particles synchronous (one consensus point per step)::

        v_k = v_alpha(X_k)                                   (consensus_point)
        X_i <- X_i - lam dt (X_i - v_k) + sigma sqrt(dt) ||X_i - v_k|| xi_i      (isotropic)
        X_i <- X_i - lam dt (X_i - v_k) + sigma sqrt(dt) (X_i - v_k) * xi_i     (anisotropic)

    with ``xi_i ~ N(0, I_d)`` and the particles started at ``x0 + init_std N(0, I_d)``.

    Args:
      f: objective ``(d,) -> scalar``, ``vmap``-ed over the particles.
      x0: the mean of the initial particles, ``(d,)``.
      key: PRNG key.
      num_particles: ``N >= 2``.
      num_steps: ``K >= 1`` updates.
      params: :class:`CBOParams` (``dt, lam, sigma, alpha, noise, batch_size``).
      init_std: standard deviation of the initial particles around ``x0``.
      num_runs: ``None`` for one run, or the number of independent runs (``key`` is split; every
        result gets a leading ``num_runs`` axis; one compiled call).

    Returns:
      :class:`CBOResult`.

    Raises:
      ValueError: bad hyperparameters (``alpha <= 0``, ``sigma < 0``, ``dt <= 0``, ``lam < 0``,
        unknown ``noise``), ``num_particles < 2``, ``num_steps < 1``, ``x0`` not a finite
        vector, ``f`` not scalar-valued, or ``f`` returning NaN/inf for some particle (the
        message names the step and particle; under ``jit`` see ``nonfinite_step``).

    Differs from the paper: the official code applies the noise after the drift (distance
    ``(1 - lam dt) ||X_i - v||``); this is the plain Euler-Maruyama step of the SDE.

    References:
      Riedl, Klock, Geldhauser, Fornasier, arXiv:2306.09778, Fig. 1b; Pinnau, Totzeck, Tse,
      Martin (2017); random batches: Carrillo, Jin, Li, Zhu (2021).
    """
    params = _check_params(params, num_particles)
    x0 = _check_problem(f, x0, num_particles, num_steps, num_runs)
    checks.positive(init_std, "init_std", allow_zero=True)
    static = dict(num_particles=num_particles, num_steps=num_steps, params=params)
    if num_runs is None:
        out = _cbo_one(f, x0, key, init_std, **static)
    else:
        out = _cbo_many(f, x0, jax.random.split(key, num_runs), init_std, **static)
    consensus, trajectory, particles, bad_step, bad_particle = out
    result = CBOResult(
        consensus, trajectory, particles, num_particles * (num_steps + 1), bad_step, bad_particle
    )
    _raise_nonfinite(result, "cbo")
    return result


# -- consensus hopping ----------------------------------------------------------------------


def _ch_run(f, x0, key, sigma, alpha, decay, *, num_particles, num_steps, decay_every):
    energy = jax.vmap(f)
    d = x0.shape[0]
    key, init_key = jax.random.split(key)
    x = _init_particles(x0, init_key, num_particles, sigma)

    def step(carry, k):  # k = 1 .. K as in the official loop
        x, s, found_step, found_particle = carry
        e = energy(x)
        found_step, found_particle = _first_bad(e, k - 1, found_step, found_particle)
        v = _consensus(x, e, alpha)
        s = jnp.where(k % decay_every == 0, s * decay, s)
        xi = jax.random.normal(jax.random.fold_in(key, k), (num_particles, d), x0.dtype)
        return (v + s * xi, s, found_step, found_particle), v

    init = (x, jnp.asarray(sigma, x0.dtype), jnp.int32(-1), jnp.int32(-1))
    (x, _, found_step, found_particle), trajectory = jax.lax.scan(
        step, init, jnp.arange(1, num_steps + 1)
    )
    e = energy(x)
    found_step, found_particle = _first_bad(e, num_steps, found_step, found_particle)
    return _consensus(x, e, alpha), trajectory, found_step, found_particle


_CH_STATIC = ("f", "num_particles", "num_steps", "decay_every")
_ch_one = jax.jit(_ch_run, static_argnames=_CH_STATIC)


@functools.partial(jax.jit, static_argnames=_CH_STATIC)
def _ch_many(f, x0, keys, sigma, alpha, decay, *, num_particles, num_steps, decay_every):
    run = functools.partial(
        _ch_run, f, num_particles=num_particles, num_steps=num_steps, decay_every=decay_every
    )
    return jax.vmap(run, in_axes=(None, 0, None, None, None))(x0, keys, sigma, alpha, decay)


def consensus_hopping(
    f: Objective,
    x0: jax.Array,
    key: jax.Array,
    *,
    num_particles: int = 200,
    num_steps: int = 250,
    sigma: float = 0.7,
    alpha: float = 100.0,
    sigma_decay: float | None = None,
    decay_every: int = 100,
    num_runs: int | None = None,
) -> CHResult:
    """Consensus hopping (CH), the paper's bridge between CBO and gradient descent.

    Samples ``N`` points around ``x0`` with standard deviation ``sigma``, then repeats ``K``
    times: ``v_k = v_alpha(samples)``, ``samples = v_k + sigma N(0, I_d)``; returns ``v_alpha``
    of the last samples. It is CBO with ``lam dt = 1`` (every particle jumps onto the consensus
    point) and noise independent of ``||X_i - v||``. In the mean-field limit one hop is the
    Laplace approximation of the proximal (implicit gradient) step
    ``argmin_x E(x) + ||x - v_k||^2 / (2 tau)`` with ``tau = alpha sigma^2``.

    Args:
      f: objective ``(d,) -> scalar``.
      x0: starting point ``(d,)``.
      key: PRNG key.
      num_particles: ``N >= 2`` samples per hop.
      num_steps: ``K >= 1`` hops.
      sigma: sampling width ``sigma > 0``.
      alpha: inverse temperature ``alpha > 0``.
      sigma_decay: optional factor in ``(0, 1]`` applied to ``sigma`` every ``decay_every``
        hops (the official "scheduled vanishing" variant uses 0.98 every 100).
      num_runs: ``None`` or the number of independent runs (leading axis on the results).

    Returns:
      :class:`CHResult`.

    Raises:
      ValueError: ``sigma <= 0``, ``alpha <= 0``, ``num_particles < 2``, ``num_steps < 1``,
        bad ``sigma_decay``/``decay_every``, ``f`` not scalar-valued or returning NaN/inf.

    References:
      Riedl, Klock, Geldhauser, Fornasier, arXiv:2306.09778, Fig. 2a (official
      ``CH.m``).
    """
    checks.positive(sigma, "sigma")
    checks.positive(alpha, "alpha")
    decay = 1.0
    if sigma_decay is not None:
        decay = float(checks.in_range(sigma_decay, "sigma_decay", 0.0, 1.0, closed="right"))
    checks.integer(decay_every, "decay_every", minimum=1)
    x0 = _check_problem(f, x0, num_particles, num_steps, num_runs)
    static = dict(num_particles=num_particles, num_steps=num_steps, decay_every=decay_every)
    if num_runs is None:
        out = _ch_one(f, x0, key, sigma, alpha, decay, **static)
    else:
        out = _ch_many(f, x0, jax.random.split(key, num_runs), sigma, alpha, decay, **static)
    consensus, trajectory, bad_step, bad_particle = out
    result = CHResult(
        consensus, trajectory, num_particles * (num_steps + 1), bad_step, bad_particle
    )
    _raise_nonfinite(result, "consensus_hopping")
    return result


@functools.partial(jax.jit, static_argnames=("f", "num_particles"))
def _hop(f, x, key, sigma, alpha, *, num_particles):
    samples = x + sigma * jax.random.normal(key, (num_particles, x.shape[0]), x.dtype)
    return _consensus(samples, jax.vmap(f)(samples), alpha)


def hopping_step(
    f: Objective,
    x: jax.Array,
    key: jax.Array,
    *,
    num_particles: int,
    sigma: float,
    alpha: float,
) -> jax.Array:
    """One consensus hop from ``x``: ``v_alpha`` of ``N`` samples ``x + sigma N(0, I_d)``.

    As ``N -> inf`` this is the mean of the Gibbs measure of
    ``alpha [E(y) + ||y - x||^2 / (2 tau)]``, ``tau = alpha sigma^2``, which tends to the proximal
    step ``argmin_y E(y) + ||y - x||^2 / (2 tau)`` as ``alpha -> inf`` (exactly equal for every
    ``alpha`` when ``E`` is quadratic). The weighted mean stays inside the sample cloud, so a
    finite ``N`` reaches the proximal point only when ``||prox(x) - x||`` is at most a few ``sigma``.

    Raises:
      ValueError: ``sigma <= 0``, ``alpha <= 0``, ``num_particles < 2``, bad ``x``/``f``, or
        non-finite energies.
    """
    checks.positive(sigma, "sigma")
    checks.positive(alpha, "alpha")
    x = _check_problem(f, x, num_particles, 1, None)
    v = _hop(f, x, key, sigma, alpha, num_particles=num_particles)
    if checks.is_concrete(v) and not bool(jnp.all(jnp.isfinite(v))):
        raise ValueError("`f` returned a non-finite value (NaN/inf) for a sample of hopping_step.")
    return v


# -- minimize -------------------------------------------------------------------------------


@functools.partial(jax.jit, static_argnames=("f", "num_particles", "params"))
def _minimize_run(f, x0, key, init_std, tol, max_steps, *, num_particles, params):
    energy = jax.vmap(f)
    key, init_key = jax.random.split(key)
    x = _init_particles(x0, init_key, num_particles, init_std)
    e = energy(x)
    v = _consensus(x, e, params.alpha)

    def spread(x, v):
        return jnp.mean(jnp.linalg.norm(x - v, axis=-1))

    def cond(state):
        k, x, e, v, bad = state
        return (k < max_steps) & (spread(x, v) > tol) & ~bad

    def body(state):
        k, x, e, v, bad = state
        batch_key, noise_key = jax.random.split(jax.random.fold_in(key, k))
        v_each = (
            v[None, :]
            if params.batch_size is None
            else _per_particle_consensus(x, e, batch_key, params)
        )
        x = _cbo_update(x, v_each, noise_key, params)
        e = energy(x)
        return k + 1, x, e, _consensus(x, e, params.alpha), ~jnp.all(jnp.isfinite(e))

    k, x, e, v, bad = jax.lax.while_loop(
        cond, body, (jnp.int32(0), x, e, v, ~jnp.all(jnp.isfinite(e)))
    )
    s = spread(x, v)
    return v, f(v), s <= tol, k, s, num_particles * (k + 1) + 1, bad


def minimize(
    f: Objective,
    x0: jax.Array,
    key: jax.Array,
    *,
    num_particles: int = 100,
    max_steps: int = 10_000,
    params: CBOParams = DEFAULT_PARAMS,
    init_std: float = 1.0,
    tol: float = 1e-4,
) -> MinimizeResult:
    """Derivative-free minimization of ``f`` with CBO, stopping once the particles collapse.

    Runs the :func:`cbo` update until the mean distance of the particles to the consensus point
    is ``<= tol`` (``converged``) or ``max_steps`` steps. Whether the particles collapse depends on
    the noise: a typical isotropic particle's distance to ``v`` decays at rate
    ``lam - sigma^2 (d - 2) / 2`` (so not at all for ``d sigma^2 >= 2 lam + 2 sigma^2``), an
    anisotropic one's at ``lam + sigma^2 / 2``, fast enough to freeze the swarm before it has
    travelled far. A run that stops on ``max_steps`` still returns its consensus point, with
    ``converged=False``.

    Returns:
      :class:`MinimizeResult` (``x`` is the final consensus point, ``fun = f(x)``); a run that did
      not collapse says so in ``converged``.

    Raises:
      ValueError: as :func:`cbo`, ``tol <= 0``, or ``f`` returning NaN/inf.
    """
    params = _check_params(params, num_particles)
    x0 = _check_problem(f, x0, num_particles, max_steps, None)
    checks.positive(init_std, "init_std", allow_zero=True)
    checks.positive(tol, "tol")
    *out, bad = _minimize_run(
        f, x0, key, init_std, tol, max_steps, num_particles=num_particles, params=params
    )
    if checks.is_concrete(bad) and bool(bad):
        raise ValueError(
            f"`f` returned a non-finite value (NaN/inf) at step {int(out[3])} of minimize; the "
            "consensus weights need finite energies."
        )
    return MinimizeResult(*out)
