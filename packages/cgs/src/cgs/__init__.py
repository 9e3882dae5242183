"""CGS: Convergent Graph Solvers (Park, Choo & Park, ICLR 2022, arXiv:2106.01680).

An encoder emits, for every input graph, a contracting linear map ``T(H) = gamma A H + b``
whose fixed point (which always exists, by Banach) is decoded into stationary node or graph
properties; gradients come from the implicit function theorem, never from unrolling.
"""

from ._baselines import MPNN, count_parameters
from ._data import NodeTask, graph_value_iteration, pagerank_problem, value_iteration
from ._graphs import GraphBatch, check_graph_batch, pack_graphs, pad_graphs
from ._layers import (
    MLP,
    CGSLayer,
    ConvergentGraphSolver,
    GNStack,
    GraphTaskCGS,
    build_cgs,
)
from ._metrics import mape, policy_accuracy, relative_l2, within_graph_r2
from ._solve import banach_iteration_bound, solve_transition, unrolled_fixed_point
from ._transition import Transition, apply_transition, build_transition, dense_matrix

__all__ = [
    "MLP",
    "MPNN",
    "CGSLayer",
    "ConvergentGraphSolver",
    "GNStack",
    "GraphBatch",
    "GraphTaskCGS",
    "NodeTask",
    "Transition",
    "apply_transition",
    "banach_iteration_bound",
    "build_cgs",
    "build_transition",
    "check_graph_batch",
    "count_parameters",
    "dense_matrix",
    "graph_value_iteration",
    "mape",
    "pack_graphs",
    "pad_graphs",
    "pagerank_problem",
    "policy_accuracy",
    "relative_l2",
    "solve_transition",
    "unrolled_fixed_point",
    "value_iteration",
    "within_graph_r2",
]
