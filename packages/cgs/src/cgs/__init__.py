"""Convergent Graph Solvers."""

__all__: list[str] = []
