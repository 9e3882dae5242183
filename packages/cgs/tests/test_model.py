import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import cgs


def _small_model(**kw):
    return cgs.build_cgs(
        1,
        1,
        1,
        num_heads=4,
        hidden=8,
        mlp_hidden=(8,),
        num_layers=2,
        decoder_hidden=(8,),
        rngs=nnx.Rngs(0),
        **kw,
    )


def _jitted(model):
    # One compiled program per shape instead of op-by-op eager dispatch (keeps the suite fast).
    graphdef, state = nnx.split(model)
    return functools.partial(jax.jit(lambda s, g: nnx.merge(graphdef, s)(g)), state)


@pytest.fixture(scope="module")
def model():
    return _small_model()


@pytest.fixture(scope="module")
def task():
    return cgs.graph_value_iteration(0, 3, num_states=(8, 12), num_actions=(2, 4))


def test_output_shape_and_padding_invariance(task, model):
    run = _jitted(model)
    out = run(task.graph)
    assert out.shape == (*task.graph.node_mask.shape, 1)
    # Extra padding (nodes and edges) must not change predictions on real nodes.
    g = task.graph
    more = cgs.GraphBatch(
        jnp.pad(g.nodes, ((0, 0), (0, 5), (0, 0))),
        jnp.pad(g.edges, ((0, 0), (0, 7), (0, 0))),
        jnp.pad(g.senders, ((0, 0), (0, 7))),
        jnp.pad(g.receivers, ((0, 0), (0, 7))),
        jnp.pad(g.node_mask, ((0, 0), (0, 5))),
        jnp.pad(g.edge_mask, ((0, 0), (0, 7))),
    )
    out_more = run(more)[:, : g.max_nodes]
    mask = np.asarray(g.node_mask)
    np.testing.assert_allclose(np.asarray(out)[mask], np.asarray(out_more)[mask], atol=1e-5)


def test_disjoint_union_equals_graphs_one_at_a_time(task, model):
    run = _jitted(model)
    batched = run(task.graph)
    for i in range(task.graph.num_graphs):
        single = jax_tree_index(task.graph, i)
        np.testing.assert_allclose(run(single)[0], batched[i], atol=1e-5)


def jax_tree_index(graph, i):
    return cgs.GraphBatch(*(x[i : i + 1] for x in graph))


def test_ablation_fixed_point_is_the_bias(task):
    graphdef, state = nnx.split(_small_model(ablate=True))

    @jax.jit
    def bias_and_fixed_point(state, g):
        m = nnx.merge(graphdef, state)
        return m.encoder(g)[0], m.fixed_point(g).value

    bias, h = bias_and_fixed_point(state, task.graph)
    mask = task.graph.node_mask[..., None]
    np.testing.assert_allclose(h, jnp.where(mask, bias, 0.0), atol=1e-6)


def test_fixed_point_satisfies_its_equation(task, model):
    graphdef, state = nnx.split(model)

    @jax.jit
    def residual(state, g):
        m = nnx.merge(graphdef, state)
        bias, weight = m.encoder(g)
        h = m.fixed_point(g).value

        def one(w, b, s, r, em, nm, h):
            t = cgs.build_transition(w, b, s, r, 0.5, edge_mask=em, node_mask=nm)
            return cgs.apply_transition(t, h) - h

        return jax.vmap(one)(weight, bias, g.senders, g.receivers, g.edge_mask, g.node_mask, h)

    assert float(jnp.abs(residual(state, task.graph)).max()) < 1e-5


def test_graph_task_sum_readout(task, model):
    dec = cgs.MLP(4, (), 2, rngs=nnx.Rngs(1))
    graph_model = cgs.GraphTaskCGS(model.encoder, model.layer, dec)
    graphdef, state = nnx.split(graph_model)

    @jax.jit
    def run(state, g):
        m = nnx.merge(graphdef, state)
        h = m.fixed_point(g).value * g.node_mask[..., None]
        return m(g), m.decoder(h.sum(axis=1))

    out, expected = run(state, task.graph)
    np.testing.assert_allclose(out, expected, atol=1e-5)
    assert out.shape == (task.graph.num_graphs, 2)


def test_mpnn_baseline_shape(task):
    model = cgs.MPNN(1, 1, 1, num_layers=2, hidden=8, mlp_hidden=(8,), rngs=nnx.Rngs(0))
    assert jax.eval_shape(model, task.graph).shape == (*task.graph.node_mask.shape, 1)
    assert cgs.count_parameters(model) > 0


def test_rejects_nan_features(task, model):
    g = task.graph._replace(nodes=task.graph.nodes.at[0, 0, 0].set(jnp.nan))
    with pytest.raises(ValueError, match="nodes"):
        model(g)


def test_rejects_node_mask_shape(task, model):
    g = task.graph._replace(node_mask=task.graph.node_mask[:, :-1])
    with pytest.raises(ValueError, match="node_mask"):
        model(g)


def test_rejects_edge_feature_count_mismatch(task, model):
    g = task.graph._replace(senders=task.graph.senders[:, :-1])
    with pytest.raises(ValueError, match="senders"):
        model(g)


def test_rejects_out_of_range_receivers(task, model):
    g = task.graph._replace(receivers=task.graph.receivers.at[0, 0].set(10_000))
    with pytest.raises(ValueError, match="receivers"):
        model(g)


@pytest.mark.parametrize("activate_output", [False, True])
def test_edge_mlp_with_node_projections_equals_mlp_on_concatenated_inputs(activate_output):
    from cgs._layers import MLP, _edge_mlp

    rng = np.random.default_rng(0)
    nodes = jnp.asarray(rng.normal(size=(10, 5)), jnp.float32)
    edges = jnp.asarray(rng.normal(size=(30, 3)), jnp.float32)
    s, r = jnp.asarray(rng.integers(0, 10, 30)), jnp.asarray(rng.integers(0, 10, 30))
    for hidden in ((), (16,), (16, 8)):
        mlp = MLP(13, hidden, 4, activate_output=activate_output, rngs=nnx.Rngs(1))
        reference = mlp(jnp.concatenate([edges, nodes[s], nodes[r]], axis=-1))
        np.testing.assert_allclose(_edge_mlp(mlp, edges, nodes, s, r), reference, atol=1e-5)
