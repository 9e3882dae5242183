import json

from cgs import reproduce


def test_quick_reproduction_passes(tmp_path):
    assert reproduce.main(["--quick", "--out", str(tmp_path)]) == 0
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["package"] == "cgs"
    assert results["mode"] == "quick"
    assert results["claims"] and all(c["passed"] for c in results["claims"])


def test_updates_flag_rejects_non_positive_counts(tmp_path):
    import pytest

    with pytest.raises(ValueError, match="--updates"):
        reproduce.main(["--quick", "--updates", "0", "--out", str(tmp_path)])
