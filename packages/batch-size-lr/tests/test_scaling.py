import numpy as np
import pytest

from batch_size_lr import loglog_slope, scale_learning_rate, spiked_extremal_eigenvalue


def test_linear_rule_for_sgd_and_square_root_for_adam():
    b = np.array([32, 128, 512])
    np.testing.assert_allclose(scale_learning_rate(0.1, 128, b, optimizer="sgd"), [0.025, 0.1, 0.4])
    np.testing.assert_allclose(
        scale_learning_rate(1e-3, 128, b, optimizer="Adam"), [5e-4, 1e-3, 2e-3]
    )
    assert loglog_slope(b, scale_learning_rate(1.0, 1, b, rule="linear")) == pytest.approx(1.0)
    assert loglog_slope(b, scale_learning_rate(1.0, 1, b, rule="sqrt")) == pytest.approx(0.5)


def test_spiked_prediction_branches_and_monotonicity():
    lam, v, n = 2.0, 40.0, 1000
    b = np.array([1, 4, 16, 64, 256, 1000])
    pred = spiked_extremal_eigenvalue(lam, v, batch_size=b, n_total=n)
    s2 = v * (n - b) / (b * (n - 1))
    outlier = lam > np.sqrt(s2)
    np.testing.assert_allclose(pred[outlier], lam + s2[outlier] / lam)
    np.testing.assert_allclose(pred[~outlier], 2 * np.sqrt(s2[~outlier]))
    assert (~outlier).any() and outlier.any()
    assert np.all(np.diff(pred) <= 0) and np.all(pred >= lam)
    assert pred[-1] == pytest.approx(lam)  # B = N: no fluctuation
    # Outlier regime: the excess falls as 1/B (slope -1 when B << N).
    excess = spiked_extremal_eigenvalue(100.0, v, batch_size=b[:3], n_total=10**6) - 100.0
    assert loglog_slope(b[:3], excess) == pytest.approx(-1.0, abs=1e-3)
    with_rep = spiked_extremal_eigenvalue(100.0, v, batch_size=8, n_total=10, replacement=True)
    assert with_rep == pytest.approx(100.0 + v / 8 / 100.0)


def test_loglog_slope_ignores_non_positive_points():
    assert loglog_slope([1, 2, 4, 8], [8, 4, -1, 1]) == pytest.approx(-1.0)
    assert np.isnan(loglog_slope([1, 2], [1, -1]))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(lr_ref=0.0), "lr_ref"),
        (dict(batch_ref=0), "batch_ref"),
        (dict(batch=0), "batch"),
        (dict(rule="cubic"), "rule"),
        (dict(optimizer=None), "optimizer"),
        (dict(optimizer="lbfgs"), "optimizer"),
    ],
)
def test_bad_scaling_arguments(kwargs, match):
    args = dict(lr_ref=0.1, batch_ref=32, batch=64, rule="auto", optimizer="sgd") | kwargs
    with pytest.raises(ValueError, match=match):
        scale_learning_rate(args.pop("lr_ref"), args.pop("batch_ref"), args.pop("batch"), **args)


def test_bad_spiked_arguments():
    with pytest.raises(ValueError, match="batch_size"):
        spiked_extremal_eigenvalue(1.0, 1.0, batch_size=0, n_total=10)
    with pytest.raises(ValueError, match="lambda_full"):
        spiked_extremal_eigenvalue(-1.0, 1.0, batch_size=2, n_total=10)
    with pytest.raises(ValueError, match="noise_var"):
        spiked_extremal_eigenvalue(1.0, -1.0, batch_size=2, n_total=10)
