"""Hopfield Networks is All You Need (Ramsauer et al., ICLR 2021, arXiv:2008.02217).

Authors: H. Ramsauer, B. Schäfl, J. Lehner, P. Seidl, M. Widrich, T. Adler, L. Gruber,
M. Holzleitner, M. Pavlović, G. K. Sandve, V. Greiff, D. Kreil, M. Kopp, G. Klambauer,
J. Brandstetter, S. Hochreiter.

The modern continuous Hopfield network: an energy whose concave-convex update rule
``xi <- X softmax(beta X^T xi)`` is transformer attention, retrieves well-separated patterns in
one step and stores exponentially many patterns; plus the Flax NNX layers ``Hopfield``,
``HopfieldPooling`` and ``HopfieldLayer`` with the options of the official ``hflayers``.
"""

from ._classical import classical_retrieve
from ._layers import Hopfield, HopfieldLayer, HopfieldPooling
from ._memory import RetrievalResult, energy, retrieve, update
from ._theory import CapacityBound, capacity_bound, head_k_statistic, separation, well_separated

__all__ = [
    "CapacityBound",
    "Hopfield",
    "HopfieldLayer",
    "HopfieldPooling",
    "RetrievalResult",
    "capacity_bound",
    "classical_retrieve",
    "energy",
    "head_k_statistic",
    "retrieve",
    "separation",
    "update",
    "well_separated",
]
