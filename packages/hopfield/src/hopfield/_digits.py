"""The 8x8 handwritten digits bundled with scikit-learn, read without importing sklearn.datasets.

``sklearn.datasets`` pulls in most of scikit-learn on import (seconds of CPU), a large share of
the quick reproduction's time; the data is one small gzipped CSV file in the installed package.
Falls back to ``sklearn.datasets.load_digits`` if the file moved. Used by the reproduction and
the benchmarks only: scikit-learn comes with the ``reproduce`` extra, and importing this module
without it raises ``ModuleNotFoundError`` for ``sklearn`` (which the reproduction turns into the
install command).
"""

from __future__ import annotations

import functools
import gzip
import importlib.util
from pathlib import Path

import numpy as np

if importlib.util.find_spec("sklearn") is None:
    raise ModuleNotFoundError("load_digits needs scikit-learn's bundled data", name="sklearn")


@functools.cache
def load_digits() -> tuple[np.ndarray, np.ndarray]:
    """Returns ``(images (1797, 64) float32 in [0, 16], labels (1797,) int)``."""
    spec = importlib.util.find_spec("sklearn")
    roots = spec.submodule_search_locations if spec is not None else None
    path = Path(next(iter(roots))) / "datasets" / "data" / "digits.csv.gz" if roots else None
    if path is not None and path.exists():
        with gzip.open(path, "rt") as f:
            data = np.loadtxt(f, delimiter=",", dtype=np.float32)
        return data[:, :-1], data[:, -1].astype(int)
    from sklearn.datasets import load_digits as sklearn_load_digits

    digits = sklearn_load_digits()
    return digits.data.astype(np.float32), digits.target
