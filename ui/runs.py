"""Running a generation in the background of a page (no Streamlit here).

The engine's :func:`superdiff_core.run.run_generation` runs on a daemon thread
(:class:`BackgroundRun`); the page polls it and redraws :class:`RunProgress`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

# ---------------------------------------------------------------------------------------
# Running a generation in the background
# ---------------------------------------------------------------------------------------


class RunProgress:
    """Progress of a background run, written by the worker and read by the page.

    Plain attribute writes are atomic under the GIL; the page only reads them.
    """

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.done = 0
        self.total = 0
        self.phase = "sampling"

    def update(self, done: int, total: int) -> None:
        """The engine's ``progress(done, total)`` callback."""
        self.done, self.total = done, total

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.started


class BackgroundRun:
    """Runs ``function(*args)`` on a daemon thread and keeps its result or exception.

    The page polls :attr:`finished` and redraws its progress in between, so the
    elapsed time keeps moving even when one sampling step takes long. The thread keeps
    going when the user opens another page; Stop sets the engine's cancel flag.
    """

    def __init__(self, function: Callable[..., Any], *args: Any) -> None:
        self._result: Any = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(function, *args), daemon=True, name="superdiff-run")
        self._thread.start()

    def _run(self, function: Callable[..., Any], *args: Any) -> None:
        try:
            self._result = function(*args)
        except BaseException as error:  # handed to the page, which decides what to show
            self._error = error

    @property
    def finished(self) -> bool:
        return not self._thread.is_alive()

    def wait(self, seconds: float) -> bool:
        """Wait up to ``seconds``; True when finished."""
        self._thread.join(seconds)
        return self.finished

    def result(self) -> Any:
        """The function's return value; re-raises its exception."""
        if self._error is not None:
            raise self._error
        return self._result


class ActiveRun:
    """A run started from a page and kept in the session while it works, so the user can
    look at other pages and come back to its progress (or its result).

    Attributes:
        kind: the page's run kind (``generate``, ``explore``).
        settings: what runs (a :class:`~superdiff_core.pipeline.GenerationSettings`).
        runs: how many (reference, N) sampling runs it has.
        planned: the settings of each model it runs (one per class when the references
            run each on their own class model; else just ``settings``).
        background, progress, cancel: the worker thread, its progress and its stop flag.
    """

    def __init__(
        self, kind: str, settings: Any, runs: int, function: Callable[[RunProgress, threading.Event], Any],
        planned: Sequence[Any] = (),
    ) -> None:
        self.kind, self.settings, self.runs = kind, settings, runs
        self.planned = tuple(planned) or (settings,)
        self.progress, self.cancel = RunProgress(), threading.Event()
        self.background = BackgroundRun(function, self.progress, self.cancel)

    def stop(self) -> None:
        """Ask the engine to stop at its next step (the finished runs are kept)."""
        self.cancel.set()
