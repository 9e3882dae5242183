import json

from holomorphic_ep import reproduce


def test_quick_reproduction_passes(tmp_path):
    assert reproduce.main(["--quick", "--out", str(tmp_path)]) == 0
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["package"] == "holomorphic-ep"
    assert results["mode"] == "quick"
    assert results["claims"] and all(c["passed"] for c in results["claims"])
