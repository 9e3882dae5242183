"""One BLAS thread for the small NumPy/SciPy matrices of NOTEARS and TOPO's host steps.

With OpenBLAS's default thread pool, d <= 100 products and ``expm`` calls spend most of their
time synchronising threads, which on a machine shared with other jobs made a NOTEARS run at
d = 5-7 take 20-40 s instead of ~1 s. Without ``threadpoolctl`` this is a no-op.
"""

from __future__ import annotations

import contextlib

try:
    from threadpoolctl import threadpool_limits
except ImportError:  # pragma: no cover
    threadpool_limits = None


def single_thread():
    if threadpool_limits is None:  # pragma: no cover
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")
