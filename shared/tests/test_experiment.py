import json

import jax.numpy as jnp
import pytest

from jaxpapers_shared import experiment


def run(tmp_path, passes, **kwargs):
    args = experiment.parse_args("doc", ["--quick", "--out", str(tmp_path), "--seed", "3"])
    exp = experiment.Experiment("demo", paper="A Paper", args=args, seeds=[3, 4], **kwargs)
    with exp.section("part one"):
        exp.claim(
            "ours beats baseline",
            reference="Fig. 1",
            ours=jnp.float32(0.5),
            baseline=jnp.asarray(1.0),
            baseline_name="base",
            criterion="ours < baseline",
            passed=jnp.asarray(passes),
            paper=0.4,
        )
        exp.record("curve", jnp.arange(3.0))
        fig, ax = experiment.new_figure()
        ax.plot([0, 1], [1, 0])
        exp.save_figure(fig, "curve")
    return exp, exp.finish()


def test_results_json_follows_the_schema(tmp_path, capsys):
    exp, code = run(tmp_path, passes=True)
    assert code == 0
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["schema"] == 1
    assert {
        "package",
        "paper",
        "mode",
        "seed",
        "seeds",
        "passed",
        "claims",
        "metrics",
        "timings",
        "figures",
        "jax_version",
        "device",
        "python",
        "created",
    } <= results.keys()
    assert results["mode"] == "quick" and results["seed"] == 3 and results["seeds"] == [3, 4]
    claim = results["claims"][0]
    assert claim["ours"] == pytest.approx(0.5) and claim["baseline"] == 1.0
    assert claim["passed"] is True and claim["reference"] == "Fig. 1"
    assert results["metrics"]["curve"] == [0.0, 1.0, 2.0]
    assert results["figures"] == ["curve.png"] and (tmp_path / "curve.png").stat().st_size > 0
    assert "part one" in results["timings"] and results["timings"]["total"] >= 0
    out = capsys.readouterr().out
    assert "ours beats baseline" in out and "PASS" in out and "all 1 claims reproduced" in out


def test_failed_claim_gives_exit_code_one(tmp_path, capsys):
    _, code = run(tmp_path, passes=False)
    assert code == 1
    assert json.loads((tmp_path / "results.json").read_text())["passed"] is False
    assert "FAILED" in capsys.readouterr().out


def test_run_without_claims_is_an_error(tmp_path):
    args = experiment.parse_args(None, ["--out", str(tmp_path)])
    exp = experiment.Experiment("demo", paper="p", args=args, quiet=True)
    assert exp.mode == "full"
    with pytest.raises(RuntimeError, match="no claims"):
        exp.finish()


def test_non_finite_values_are_written_as_strings(tmp_path):
    args = experiment.parse_args(None, ["--out", str(tmp_path)])
    exp = experiment.Experiment("demo", paper="p", args=args, quiet=True)
    exp.claim("diverges", reference="-", ours=float("nan"), criterion="finite", passed=False)
    assert exp.finish() == 1
    assert json.loads((tmp_path / "results.json").read_text())["claims"][0]["ours"] == "nan"


def test_progress_yields_every_item(monkeypatch):
    assert list(experiment.progress(range(5), desc="x")) == list(range(5))
    monkeypatch.setenv("JAXPAPERS_PROGRESS", "0")
    assert list(experiment.progress(iter([1, 2]))) == [1, 2]


def test_claims_markdown_from_records_and_results_json(tmp_path):
    exp, _ = run(tmp_path, passes=True)
    from_records = experiment.claims_markdown(exp.claims)
    results = json.loads((tmp_path / "results.json").read_text())
    assert experiment.claims_markdown(results["claims"]) == from_records
    lines = from_records.splitlines()
    assert lines[0].startswith("| claim | ref. | ours | baseline | paper |")
    assert lines[2] == (
        "| ours beats baseline | Fig. 1 | 0.5 | 1 (base) | 0.4 | ours < baseline | yes |"
    )


def test_claims_markdown_escapes_pipes_and_figure_size_override(tmp_path):
    claim = experiment.Claim(
        name="||x||_inf <= 1", reference="-", ours=1.0, criterion="c", passed=True
    )
    assert "\\|\\|x\\|\\|_inf" in experiment.claims_markdown([claim])
    fig, _ = experiment.new_figure(figsize=(2.0, 1.0))
    assert tuple(fig.get_size_inches()) == (2.0, 1.0)
