import importlib
import json

import jax.numpy as jnp
import numpy as np
import pytest

from jaxpapers_shared import experiment
from jaxpapers_shared.experiment import (
    BASELINE,
    PAPER,
    above,
    at_least,
    at_most,
    below,
    between,
    near,
)


def make(tmp_path, seeds=(3, 4), **kwargs):
    args = experiment.parse_args("doc", ["--quick", "--out", str(tmp_path), "--seed", "3"])
    return experiment.Experiment("demo", paper="A Paper", args=args, seeds=list(seeds), **kwargs)


def run(tmp_path, ours):
    exp = make(tmp_path, quick_differences="200 steps instead of 5000")
    with exp.section("part one"):
        exp.claim(
            "ours beats baseline",
            reference="Fig. 1",
            ours=jnp.asarray(ours),
            baseline=[1.0, 1.1],
            baseline_name="base",
            expect=below(BASELINE),
            paper=0.4,
        )
        exp.control("baseline stays above 0.9", reference="Fig. 1", value=1.0, expect=above(0.9))
        exp.record("curve", jnp.arange(3.0))
        fig, ax = experiment.new_figure()
        ax.plot([0, 1], [1, 0])
        exp.save_figure(fig, "curve")
    return exp, exp.finish()


def test_results_json_follows_the_schema(tmp_path, capsys):
    exp, code = run(tmp_path, [0.5, 0.52])
    assert code == 0
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["schema"] == 2
    assert {
        "package", "paper", "mode", "seed", "seeds", "passed", "claims", "controls", "metrics",
        "quick_differences", "timings", "figures", "jax_version", "device", "python", "created",
    } <= results.keys()  # fmt: skip
    assert results["mode"] == "quick" and results["seed"] == 3 and results["seeds"] == [3, 4]
    claim = results["claims"][0]
    assert claim["ours"] == pytest.approx(0.51) and claim["baseline"] == pytest.approx(1.05)
    assert claim["values"] == pytest.approx([0.5, 0.52]) and claim["seeds"] == [3, 4]
    assert (
        claim["passed"] is True and claim["criterion"] == "mean of 2: ours < baseline, by > 2 s.e."
    )
    assert results["controls"][0]["holds"] is True
    assert results["metrics"]["curve"] == [0.0, 1.0, 2.0]
    assert results["figures"] == ["curve.png"] and (tmp_path / "curve.png").stat().st_size > 0
    assert "part one" in results["timings"] and results["timings"]["total"] >= 0
    out = capsys.readouterr().out
    assert "ours beats baseline" in out and "PASS" in out and "all 1 claims reproduced" in out


def test_failed_claim_gives_exit_code_one(tmp_path, capsys):
    _, code = run(tmp_path, [1.2, 1.3])
    assert code == 1
    assert json.loads((tmp_path / "results.json").read_text())["passed"] is False
    assert "FAILED" in capsys.readouterr().out


def test_a_win_inside_the_seed_noise_fails(tmp_path):
    exp = make(tmp_path, seeds=(0, 1, 2), quiet=True)
    # Mean 0.999 vs 1.0 with per-seed differences of +-0.05: not a win.
    noisy = exp.claim("x", reference="-", ours=[0.95, 1.05, 0.997], baseline=[1.0] * 3,
                      expect=below(BASELINE))  # fmt: skip
    clear = exp.claim("y", reference="-", ours=[0.5, 0.52, 0.49], baseline=[1.0] * 3,
                      expect=below(BASELINE))  # fmt: skip
    assert not noisy.passed and clear.passed
    assert noisy.margin == pytest.approx(1.0 - np.mean([0.95, 1.05, 0.997]))


@pytest.mark.parametrize(
    ("expect", "ours", "passed", "text"),
    [
        (at_most(1e-6), 1e-7, True, "ours <= 1e-06"),
        (at_most(1e-6), 1e-5, False, "ours <= 1e-06"),
        (below(0.1 * BASELINE), 0.04, True, "ours < 0.1 x baseline"),
        (at_least(BASELINE + 0.03), 0.52, False, "ours >= baseline + 0.03"),
        (between(0.5, 1.3), 0.9, True, "0.5 <= ours <= 1.3"),
        (between(0.5, 1.3), 1.4, False, "0.5 <= ours <= 1.3"),
        (near(PAPER, rtol=0.1), 0.041, False, "|ours - paper| <= 10% of it"),
        (near(PAPER, rtol=0.1), 0.045, True, "|ours - paper| <= 10% of it"),
        (above(0.0), float("nan"), False, "ours > 0"),
    ],
)
def test_verdict_and_criterion_come_from_the_expectation(tmp_path, expect, ours, passed, text):
    exp = make(tmp_path, seeds=(0,), quiet=True)
    claim = exp.claim("c", reference="-", ours=ours, baseline=0.5, paper=0.046, expect=expect)
    assert claim.passed is passed and claim.criterion == text


def test_claims_must_cover_the_listed_seeds(tmp_path):
    exp = make(tmp_path, seeds=(0, 1, 2), quiet=True)
    with pytest.raises(ValueError, match="one value, but the experiment lists seeds"):
        exp.claim("c", reference="-", ours=1.0, expect=at_most(2.0))
    with pytest.raises(ValueError, match="2 values for the experiment's 3 seeds"):
        exp.claim("c", reference="-", ours=[1.0, 1.0], expect=at_most(2.0))
    pooled = exp.claim("c", reference="-", ours=1.0, expect=at_most(2.0), seeds=[0, 1, 2])
    assert pooled.seeds == [0, 1, 2]
    with pytest.raises(ValueError, match=r"seeds \[7\] are not among"):
        exp.claim("c", reference="-", ours=1.0, expect=at_most(2.0), seeds=[7])


def test_a_literal_verdict_or_missing_baseline_is_refused(tmp_path):
    exp = make(tmp_path, seeds=(0,), quiet=True)
    with pytest.raises(TypeError, match="unexpected keyword argument"):
        exp.claim("c", reference="-", ours=1.0, criterion="x", passed=True)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="`expect` must be an Expectation"):
        exp.claim("c", reference="-", ours=1.0, expect=True)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="refers to BASELINE but no `baseline`"):
        exp.claim("c", reference="-", ours=1.0, expect=below(BASELINE))
    with pytest.raises(ValueError, match="`noise` must be"):
        below(1.0, noise=-1)
    with pytest.raises(ValueError, match="`near` needs a tolerance"):
        near(1.0)


def test_run_without_claims_is_an_error(tmp_path):
    args = experiment.parse_args(None, ["--out", str(tmp_path)])
    exp = experiment.Experiment("demo", paper="p", args=args, quiet=True)
    assert exp.mode == "full"
    with pytest.raises(RuntimeError, match="no claims"):
        exp.finish()


def test_non_finite_values_fail_and_are_written_as_strings(tmp_path):
    args = experiment.parse_args(None, ["--out", str(tmp_path)])
    exp = experiment.Experiment("demo", paper="p", args=args, quiet=True)
    exp.claim("diverges", reference="-", ours=float("nan"), expect=at_most(1.0))
    assert exp.finish() == 1
    assert json.loads((tmp_path / "results.json").read_text())["claims"][0]["ours"] == "nan"


def test_out_path_under_a_file_is_a_clear_cli_error(tmp_path, capsys):
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    with pytest.raises(SystemExit):
        experiment.parse_args(None, ["--out", str(blocker / "sub")])
    assert "lies under the file" in capsys.readouterr().err


def test_bench_args_reject_typos(capsys):
    assert experiment.parse_bench_args(None, ["--quick"]).quick
    with pytest.raises(SystemExit):
        experiment.parse_bench_args(None, ["--quik"])
    assert "unrecognized arguments: --quik" in capsys.readouterr().err


def test_progress_yields_every_item(monkeypatch):
    assert list(experiment.progress(range(5), desc="x")) == list(range(5))
    monkeypatch.setenv("JAXPAPERS_PROGRESS", "0")
    assert list(experiment.progress(iter([1, 2]))) == [1, 2]


def test_claims_markdown_from_records_and_results_json(tmp_path):
    exp, _ = run(tmp_path, [0.5, 0.52])
    results = json.loads((tmp_path / "results.json").read_text())
    assert experiment.claims_markdown(results["claims"]) == experiment.claims_markdown(exp.claims)
    text = experiment.claims_markdown(results)
    lines = text.splitlines()
    assert lines[0].startswith("| claim | ref. | ours | baseline | paper |")
    assert lines[2] == (
        "| ours beats baseline | Fig. 1 | 0.51 ± 0.01414 | 1.05 ± 0.07071 (base) | 0.4 "
        "| mean of 2: ours < baseline, by > 2 s.e. | 2 | yes |"
    )
    assert "| baseline stays above 0.9 | Fig. 1 | 1 | value > 0.9 | yes |" in text
    assert text.endswith("differs: 200 steps instead of 5000")


def test_claims_markdown_escapes_pipes_and_figure_size_override(tmp_path):
    exp = make(tmp_path, seeds=(0,), quiet=True)
    exp.claim("||x||_inf <= 1", reference="-", ours=1.0, expect=at_most(1.0))
    assert "\\|\\|x\\|\\|_inf" in experiment.claims_markdown(exp.claims)
    fig, _ = experiment.new_figure(figsize=(2.0, 1.0))
    assert tuple(fig.get_size_inches()) == (2.0, 1.0)


def test_missing_reproduce_dependency_names_the_extra():
    with pytest.raises(
        SystemExit, match=r"needs `not_a_module_xyz`.*pip install 'demo\[reproduce\]'"
    ):
        with experiment.reproduce_imports("demo"):
            importlib.import_module("not_a_module_xyz")
