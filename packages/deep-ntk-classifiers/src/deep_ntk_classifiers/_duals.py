"""Dual activations: closed forms, Hermite series, and quadrature for any activation.

For an activation ``phi`` normalised so that ``E[phi(z)^2] = 1`` (``z ~ N(0, 1)``), the dual is
``dual(xi) = E[phi(u) phi(v)]`` for standard normal ``(u, v)`` with correlation ``xi``. Writing
``phi = sum_i a_i h_i`` in the orthonormal probabilists' Hermite basis
(``h_i = He_i / sqrt(i!)``), ``dual(xi) = sum_i a_i^2 xi^i``: a power series with nonnegative
coefficients ``c_i = a_i^2`` summing to ``dual(1) = 1``. Its derivative is the dual of ``phi'``:
``dual'(xi) = E[phi'(u) phi'(v)]``.

Every :class:`DualActivation` carries the first coefficients ``c_i`` of that series: the kernel
recursion uses them in the log domain once ``|xi|`` is tiny, where the truncated series is exact to
float64 precision, and the infinite-depth taxonomy reads ``dual(0) = c_0`` and ``dual'(0) = c_1``
from them.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from jaxpapers_shared import checks
from jaxpapers_shared.gaussian import bivariate_gaussian_expectation, gauss_hermite

__all__ = [
    "OPTIMAL_DUALS",
    "DualActivation",
    "dual_from_activation",
    "erf_dual",
    "hermite_coefficients",
    "hermite_dual",
    "polynomial_dual",
    "relu_dual",
    "sine_dual",
]

SERIES_DEGREE = 24
"""Number of series coefficients kept (degrees ``0 .. SERIES_DEGREE``) for non-polynomial duals."""

_DUAL_ONE_TOL = 1e-8
_ZERO_COEFF = 1e-14


@dataclasses.dataclass(frozen=True, eq=False)
class DualActivation:
    """A dual activation ``xi -> E[phi(u) phi(v)]`` on ``[-1, 1]`` with ``dual(1) = 1``.

    Hashable by identity, so it can be a static argument of ``jax.jit``.

    Attributes:
      name: a label for tables and figures.
      dual: elementwise ``dual(xi)`` (jnp, float64-safe).
      dual_deriv: elementwise ``dual'(xi)``.
      coeffs: ``c_i = a_i^2`` for degrees ``0 .. len(coeffs) - 1`` (float64 NumPy).
      exact_series: ``True`` when ``coeffs`` is the whole series (a polynomial dual).
      activation: the activation ``phi`` (elementwise), when known.

    Raises:
      ValueError: if ``dual(1)`` differs from 1 by more than 1e-8, or ``coeffs`` are negative,
        non-finite or all zero.
    """

    name: str
    dual: Callable[[jax.Array], jax.Array]
    dual_deriv: Callable[[jax.Array], jax.Array]
    coeffs: np.ndarray
    exact_series: bool = False
    activation: Callable[[jax.Array], jax.Array] | None = None

    def __post_init__(self):
        coeffs = np.asarray(self.coeffs, dtype=np.float64)
        if coeffs.ndim != 1 or coeffs.size == 0 or not np.all(np.isfinite(coeffs)):
            raise ValueError(
                f"`coeffs` of dual {self.name!r} must be a non-empty finite 1-D array, "
                f"got {coeffs!r}."
            )
        if np.any(coeffs < -_ZERO_COEFF):
            raise ValueError(
                f"`coeffs` of dual {self.name!r} must be >= 0 (squared Hermite coefficients "
                f"a_i^2 of an activation), got {coeffs.tolist()}."
            )
        if not np.any(coeffs > _ZERO_COEFF):
            raise ValueError(f"`coeffs` of dual {self.name!r} are all zero: no activation has it.")
        object.__setattr__(self, "coeffs", np.maximum(coeffs, 0.0))
        with jax.enable_x64(True):
            at_one = float(self.dual(jnp.asarray(1.0, jnp.float64)))
            slope = float(self.dual_deriv(jnp.asarray(1.0, jnp.float64)))
        object.__setattr__(self, "_slope_at_one", slope)
        if not (math.isfinite(at_one) and abs(at_one - 1.0) <= _DUAL_ONE_TOL):
            raise ValueError(
                f"`dual` of {self.name!r} must satisfy dual(1) = 1 (E[phi(z)^2] = 1) within "
                f"{_DUAL_ONE_TOL:g}, got dual(1) = {at_one!r}."
            )

    @property
    def slope_at_one(self) -> float:
        """``m = dual'(1) = sum_i i a_i^2``: above 1, correlations near 1 are pushed apart."""
        return self._slope_at_one

    @property
    def valuation(self) -> int:
        """The lowest degree ``k`` with ``c_k > 0``: ``dual(xi) ~ c_k xi^k`` near 0."""
        return int(np.argmax(self.coeffs > _ZERO_COEFF))

    def __repr__(self) -> str:
        return f"DualActivation({self.name!r})"


def _series_fn(coeffs: np.ndarray) -> tuple[Callable, Callable]:
    c = tuple(float(v) for v in coeffs)
    d = tuple(i * v for i, v in enumerate(c))

    def horner(values, xi):
        out = jnp.zeros_like(xi)
        for v in reversed(values):
            out = out * xi + v
        return out

    return (lambda xi: horner(c, xi)), (lambda xi: horner(d[1:] or (0.0,), xi))


def _normalized_hermite(z: np.ndarray | jax.Array, degree: int, xp=np) -> list:
    """``[h_0(z), ..., h_degree(z)]`` with ``h_i = He_i / sqrt(i!)`` (orthonormal under N(0, 1))."""
    values = [xp.ones_like(z), z]
    for n in range(1, degree):
        # He_{n+1} = z He_n - n He_{n-1}, in the orthonormal scaling.
        values.append((z * values[n] - math.sqrt(n) * values[n - 1]) / math.sqrt(n + 1))
    return values[: degree + 1]


def polynomial_dual(coeffs, *, name: str | None = None) -> DualActivation:
    """The dual ``sum_i coeffs[i] xi^i`` given by its own coefficients (``c_i = a_i^2 >= 0``).

    The matching activation is ``sum_i sqrt(c_i) h_i`` (any signs of ``a_i`` give the same dual).

    Raises:
      ValueError: if a coefficient is negative (no activation has that dual), all are zero, or
        they do not sum to 1 (``dual(1) = 1``) within 1e-8.
    """
    c = np.asarray(coeffs, dtype=np.float64)
    if c.ndim != 1 or c.size == 0 or not np.all(np.isfinite(c)):
        raise ValueError(f"`coeffs` must be a non-empty finite 1-D sequence, got {coeffs!r}.")
    if np.any(c < 0):
        raise ValueError(
            f"`coeffs` must be >= 0: a dual's coefficients are squared Hermite coefficients "
            f"a_i^2 of an activation, got {c.tolist()}."
        )
    if not np.any(c > 0):
        raise ValueError(f"`coeffs` must not be all zero, got {c.tolist()}.")
    if abs(c.sum() - 1.0) > _DUAL_ONE_TOL:
        raise ValueError(
            f"`coeffs` must sum to 1 (dual(1) = E[phi^2] = 1) within {_DUAL_ONE_TOL:g}, got "
            f"sum {c.sum()!r}; use hermite_dual to normalise activation coefficients."
        )
    dual, deriv = _series_fn(c)
    a = np.sqrt(c)

    def activation(z):
        return sum(
            ai * hi for ai, hi in zip(a, _normalized_hermite(z, len(a) - 1, jnp), strict=True)
        )

    if name is None:
        name = " + ".join(f"{v:g} xi^{i}" for i, v in enumerate(c) if v > 0)
    return DualActivation(name, dual, deriv, c, exact_series=True, activation=activation)


def hermite_dual(coeffs, *, name: str | None = None) -> DualActivation:
    """The dual of ``phi = sum_i a_i h_i`` (``coeffs = a``), normalised so ``sum_i a_i^2 = 1``.

    ``.activation(z)`` evaluates the normalised ``phi``.

    Raises:
      ValueError: if ``coeffs`` is empty, non-finite or all zero (``phi = 0`` has no dual).
    """
    a = np.asarray(coeffs, dtype=np.float64)
    if a.ndim != 1 or a.size == 0 or not np.all(np.isfinite(a)):
        raise ValueError(f"`coeffs` must be a non-empty finite 1-D sequence, got {coeffs!r}.")
    norm = float(np.sum(a**2))
    if norm == 0.0:
        raise ValueError(f"`coeffs` must not be all zero (phi = 0 has no dual), got {a.tolist()}.")
    a = a / math.sqrt(norm)
    dual = polynomial_dual(a**2 / np.sum(a**2), name=name or f"hermite{a.round(3).tolist()}")

    def activation(z):
        return sum(
            ai * hi for ai, hi in zip(a, _normalized_hermite(z, len(a) - 1, jnp), strict=True)
        )

    return dataclasses.replace(dual, activation=activation)


def hermite_coefficients(activation: Callable, degree: int, *, order: int = 200) -> np.ndarray:
    """``a_i = E[phi(z) h_i(z)]`` for ``i = 0 .. degree`` by Gauss-Hermite quadrature (float64)."""
    degree = checks.integer(degree, "degree", minimum=0)
    nodes, weights = gauss_hermite(order)
    with jax.enable_x64(True):
        values = np.asarray(activation(jnp.asarray(nodes, jnp.float64)), dtype=np.float64)
    basis = _normalized_hermite(nodes, degree)
    return np.array([np.sum(weights * values * h) for h in basis])


def relu_dual() -> DualActivation:
    """ReLU with ``C_W = 2`` (``phi = sqrt(2) max(z, 0)``): the arc-cosine kernel of degree 1.

    ``dual(xi) = (xi (pi - arccos xi) + sqrt(1 - xi^2)) / pi``, ``dual'(xi) = (pi - arccos xi) / pi``.
    """

    def dual(xi):
        xi = jnp.clip(xi, -1.0, 1.0)
        return (xi * (jnp.pi - jnp.arccos(xi)) + jnp.sqrt(jnp.maximum(1.0 - xi**2, 0.0))) / jnp.pi

    def deriv(xi):
        return (jnp.pi - jnp.arccos(jnp.clip(xi, -1.0, 1.0))) / jnp.pi

    activation = lambda z: jnp.sqrt(2.0) * jnp.maximum(z, 0.0)  # noqa: E731
    c = _relu_coeffs(SERIES_DEGREE)
    return DualActivation("relu", dual, deriv, c, activation=activation)


def _relu_coeffs(degree: int) -> np.ndarray:
    # Taylor series of the normalised arc-cosine kernel: 1/pi + xi/2 + sum_{n>=1} c_{2n} xi^{2n}
    # with c_{2n} = ((2n - 3)!!)^2 / (pi (2n)!) ((-1)!! = 1): the squared Hermite coefficients
    # of sqrt(2) relu.
    c = np.zeros(degree + 1)
    c[0], c[1] = 1.0 / math.pi, 0.5
    for i in range(2, degree + 1, 2):
        n = i // 2
        double_fact = math.prod(range(2 * n - 3, 0, -2)) if n > 1 else 1
        c[i] = double_fact**2 / (math.pi * math.factorial(i))
    return c


def erf_dual() -> DualActivation:
    """``phi = erf(z)`` normalised: ``dual(xi) = arcsin(2 xi / 3) / arcsin(2 / 3)``."""
    scale = math.asin(2.0 / 3.0)

    def dual(xi):
        return jnp.arcsin(2.0 * jnp.clip(xi, -1.0, 1.0) / 3.0) / scale

    def deriv(xi):
        return (2.0 / 3.0) / jnp.sqrt(1.0 - (2.0 * jnp.clip(xi, -1.0, 1.0) / 3.0) ** 2) / scale

    c = np.zeros(SERIES_DEGREE + 1)
    for n in range(SERIES_DEGREE // 2):
        i = 2 * n + 1
        if i <= SERIES_DEGREE:
            # arcsin(x) = sum_n (2n)! / (4^n (n!)^2 (2n + 1)) x^(2n + 1), x = 2 xi / 3
            arcsin_n = math.comb(2 * n, n) / (4**n * (2 * n + 1))
            c[i] = arcsin_n * (2.0 / 3.0) ** i / scale
    norm = math.sqrt(math.pi / 2.0 * scale)  # E[erf(z)^2] = (2 / pi) arcsin(2 / 3)
    return DualActivation(
        "erf", dual, deriv, c, activation=lambda z: jax.scipy.special.erf(z) / norm
    )


def sine_dual(a: float) -> DualActivation:
    """``phi(z) = sqrt(2 / (1 - exp(-2a))) sin(sqrt(a) z)``: ``dual(xi) = sinh(a xi) / sinh(a)``.

    Raises:
      ValueError: if ``a`` is not a finite number > 0.
    """
    a = float(checks.positive(a, "a"))
    sinh_a = math.sinh(a)
    if not math.isfinite(sinh_a):
        raise ValueError(f"`a` must be <= 700 (sinh(a) overflows float64), got {a!r}.")

    def dual(xi):
        return jnp.sinh(a * jnp.clip(xi, -1.0, 1.0)) / sinh_a

    def deriv(xi):
        return a * jnp.cosh(a * jnp.clip(xi, -1.0, 1.0)) / sinh_a

    i = np.arange(SERIES_DEGREE + 1)
    log_c = i * math.log(a) - np.array([math.lgamma(k + 1) for k in i]) - math.log(sinh_a)
    c = np.where(i % 2 == 1, np.exp(log_c), 0.0)
    scale = math.sqrt(2.0 / (1.0 - math.exp(-2.0 * a)))
    activation = lambda z: scale * jnp.sin(math.sqrt(a) * z)  # noqa: E731
    return DualActivation(f"sine_{a:g}", dual, deriv, c, activation=activation)


def dual_from_activation(
    activation: Callable[[jax.Array], jax.Array],
    *,
    normalize: bool = True,
    order: int = 48,
    name: str = "custom",
) -> DualActivation:
    """The dual of any activation by Gauss-Hermite quadrature (float64).

    ``dual(xi) = E[phi(u) phi(v)]`` and ``dual'(xi) = E[phi'(u) phi'(v)]`` (Price's theorem)
    are evaluated with ``jaxpapers_shared.gaussian.bivariate_gaussian_expectation`` at every
    call (``order^2`` evaluations per entry); the series coefficients come from one-dimensional
    quadrature (:func:`hermite_coefficients`).

    Args:
      activation: elementwise ``phi`` (differentiable almost everywhere, for ``dual'``).
      normalize: rescale ``phi`` so that ``E[phi(z)^2] = 1``; with ``False`` it must already be.
      order: Gauss-Hermite nodes per dimension.
      name: a label.

    Raises:
      ValueError: if ``E[phi(z)^2]`` is zero, not finite, or not resolved by quadrature (its
        value changes by more than 1e-3 between ``order`` and ``4 order`` nodes: the dual is
        undefined, e.g. ``phi = exp(z^2)``), or is not 1 when ``normalize=False``.
    """
    checks.integer(order, "order", minimum=2)
    if not callable(activation):
        raise TypeError(f"`activation` must be callable, got {type(activation).__name__}.")

    def second_moment(n):
        nodes, weights = gauss_hermite(n)
        with jax.enable_x64(True):
            values = np.asarray(activation(jnp.asarray(nodes, jnp.float64)), dtype=np.float64)
        with np.errstate(over="ignore", invalid="ignore"):
            return float(np.sum(weights * values**2))

    coarse, fine = second_moment(order), second_moment(4 * order)
    resolved = math.isfinite(coarse) and math.isfinite(fine)
    if not resolved or abs(fine - coarse) > 1e-3 * max(abs(fine), 1e-300):
        raise ValueError(
            f"`activation` {name!r} has no dual: E[phi(z)^2] is infinite or not resolved by "
            f"quadrature ({coarse!r} with {order} nodes, {fine!r} with {4 * order})."
        )
    if fine <= 1e-300:
        raise ValueError(
            f"`activation` {name!r} is zero almost everywhere: E[phi(z)^2] = {fine!r}."
        )
    if not normalize and abs(fine - 1.0) > _DUAL_ONE_TOL:
        raise ValueError(
            f"`activation` {name!r} must have E[phi(z)^2] = 1 when `normalize=False`, got {fine!r}."
        )
    scale = 1.0 / math.sqrt(fine) if normalize else 1.0
    phi = lambda z: scale * activation(z)  # noqa: E731
    dphi = lambda z: jax.jvp(phi, (z,), (jnp.ones_like(z),))[1]  # noqa: E731

    def expectation(fn, xi):
        xi = jnp.clip(jnp.asarray(xi), -1.0, 1.0)
        ones = jnp.ones_like(xi)
        cov = jnp.stack([jnp.stack([ones, xi], -1), jnp.stack([xi, ones], -1)], -2)
        return bivariate_gaussian_expectation(fn, cov, order=order)

    def dual(xi):
        # E[phi^2] by quadrature is 1 only to quadrature accuracy; pin dual(1) = 1 exactly.
        return expectation(lambda u, v: phi(u) * phi(v), xi) / expectation(
            lambda u, v: phi(u) * phi(v), jnp.ones_like(xi)
        )

    def deriv(xi):
        return expectation(lambda u, v: dphi(u) * dphi(v), xi)

    c = hermite_coefficients(phi, SERIES_DEGREE, order=max(200, 4 * order)) ** 2
    return DualActivation(name, dual, deriv, c, activation=phi)


OPTIMAL_DUALS: dict[int, DualActivation] = {
    1: polynomial_dual([0, 0.5, 0, 0, 0, 0, 0, 0.5], name="2d_opt"),
    2: polynomial_dual([0, 0.5, 0, 0.5], name="3d_opt"),
    4: polynomial_dual([0, 0.25, 0.5, 0.25], name="5d_opt"),
    8: polynomial_dual([0, 1 / 16, 7 / 8, 1 / 16], name="9d_opt"),
}
"""The official optimal duals, keyed by the singular exponent ``alpha = d`` they produce
(data of intrinsic dimension ``d``, e.g. normalised ``(d + 1)``-dimensional Dirichlet data)."""
