"""Optimizing NOTEARS Objectives via Topological Swaps (TOPO), in JAX.

Chang Deng, Kevin Bello, Bryon Aragam, Pradeep Ravikumar. ICML 2023. arXiv:2305.17277.

TOPO minimises a NOTEARS score over topological orders: fit the best DAG consistent with an
order (a masked least-squares or logistic regression per node), then swap node pairs ranked by
the acyclicity gradient w.r.t. the adjacency. Also: a NOTEARS-linear baseline, linear-SEM
simulation and SHD/TPR/FDR metrics.
"""

from ._notears import NotearsResult, notears_linear
from ._order import (
    break_cycles,
    candidate_pairs,
    order_from_dag,
    order_to_mask,
    path_weights,
    swap_order,
)
from ._sem import count_accuracy, refit_score, simulate_dag, simulate_linear_sem, simulate_parameter
from ._topo import TOPO, TopoResult, default_sizes, fit_given_order, refit_span, score_of, topo_fit

__all__ = [
    "TOPO",
    "NotearsResult",
    "TopoResult",
    "break_cycles",
    "candidate_pairs",
    "count_accuracy",
    "default_sizes",
    "fit_given_order",
    "notears_linear",
    "order_from_dag",
    "order_to_mask",
    "path_weights",
    "refit_score",
    "refit_span",
    "score_of",
    "simulate_dag",
    "simulate_linear_sem",
    "simulate_parameter",
    "swap_order",
    "topo_fit",
]
