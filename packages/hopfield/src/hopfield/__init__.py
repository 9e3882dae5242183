"""Hopfield Networks is All You Need."""

__all__: list[str] = []
