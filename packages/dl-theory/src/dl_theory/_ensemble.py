"""Monte Carlo ensembles of finite-width networks at initialization, and their statistics.

Two exact samplers of the same distribution:

- ``method="weights"`` draws every weight matrix ``W^(l)`` and bias, as one would by hand
  (``O(n^2)`` per layer);
- ``method="conditional"`` (default) uses that, given the previous layer, the rows of
  ``b + W A`` (``A`` the ``n_(l-1) x k`` matrix of the activations of ``k`` inputs) are i.i.d.
  ``N(0, G)`` with ``G = C_b + (C_W / n_(l-1)) A^T A``: the weights of one layer enter only through
  ``k x k`` Gram matrices, so a layer costs ``O(n k^2)``. This is exact in distribution, not an
  approximation.

A tangent ``t^(1) ~ N(0, I)`` at the first layer is carried forward as ``t^(l+1) = xi t^(l) +
gamma W (sigma'(z^(l)) * t^(l))`` (a Jacobian-vector product; the same Gram trick covers it), so
``mean(t^(l)^2)`` estimates the mean squared singular value of ``dz^(l) / dz^(1)``, which the
infinite-width theory predicts to be ``prod chi_perp``: the gradient growth factor.

Per network and layer the sampler keeps neuron averages: the empirical kernel ``z^T z / n``, the
raw moments ``mean z^2``, ``mean z^4`` of the first input, and their conditional expectations
given the previous layer (``E[z^2 | l-1] = mu^2 + v``, ``E[z^4 | l-1] = mu^4 + 6 mu^2 v + 3 v^2``
with ``mu = xi z^(l-1)`` and ``v = gamma^2 G``): the Rao-Blackwellized estimator. For a plain MLP
``mu = 0`` and it reduces to ``r = Var(G) / E[G]^2``.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Literal, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxpapers_shared import checks

from ._activations import Activation, _check_activation
from ._recursions import Residual, _check_init

__all__ = [
    "EnsembleSamples",
    "FiniteWidthStats",
    "empirical_ntk",
    "finite_width_statistics",
    "sample_mlp_ensemble",
]


class EnsembleSamples(NamedTuple):
    """Per-network, per-layer neuron averages; leading axes ``(num_nets, depth)``.

    Attributes:
      kernel: ``(nets, depth, k, k)`` empirical kernel ``z^T z / n_l`` of the ``k`` inputs.
      raw2, raw4: ``(nets, depth)`` ``mean_i z_i^2`` and ``mean_i z_i^4`` (first input).
      cond2, cond4: ``(nets, depth)`` the same moments' expectations given the previous layer.
      grad: ``(nets, depth)`` ``mean_i t_i^2`` of the tangent (NaN if not tracked).
      widths: ``(n_1, ..., n_L)``.
    """

    kernel: np.ndarray
    raw2: np.ndarray
    raw4: np.ndarray
    cond2: np.ndarray
    cond4: np.ndarray
    grad: np.ndarray
    widths: tuple[int, ...]


class FiniteWidthStats(NamedTuple):
    """Ensemble estimates at one layer (standard errors by jackknife over 20 blocks of nets).

    Attributes:
      kernel: ``E[z^2]`` (first input).
      kernel_stderr: its standard error.
      r: ``E[z^4] / (3 E[z^2]^2) - 1``, the excess-kurtosis ratio ``V / (n K^2)``.
      r_stderr: its standard error.
      estimator: ``"rao_blackwell"`` or ``"raw"``.
      num_nets: networks used.
    """

    kernel: float
    kernel_stderr: float
    r: float
    r_stderr: float
    estimator: str
    num_nets: int


def _sym_sqrt(G: jax.Array) -> jax.Array:
    """The symmetric PSD square root (closed forms for 1 x 1 and 2 x 2: no batched eigh)."""
    if G.shape == (1, 1):
        return jnp.sqrt(jnp.maximum(G, 0.0))
    if G.shape == (2, 2):  # sqrt(G) = (G + s I) / t, s = sqrt(det G), t = sqrt(tr G + 2 s)
        s = jnp.sqrt(jnp.maximum(G[0, 0] * G[1, 1] - G[0, 1] * G[1, 0], 0.0))
        t = jnp.sqrt(jnp.maximum(G[0, 0] + G[1, 1] + 2 * s, 1e-300))
        return (G + s * jnp.eye(2, dtype=G.dtype)) / t
    val, vec = jnp.linalg.eigh(G)
    return (vec * jnp.sqrt(jnp.maximum(val, 0.0))) @ vec.T


def _layer(noise, act, Z, T, C_b, C_W, xi2, g2, *, first, method, resid):
    """One layer of one network: the new ``(Z, T)`` and the conditional moments of input 0.

    ``noise`` is ``(n_out, m)`` standard normals (``"conditional"``) or the pair
    ``(W0 (n_out, n_in), b0 (n_out,))`` of standard normals (``"weights"``).
    """
    A = Z if first else act.fn(Z)  # the first layer acts on the input X itself (n_0, k)
    k = A.shape[1]
    if T is not None and not first:
        A = jnp.concatenate([A, (jax.vmap(jax.grad(act.fn))(Z[:, 0]) * T)[:, None]], axis=1)
    m, n_in = A.shape[1], A.shape[0]
    mask = (jnp.arange(m) < k).astype(A.dtype)
    G = C_b * jnp.outer(mask, mask) + (C_W / n_in) * A.T @ A
    if method == "conditional":
        U = noise @ _sym_sqrt(G)
    else:
        W0, b0 = noise
        U = (W0 @ A) * jnp.sqrt(C_W / n_in) + jnp.sqrt(C_b) * b0[:, None] * mask
    if first:  # T is the initial tangent t^(1), passed through
        return U[:, :k], T, G[0, 0], 3 * G[0, 0] ** 2
    if not resid:
        return U[:, :k], None if T is None else U[:, k], G[0, 0], 3 * G[0, 0] ** 2
    xi = jnp.sqrt(xi2)
    Z_new = xi * Z + jnp.sqrt(g2) * U[:, :k]
    T_new = None if T is None else xi * T + jnp.sqrt(g2) * U[:, k]
    mu, v = xi * Z[:, 0], g2 * G[0, 0]
    return Z_new, T_new, jnp.mean(mu**2 + v), jnp.mean(mu**4 + 6 * mu**2 * v + 3 * v**2)


def _stats(Z, T, cond2, cond4):
    n = Z.shape[0]
    z0 = Z[:, 0]
    grad = jnp.mean(T**2) if T is not None else jnp.full((), jnp.nan)
    return Z.T @ Z / n, jnp.mean(z0**2), jnp.mean(z0**4), cond2, cond4, grad


def _noise(key, method, chunk, n_in, n_out, m):
    if method == "conditional":
        return jax.random.normal(key, (chunk, n_out, m), jnp.float64)
    kw, kb = jax.random.split(key)
    return (
        jax.random.normal(kw, (chunk, n_out, n_in), jnp.float64),
        jax.random.normal(kb, (chunk, n_out), jnp.float64),
    )


@functools.partial(
    jax.jit,
    static_argnames=("act", "widths", "method", "chunk", "track", "resid"),
)
def _sample_chunk(seed, i, X, C_b, C_W, xi2, g2, *, act, widths, method, chunk, track, resid):
    """One chunk of networks: layers in order, ``vmap`` over the chunk's networks.

    Random numbers come from XLA's RngBitGenerator (``rbg`` keys), drawn for a whole chunk per
    layer: far cheaper to compile than per-network threefry keys. The chunk index ``i`` is a
    traced argument, so any number of chunks reuses one compiled function.
    """
    key = jax.random.wrap_key_data(seed, impl="rbg")
    k = X.shape[1]
    m = k + int(track)

    def layer(Z, T, noise, first):
        fn = functools.partial(_layer, act=act, C_b=C_b, C_W=C_W, xi2=xi2, g2=g2, first=first,
                               method=method, resid=resid)  # fmt: skip
        out = jax.vmap(lambda z, t, e: fn(e, Z=z, T=t))(Z, T, noise)
        return out[0], out[1], _stats_batch(out)

    def _stats_batch(out):
        Z, T, c2, c4 = out
        return jax.vmap(_stats)(Z, T, c2, c4)

    kc = jax.random.fold_in(key, i)
    Xb = jnp.broadcast_to(X, (chunk, *X.shape))
    noise = _noise(jax.random.fold_in(kc, 0), method, chunk, X.shape[0], widths[0], k)
    T = jax.random.normal(jax.random.fold_in(kc, 1_000_000), (chunk, widths[0]), jnp.float64)
    Z, T, stats = layer(Xb, T if track else None, noise, True)
    out = [stats]
    if len(widths) > 1 and len(set(widths[1:])) == 1:

        def body(carry, l):
            Z, T = carry
            noise = _noise(jax.random.fold_in(kc, l), method, chunk, Z.shape[1], widths[1], m)
            Z, T, stats = layer(Z, T, noise, False)
            return (Z, T), stats

        _, rest = jax.lax.scan(body, (Z, T), jnp.arange(1, len(widths)))
        rest = jax.tree.map(lambda a: jnp.swapaxes(a, 0, 1), rest)
        return jax.tree.map(lambda a, b: jnp.concatenate([a[:, None], b], axis=1), stats, rest)
    for l, n_out in enumerate(widths[1:], start=1):
        noise = _noise(jax.random.fold_in(kc, l), method, chunk, Z.shape[1], n_out, m)
        Z, T, stats = layer(Z, T, noise, False)
        out.append(stats)
    return jax.tree.map(lambda *a: jnp.stack(a, axis=1), *out)


def sample_mlp_ensemble(
    key: jax.Array,
    act: Activation,
    *,
    width: int | Sequence[int],
    depth: int,
    C_b: float,
    C_W: float,
    num_nets: int,
    x: jax.typing.ArrayLike,
    residual: Residual | None = None,
    method: Literal["conditional", "weights"] = "conditional",
    chunk: int = 256,
    track_gradients: bool = True,
) -> EnsembleSamples:
    """Samples ``num_nets`` independent networks at initialization; keeps per-layer averages.

    Args:
      key: a PRNG key.
      act: the activation.
      width: the width ``n`` of every layer ``1..L``, or the widths ``(n_1, ..., n_L)``.
      depth: ``L >= 1``.
      C_b, C_W: initialization variances.
      num_nets: number of independent networks (>= 1).
      x: the input, ``(n_0,)`` or ``(k, n_0)`` for ``k`` inputs.
      residual: :class:`Residual` for layers 2..L (needs equal widths), or ``None``.
      method: ``"conditional"`` (exact Gram-matrix sampler, ``O(n)`` per layer) or
        ``"weights"`` (explicit weight matrices, ``O(n^2)``); same distribution.
      chunk: networks per ``vmap`` batch (one compiled call per chunk, in a host loop).
      track_gradients: carry the tangent that measures the gradient growth factor.

    Returns:
      :class:`EnsembleSamples` of NumPy float64 arrays.

    Raises:
      ValueError: on ``width < 1``, ``depth < 1``, ``num_nets < 1``, ``C_W <= 0``, ``C_b < 0``,
        an all-zero ``x`` with ``C_b = 0``, or a residual net with unequal widths.
    """
    _check_activation(act)
    _check_init(C_b, C_W, depth)
    checks.integer(num_nets, "num_nets", minimum=1)
    checks.integer(chunk, "chunk", minimum=1)
    checks.one_of(method, "method", ("conditional", "weights"))
    if isinstance(width, int | np.integer) and not isinstance(width, bool):
        widths = (checks.integer(width, "width", minimum=1),) * depth
    else:
        widths = tuple(checks.integer(n, "width", minimum=1) for n in width)
        if len(widths) != depth:
            raise ValueError(f"`width` must list {depth} widths n_1..n_L, got {len(widths)}.")
    if residual is not None and len(set(widths[1:])) > 1:
        raise ValueError(f"`width` must be equal across residual layers, got {widths}.")
    with jax.enable_x64(True):
        x = checks.array(x, "x", ndim=(1, 2), dtype="float").astype(jnp.float64)
        X = (x[None] if x.ndim == 1 else x).T  # (n_0, k)
        if C_b == 0 and np.any(np.sum(np.asarray(X) ** 2, axis=0) == 0):
            raise ValueError("`x` has an all-zero input and `C_b` = 0: every network outputs 0.")
        chunk = min(chunk, num_nets)
        seed = jax.random.bits(key, (4,), jnp.uint32)
        xi2, g2 = (0.0, 1.0) if residual is None else (residual.xi2, residual.gamma2)
        scalars = [jnp.asarray(float(v), jnp.float64) for v in (C_b, C_W, xi2, g2)]
        static = dict(act=act, widths=widths, method=method, chunk=chunk,
                      track=bool(track_gradients), resid=residual is not None)  # fmt: skip
        parts = [
            jax.tree.map(np.asarray, _sample_chunk(seed, i, X, *scalars, **static))
            for i in range(-(-num_nets // chunk))
        ]
        res = [np.concatenate(a)[:num_nets] for a in zip(*parts, strict=True)]
        return EnsembleSamples(*res, widths=widths)


def _jackknife(fn, columns: Sequence[np.ndarray], blocks: int = 20) -> tuple[float, float]:
    n = len(columns[0])
    blocks = min(blocks, n)
    idx = np.array_split(np.arange(n), blocks)
    full = fn(*columns)
    leave = []
    for b in idx:
        keep = np.ones(n, bool)
        keep[b] = False
        leave.append(fn(*(c[keep] for c in columns)))
    leave = np.asarray(leave)
    return float(full), float(np.sqrt((blocks - 1) / blocks * np.sum((leave - leave.mean()) ** 2)))


def finite_width_statistics(
    samples: EnsembleSamples,
    *,
    layer: int = -1,
    estimator: Literal["rao_blackwell", "raw"] = "rao_blackwell",
) -> FiniteWidthStats:
    """``E[z^2]`` and ``r = E[z^4] / (3 E[z^2]^2) - 1`` at one layer, from an ensemble.

    ``"rao_blackwell"`` averages the moments' conditional expectations given the previous layer
    (far lower variance; for a plain MLP ``r = Var(G) / E[G]^2``), ``"raw"`` the neuron averages
    of ``z^2`` and ``z^4``. Both are unbiased for the same ``E[z^2]`` and ``E[z^4]``. Errors are
    per-network (the neurons of one network are correlated at order 1/n), by jackknife.

    Raises:
      ValueError: if the ensemble has fewer than 100 networks (variance estimates are then
        meaningless), ``layer`` is out of range, or ``estimator`` is unknown.
    """
    checks.one_of(estimator, "estimator", ("rao_blackwell", "raw"))
    nets, depth = samples.raw2.shape
    if nets < 100:
        raise ValueError(
            f"`samples` must hold >= 100 networks for a fourth-moment estimate, got {nets}."
        )
    checks.integer(layer, "layer", minimum=-depth, maximum=depth - 1)
    if estimator == "rao_blackwell":
        m2, m4 = np.asarray(samples.cond2[:, layer]), np.asarray(samples.cond4[:, layer])
    else:
        m2, m4 = np.asarray(samples.raw2[:, layer]), np.asarray(samples.raw4[:, layer])
    k, k_err = _jackknife(np.mean, [m2])
    r, r_err = _jackknife(lambda a, b: np.mean(b) / (3 * np.mean(a) ** 2) - 1, [m2, m4])
    return FiniteWidthStats(k, k_err, r, r_err, estimator, int(nets))


def empirical_ntk(
    key: jax.Array,
    act: Activation,
    *,
    width: int,
    depth: int,
    C_b: float,
    C_W: float,
    lambda_b: float,
    lambda_W: float,
    x: jax.typing.ArrayLike,
    num_nets: int,
    chunk: int = 8,
) -> np.ndarray:
    """The empirical NTK ``H^(L)`` of one input and one output neuron, for ``num_nets`` nets.

    ``H = sum_l [lambda_b |dz/db^(l)|^2 + (lambda_W / n_(l-1)) |dz/dW^(l)|^2]`` with explicit
    weights (hidden width ``width``, output width 1), by ``jax.grad``; float64.

    Raises:
      ValueError: on ``width``, ``depth`` or ``num_nets`` < 1, or bad ``C_b``, ``C_W``,
        ``lambda_b``, ``lambda_W``.
    """
    _check_activation(act)
    _check_init(C_b, C_W, depth)
    checks.integer(width, "width", minimum=1)
    checks.integer(num_nets, "num_nets", minimum=1)
    checks.positive(lambda_b, "lambda_b", allow_zero=True)
    checks.positive(lambda_W, "lambda_W", allow_zero=True)
    with jax.enable_x64(True):
        x = checks.array(x, "x", ndim=1, dtype="float").astype(jnp.float64)
        sizes = [x.shape[0]] + [width] * (depth - 1) + [1]

        def one_net(key):
            params = []
            for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
                kw, kb = jax.random.split(jax.random.fold_in(key, i))
                W = jax.random.normal(kw, (n_out, n_in)) * jnp.sqrt(C_W / n_in)
                params.append((W, jax.random.normal(kb, (n_out,)) * jnp.sqrt(C_b)))

            def out(params):
                h = x
                for i, (W, b) in enumerate(params):
                    h = W @ (h if i == 0 else act.fn(h)) + b
                return h[0]

            grads = jax.grad(out)(params)
            return sum(
                lambda_b * jnp.sum(gb**2) + lambda_W / n_in * jnp.sum(gW**2)
                for (gW, gb), n_in in zip(grads, sizes[:-1], strict=True)
            )

        chunk = min(chunk, num_nets)
        padded = -(-num_nets // chunk) * chunk
        keys = jax.random.split(key, padded).reshape(-1, chunk, *key.shape)
        return np.asarray(jax.lax.map(jax.vmap(one_net), keys).reshape(-1)[:num_nets])
