import json

import jax
import numpy as np

import hopfield
from hopfield import reproduce


def test_quick_reproduction_passes(tmp_path):
    assert reproduce.main(["--quick", "--out", str(tmp_path)]) == 0
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["package"] == "hopfield"
    assert results["mode"] == "quick"
    assert results["claims"] and all(c["passed"] for c in results["claims"])
    # Claims use every seed of the run, except quick MIL, which says it uses one.
    for claim in results["claims"]:
        expected = results["seeds"][:1] if "HopfieldPooling" in claim["name"] else results["seeds"]
        assert claim["seeds"] == expected, claim["name"]


def test_classical_capacity_curve_is_the_hebbian_network_on_the_first_n_patterns():
    d, n_max, n = 24, 8, 5
    key = jax.random.PRNGKey(3)
    curve = np.asarray(reproduce._classical_recall_curve(key, d=d, n_max=n_max))
    # The same draws as the curve, replayed for N = n with the public Hebbian network.
    k_pat, k_pick, k_flip = jax.random.split(key, 3)
    patterns = np.where(jax.random.bernoulli(k_pat, 0.5, (n_max, d)), 1.0, -1.0)
    flips = np.asarray(jax.random.uniform(k_flip, (reproduce.NUM_QUERIES, d))) < reproduce.FLIP
    pick = np.asarray(jax.random.uniform(k_pick, (reproduce.NUM_QUERIES,)))
    targets = patterns[np.minimum((pick * n).astype(int), n - 1)]
    queries = np.where(flips, -targets, targets)
    out = np.asarray(hopfield.classical_retrieve(patterns[:n], queries, 20))
    assert np.isclose(curve[n - 1], np.mean(np.all(out == targets, axis=-1)))


def test_classical_capacity_is_a_few_patterns_and_a_capped_search_fails_the_fit():
    assert 1 <= reproduce.classical_capacity(0, 32) <= 0.3 * 32
    assert np.isnan(reproduce.loglog_slope([16, 32], [2.0, np.inf]))
    assert np.isclose(reproduce.loglog_slope([16, 32, 64], [2.0, 4.0, 8.0]), 1.0)


def test_metastable_beta_is_the_log_centre_of_the_metastable_band():
    betas = np.asarray([0.1, 1.0, 10.0, 100.0])
    n = 500
    assert np.isclose(reproduce.metastable_beta(betas, np.asarray([450, 100, 4, 1]), n), 10**0.5)
    # No beta in the band: the log-midpoint between the last averaging and first single beta.
    assert np.isclose(reproduce.metastable_beta(betas, np.asarray([450, 420, 1, 1]), n), 10**0.5)
