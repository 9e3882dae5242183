"""Layer-to-layer recursions at initialization: kernel, susceptibilities, four-point vertex, NTK.

Notation of the book (Roberts, Yaida & Hanin, arXiv:2106.10165): an MLP with widths
``n_0, n_1, ..., n_L``, ``z^(1) = b^(1) + W^(1) x`` and ``z^(l+1) = b^(l+1) + W^(l+1) sigma(z^(l))``
with ``Var b = C_b`` and ``Var W^(l+1)_ij = C_W / n_l``. ``<F(z)>_K`` is ``E[F(z)]`` for
``z ~ N(0, K)``.

- kernel (Ch. 4): ``K^(1) = C_b + C_W |x|^2 / n_0``, ``K^(l+1) = C_b + C_W <sigma^2>_{K^(l)}``
  (two inputs: the 2 x 2 kernel and ``<sigma(z_a) sigma(z_b)>``);
- susceptibilities (Ch. 5): ``chi_par = C_W d<sigma^2>_K / dK = C_W <sigma^2 (z^2 - K)>_K / (2 K^2)``
  (integration by parts, no finite differences) and ``chi_perp = C_W <sigma'^2>_K``;
- four-point vertex (Ch. 4, single input): ``V^(1) = 0``,
  ``V^(l+1) = C_W^2 (<sigma^4> - <sigma^2>^2) + (n_l / n_(l-1)) chi_par^2 V^(l)``, normalized so
  that ``E[z^4] - 3 E[z^2]^2 = 3 V^(l) / n_(l-1)``: the excess kurtosis ratio is
  ``r^(l) = E[z^4] / (3 E[z^2]^2) - 1 = V^(l) / (n_(l-1) K^(l)^2)``;
- frozen NTK (Ch. 8, single input, learning rates ``lambda_b`` and ``lambda_W / n_(l-1)``):
  ``H^(1) = lambda_b + lambda_W |x|^2 / n_0``,
  ``H^(l+1) = lambda_b + lambda_W <sigma^2>_{K^(l)} + C_W <sigma'^2>_{K^(l)} H^(l)``;
- residual MLPs (Appendix B), ``z^(l+1) = xi z^(l) + gamma (b + W sigma(z^(l)))``:
  ``K' = xi^2 K + gamma^2 (C_b + C_W <sigma^2>_K)`` and, for an odd ``sigma`` only,
  ``V' = (xi^2 + gamma^2 chi_par)^2 V + 2 xi^2 gamma^2 C_W (<z^2 sigma^2> - K <sigma^2>)
  + gamma^4 C_W^2 (<sigma^4> - <sigma^2>^2)``.

Gaussian expectations have closed forms for scale-invariant activations (``<sigma^2>_K = A_2 K``,
``<sigma^4>_K = 3 A_4 K^2``, the arc-cosine two-point function) and use Gauss-Hermite
quadrature with 128 nodes (``jaxpapers_shared.gaussian``) otherwise. Everything is float64.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxpapers_shared import checks
from jaxpapers_shared.gaussian import bivariate_gaussian_expectation, gaussian_expectation

from ._activations import Activation, _check_activation, taylor_coefficients

__all__ = [
    "GaussianMoments",
    "Residual",
    "four_point_vertex",
    "gaussian_moments",
    "kernel_recursion",
    "kurtosis_prediction",
    "ntk_recursion",
    "residual_criticality",
    "susceptibilities",
]

ORDER = 128  # Gauss-Hermite nodes for smooth activations


@dataclasses.dataclass(frozen=True)
class Residual:
    """Residual hyperparameters of ``z^(l+1) = xi z^(l) + gamma (b + W sigma(z^(l)))``.

    Args:
      xi2: ``xi^2 >= 0``, the weight of the skip connection.
      gamma2: ``gamma^2 > 0``, the weight of the MLP block.
    """

    xi2: float
    gamma2: float

    def __post_init__(self):
        checks.positive(self.xi2, "xi2", allow_zero=True)
        checks.positive(self.gamma2, "gamma2")
        object.__setattr__(self, "xi2", float(self.xi2))
        object.__setattr__(self, "gamma2", float(self.gamma2))


class GaussianMoments(NamedTuple):
    """``<sigma^2>_K``, ``<sigma^4>_K``, ``<z^2 sigma^2>_K`` and ``<sigma'^2>_K``."""

    s2: jax.Array
    s4: jax.Array
    z2s2: jax.Array
    ds2: jax.Array


def _derivative(act: Activation):
    return jnp.vectorize(jax.grad(act.fn))


def gaussian_moments(act: Activation, K: jax.typing.ArrayLike) -> GaussianMoments:
    """The single-input Gaussian expectations the recursions need, elementwise over ``K``.

    Closed forms for a scale-invariant activation, 128-node Gauss-Hermite otherwise; NumPy
    float64 arrays.

    Raises:
      ValueError: if some ``K < 0``.
    """
    _check_activation(act)
    with jax.enable_x64(True):
        K = checks.array(K, "K", dtype="float").astype(jnp.float64)
        if np.any(np.asarray(K) < 0):
            raise ValueError(f"`K` must be >= 0, got min(K) = {float(jnp.min(K))!r}.")
        return GaussianMoments(*(np.asarray(m) for m in _moments(act, K)))


def _moments(act: Activation, K: jax.Array) -> GaussianMoments:
    K = jnp.asarray(K)
    if act.scale_invariant is not None:
        a2, a4 = act.moments
        return GaussianMoments(a2 * K, 3 * a4 * K**2, 3 * a2 * K**2, a2 * jnp.ones_like(K))
    f, df = act.fn, _derivative(act)
    return GaussianMoments(
        gaussian_expectation(lambda z: f(z) ** 2, K, order=ORDER),
        gaussian_expectation(lambda z: f(z) ** 4, K, order=ORDER),
        gaussian_expectation(lambda z: z**2 * f(z) ** 2, K, order=ORDER),
        gaussian_expectation(lambda z: df(z) ** 2, K, order=ORDER),
    )


def _two_point(act: Activation, K: jax.Array) -> jax.Array:
    """``<sigma(z_a) sigma(z_b)>`` for ``(z_a, z_b) ~ N(0, K)``, ``K`` of shape (2, 2)."""
    if act.scale_invariant is None:
        off = bivariate_gaussian_expectation(lambda u, v: act.fn(u) * act.fn(v), K, order=ORDER)
        diag = _moments(act, jnp.diagonal(K)).s2
    else:
        a_plus, a_minus = act.scale_invariant
        s = jnp.sqrt(K[0, 0] * K[1, 1])
        rho = jnp.clip(K[0, 1] / s, -1.0, 1.0)
        theta = jnp.arccos(rho)
        # E[relu(u) relu(v)] (arc-cosine kernel of degree 1), then the two slopes.
        relu_relu = s / (2 * jnp.pi) * (jnp.sin(theta) + (jnp.pi - theta) * rho)
        off = (a_plus - a_minus) ** 2 * relu_relu + a_plus * a_minus * K[0, 1]
        diag = act.moments[0] * jnp.diagonal(K)
    return jnp.array([[diag[0], off], [off, diag[1]]])


def susceptibilities(
    act: Activation, K: jax.typing.ArrayLike, C_W: float
) -> tuple[np.ndarray, np.ndarray]:
    """``(chi_par, chi_perp)`` at kernel ``K`` (elementwise over an array of ``K``).

    ``chi_par = C_W <sigma^2 (z^2 - K)>_K / (2 K^2)`` (the derivative of ``C_W <sigma^2>_K``
    in ``K``, by integration by parts) and ``chi_perp = C_W <sigma'^2>_K``.

    Raises:
      ValueError: if ``C_W <= 0`` or some ``K <= 0``.
    """
    checks.positive(C_W, "C_W")
    with jax.enable_x64(True):
        K = checks.array(K, "K", dtype="float").astype(jnp.float64)
        if np.any(np.asarray(K) <= 0):
            raise ValueError(f"`K` must be > 0, got min(K) = {float(jnp.min(K))!r}.")
        m = _moments(act, K)
        chi_par = C_W * (m.z2s2 - K * m.s2) / (2 * K**2)
        return np.asarray(chi_par), np.asarray(C_W * m.ds2)


def _check_init(C_b: float, C_W: float, depth: int) -> None:
    checks.positive(C_b, "C_b", allow_zero=True)
    checks.positive(C_W, "C_W")
    checks.integer(depth, "depth", minimum=1)


def _first_kernel(C_b: float, C_W: float, k1, x) -> jax.Array:
    if (k1 is None) == (x is None):
        raise ValueError("pass exactly one of `k1` (the first-layer kernel) or `x` (the input).")
    if k1 is not None:
        checks.positive(k1, "k1")
        return jnp.asarray(float(k1))
    x = checks.array(x, "x", ndim=(1, 2), dtype="float").astype(jnp.float64)
    X = x[None] if x.ndim == 1 else x
    if X.shape[0] > 2:
        raise ValueError(f"`x` must hold one input (n_0,) or two (2, n_0), got x.shape={x.shape}.")
    K1 = C_b + C_W * (X @ X.T) / X.shape[1]
    if np.any(np.diagonal(np.asarray(K1)) <= 0):
        raise ValueError(
            "`x` has zero norm and `C_b` = 0: the first-layer kernel is 0, the recursion is "
            "trivial; use a nonzero input or C_b > 0."
        )
    return K1[0, 0] if x.ndim == 1 else K1


def kernel_recursion(
    act: Activation,
    *,
    depth: int,
    C_b: float,
    C_W: float,
    k1: float | None = None,
    x: jax.typing.ArrayLike | None = None,
    residual: Residual | None = None,
) -> np.ndarray:
    """The infinite-width kernel ``K^(1), ..., K^(depth)`` (book eq. 4.x, "RG flow").

    Args:
      act: the activation.
      depth: number of layers ``L >= 1``.
      C_b, C_W: bias and weight variances (``C_b >= 0``, ``C_W > 0``).
      k1: the first-layer kernel of one input (``C_b + C_W |x|^2 / n_0``); or
      x: the input, ``(n_0,)`` for one input or ``(2, n_0)`` for two.
      residual: :class:`Residual` ``(xi2, gamma2)`` for layers 2..L, or ``None`` (plain MLP).

    Returns:
      NumPy float64 array, ``(depth,)`` for one input, ``(depth, 2, 2)`` for two.

    Raises:
      ValueError: on ``depth < 1``, ``C_W <= 0``, ``C_b < 0``, ``k1 <= 0``, an all-zero ``x``
        with ``C_b = 0``, or both/neither of ``k1`` and ``x``.
    """
    _check_activation(act)
    _check_init(C_b, C_W, depth)
    with jax.enable_x64(True):
        K1 = _first_kernel(C_b, C_W, k1, x)
        xi2, g2 = (0.0, 1.0) if residual is None else (residual.xi2, residual.gamma2)
        return np.asarray(_kernel_scan(K1, C_b, C_W, xi2, g2, act=act, depth=depth))


@functools.partial(jax.jit, static_argnames=("act", "depth"))
def _kernel_scan(K1, C_b, C_W, xi2, g2, *, act, depth):
    def step(K, _):
        if K.ndim == 0:
            block = C_b + C_W * _moments(act, K).s2
        else:
            block = C_b + C_W * _two_point(act, K)
        K_next = xi2 * K + g2 * block
        return K_next, K_next

    _, rest = jax.lax.scan(step, K1, None, length=depth - 1)
    return jnp.concatenate([K1[None], rest], axis=0)


@functools.partial(jax.jit, static_argnames=("act", "resid"))
def _vertex_scan(K, C_W, xi2, g2, ratio, *, act, resid):
    m = _moments(act, K[:-1])
    chi = C_W * (m.z2s2 - K[:-1] * m.s2) / (2 * K[:-1] ** 2)
    source = C_W**2 * (m.s4 - m.s2**2)
    if resid:
        growth = (xi2 + g2 * chi) ** 2
        source = g2**2 * source + 2 * xi2 * g2 * C_W * (m.z2s2 - K[:-1] * m.s2)
    else:
        growth = ratio * chi**2

    def step(V, inputs):
        g, s = inputs
        V_next = g * V + s
        return V_next, V_next

    _, rest = jax.lax.scan(step, jnp.zeros((), K.dtype), (growth, source))
    return jnp.concatenate([jnp.zeros((1,), K.dtype), rest])


@functools.partial(jax.jit, static_argnames=("act",))
def _ntk_scan(K, H1, C_W, lambda_b, lambda_W, *, act):
    m = _moments(act, K[:-1])

    def step(H, inputs):
        s2, ds2 = inputs
        H_next = lambda_b + lambda_W * s2 + C_W * ds2 * H
        return H_next, H_next

    _, rest = jax.lax.scan(step, H1, (m.s2, m.ds2))
    return jnp.concatenate([H1[None], rest])


def _is_odd(act: Activation) -> bool:
    if act.scale_invariant is not None:
        return act.scale_invariant[0] == act.scale_invariant[1]
    z = jnp.linspace(0.1, 5.0, 50, dtype=jnp.float32)
    return bool(jnp.allclose(act.fn(-z), -act.fn(z), atol=1e-6))


def _widths(widths, depth: int) -> np.ndarray:
    """The ratios ``n_l / n_(l-1)`` for l = 2..depth-1 (``None``: equal widths)."""
    if widths is None:
        return np.ones(max(depth - 1, 0))
    if isinstance(widths, int):
        widths = [widths] * (depth - 1)
    widths = [checks.integer(n, "widths[i]", minimum=1) for n in widths]
    if len(widths) != depth - 1:
        raise ValueError(
            f"`widths` must list the {depth - 1} hidden widths n_1..n_(L-1), got {len(widths)}."
        )
    ratio = np.ones(max(depth - 1, 0))
    ratio[1:] = np.asarray(widths[1:], float) / np.asarray(widths[:-1], float)
    return ratio


def four_point_vertex(
    act: Activation,
    *,
    depth: int,
    C_b: float,
    C_W: float,
    k1: float | None = None,
    x: jax.typing.ArrayLike | None = None,
    widths: Sequence[int] | None = None,
    residual: Residual | None = None,
) -> np.ndarray:
    """The single-input four-point vertex ``V^(1), ..., V^(depth)`` (leading order in 1/n).

    ``V^(1) = 0``, ``V^(l+1) = C_W^2 (<sigma^4> - <sigma^2>^2) + (n_l / n_(l-1)) chi_par^2 V^(l)``;
    the prediction for a network is ``r^(l) = V^(l) / (n_(l-1) K^(l)^2)``
    (:func:`kurtosis_prediction`). Residual networks use the recursion of the module docstring.

    Args:
      act, depth, C_b, C_W, k1, x, residual: as in :func:`kernel_recursion` (one input only).
      widths: the hidden widths ``n_1..n_(L-1)`` (only their ratios enter); ``None`` for equal
        widths. Not supported with ``residual``.

    Returns:
      NumPy float64 array ``(depth,)``.

    Raises:
      ValueError: on the inputs :func:`kernel_recursion` rejects, two inputs, ``widths`` with
        ``residual``, or ``residual`` with an activation that is not odd (ReLU): a skip
        connection with a non-odd ``sigma`` creates odd correlators at order 1/n that this
        recursion omits, so measure such networks by Monte Carlo (:func:`sample_mlp_ensemble`).
    """
    _check_activation(act)
    if residual is not None and not _is_odd(act):
        raise ValueError(
            f"`act` {act.name!r} is not odd: the residual four-point recursion holds only for "
            "odd activations (tanh, sin, linear); with a skip connection a non-odd activation "
            "creates odd correlators at order 1/n. Use sample_mlp_ensemble (Monte Carlo) instead."
        )
    if residual is not None and widths is not None:
        raise ValueError("`widths` must be None with `residual` (residual nets keep one width).")
    if x is not None and np.ndim(x) != 1:
        raise ValueError(f"`x` must be one input (n_0,), got x.shape={np.shape(x)}.")
    K = kernel_recursion(act, depth=depth, C_b=C_b, C_W=C_W, k1=k1, x=x, residual=residual)
    ratio = _widths(widths, depth)
    xi2, g2 = (0.0, 1.0) if residual is None else (residual.xi2, residual.gamma2)
    with jax.enable_x64(True):
        V = _vertex_scan(jnp.asarray(K), C_W, xi2, g2, jnp.asarray(ratio), act=act,
                         resid=residual is not None)  # fmt: skip
        return np.asarray(V)


def kurtosis_prediction(
    act: Activation,
    *,
    width: int | Sequence[int],
    depth: int,
    C_b: float,
    C_W: float,
    k1: float | None = None,
    x: jax.typing.ArrayLike | None = None,
    residual: Residual | None = None,
) -> np.ndarray:
    """``r^(l) = E[z^4] / (3 E[z^2]^2) - 1 = V^(l) / (n_(l-1) K^(l)^2)`` for l = 1..depth.

    Args:
      width: the hidden width ``n`` (all layers) or the widths ``n_1..n_(L-1)``.
      others: as in :func:`four_point_vertex`.

    Raises:
      ValueError: as :func:`four_point_vertex`, and on a width < 1.
    """
    widths = [width] * (depth - 1) if isinstance(width, int) else list(width)
    for n in widths:
        checks.integer(n, "width", minimum=1)
    if isinstance(width, int):
        checks.integer(width, "width", minimum=1)
    V = four_point_vertex(
        act,
        depth=depth,
        C_b=C_b,
        C_W=C_W,
        k1=k1,
        x=x,
        widths=None if (residual is not None or isinstance(width, int)) else widths,
        residual=residual,
    )
    K = kernel_recursion(act, depth=depth, C_b=C_b, C_W=C_W, k1=k1, x=x, residual=residual)
    n_prev = np.asarray([1.0] + [float(n) for n in widths])
    return V / (n_prev * K**2)


def ntk_recursion(
    act: Activation,
    *,
    depth: int,
    C_b: float,
    C_W: float,
    lambda_b: float,
    lambda_W: float,
    x: jax.typing.ArrayLike,
) -> np.ndarray:
    """The frozen (infinite-width) NTK ``H^(1), ..., H^(depth)`` of one input (book Ch. 8).

    ``H^(1) = lambda_b + lambda_W |x|^2 / n_0`` and
    ``H^(l+1) = lambda_b + lambda_W <sigma^2>_{K^(l)} + C_W <sigma'^2>_{K^(l)} H^(l)``, where the
    NTK sums ``lambda_b`` times the squared bias derivatives and ``lambda_W / n_(l-1)`` times
    the squared weight derivatives. With ``lambda_b = lambda_W = 1`` and Jacot et al.'s
    ``C_b, C_W`` this is the standard NTK (up to their ``beta`` bias scale).

    Raises:
      ValueError: on the inputs :func:`kernel_recursion` rejects or ``lambda_b < 0``,
        ``lambda_W < 0``.
    """
    checks.positive(lambda_b, "lambda_b", allow_zero=True)
    checks.positive(lambda_W, "lambda_W", allow_zero=True)
    if np.ndim(x) != 1:
        raise ValueError(f"`x` must be one input (n_0,), got x.shape={np.shape(x)}.")
    K = kernel_recursion(act, depth=depth, C_b=C_b, C_W=C_W, x=x)
    with jax.enable_x64(True):
        x = jnp.asarray(x, jnp.float64)
        H1 = lambda_b + lambda_W * jnp.sum(x**2) / x.shape[0]
        return np.asarray(_ntk_scan(jnp.asarray(K), H1, C_W, lambda_b, lambda_W, act=act))


def residual_criticality(
    act: Activation, *, C_W: float, gamma2: float, K: float | None = None
) -> Residual:
    """The critical residual pair: ``xi^2 = 1 - gamma^2 chi_par`` (so ``xi^2 + gamma^2
    chi_par = 1`` and the kernel is marginal), at ``C_b = 0``.

    ``chi_par`` is evaluated at ``K`` (default: the ``K -> 0`` limit ``C_W sigma_1^2`` for a
    smooth activation; any ``K`` for a scale-invariant one, where ``chi_par = C_W A_2``).

    Raises:
      ValueError: if ``gamma2 <= 0`` or the result has ``xi^2 < 0`` (``gamma^2 chi_par > 1``).
    """
    checks.positive(C_W, "C_W")
    checks.positive(gamma2, "gamma2")
    if K is None:
        chi = C_W * (act.moments[0] if act.scale_invariant else taylor_coefficients(act)[1] ** 2)
    else:
        chi = float(susceptibilities(act, K, C_W)[0])
    xi2 = 1.0 - gamma2 * chi
    if xi2 < 0:
        raise ValueError(
            f"`gamma2` = {gamma2} gives xi^2 = 1 - gamma^2 chi_par = {xi2:.4g} < 0 "
            f"(chi_par = {chi:.4g}); use gamma2 <= {1 / chi:.4g}."
        )
    return Residual(xi2, float(gamma2))
