"""Test-process settings for the hopfield package.

The tests compile many tiny programs; on CPU, XLA's backend optimisation passes cost more time
than the programs ever run, so they are turned off for this package's test process (results are
the same up to float rounding). Set before any test module imports jax's backend.
"""

import os

_FLAG = "--xla_backend_optimization_level=0"
if _FLAG not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {_FLAG}".strip()
