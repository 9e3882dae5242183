"""Data with opposing signals: the toy distribution of the paper's analysis, and a planted pair
of outlier groups in real images."""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

from jaxpapers_shared import checks

__all__ = ["opposing_signals_toy", "plant_opposing_signal"]


def opposing_signals_toy(
    key: jax.Array,
    n: int,
    d: int,
    *,
    alpha: float = 8.0,
    outlier_frac: float = 0.04,
    noise: float = 1.5,
    opposing: bool = True,
) -> tuple[jax.Array, jax.Array, dict[str, jax.Array]]:
    """A binary task whose outliers carry one large feature that points to opposite labels.

    Every point has labels ``y in {-1, +1}`` and a signal part ``x_s = y mu / 2 + e`` in
    ``R^(d-1)`` (``mu`` a random unit vector, ``e ~ N(0, noise^2 I / (d-1))``). The last
    coordinate is the opposing signal ``x_o``: 0 for inliers and ``alpha`` for the outliers, a
    fraction ``outlier_frac`` of the points split equally into group ``"A"`` (label +1) and group
    ``"B"`` (label -1). The feature is large and shared, so it dominates both groups' gradients,
    which point in opposite directions (the paper's Sec. 3 mechanism).

    With ``opposing=False`` the same key gives the same points and labels with ``x_o = 0``: the
    outliers keep their labels and lose only the large feature (the control).

    Args:
      key: PRNG key.
      n: number of points (>= 4).
      d: input dimension (>= 2).
      alpha: scale of the opposing feature (>= 0).
      outlier_frac: fraction of outliers, in (0, 0.5]; at least one point per group.
      noise: the noise scale ``c`` of the signal part (> 0).
      opposing: whether the outliers carry the feature.

    Returns:
      ``(x, y, groups)``: ``x`` (n, d) float, ``y`` (n,) in {-1, +1}, ``groups`` maps ``"A"`` and
      ``"B"`` to disjoint (n,) boolean masks.

    Raises:
      ValueError: on a size or scale outside the ranges above.
    """
    n = checks.integer(n, "n", minimum=4)
    d = checks.integer(d, "d", minimum=2)
    checks.positive(alpha, "alpha", allow_zero=True)
    checks.in_range(outlier_frac, "outlier_frac", 0.0, 0.5, closed="right")
    checks.positive(noise, "noise")
    per_group = round(outlier_frac * n / 2)
    if per_group < 1:
        raise ValueError(
            f"`outlier_frac` * n / 2 must round to at least one point per group, got "
            f"outlier_frac={outlier_frac} with n={n}."
        )
    return _toy(key, n, d, per_group, alpha if opposing else 0.0, noise)


@functools.partial(jax.jit, static_argnums=(1, 2, 3))
def _toy(key, n, d, per_group, alpha, noise):
    k_mu, k_y, k_e, k_perm = jax.random.split(key, 4)
    mu = jax.random.normal(k_mu, (d - 1,))
    mu = mu / jnp.linalg.norm(mu)
    order = jax.random.permutation(k_perm, n)
    in_a = jnp.zeros(n, bool).at[order[:per_group]].set(True)
    in_b = jnp.zeros(n, bool).at[order[per_group : 2 * per_group]].set(True)
    y = jnp.where(jax.random.bernoulli(k_y, 0.5, (n,)), 1.0, -1.0)
    y = jnp.where(in_a, 1.0, jnp.where(in_b, -1.0, y))
    signal = 0.5 * y[:, None] * mu + noise / math.sqrt(d - 1) * jax.random.normal(k_e, (n, d - 1))
    feature = jnp.where(in_a | in_b, alpha, 0.0)
    return jnp.concatenate([signal, feature[:, None]], axis=1), y, {"A": in_a, "B": in_b}


def plant_opposing_signal(
    key: jax.Array,
    x: jax.Array,
    y: jax.Array,
    *,
    classes: tuple[int, int],
    frac: float = 0.03,
    patch: tuple[int, ...] | np.ndarray,
    magnitude: float,
) -> tuple[jax.Array, dict[str, jax.Array]]:
    """Plants one shared large feature in a fraction of the examples of two classes.

    A random ``frac`` of the examples of ``classes[0]`` (group ``"A"``) and of ``classes[1]``
    (group ``"B"``) get the input coordinates ``patch`` set to ``magnitude``; everything else is
    unchanged. The feature is identical in both groups and points to different labels: a planted
    pair of opposing signals, such as the paper's sky backgrounds shared by planes and ships.

    Args:
      key: PRNG key choosing the examples.
      x: (n, p) flattened inputs.
      y: (n,) integer labels.
      classes: the two labels ``(a, b)``, different.
      frac: fraction of each class to plant, in (0, 1].
      patch: flat input indices of the feature.
      magnitude: the value written there.

    Returns:
      ``(x_planted, groups)`` with ``groups = {"A": mask, "B": mask}``.

    Raises:
      ValueError: ``x``/``y`` mismatched, a class absent or too small to plant one example,
        equal classes, ``frac`` outside (0, 1], or patch indices outside ``[0, p)``.
    """
    x = checks.array(x, "x", ndim=2, dtype="float")
    y = checks.array(y, "y", shape=(x.shape[0],), dtype="int")
    checks.in_range(frac, "frac", 0.0, 1.0, closed="right")
    checks.finite(magnitude, "magnitude")
    patch = np.asarray(patch, dtype=int).ravel()
    if patch.size == 0 or patch.min() < 0 or patch.max() >= x.shape[1]:
        raise ValueError(f"`patch` must hold indices in [0, {x.shape[1]}), got {patch.tolist()}.")
    if len(classes) != 2 or classes[0] == classes[1]:
        raise ValueError(f"`classes` must be two different labels, got {classes!r}.")
    labels = np.asarray(y)
    groups = {}
    for name, cls, k in zip(("A", "B"), classes, jax.random.split(key), strict=True):
        members = np.flatnonzero(labels == cls)
        count = round(frac * members.size)
        if count < 1:
            raise ValueError(
                f"`classes` entry {cls} has {members.size} examples; frac={frac} plants none."
            )
        chosen = np.asarray(jax.random.choice(k, members, (count,), replace=False))
        groups[name] = jnp.zeros(x.shape[0], bool).at[chosen].set(True)
    rows = groups["A"] | groups["B"]
    cols = jnp.zeros(x.shape[1], bool).at[patch].set(True)
    return jnp.where(rows[:, None] & cols[None, :], magnitude, x), groups
