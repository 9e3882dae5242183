"""jaxpapers-shared: the thin common layer of the jaxpapers packages.

Modules (import the one you need; this package re-exports nothing so that importing it is cheap):

* ``implicit``: fixed points, roots, argmins and an equality-constrained QP, differentiable by the
  implicit function theorem.
* ``linear_solve``: matrix-free CG, GMRES, BiCGStab, Neumann series, and a dense reference solve,
  each returning its solution with a status (iterations, residual, converged).
* ``devices``: a mesh over the devices, batch sharding, replication, a data-parallel train step.
* ``experiment``: the reproduction harness (claims, CLI, results.json, figures, progress).
* ``timing``: compiled-code timing and memory for ``bench.py`` files.
* ``curvature``: Hessian-vector products, Lanczos, stochastic Lanczos quadrature, Hutchinson trace
  and power iteration, matrix-free over pytrees of parameters.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
