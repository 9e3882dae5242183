import importlib.util
from pathlib import Path

import jax
import jax.numpy as jnp
import networkx as nx
import numpy as np
import pytest

import topo_swaps as ts
from topo_swaps import _inner
from topo_swaps._blas import single_thread


def _data(d=6, n=300, seed=0):
    k1, k2, k3 = jax.random.split(jax.random.key(seed), 3)
    B = ts.simulate_dag(k1, d, d)
    W = ts.simulate_parameter(k2, B)
    return W, ts.simulate_linear_sem(k3, W, n)


def test_fit_given_order_is_acyclic_and_solves_normal_equations():
    W, X = _data()
    order = np.array([3, 1, 0, 5, 2, 4])
    Wp = ts.fit_given_order(X, order)
    assert np.all(Wp[ts.order_to_mask(order)] == 0)
    assert np.allclose(np.linalg.matrix_power(np.abs(Wp), 6), 0)
    Xc = X - X.mean(0)
    grad = -Xc.T @ (Xc - Xc @ Wp) / len(X)
    assert np.max(np.abs(grad[~ts.order_to_mask(order)])) < 1e-8


def test_path_weight_zero_iff_no_path_on_chain():
    W = np.zeros((3, 3))
    W[0, 1] = W[1, 2] = 1.0
    G = ts.path_weights(W)
    reach = nx.transitive_closure(nx.DiGraph(W != 0), reflexive=False)
    for i in range(3):
        for j in range(3):
            if i != j:
                assert (G[i, j] == 0) == (not reach.has_edge(j, i))


def test_refit_span_matches_full_refit():
    _, X = _data()
    order = np.arange(6)
    new = ts.swap_order(order, (4, 1))
    W0 = ts.fit_given_order(X, order)
    assert np.allclose(ts.refit_span(X, W0, order, new, (4, 1)), ts.fit_given_order(X, new))


def test_topo_never_worse_than_start_order():
    _, X = _data(seed=3)
    start = np.arange(6)[::-1].copy()
    res = ts.topo_fit(X, start)
    assert res.score <= ts.score_of(X, ts.fit_given_order(X, start)) + 1e-12


@pytest.mark.parametrize(
    ("kwargs", "arg"),
    [
        ({"X": np.ones((5, 1))}, "X"),
        ({"X": np.full((5, 3), np.nan)}, "X"),
        ({"score": "huber"}, "score"),
        ({"init_order": [0, 0, 1, 2, 3, 4]}, "init_order"),
        ({"size_small": 0}, "size_small"),
        ({"no_large_search": -1}, "no_large_search"),
        ({"size_small": 3, "size_large": 2}, "size_large"),
        ({"size_large": 16}, "size_large"),
        ({"max_iter": -1}, "max_iter"),
        ({"h": "trace"}, "`h`"),
    ],
)
def test_bad_input_rejected(kwargs, arg):
    _, X = _data()
    kw = {"X": X, "key": jax.random.key(0)} | kwargs
    with pytest.raises(ValueError, match=arg):
        ts.topo_fit(**kw)


def test_cyclic_w_rejected_as_order():
    W = np.array([[0, 1.0], [1.0, 0]])
    with pytest.raises(ValueError, match="W"):
        ts.order_from_dag(W)


def test_notears_jax_recovers_small_dag_and_satisfies_constraint():
    # d = 8: the shape the quick reproduction compiles NOTEARS for (shared jit cache).
    W, X = _data(d=8, n=500, seed=1)
    res = ts.notears_linear(X, 0.1)
    assert res.converged and res.h <= 1e-8
    acc = ts.count_accuracy(W != 0, res.W)
    assert acc["shd"] <= 1
    # its (refit) score cannot beat the best DAG for its own order, which TOPO post-processing
    # starts from, so post-processing never raises it
    post = ts.TOPO().postprocess(X, res.W_raw)
    assert ts.refit_score(X, post.W_)[0] <= ts.refit_score(X, res.W_raw)[0] + 1e-9


def _logistic_chain(n=2000, seed=0):
    rng = np.random.default_rng(seed)
    x0 = rng.random(n) < 0.5
    x1 = rng.random(n) < 1 / (1 + np.exp(-(3.0 * x0 - 1.5)))
    x2 = rng.random(n) < 1 / (1 + np.exp(-(-3.0 * x1 + 1.5)))
    return np.stack([x0, x1, x2], 1).astype(float)


def test_logistic_inner_fit_is_stationary_and_topo_improves():
    X = _logistic_chain()
    order = np.array([0, 1, 2])
    Wp = ts.fit_given_order(X, order, score="logistic")
    Z = X @ Wp
    grad = X.T @ (1 / (1 + np.exp(-Z)) - X) / len(X)  # d(mean NLL)/dW
    free = ~ts.order_to_mask(order)
    assert np.max(np.abs(grad[free])) < 1e-4
    start = np.array([2, 1, 0])
    res = ts.topo_fit(X, start, score="logistic")
    assert np.isfinite(res.score)
    assert res.score <= ts.score_of(X, ts.fit_given_order(X, start, "logistic"), "logistic") + 1e-12


def test_bad_inputs_of_baseline_and_postprocessor():
    _, X = _data()
    with pytest.raises(ValueError, match="lambda1"):
        ts.notears_linear(X, -0.1)
    with pytest.raises(ValueError, match="W_other"):
        ts.TOPO().postprocess(X, np.ones((3, 2)))
    with pytest.raises(ValueError, match="W_other"):
        ts.TOPO().postprocess(X, np.full((6, 6), np.nan))
    with pytest.raises(ValueError, match="threshold"):
        ts.refit_score(X, np.zeros((6, 6)), threshold=-0.1)
    with pytest.raises(ValueError, match="s0"):
        ts.simulate_dag(jax.random.key(0), 4, 7)
    with pytest.raises(ValueError, match="noise"):
        ts.simulate_linear_sem(jax.random.key(0), np.zeros((3, 3)), 10, noise="cauchy")


def _best_swap_decrease(X, res):
    d = X.shape[1]
    before = ts.score_of(X, ts.fit_given_order(X, res.order))
    best = min(
        ts.score_of(X, ts.fit_given_order(X, ts.swap_order(res.order, (i, j))))
        for i in range(d)
        for j in range(i)
    )
    return before - best


def test_every_pair_as_candidate_ends_swap_optimal():
    # With size_small = size_large = d(d-1)/2, TOPO stops only when no swap lowers F.
    _, X = _data(seed=2)
    cap = 6 * 5 // 2
    res = ts.topo_fit(X, np.arange(6)[::-1].copy(), size_small=cap, size_large=cap)
    assert res.converged
    assert _best_swap_decrease(X, res) <= 1e-9


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_span_swap_scores_equal_full_refit_scores(seed):
    rng = np.random.default_rng(seed)
    d = [7, 13, 24][seed]
    _, X = _data(d=d, n=200, seed=seed)
    with jax.enable_x64(True):
        C = _inner.gram(X - X.mean(0))
        pos = jnp.asarray(rng.permutation(d))
        pairs = np.array([(i, j) for i in range(d) for j in range(i)])
        full = np.asarray(_inner.swap_scores_full(C, pos, jnp.asarray(pairs)))
        span = _inner.swap_scores(C, pos, pairs)
    assert np.max(np.abs(span - full)) <= 1e-10 * np.max(np.abs(full))


def test_topo_unchanged_by_span_refit(monkeypatch):
    _, X = _data(d=15, n=500, seed=4)
    new = ts.topo_fit(X, key=jax.random.key(7))
    full = _inner.swap_scores_full
    monkeypatch.setattr(
        _inner, "swap_scores", lambda s, p, q, loss: np.asarray(full(s, p, jnp.asarray(q), loss))
    )
    old = ts.topo_fit(X, key=jax.random.key(7))
    assert new.n_iter == old.n_iter > 0
    assert np.array_equal(new.order, old.order)
    assert abs(new.score - old.score) <= 1e-12


def _load_official():
    path = Path(__file__).with_name("official_notears.py")
    spec = importlib.util.spec_from_file_location("official_notears", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_notears_matches_official_algorithm_reference():
    # Same data, same schedule/bounds/solver: the NumPy/SciPy transcription of the official code.
    reference_notears_linear = _load_official().reference_notears_linear
    W, X = _data(d=7, n=400, seed=5)
    res = ts.notears_linear(X, 0.1)
    with single_thread():
        W_ref, W_ref_raw = reference_notears_linear(X, 0.1)
    assert np.array_equal(res.W != 0, W_ref != 0)
    # Same algorithm, different rounding (Gram-matrix vs data-matrix loss): the L-BFGS-B paths
    # end within the solver's tolerance of each other, with equal losses and refit scores.
    assert np.max(np.abs(res.W_raw - W_ref_raw)) < 1e-2
    Xc = X - X.mean(0)
    loss = [0.5 / len(X) * np.sum((Xc - Xc @ W) ** 2) for W in (res.W_raw, W_ref_raw)]
    assert abs(loss[0] - loss[1]) <= 1e-3 * loss[1]
    assert abs(ts.refit_score(X, res.W_raw)[0] - ts.refit_score(X, W_ref_raw)[0]) < 1e-6
