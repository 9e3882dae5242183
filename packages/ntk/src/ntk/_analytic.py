"""Infinite-width NNGP and NTK recursions (Jacot et al., Thm 1 and Prop. 1)."""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp

from jaxpapers_shared import checks, gaussian

from ._activations import Activation, resolve_activation
from ._checks import check_beta, check_pair


class Kernels(NamedTuple):
    """Limiting kernels of an L-layer network.

    Attributes:
      nngp: ``(N1, N2)`` Sigma(L), the output covariance at initialization (the NNGP kernel).
      ntk: ``(N1, N2)`` Theta(L); the limiting NTK is ``Theta(L) (x) Id_{n_L}``.
    """

    nngp: jax.Array
    ntk: jax.Array


def _duals(activation: Activation, quadrature_points: int):
    """``(s1, s2, s12) -> E[sigma sigma]`` off the diagonal, and ``s -> E[sigma(u)^2]`` on it.

    The diagonal uses the 1-D rule: the 2-D rule on a rank-1 covariance puts nodes exactly on
    the kinks of piecewise activations.
    """
    deriv = jax.vmap(jax.grad(activation.fn))

    def elementwise_deriv(u):
        return deriv(u.reshape(-1)).reshape(u.shape)

    def by_quadrature(fn, s1, s2, s12):
        s1, s2, s12 = jnp.broadcast_arrays(s1, s2, s12)
        cov = jnp.stack([jnp.stack([s1, s12], -1), jnp.stack([s12, s2], -1)], -2)
        return gaussian.bivariate_gaussian_expectation(fn, cov, order=quadrature_points)

    def pair(s1, s2, s12):
        if activation.dual is not None:
            e_act = activation.dual(s1, s2, s12)
        else:
            e_act = by_quadrature(lambda u, v: activation.fn(u) * activation.fn(v), s1, s2, s12)
        if activation.dual_deriv is not None:
            e_deriv = activation.dual_deriv(s1, s2, s12)
        else:
            e_deriv = by_quadrature(
                lambda u, v: elementwise_deriv(u) * elementwise_deriv(v), s1, s2, s12
            )
        return e_act, e_deriv

    def diagonal(s):
        if activation.dual is not None:
            return activation.dual(s, s, s)
        return gaussian.gaussian_expectation(
            lambda u: activation.fn(u) ** 2, s, order=quadrature_points
        )

    return pair, diagonal


@functools.partial(jax.jit, static_argnames=("depth", "activation", "beta", "quadrature_points"))
def _kernels(x1, x2, *, depth, activation, beta, quadrature_points):
    pair, diagonal = _duals(activation, quadrature_points)
    n0 = x1.shape[1]
    beta2 = beta**2
    # Sigma(1): the first layer sees x . x' / n_0 (NTK parametrization), plus the bias.
    s12 = x1 @ x2.T / n0 + beta2
    s1 = jnp.sum(x1 * x1, axis=1) / n0 + beta2
    s2 = jnp.sum(x2 * x2, axis=1) / n0 + beta2
    theta = s12
    for _ in range(depth - 1):
        e_act, e_deriv = pair(s1[:, None], s2[None, :], s12)
        s12 = e_act + beta2
        s1, s2 = diagonal(s1) + beta2, diagonal(s2) + beta2
        # Theta(l+1) = Theta(l) Sigma_dot(l+1) + Sigma(l+1).
        theta = theta * e_deriv + s12
    return Kernels(nngp=s12, ntk=theta)


def analytic_kernels(
    x1: jax.typing.ArrayLike,
    x2: jax.typing.ArrayLike | None = None,
    *,
    depth: int,
    activation: str | Activation = "relu",
    beta: float = 0.1,
    quadrature_points: int = 64,
) -> Kernels:
    """Infinite-width NNGP and NTK of the :class:`NTKMLP` of the given depth (Jacot et al., Thm 1).

    With ``Lambda(l)`` the 2x2 covariance of ``Sigma(l)`` on ``{x, x'}``::

        Sigma(1)(x, x')   = x . x' / n_0 + beta^2
        Sigma(l+1)(x, x') = E_{(u,v) ~ N(0, Lambda(l))}[sigma(u) sigma(v)] + beta^2
        Sigma_dot(l+1)    = E_{(u,v) ~ N(0, Lambda(l))}[sigma'(u) sigma'(v)]
        Theta(1) = Sigma(1),   Theta(l+1) = Theta(l) Sigma_dot(l+1) + Sigma(l+1)

    ReLU (arc-cosine kernels), erf and identity use closed forms; any other activation uses a
    ``quadrature_points x quadrature_points`` Gauss-Hermite rule
    (:func:`jaxpapers_shared.gaussian.bivariate_gaussian_expectation`).

    Args:
      x1: ``(N1, n_0)`` inputs.
      x2: ``(N2, n_0)`` inputs, default ``x1``.
      depth: ``L >= 1``, the number of weight layers (``len(widths) - 1`` of the network).
      activation: a name or an :class:`Activation`.
      beta: bias scale, >= 0.
      quadrature_points: Gauss-Hermite nodes per dimension (>= 8) for activations without duals.

    Returns:
      :class:`Kernels` with ``nngp`` and ``ntk`` of shape ``(N1, N2)``.

    Raises:
      ValueError: ``depth < 1``; inputs not 2-D, non-finite or of different feature sizes;
        unknown activation name; ``beta < 0``; ``quadrature_points < 8``; zero-norm inputs
        with ``beta = 0`` (their angle, hence the ReLU kernel, is undefined).

    References:
      Jacot, Gabriel, Hongler, "Neural Tangent Kernel", NeurIPS 2018, arXiv:1806.07572, Thm 1.
    """
    if not isinstance(depth, int) or isinstance(depth, bool) or depth < 1:
        raise ValueError(f"`depth` must be an int >= 1, got {depth!r}.")
    if not isinstance(quadrature_points, int) or quadrature_points < 8:
        raise ValueError(f"`quadrature_points` must be an int >= 8, got {quadrature_points!r}.")
    beta = check_beta(beta)
    activation = resolve_activation(activation)
    x1, x2 = check_pair(x1, x2)
    if beta == 0.0 and checks.is_concrete(x1):
        for name, x in (("x1", x1), ("x2", x2)):
            if bool(jnp.any(jnp.sum(x * x, axis=1) == 0)):
                raise ValueError(
                    f"`{name}` has a zero-norm row while `beta` = 0: the kernel's angle is "
                    "undefined; use beta > 0 or drop the row."
                )
    return _kernels(
        x1,
        x2,
        depth=depth,
        activation=activation,
        beta=beta,
        quadrature_points=quadrature_points,
    )
