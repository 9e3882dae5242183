"""Activation functions, their universality classes and critical initializations (book Ch. 5).

An :class:`Activation` is an elementwise function plus what the theory needs to know about it:
whether it is *scale-invariant* (``sigma(z) = a_plus z`` for ``z >= 0`` and ``a_minus z`` for
``z < 0``: ReLU, leaky ReLU, linear), in which case every Gaussian expectation has a closed form,
or else its Taylor coefficients at 0 (computed by autodiff), which decide whether it belongs to
the ``K* = 0`` universality class (``sigma(0) = 0``, ``sigma'(0) != 0`` and ``a_1 < 0``: tanh,
sin).

References:
  D. A. Roberts, S. Yaida, B. Hanin, *The Principles of Deep Learning Theory*, Cambridge
  University Press 2022, arXiv:2106.10165, Ch. 5 ("Effective Theory of Preactivations at
  Initialization"), sections on the scale-invariant and ``K* = 0`` universality classes.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Literal

import jax
import jax.numpy as jnp

from jaxpapers_shared import checks

__all__ = [
    "GELU",
    "LINEAR",
    "RELU",
    "SIGMOID",
    "SIN",
    "SWISH",
    "TANH",
    "Activation",
    "critical_initialization",
    "k_star_zero_asymptote",
    "k_star_zero_coefficient",
    "leaky_relu",
    "taylor_coefficients",
    "universality_class",
]

UniversalityClass = Literal["scale_invariant", "k_star_zero", "other"]


@dataclasses.dataclass(frozen=True)
class Activation:
    """An elementwise activation with the data the recursions need.

    Args:
      name: a label (shown in messages and figures).
      fn: the elementwise function ``sigma``, written with ``jax.numpy``.
      scale_invariant: ``(a_plus, a_minus)`` when ``sigma(z) = a_plus z`` (``z >= 0``) and
        ``a_minus z`` (``z < 0``); ``None`` for a smooth activation, whose Gaussian expectations
        are then computed by Gauss-Hermite quadrature.
    """

    name: str
    fn: Callable[[jax.Array], jax.Array]
    scale_invariant: tuple[float, float] | None = None

    def __post_init__(self):
        if not callable(self.fn):
            raise TypeError(f"`fn` must be callable, got {type(self.fn).__name__}.")
        if self.scale_invariant is not None:
            if len(self.scale_invariant) != 2:
                raise ValueError(
                    f"`scale_invariant` must be (a_plus, a_minus), got {self.scale_invariant!r}."
                )
            a_plus, a_minus = (float(a) for a in self.scale_invariant)
            if not (math.isfinite(a_plus) and math.isfinite(a_minus)) or a_plus == a_minus == 0:
                raise ValueError(
                    "`scale_invariant` must be finite and not both zero, got "
                    f"{self.scale_invariant!r}."
                )
            object.__setattr__(self, "scale_invariant", (a_plus, a_minus))

    def __call__(self, z: jax.Array) -> jax.Array:
        return self.fn(z)

    @property
    def moments(self) -> tuple[float, float]:
        """``(A_2, A_4) = ((a_+^2 + a_-^2) / 2, (a_+^4 + a_-^4) / 2)`` of a scale-invariant
        activation: ``<sigma^2>_K = A_2 K`` and ``<sigma^4>_K = 3 A_4 K^2``."""
        if self.scale_invariant is None:
            raise ValueError(f"`act` {self.name!r} is not scale-invariant; it has no A_2, A_4.")
        a_plus, a_minus = self.scale_invariant
        return (a_plus**2 + a_minus**2) / 2, (a_plus**4 + a_minus**4) / 2


def leaky_relu(slope: float) -> Activation:
    """Leaky ReLU ``max(z, slope z)`` (scale-invariant with ``a_+ = 1``, ``a_- = slope``)."""
    checks.in_range(slope, "slope", -1e6, 1e6)
    return Activation(
        f"leaky_relu({slope:g})",
        lambda z: jnp.where(z >= 0, z, slope * z),
        scale_invariant=(1.0, float(slope)),
    )


RELU = Activation("relu", jax.nn.relu, scale_invariant=(1.0, 0.0))
LINEAR = Activation("linear", lambda z: z, scale_invariant=(1.0, 1.0))
TANH = Activation("tanh", jnp.tanh)
SIN = Activation("sin", jnp.sin)
SIGMOID = Activation("sigmoid", jax.nn.sigmoid)
SWISH = Activation("swish", jax.nn.swish)
GELU = Activation("gelu", lambda z: jax.nn.gelu(z, approximate=False))


def _check_activation(act: Activation) -> Activation:
    if not isinstance(act, Activation):
        raise TypeError(
            f"`act` must be a dl_theory.Activation (RELU, TANH, leaky_relu(0.1), ...), "
            f"got {type(act).__name__}."
        )
    return act


def taylor_coefficients(act: Activation) -> tuple[float, float, float, float]:
    """``(sigma(0), sigma_1, sigma_2, sigma_3)``: the value and first three derivatives at 0.

    Computed by nested ``jax.grad`` in float64 (the book writes ``sigma_k`` for the k-th
    derivative at 0, so tanh has ``sigma_3 = -2``). For a scale-invariant activation the
    derivatives at the kink are not defined; ``(0, a_+, 0, 0)`` is returned for reference.
    """
    _check_activation(act)
    if act.scale_invariant is not None:
        return 0.0, act.scale_invariant[0], 0.0, 0.0
    with jax.enable_x64(True):
        f = lambda z: act.fn(z)  # noqa: E731
        d1 = jax.grad(f)
        d2 = jax.grad(d1)
        d3 = jax.grad(d2)
        zero = jnp.asarray(0.0, jnp.float64)
        return tuple(float(g(zero)) for g in (f, d1, d2, d3))  # type: ignore[return-value]


def k_star_zero_coefficient(act: Activation) -> float:
    """``a_1 = sigma_3 / sigma_1 + (3/4) (sigma_2 / sigma_1)^2`` of the ``K* = 0`` expansion.

    At ``C_b = 0, C_W = 1 / sigma_1^2`` the kernel recursion near 0 reads
    ``K' = K + a_1 K^2 + O(K^3)``; criticality needs ``a_1 < 0`` (tanh: -2, sin: -1).

    Raises:
      ValueError: if ``sigma(0) != 0`` or ``sigma'(0) = 0`` (no ``K* = 0`` expansion), or the
        activation is scale-invariant.
    """
    _check_activation(act)
    if act.scale_invariant is not None:
        raise ValueError(
            f"`act` {act.name!r} is scale-invariant: every K is a fixed point, there is no "
            "K* = 0 expansion."
        )
    s0, s1, s2, s3 = taylor_coefficients(act)
    if abs(s0) > 1e-12 or abs(s1) < 1e-12:
        raise ValueError(
            f"`act` {act.name!r} has sigma(0) = {s0:.4g} and sigma'(0) = {s1:.4g}; the K* = 0 "
            "expansion needs sigma(0) = 0 and sigma'(0) != 0."
        )
    return s3 / s1 + 0.75 * (s2 / s1) ** 2


def universality_class(act: Activation) -> UniversalityClass:
    """``"scale_invariant"``, ``"k_star_zero"`` (``sigma(0) = 0``, ``sigma_1 != 0``,
    ``a_1 < 0``) or ``"other"`` (sigmoid: ``sigma(0) != 0``; SWISH, GELU: ``a_1 > 0``)."""
    _check_activation(act)
    if act.scale_invariant is not None:
        return "scale_invariant"
    try:
        a1 = k_star_zero_coefficient(act)
    except ValueError:
        return "other"
    return "k_star_zero" if a1 < -1e-12 else "other"


def critical_initialization(act: Activation) -> tuple[float, float]:
    """``(C_b, C_W)`` at which ``chi_par = chi_perp = 1`` at the fixed point.

    - scale-invariant: ``C_b = 0``, ``C_W = 1 / A_2`` (ReLU 2, linear 1, leaky ReLU
      ``2 / (1 + slope^2)``); every kernel is then a fixed point;
    - ``K* = 0`` class: ``C_b = 0``, ``C_W = 1 / sigma_1^2`` (tanh 1, sin 1).

    Raises:
      ValueError: for an activation outside both classes (``sigma(0) != 0`` as for sigmoid,
        or ``a_1 >= 0`` as for SWISH and GELU), naming the reason.
    """
    _check_activation(act)
    kind = universality_class(act)
    if kind == "scale_invariant":
        return 0.0, 1.0 / act.moments[0]
    if kind == "k_star_zero":
        return 0.0, 1.0 / taylor_coefficients(act)[1] ** 2
    s0, s1, _, _ = taylor_coefficients(act)
    if abs(s0) > 1e-12 or abs(s1) < 1e-12:
        why = f"sigma(0) = {s0:.4g}, sigma'(0) = {s1:.4g} (needs sigma(0) = 0, sigma'(0) != 0)"
    else:
        why = f"a_1 = {k_star_zero_coefficient(act):.4g} >= 0 (the K* = 0 class needs a_1 < 0)"
    raise ValueError(
        f"`act` {act.name!r} has no defined universality class for criticality: {why}; it is "
        "neither scale-invariant nor in the K* = 0 class. Use kernel_recursion with explicit "
        "C_b, C_W instead."
    )


def k_star_zero_asymptote(act: Activation, depth: int | jax.Array) -> jax.Array:
    """The large-depth kernel at criticality in the ``K* = 0`` class, ``K^(l) ~ 1/(-a_1 l)``.

    Raises:
      ValueError: if the activation is not in the ``K* = 0`` class (``sigma(0) != 0``,
        ``sigma'(0) = 0`` or ``a_1 >= 0``).
    """
    a1 = k_star_zero_coefficient(act)
    if a1 >= 0:
        raise ValueError(
            f"`act` {act.name!r} has a_1 = {a1:.4g} >= 0: the kernel does not decay as "
            "1/(-a_1 l) (no K* = 0 criticality)."
        )
    return 1.0 / (-a1 * jnp.asarray(depth, dtype=float))
