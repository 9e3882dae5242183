"""Flow Straight and Fast: Learning to Generate and Transfer Data with Rectified Flow."""

__all__: list[str] = []
