import json

from rectified_flow import reproduce


def test_quick_reproduction_passes(tmp_path):
    assert reproduce.main(["--quick", "--out", str(tmp_path)]) == 0
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["package"] == "rectified-flow" and results["mode"] == "quick"
    assert results["quick_differences"] == reproduce.QUICK_DIFFERENCES
    assert len(results["claims"]) == 6 and all(c["passed"] for c in results["claims"])
    assert all(c["seeds"] == results["seeds"] for c in results["claims"])
