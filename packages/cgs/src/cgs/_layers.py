"""The CGS model (paper Sec. 3, Fig. 1): encoder f_theta -> contracting map -> fixed point -> decoder.

All modules are Flax NNX. They take a :class:`cgs.GraphBatch` (padded graphs, disjoint union)
and work on the flattened union with ``segment_sum``; the fixed point is solved per graph
(``vmap``), so each graph has its own stopping test and iteration count.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Literal

import jax
import jax.numpy as jnp
from flax import nnx

from jaxpapers_shared import implicit

from ._graphs import GraphBatch, check_graph_batch, flatten_union
from ._solve import Solver, _check_solver_options, solve_transition
from ._transition import build_transition, check_gamma

Activation = Callable[[jax.Array], jax.Array]


class MLP(nnx.Module):
    """``Linear -> act -> ... -> Linear`` with an optional activation on the output."""

    def __init__(
        self,
        in_features: int,
        hidden: Sequence[int],
        out_features: int,
        *,
        activation: Activation = nnx.leaky_relu,
        activate_output: bool = False,
        rngs: nnx.Rngs,
    ):
        sizes = [in_features, *hidden, out_features]
        self.layers = nnx.List(
            [nnx.Linear(a, b, rngs=rngs) for a, b in zip(sizes[:-1], sizes[1:], strict=True)]
        )
        self.activation = activation
        self.activate_output = activate_output

    def __call__(self, x: jax.Array) -> jax.Array:
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < len(self.layers) - 1 or self.activate_output:
                x = self.activation(x)
        return x


def edge_softmax(logits: jax.Array, receivers: jax.Array, mask: jax.Array, num_nodes: int):
    """Softmax of (E, 1) edge logits over the incoming edges of each receiver; 0 on padding."""
    logits = jnp.where(mask[:, None], logits, -jnp.inf)
    peak = jax.ops.segment_max(logits, receivers, num_segments=num_nodes)
    peak = jnp.where(jnp.isfinite(peak), peak, 0.0)
    weights = jnp.where(mask[:, None], jnp.exp(logits - peak[receivers]), 0.0)
    total = jax.ops.segment_sum(weights, receivers, num_segments=num_nodes)
    return weights / jnp.maximum(total[receivers], jnp.finfo(weights.dtype).tiny)


def _edge_mlp(mlp: MLP, edges, nodes, senders, receivers) -> jax.Array:
    """``mlp([e_ji, h_j, h_i])`` without building the concatenation on every edge.

    The first layer is linear, so ``W [e, h_j, h_i] = W_e e + (W_s h)_j + (W_r h)_i``: the node
    parts are projected once per node and gathered, which saves ``2 F_node x hidden``
    multiply-adds per edge (about half of a GN block's cost on GVI batches).
    """
    first = mlp.layers[0]
    kernel = first.kernel[...]
    fe, fn = edges.shape[-1], nodes.shape[-1]
    x = (
        edges @ kernel[:fe]
        + (nodes @ kernel[fe : fe + fn])[senders]
        + (nodes @ kernel[fe + fn :])[receivers]
    )
    if first.bias is not None:
        x = x + first.bias[...]
    for i, layer in enumerate(mlp.layers[1:]):
        x = layer(mlp.activation(x))
        if i == len(mlp.layers) - 2 and mlp.activate_output:
            x = mlp.activation(x)
    if len(mlp.layers) == 1 and mlp.activate_output:
        x = mlp.activation(x)
    return x


class AttentionGNLayer(nnx.Module):
    """One attention graph-network block (the official ``MPNNLayer``).

    ``e'_ji = phi_e([e_ji, h_j, h_i])``, ``alpha_ji = softmax_{j->i} phi_a([e_ji, h_j, h_i])``,
    ``h'_i = phi_h([sum_{j->i} alpha_ji e'_ji, h_i])`` (sum aggregator).
    """

    def __init__(
        self,
        node_in: int,
        edge_in: int,
        node_out: int,
        edge_out: int,
        *,
        mlp_hidden: Sequence[int] = (128,),
        activation: Activation = nnx.leaky_relu,
        activate_output: bool = True,
        rngs: nnx.Rngs,
    ):
        mlp = functools.partial(MLP, activation=activation, rngs=rngs)
        message_in = edge_in + 2 * node_in
        self.edge_model = mlp(message_in, mlp_hidden, edge_out, activate_output=activate_output)
        self.attention = mlp(message_in, mlp_hidden, 1)
        self.node_model = mlp(
            edge_out + node_in, mlp_hidden, node_out, activate_output=activate_output
        )

    def __call__(self, nodes, edges, senders, receivers, edge_mask):
        new_edges = _edge_mlp(self.edge_model, edges, nodes, senders, receivers)
        logits = _edge_mlp(self.attention, edges, nodes, senders, receivers)
        alpha = edge_softmax(logits, receivers, edge_mask, nodes.shape[0])
        aggregated = jax.ops.segment_sum(alpha * new_edges, receivers, num_segments=nodes.shape[0])
        new_nodes = self.node_model(jnp.concatenate([aggregated, nodes], axis=-1))
        return new_nodes, new_edges


class GNStack(nnx.Module):
    """``num_layers`` attention GN blocks: (G, n, F), (G, e, Fe) -> (G, n, node_out), (G, e, edge_out).

    The official ``AttnMPNN``; CGS uses it as the parameter-generating encoder f_theta (its last
    block emits the per-head node biases b and edge weights a), the MPNN baseline as its body.
    """

    def __init__(
        self,
        node_in: int,
        edge_in: int,
        node_out: int,
        edge_out: int,
        *,
        num_layers: int = 3,
        hidden: int = 64,
        mlp_hidden: Sequence[int] = (128,),
        activation: Activation = nnx.leaky_relu,
        rngs: nnx.Rngs,
    ):
        if int(num_layers) != num_layers or num_layers < 1:
            raise ValueError(f"`num_layers` must be an integer >= 1, got {num_layers}.")
        dims_n = [node_in] + [hidden] * (num_layers - 1) + [node_out]
        dims_e = [edge_in] + [hidden] * (num_layers - 1) + [edge_out]
        self.blocks = nnx.List(
            [
                AttentionGNLayer(
                    dims_n[i],
                    dims_e[i],
                    dims_n[i + 1],
                    dims_e[i + 1],
                    mlp_hidden=mlp_hidden,
                    activation=activation,
                    activate_output=i < num_layers - 1,
                    rngs=rngs,
                )
                for i in range(num_layers)
            ]
        )

    def __call__(self, graph: GraphBatch) -> tuple[jax.Array, jax.Array]:
        g, n, _ = graph.nodes.shape
        e = graph.edges.shape[1]
        senders, receivers = flatten_union(graph)
        mask = graph.edge_mask.reshape(-1)
        nodes = graph.nodes.reshape(g * n, -1)
        edges = graph.edges.reshape(g * e, -1)
        for block in self.blocks:
            nodes, edges = block(nodes, edges, senders, receivers, mask)
        return nodes.reshape(g, n, -1), edges.reshape(g, e, -1)


class CGSLayer(nnx.Module):
    r"""The convergent fixed-point layer: ``H* = gamma A(G) H* + b(G)`` per head (Eq. 3-5).

    Holds no parameters; it turns encoder outputs into the contracting map of every graph
    (:func:`cgs.build_transition`) and solves it (:func:`cgs.solve_transition`, vmapped).

    Args:
      num_heads: ``m``, the number of independent linear maps.
      gamma: contraction factor in (0, 1) (paper: 0.5).
      solver: ``"direct"`` (dense solve, small graphs; default), ``"iterate"`` (the official
        forward) or ``"anderson"``; the last two use the IFT backward of Eq. 6-7.
      tol, max_iter: stopping rule of the iterative solvers (official 1e-6, 50).
      clip: clip edge weights to [0, 1] (official). ``False`` rejects weights outside.
      ablate: the ``gamma = 0`` ablation ``H* = b`` ("encoder only"; a baseline, not CGS).

    Raises:
      ValueError: ``gamma`` outside (0, 1), bad solver options, ``num_heads < 1``.
    """

    def __init__(
        self,
        num_heads: int,
        gamma: float = 0.5,
        *,
        solver: Solver = "direct",
        tol: float = 1e-6,
        max_iter: int = 50,
        clip: bool = True,
        ablate: bool = False,
    ):
        if int(num_heads) != num_heads or num_heads < 1:
            raise ValueError(f"`num_heads` must be an integer >= 1, got {num_heads}.")
        _check_solver_options(solver, tol, max_iter)
        self.num_heads = int(num_heads)
        self.gamma = check_gamma(gamma)
        self.solver, self.tol, self.max_iter = solver, tol, max_iter
        self.clip, self.ablate = clip, ablate

    def solve(self, edge_weight, node_bias, graph: GraphBatch) -> implicit.Solution:
        """(G, e, m) edge weights, (G, n, m) biases -> batched Solution with value (G, n, m)."""
        if edge_weight.shape[-1] != self.num_heads or node_bias.shape[-1] != self.num_heads:
            raise ValueError(
                f"encoder outputs must have num_heads={self.num_heads} channels, got "
                f"edge_weight {edge_weight.shape} and node_bias {node_bias.shape}."
            )
        if self.ablate:
            bias = jnp.where(graph.node_mask[..., None], node_bias, 0.0)
            zeros = jnp.zeros(bias.shape[:1], bias.dtype)
            return implicit.Solution(bias, zeros.astype(jnp.int32), zeros, zeros == 0)

        def one_graph(w, b, s, r, em, nm):
            t = build_transition(w, b, s, r, self.gamma, edge_mask=em, node_mask=nm, clip=self.clip)
            return solve_transition(t, solver=self.solver, tol=self.tol, max_iter=self.max_iter)

        return jax.vmap(one_graph)(
            edge_weight,
            node_bias,
            graph.senders,
            graph.receivers,
            graph.edge_mask,
            graph.node_mask,
        )

    def __call__(self, edge_weight, node_bias, graph: GraphBatch) -> jax.Array:
        return self.solve(edge_weight, node_bias, graph).value


class ConvergentGraphSolver(nnx.Module):
    """CGS for node targets: ``y_i = g_theta(H*_i)`` (paper Fig. 1).

    Args:
      encoder: a module mapping a GraphBatch to ``(node_bias (G, n, m), edge_weight (G, e, m))``
        (e.g. :class:`GNStack` with ``node_out = edge_out = m``).
      layer: a :class:`CGSLayer`.
      decoder: a module mapping (..., m) to (..., out).
    """

    def __init__(self, encoder: nnx.Module, layer: CGSLayer, decoder: nnx.Module):
        self.encoder, self.layer, self.decoder = encoder, layer, decoder

    def fixed_point(self, graph: GraphBatch) -> implicit.Solution:
        """The batched :class:`jaxpapers_shared.implicit.Solution`, value (G, n, m)."""
        check_graph_batch(graph)
        node_bias, edge_weight = self.encoder(graph)
        return self.layer.solve(edge_weight, node_bias, graph)

    def __call__(self, graph: GraphBatch) -> jax.Array:
        """(G, n, out) predictions (padded nodes hold decoder(0): mask them)."""
        return self.decoder(self.fixed_point(graph).value)


class GraphTaskCGS(ConvergentGraphSolver):
    """CGS for graph targets: ``y = g_theta(readout_i H*_i)`` with a sum (or mean) readout."""

    def __init__(
        self,
        encoder: nnx.Module,
        layer: CGSLayer,
        decoder: nnx.Module,
        *,
        readout: Literal["sum", "mean"] = "sum",
    ):
        if readout not in ("sum", "mean"):
            raise ValueError(f"`readout` must be 'sum' or 'mean', got {readout!r}.")
        super().__init__(encoder, layer, decoder)
        self.readout = readout

    def __call__(self, graph: GraphBatch) -> jax.Array:
        """(G, out) predictions."""
        h = self.fixed_point(graph).value * graph.node_mask[..., None]
        pooled = h.sum(axis=1)
        if self.readout == "mean":
            pooled = pooled / jnp.maximum(graph.node_mask.sum(axis=1, keepdims=True), 1)
        return self.decoder(pooled)


def build_cgs(
    node_features: int,
    edge_features: int,
    out_features: int,
    *,
    num_heads: int = 64,
    gamma: float = 0.5,
    num_layers: int = 3,
    hidden: int = 64,
    mlp_hidden: Sequence[int] = (128,),
    decoder_hidden: Sequence[int] = (64, 32),
    solver: Solver = "direct",
    tol: float = 1e-6,
    max_iter: int = 50,
    graph_task: bool = False,
    ablate: bool = False,
    rngs: nnx.Rngs,
) -> ConvergentGraphSolver:
    """A CGS with the official GVI configuration by default (64 heads, 3 GN layers, hidden 64,
    encoder MLP [128], decoder [64, 32], LeakyReLU, sum aggregator, gamma 0.5).

    ``ablate=True`` gives the ``gamma = 0`` baseline (``H* = b``) with the same modules.
    """
    encoder = GNStack(
        node_features,
        edge_features,
        num_heads,
        num_heads,
        num_layers=num_layers,
        hidden=hidden,
        mlp_hidden=mlp_hidden,
        rngs=rngs,
    )
    layer = CGSLayer(num_heads, gamma, solver=solver, tol=tol, max_iter=max_iter, ablate=ablate)
    decoder = MLP(num_heads, decoder_hidden, out_features, rngs=rngs)
    if graph_task:
        return GraphTaskCGS(encoder, layer, decoder)
    return ConvergentGraphSolver(encoder, layer, decoder)
