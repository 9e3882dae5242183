"""Baselines of the paper's comparisons: an n-step message-passing GNN (Sec. 6, "n-step GNN")."""

from __future__ import annotations

from collections.abc import Sequence

import jax
from flax import nnx

from ._graphs import GraphBatch, check_graph_batch
from ._layers import MLP, GNStack


class MPNN(nnx.Module):
    """``num_layers`` attention GN blocks (the CGS encoder's blocks) followed by an MLP decoder.

    Information travels at most ``num_layers`` hops, unlike CGS whose fixed point couples the
    whole graph; with matched parameter counts this is the paper's "n-step GNN" baseline.
    """

    def __init__(
        self,
        node_features: int,
        edge_features: int,
        out_features: int,
        *,
        num_layers: int = 4,
        hidden: int = 64,
        mlp_hidden: Sequence[int] = (128,),
        decoder_hidden: Sequence[int] = (64, 32),
        rngs: nnx.Rngs,
    ):
        self.body = GNStack(
            node_features,
            edge_features,
            hidden,
            hidden,
            num_layers=num_layers,
            hidden=hidden,
            mlp_hidden=mlp_hidden,
            rngs=rngs,
        )
        self.decoder = MLP(hidden, decoder_hidden, out_features, rngs=rngs)

    def __call__(self, graph: GraphBatch) -> jax.Array:
        """(G, n, out) node predictions."""
        check_graph_batch(graph)
        nodes, _ = self.body(graph)
        return self.decoder(nnx.leaky_relu(nodes))


def count_parameters(model: nnx.Module) -> int:
    """Number of scalar parameters of an NNX module."""
    return sum(x.size for x in jax.tree.leaves(nnx.state(model, nnx.Param)))
