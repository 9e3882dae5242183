"""The spiked random-matrix prediction of the batch Hessian's extremal eigenvalue and the
learning-rate rules that follow from it (linear for SGD, square root for Adam)."""

from __future__ import annotations

from typing import Literal

import numpy as np
from numpy.typing import ArrayLike

from jaxpapers_shared import checks

SGD_LIKE = ("sgd", "momentum", "nesterov", "heavy_ball")
ADAPTIVE = ("adam", "adamw", "rmsprop", "adagrad", "adabelief", "lamb")


def _sampling_factor(batch_size: np.ndarray, n_total: float, replacement: bool) -> np.ndarray:
    if replacement:
        return 1.0 / batch_size
    if n_total == 1:
        return np.zeros_like(batch_size)
    return (n_total - batch_size) / (batch_size * (n_total - 1))


def spiked_extremal_eigenvalue(
    lambda_full: float,
    noise_var: float,
    *,
    batch_size: ArrayLike,
    n_total: int,
    replacement: bool = False,
) -> np.ndarray:
    """The predicted largest eigenvalue of the batch Hessian (additive spiked Wigner model).

    The fluctuation ``E_B = H_B - H_N`` behaves like a Wigner matrix whose semicircle has radius
    ``2 s`` with ``s^2 = v_F (N - B) / (B (N - 1))`` (without replacement; ``v_F / B`` with it),
    ``v_F`` from :func:`per_sample_hessian_noise`. The top eigenvalue ``lambda`` of ``H_N`` is
    an outlier (spike) when ``lambda > s``, and the BBP result gives

    ``lambda_max(H_B) = lambda + s^2 / lambda`` if ``lambda > s``, else ``2 s`` (the bulk edge).

    Both branches exceed ``lambda`` and grow as ``B`` falls: the paper's statement. The
    paper's exact constants could not be confirmed; this is the standard additive result.

    Args:
      lambda_full: ``lambda_max(H_N) > 0``.
      noise_var: ``v_F >= 0``.
      batch_size: ``B`` (scalar or array), 1 <= B <= n_total.
      n_total: ``N`` >= 1.
      replacement: batches drawn with replacement (factor ``1 / B``).

    Returns:
      ``lambda_max(H_B)`` with the shape of ``batch_size``.

    Raises:
      ValueError: ``lambda_full <= 0``, ``noise_var < 0``, ``batch_size`` outside [1, N].
    """
    checks.positive(lambda_full, "lambda_full")
    checks.positive(noise_var, "noise_var", allow_zero=True)
    n_total = checks.integer(n_total, "n_total", minimum=1)
    b = np.asarray(batch_size, dtype=np.float64)
    if b.size == 0 or not np.all(np.isfinite(b)) or np.any(b < 1) or np.any(b > n_total):
        raise ValueError(f"`batch_size` must be in [1, {n_total}], got {batch_size!r}.")
    s2 = noise_var * _sampling_factor(b, float(n_total), replacement)
    s = np.sqrt(s2)
    lam = float(lambda_full)
    return np.where(lam > s, lam + s2 / lam, 2.0 * s)


def scale_learning_rate(
    lr_ref: float,
    batch_ref: float,
    batch: ArrayLike,
    *,
    rule: Literal["linear", "sqrt", "auto"] = "auto",
    optimizer: str | None = None,
) -> np.ndarray:
    """Transfers a learning rate tuned at batch size ``batch_ref`` to ``batch``.

    ``lr = lr_ref (batch / batch_ref)^k`` with ``k = 1`` (linear, SGD: the stable learning rate
    is ``~ 2 / lambda_max(H_B)`` and ``lambda_max(H_B) ~ 1/B`` when batch noise dominates) or
    ``k = 1/2`` (square root, Adam: the preconditioner ``sqrt(v) ~ B^(-1/2)`` cancels half of the
    ``1/B``). The paper derives both in the small-batch, noise-dominated regime; at large ``B``
    the stable rate saturates at ``2 / lambda_max(H_N)``.

    Args:
      lr_ref: the tuned learning rate (> 0).
      batch_ref: the batch size it was tuned at (> 0).
      batch: the new batch size(s) (> 0).
      rule: ``"linear"``, ``"sqrt"`` or ``"auto"`` (picked from ``optimizer``).
      optimizer: for ``rule="auto"``: one of ``SGD_LIKE`` (linear) or ``ADAPTIVE`` (sqrt).

    Returns:
      The scaled learning rate(s), shaped like ``batch``.

    Raises:
      ValueError: non-positive ``lr_ref``/``batch_ref``/``batch``, an unknown ``rule`` or
        ``optimizer``, or ``rule="auto"`` without ``optimizer``.
    """
    checks.positive(lr_ref, "lr_ref")
    checks.positive(batch_ref, "batch_ref")
    checks.one_of(rule, "rule", ("linear", "sqrt", "auto"))
    b = np.asarray(batch, dtype=np.float64)
    if b.size == 0 or not np.all(np.isfinite(b)) or np.any(b <= 0):
        raise ValueError(f"`batch` must be > 0, got {batch!r}.")
    if rule == "auto":
        if optimizer is None:
            raise ValueError("`optimizer` must be given with rule='auto', got None.")
        checks.one_of(str(optimizer).lower(), "optimizer", SGD_LIKE + ADAPTIVE)
        rule = "linear" if str(optimizer).lower() in SGD_LIKE else "sqrt"
    power = 1.0 if rule == "linear" else 0.5
    return lr_ref * (b / batch_ref) ** power


def loglog_slope(x: ArrayLike, y: ArrayLike) -> float:
    """Least-squares slope of ``log y`` against ``log x`` (NaN if fewer than two finite points).

    Raises:
      ValueError: ``x`` and ``y`` of different lengths.
    """
    x, y = np.asarray(x, np.float64).ravel(), np.asarray(y, np.float64).ravel()
    if x.shape != y.shape:
        raise ValueError(f"`x` and `y` must have the same length, got {x.size} and {y.size}.")
    ok = np.isfinite(x) & np.isfinite(y) & (x > 0) & (y > 0)
    if ok.sum() < 2:
        return float("nan")
    return float(np.polyfit(np.log(x[ok]), np.log(y[ok]), 1)[0])
