"""diffGrad: An Optimization Method for Convolutional Neural Networks."""

__all__: list[str] = []
