"""A page's run while it works (no Streamlit here): its progress and its handle.

The run itself works in a worker process (:class:`superdiff_core.run_worker.WorkerPool`);
the page polls its handle and redraws :class:`RunProgress`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any


class RunProgress:
    """Progress of a run, written by the thread that reads the worker and read by the page.

    Plain attribute writes are atomic under the GIL; the page only reads them.

    Attributes:
        started: when the run was submitted (``time.perf_counter``).
        done, total: reverse steps done and planned (0 total: not started yet).
        estimate: the plan's estimate of the sampling seconds (None: unknown).
    """

    def __init__(self, estimate: float | None = None) -> None:
        self.started = time.perf_counter()
        self.done = 0
        self.total = 0
        self.phase = "sampling"
        self.estimate = estimate
        self._first: tuple[float, int] | None = None  # (time, steps done) of the first update

    def update(self, done: int, total: int) -> None:
        """The engine's ``progress(done, total)`` callback."""
        if self._first is None:
            self._first = (time.perf_counter(), done)
        self.done, self.total = done, total

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def seconds_left(self) -> float | None:
        """Time left: from the speed since the first step (the loading before it is not
        sampling), or, before two updates, the plan's estimate less the time elapsed."""
        if self._first is not None and self.done > self._first[1]:
            since, first_done = self._first
            rate = (self.done - first_done) / max(time.perf_counter() - since, 1e-6)
            return max(0.0, (self.total - self.done) / rate)
        if self.estimate is not None:
            return max(0.0, self.estimate - self.elapsed)
        return None


class ActiveRun:
    """A run started from a page and kept in the session while it works, so the user can
    look at other pages and come back to its progress (or its result).

    Attributes:
        kind: the page's run kind (``generate``, ``explore``).
        settings: what runs (a :class:`~superdiff_core.settings.GenerationSettings`).
        runs: how many (reference, N) sampling runs it has.
        background: the run's handle (``finished``, ``wait(seconds)``, ``result()``;
            :class:`superdiff_core.run_worker.WorkerRun`).
        progress, cancel: its progress and its stop flag.
        planned: the settings of each model it runs (one per class when the references
            run each on their own class model; else just ``settings``).
    """

    def __init__(
        self, kind: str, settings: Any, runs: int, background: Any, progress: RunProgress, cancel: threading.Event,
        planned: Sequence[Any] = (),
    ) -> None:
        self.kind, self.settings, self.runs = kind, settings, runs
        self.background, self.progress, self.cancel = background, progress, cancel
        self.planned = tuple(planned) or (settings,)

    def stop(self) -> None:
        """Ask the engine to stop at its next step (the finished runs and batches are kept)."""
        self.cancel.set()
