import jax
import jax.numpy as jnp
import numpy as np
import pytest

import cgs


def test_value_iteration_solves_bellman_equation():
    task = cgs.graph_value_iteration(3, 4, num_states=(10, 15), num_actions=(2, 5))
    g = task.graph
    for i in range(g.num_graphs):
        e, n = int(g.edge_mask[i].sum()), int(g.node_mask[i].sum())
        s, r = np.asarray(g.senders[i, :e]), np.asarray(g.receivers[i, :e])
        rew = np.asarray(g.edges[i, :e, 0], np.float64)
        v = np.asarray(task.targets[i, :n, 0], np.float64)
        backup = np.full(n, -np.inf)
        np.maximum.at(backup, r, rew + 0.9 * v[s])
        # Stopped when a sweep moved V by < 1e-3; float32 storage adds rounding.
        assert np.abs(backup - v).max() < 1e-3
        assert np.all(s != r), "GVI graphs have no self-edges"
        assert np.all(np.bincount(r, minlength=n) == e // n), "every state has n_A actions"


def test_pagerank_target_is_cgs_fixed_point_with_unit_weights():
    # An exact special case: gamma = alpha, a = 1, b = (1 - alpha) u reproduces the target.
    task = cgs.pagerank_problem(0, 2, num_nodes=(20, 30), alpha=0.9)
    g = task.graph

    @jax.jit  # one program for both graphs (same padded shapes)
    def fixed_point(nodes, senders, receivers, edge_mask, node_mask):
        weights = jnp.ones((senders.shape[0], 1))
        t = cgs.build_transition(
            weights, 0.1 * nodes, senders, receivers, 0.9, edge_mask=edge_mask, node_mask=node_mask
        )
        return cgs.solve_transition(t).value

    for i in range(2):
        h = fixed_point(g.nodes[i], g.senders[i], g.receivers[i], g.edge_mask[i], g.node_mask[i])
        np.testing.assert_allclose(h, task.targets[i], rtol=1e-4, atol=1e-6)


def test_metrics_special_cases():
    task = cgs.graph_value_iteration(1, 3, num_states=(10, 15), num_actions=(2, 5))
    mask, y = task.graph.node_mask, task.targets
    assert float(cgs.mape(y, y, mask)) == 0.0
    assert float(cgs.policy_accuracy(y, y, task.graph)) == 1.0
    assert float(cgs.within_graph_r2(y, y, mask)) == pytest.approx(1.0)
    per_graph = (y[..., 0] * mask).sum(1) / mask.sum(1)
    assert float(
        cgs.within_graph_r2(jnp.broadcast_to(per_graph[:, None], mask.shape), y, mask)
    ) == pytest.approx(0.0, abs=1e-6)
    noisy = y + jax.random.normal(jax.random.PRNGKey(0), y.shape)
    assert float(cgs.policy_accuracy(noisy, y, task.graph)) < 1.0
    assert float(cgs.mape(noisy, y, mask)) > 0.0


def test_rejects_bad_ranges():
    with pytest.raises(ValueError, match="num_states"):
        cgs.graph_value_iteration(0, 2, num_states=(10, 5))
    with pytest.raises(ValueError, match="num_actions"):
        cgs.graph_value_iteration(0, 2, num_states=(6, 8), num_actions=(5, 9))
    with pytest.raises(ValueError, match="alpha"):
        cgs.pagerank_problem(0, 2, alpha=1.0)
