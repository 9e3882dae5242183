"""Neural Tangent Kernel: Convergence and Generalization in Neural Networks."""

__all__: list[str] = []
