import json

import numpy as np

from diffgrad import reproduce
from diffgrad._digits import GridAccuracy, load_digits_split


def test_quick_reproduction_passes(tmp_path):
    assert reproduce.main(["--quick", "--out", str(tmp_path)]) == 0
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["package"] == "diffgrad" and results["mode"] == "quick"
    assert results["quick_differences"] == reproduce.QUICK_DIFFERENCES
    assert results["claims"] and all(c["passed"] for c in results["claims"])
    assert all(c["holds"] for c in results["controls"])


def test_learning_rate_is_chosen_on_validation_never_on_test():
    rng = np.random.default_rng(0)
    val = rng.uniform(0.8, 0.9, (3, 2, 4))
    test = rng.uniform(0.8, 0.9, (3, 2, 4))
    val[1, :, -1], test[2, :, -1] = 0.99, 1.0  # best on validation: lr 1; on test: lr 2
    best, test_acc = reproduce.select_lr(GridAccuracy(val, test))
    assert best == 1
    np.testing.assert_allclose(test_acc, 100.0 * test[1, :, -1])


def test_digits_splits_are_disjoint_and_stratified():
    data = load_digits_split()
    sizes = [len(data.y_train), len(data.y_val), len(data.y_test)]
    assert sizes == [1149, 288, 360]
    rows = [set(map(bytes, np.asarray(x))) for x in (data.x_train, data.x_val, data.x_test)]
    assert not (rows[0] & rows[1]) and not (rows[0] & rows[2]) and not (rows[1] & rows[2])
    for y in (data.y_val, data.y_test):
        assert np.bincount(np.asarray(y), minlength=10).min() >= 25
