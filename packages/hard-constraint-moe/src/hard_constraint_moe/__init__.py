"""Scaling physics-informed hard constraints with mixture-of-experts."""

__all__: list[str] = []
