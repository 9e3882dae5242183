"""The adaptive batch-size schedule: a test proposes a size; batches only grow, up to a cap."""

from __future__ import annotations

import dataclasses
import math
from typing import Literal, NamedTuple

import numpy as np

from jaxpapers_shared import checks

from ._batch_tests import TESTS, BatchSizeProposal, _propose, flatten_per_example
from ._batch_tests import required_batch_size as _required


class ScheduleState(NamedTuple):
    """``batch_size`` for the next step, ``step`` = steps seen, ``last`` = last proposal."""

    batch_size: int
    step: int
    last: BatchSizeProposal | None


@dataclasses.dataclass(frozen=True)
class AdaptiveBatchSchedule:
    """Batch sizes chosen by a test on per-example gradients; never decreasing, capped.

    ``b_{k+1} = min(max_batch, bucket(max(b_k, test(g_1..g_{b_k}))))`` every ``test_interval``
    steps while ``b_k < max_batch`` (the official schedule rule), otherwise ``b_{k+1} = b_k``.

    Args:
      b0: the first batch size (>= 2: a sample variance needs two examples).
      max_batch: the cap (>= b0); for a finite training set, its size (then the run turns into
        full-batch AdaGrad).
      test: ``"norm"`` (AdAdaGrad-Norm), ``"coordinate"`` (AdAdaGrad), ``"inner_product"``,
        ``"orthogonality"`` or ``"augmented"`` (inner product + orthogonality).
      eta: norm / coordinate test constant in (0, 1).
      theta: inner product test constant in (0, 1).
      nu: orthogonality test constant in (0, 1).
      coordinate_floor: guard of the coordinate test, see :func:`coordinate_norm_test`.
      bucket: ``"pow2"`` rounds a grown size up to a power of two, an int ``m`` up to a multiple
        of ``m``, ``None`` keeps it exact. Each distinct size compiles the step once, so buckets
        bound the number of compilations (``~log2(max_batch / b0)`` for ``"pow2"``).
      test_interval: run the test every this many steps (>= 1).
      max_test_batch: evaluate the test on at most this many examples of the batch (the
        statistics are means, so a sub-batch estimates the same quantities); ``None`` = all.

    Raises:
      ValueError: on any argument outside the ranges above, naming it.
    """

    b0: int = 8
    max_batch: int = 2**16
    test: Literal["norm", "inner_product", "orthogonality", "augmented", "coordinate"] = "norm"
    eta: float = 0.1
    theta: float = 0.5
    nu: float = 0.5
    coordinate_floor: float = 1e-2
    bucket: Literal["pow2"] | int | None = "pow2"
    test_interval: int = 1
    max_test_batch: int | None = None

    def __post_init__(self):
        checks.integer(self.b0, "b0", minimum=2)
        if isinstance(self.max_batch, int | np.integer) and not isinstance(self.max_batch, bool):
            if self.max_batch < self.b0:
                raise ValueError(
                    f"`max_batch` must be >= b0 = {self.b0}, got max_batch={self.max_batch}."
                )
        checks.integer(self.max_batch, "max_batch", minimum=self.b0)
        checks.one_of(self.test, "test", TESTS)
        for name in ("eta", "theta", "nu"):
            checks.in_range(getattr(self, name), name, 0.0, 1.0, closed="neither")
        checks.in_range(self.coordinate_floor, "coordinate_floor", 0.0, 1.0)
        if not (self.bucket is None or self.bucket == "pow2"):
            if isinstance(self.bucket, str) or not isinstance(self.bucket, int | np.integer):
                raise ValueError(
                    f"`bucket` must be 'pow2', a positive int or None, got {self.bucket!r}."
                )
            checks.integer(self.bucket, "bucket", minimum=1)
        checks.integer(self.test_interval, "test_interval", minimum=1)
        if self.max_test_batch is not None:
            checks.integer(self.max_test_batch, "max_test_batch", minimum=2)

    @property
    def constants(self) -> dict[str, float]:
        """The test constants, as :func:`required_batch_size` takes them."""
        return dict(
            eta=self.eta, theta=self.theta, nu=self.nu, coordinate_floor=self.coordinate_floor
        )

    def init(self) -> ScheduleState:
        return ScheduleState(self.b0, 0, None)

    def test_due(self, state: ScheduleState) -> bool:
        """Whether the step about to run (``state.step``) evaluates the test."""
        return state.batch_size < self.max_batch and state.step % self.test_interval == 0

    def test_batch_size(self, batch_size: int) -> int:
        """How many examples of a batch of ``batch_size`` the test looks at."""
        if self.max_test_batch is None:
            return batch_size
        return min(batch_size, self.max_test_batch)

    def round_up(self, size: int) -> int:
        """The bucket of ``size`` (before the cap)."""
        if self.bucket is None:
            return size
        if self.bucket == "pow2":
            return 1 << max(0, math.ceil(math.log2(size)))
        return -(-size // self.bucket) * self.bucket

    def advance(self, state: ScheduleState, proposal: BatchSizeProposal | None) -> ScheduleState:
        """The next state, given the proposal of a test run at this step (``None``: no test)."""
        size = state.batch_size
        if proposal is not None:
            grown = max(size, min(proposal.batch_size, self.max_batch))
            if grown > size:
                size = min(self.max_batch, self.round_up(grown))
        return ScheduleState(size, state.step + 1, proposal if proposal else state.last)

    def propose(self, statistic: float, grad_norm_sq: float) -> BatchSizeProposal:
        """A proposal from a test statistic (see :func:`required_batch_size`), capped."""
        return _propose(float(statistic), float(grad_norm_sq), self.max_batch)

    def update(self, state: ScheduleState, per_example_grads) -> ScheduleState:
        """Runs the test on ``per_example_grads`` if due at this step and advances the state.

        Args:
          state: from :meth:`init` or a previous update.
          per_example_grads: pytree with a leading example axis (>= 2 examples) on every leaf.
        """
        if not self.test_due(state):
            return self.advance(state, None)
        flat = flatten_per_example(per_example_grads)
        flat = flat[: self.test_batch_size(flat.shape[0])]
        stat, gsq = _required(flat, self.test, **self.constants)
        return self.advance(state, self.propose(np.asarray(stat), np.asarray(gsq)))
