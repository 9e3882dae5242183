"""Lion Secretly Solves Constrained Optimization: As Lyapunov Predicts."""

__all__: list[str] = []
