import json

from hard_constraint_moe import reproduce


def test_quick_reproduction_passes(tmp_path):
    assert reproduce.main(["--quick", "--out", str(tmp_path)]) == 0
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["package"] == "hard-constraint-moe"
    assert results["mode"] == "quick"
    names = [c["name"] for c in results["claims"]]
    assert any(n.startswith("A(i)") for n in names) and any(n.startswith("B:") for n in names)
    assert all(c["passed"] for c in results["claims"])
