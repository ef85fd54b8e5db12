"""Generation runs in worker processes, apart from the front end's interpreter.

The app's server runs its pages in one Python interpreter; sampling there competes with
every redraw for the interpreter lock. A :class:`WorkerPool` keeps long-lived worker
processes instead (started with ``spawn``: nothing of the server is shared), each with all
cores but one for torch. A worker loads a class's engine and optional models the first
time it runs (or warms) that class and keeps them for every later run, so a run costs only
its own sampling and scoring.

A run is submitted as a :class:`RunRequest`; the returned :class:`WorkerRun` is polled like
a thread (``finished``, ``wait``, ``result``). Its progress arrives as ``progress(done,
total)`` calls in the front end's process; setting its cancel flag stops the sampler at its
next step in the worker (the finished runs and batches are returned, marked partial). A
worker that does not answer within :data:`STOP_GRACE_SECONDS` of a stop is terminated, and
:meth:`WorkerPool.shutdown` (or the front end's exit: the workers are daemons, and a worker
whose front end is gone sees its pipe close and exits) leaves no process behind.

The pool also keeps the measured cost of a network call per model class and guide
(:meth:`WorkerPool.call_cost`, a :class:`~superdiff_core.run_plan.CallCost`): from two tiny
timed calls when a class is warmed, measured again every :data:`RECALIBRATE_S`.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .composition import ParsedFormula
from .device import default_precision
from .guidance import build_guide
from .guidance_weights import GuidanceWeights
from .pipeline import load_engine
from .run import load_run_models, run_generation, run_generation_per_class
from .run_plan import CallCost, cost_from_two_batches, cost_key
from .sampler import SamplingCancelled
from .settings import DEFAULT_ELEMENT_ORDER, GenerationSettings

THREADS_VARIABLE = "SUPERDIFF_TORCH_THREADS"
"""Torch intra-op threads of each worker (default: :func:`default_worker_threads`)."""

WORKERS_VARIABLE = "SUPERDIFF_RUN_WORKERS"
"""Most worker processes a pool starts (default :data:`DEFAULT_MAX_WORKERS`); runs beyond
it wait for a free worker."""

DEFAULT_MAX_WORKERS = 2
"""Two workers: a second session's run does not wait behind a long one, and each idle
worker holds its loaded models (several hundred MB) only once."""

RECALIBRATE_S = 600.0
"""A measured call cost older than this is measured again (the machine's load changes). A
finished run's own time is not used: it includes screening, which grows with other things
than the network calls."""

STOP_GRACE_SECONDS = 30.0
"""A worker that has not returned this long after a stop is terminated."""

PROGRESS_INTERVAL_S = 0.05
"""Progress messages from a worker are sent at most this often (and at the last step)."""

CALIBRATION_BATCHES, CALIBRATION_STEPS = (8, 256), 4
"""The two tiny sampling calls timed when a class is warmed (samples each, steps), before
any run has measured it: the fixed and the per-sample cost of a call."""


def default_worker_threads() -> int:
    """All cores but one (at least one): the front end keeps a core for its pages."""
    return max(1, (os.cpu_count() or 1) - 1)


def configured_threads() -> int:
    """``SUPERDIFF_TORCH_THREADS`` when it is a positive whole number, else :func:`default_worker_threads`."""
    value = os.environ.get(THREADS_VARIABLE, "").strip()
    return int(value) if value.isdigit() and int(value) > 0 else default_worker_threads()


def configured_max_workers() -> int:
    """``SUPERDIFF_RUN_WORKERS`` when it is a positive whole number, else :data:`DEFAULT_MAX_WORKERS`."""
    value = os.environ.get(WORKERS_VARIABLE, "").strip()
    return int(value) if value.isdigit() and int(value) > 0 else DEFAULT_MAX_WORKERS


@dataclass
class RunRequest:
    """One generation as a front end asks for it (sent to a worker; everything picklable).

    Attributes:
        models_dir: the models folder.
        settings: what to run (its references parsed).
        groups: with several classes, the references of each class (each runs on its own
            class's model, :func:`superdiff_core.run.run_generation_per_class`); else empty.
        kind: ``generate`` or ``explore`` (recorded; ``explore`` also evaluates Table 1).
    """

    models_dir: str
    settings: GenerationSettings
    groups: Mapping[str, Sequence[ParsedFormula]] = field(default_factory=dict)
    kind: str = "generate"


# ---------------------------------------------------------------------------------------
# The worker process
# ---------------------------------------------------------------------------------------


class _Loaded:
    """What one worker has loaded, per models folder and class (kept for later runs)."""

    def __init__(self) -> None:
        self.engines: dict[tuple[str, str, str], Any] = {}
        self.models: dict[tuple[str, str], Any] = {}

    def engine(self, folder: str, model_class: str, element_order: str = DEFAULT_ELEMENT_ORDER):
        key = (folder, model_class, element_order)
        if key not in self.engines:
            self.engines[key] = load_engine(model_class, folder, element_order=element_order)
        return self.engines[key]

    def run_models(self, folder: str, model_class: str):
        key = (folder, model_class)
        if key not in self.models:
            self.models[key] = load_run_models(folder, model_class)
        return self.models[key]


def _calibrate(loaded: _Loaded, folder: str, model_class: str, guidance: GuidanceWeights) -> CallCost:
    """The cost of one network call from two tiny timed calls, a small and a large batch
    (with the guide when guided)."""
    engine = loaded.engine(folder, model_class)
    guide = build_guide(guidance, loaded.run_models(folder, model_class).property_models) if guidance.active else None
    precision = default_precision()  # a run's own, unless its settings name another
    engine.sampler.sample(8, 2, seed=0, guide=guide, precision=precision)  # first calls pay one-off costs
    timed = []
    for samples in CALIBRATION_BATCHES:
        start = time.perf_counter()
        engine.sampler.sample(samples, CALIBRATION_STEPS, seed=0, guide=guide, precision=precision)
        timed += [samples, (time.perf_counter() - start) / CALIBRATION_STEPS]
    return cost_from_two_batches(*timed)


def _run(loaded: _Loaded, request: RunRequest, progress: Callable[[int, int], None], cancel) -> Any:
    """The request's record (or records, one per class) in this process."""
    folder, settings = request.models_dir, request.settings
    order = settings.resolved().element_order
    if len(request.groups) > 1:
        return run_generation_per_class(
            lambda c: loaded.engine(folder, c, order), settings, request.groups, lambda c: loaded.run_models(folder, c),
            kind=request.kind, progress=progress, cancel=cancel, keep_partial=True,
        )
    return run_generation(
        loaded.engine(folder, settings.model_class, order), settings, loaded.run_models(folder, settings.model_class),
        kind=request.kind, evaluate=request.kind == "explore", progress=progress, cancel=cancel, keep_partial=True,
    )


def _worker_main(connection, cancel, threads: int) -> None:
    """A worker's loop: answer ``("warm", ...)`` and ``("run", request)`` messages one at a
    time until ``("shutdown",)`` or the front end's end of the pipe closes."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch is imported: idle OpenMP threads sleep
    import warnings

    import torch

    torch.set_num_threads(threads)
    warnings.filterwarnings("ignore", message=r"scale factor N = \d+ > 4", category=UserWarning)  # the page warns itself
    loaded = _Loaded()
    last = [0.0]

    def progress(done: int, total: int) -> None:
        now = time.perf_counter()
        if done >= total or now - last[0] >= PROGRESS_INTERVAL_S:
            last[0] = now
            connection.send(("progress", done, total))

    while True:
        try:
            message = connection.recv()
        except (EOFError, OSError):  # the front end is gone
            return
        if message[0] == "shutdown":
            return
        try:
            if message[0] == "warm":
                reply = ("warmed", _calibrate(loaded, *message[1:]))
            else:
                reply = ("result", _run(loaded, message[1], progress, cancel))
        except BaseException as error:  # handed to the front end, which decides what to show
            reply = ("error", _picklable(error))
        try:
            connection.send(reply)
        except (BrokenPipeError, OSError):
            return
        if message[0] == "warm":  # the estimate is answered; the run's optional models load before the next message
            try:
                loaded.run_models(message[1], message[2])
            except Exception:  # noqa: BLE001 (optional models: the run says what is missing)
                pass


def _picklable(error: BaseException) -> BaseException:
    """``error`` itself when it survives pickling, else a RuntimeError with its text."""
    import pickle

    try:
        pickle.loads(pickle.dumps(error))
        return error
    except Exception:
        return RuntimeError(f"{type(error).__name__}: {error}")


# ---------------------------------------------------------------------------------------
# The front end's side
# ---------------------------------------------------------------------------------------


class WorkerRun:
    """A submitted run as the front end sees it: polled like a thread.

    Attributes:
        cancel: the stop flag (``threading.Event``); set it to stop the run at its next step.
        waiting: True while the run waits for a free worker.
    """

    def __init__(self, request: RunRequest | None, progress: Callable[[int, int], None] | None, cancel: threading.Event) -> None:
        self.request, self.progress, self.cancel = request, progress, cancel
        self.waiting = True
        self.worker_pid: int | None = None
        self._done = threading.Event()
        self._result: Any = None
        self._error: BaseException | None = None

    def _finish(self, result: Any = None, error: BaseException | None = None) -> None:
        self._result, self._error = result, error
        self._done.set()

    @property
    def finished(self) -> bool:
        return self._done.is_set()

    def wait(self, seconds: float) -> bool:
        """Wait up to ``seconds``; True when finished."""
        return self._done.wait(seconds)

    def result(self) -> Any:
        """The run's record (or records, one per class); re-raises the run's exception
        (:class:`~superdiff_core.sampler.SamplingCancelled` when stopped before it started)."""
        if self._error is not None:
            raise self._error
        return self._result


@dataclass
class _Job:
    kind: str  # "run" or "warm"
    run: WorkerRun | None = None
    warm: tuple | None = None


class _Worker:
    """One worker process and the thread that feeds it jobs and reads its answers."""

    def __init__(self, pool: WorkerPool) -> None:
        context = multiprocessing.get_context("spawn")
        self.pool = pool
        self.connection, child = context.Pipe()
        self.cancel = context.Event()
        self.process = context.Process(target=_worker_main, args=(child, self.cancel, pool.threads), daemon=True, name="superdiff-worker")
        self.process.start()
        child.close()
        self.jobs: list[_Job] = []
        self.classes: set[str] = set()  # loaded, or about to be
        self.busy = False
        self.alive = True
        self._wake = threading.Condition(pool.lock)
        self._thread = threading.Thread(target=self._serve, daemon=True, name="superdiff-worker-feed")
        self._thread.start()

    @property
    def load(self) -> int:
        """Jobs queued or running."""
        return len(self.jobs) + int(self.busy)

    def add(self, job: _Job) -> None:
        """Queue ``job`` (the pool's lock is held)."""
        self.jobs.append(job)
        if job.kind == "run":
            self.classes.update(job.run.request.groups or (job.run.request.settings.model_class,))
        else:
            self.classes.add(job.warm[1])
        self._wake.notify()

    def _serve(self) -> None:
        while True:
            with self.pool.lock:
                while not self.jobs and self.alive:
                    self._wake.wait()
                if not self.alive:
                    break
                job = self.jobs.pop(0)
                self.busy = True
            try:
                self._do(job)
            finally:
                with self.pool.lock:
                    self.busy = False
        for job in self.jobs:  # the worker ended: what still waits for it is refused
            if job.run is not None:
                job.run._finish(error=RuntimeError("the worker process ended before the run started"))

    def _do(self, job: _Job) -> None:
        if job.kind == "warm":
            answer = self._exchange(("warm", *job.warm), None)
            self.pool._warmed((job.warm[1], job.warm[2].to_text()), answer[1] if answer and answer[0] == "warmed" else None)
            return
        run = job.run
        if run.cancel.is_set():
            run._finish(error=SamplingCancelled("stopped before it started"))
            return
        run.waiting, run.worker_pid = False, self.process.pid
        self.cancel.clear()
        answer = self._exchange(("run", run.request), run)
        if answer is None:
            return
        if answer[0] == "result":
            run._finish(result=answer[1])
        else:
            run._finish(error=answer[1])

    def _exchange(self, message: tuple, run: WorkerRun | None) -> tuple | None:
        """Send ``message`` and read until its final answer, forwarding progress and the stop
        flag of ``run``; None (and ``run`` finished with an error) when the worker died."""
        stopped_at = None
        try:
            self.connection.send(message)
            while True:
                if run is not None and run.cancel.is_set():  # checked between messages: progress arrives all the time
                    self.cancel.set()
                    stopped_at = stopped_at or time.monotonic()
                    if time.monotonic() - stopped_at > STOP_GRACE_SECONDS:
                        self.stop(terminate=True)
                        run._finish(error=SamplingCancelled("the worker did not stop in time and was ended"))
                        return None
                if not self.connection.poll(0.1):
                    if not self.process.is_alive():
                        raise EOFError
                    continue
                answer = self.connection.recv()
                if answer[0] == "progress":
                    if run is not None and run.progress is not None:
                        run.progress(answer[1], answer[2])
                    continue
                return answer
        except (EOFError, OSError):
            self.stop(terminate=True)
            if run is not None:
                run._finish(error=RuntimeError(f"the run's worker process ended unexpectedly (exit code {self.process.exitcode})"))
            return None

    def stop(self, terminate: bool = False, timeout: float = 5.0) -> None:
        """End the process: ask it to (or terminate it), then wait up to ``timeout``."""
        with self.pool.lock:
            self.alive = False
            self._wake.notify()
            if self in self.pool.workers:
                self.pool.workers.remove(self)
        if not terminate:
            try:
                self.connection.send(("shutdown",))
            except (BrokenPipeError, OSError):
                pass
            self.process.join(timeout)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(timeout)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(timeout)
        self.connection.close()


class WorkerPool:
    """Long-lived worker processes that run generations (see the module docstring).

    Args:
        max_workers: most processes started (default :func:`configured_max_workers`).
        threads: torch threads of each (default :func:`configured_threads`).
    """

    def __init__(self, max_workers: int | None = None, threads: int | None = None) -> None:
        self.max_workers = max_workers or configured_max_workers()
        self.threads = threads or configured_threads()
        self.lock = threading.Lock()
        self.workers: list[_Worker] = []
        self._costs: dict[tuple[str, str], tuple[CallCost, float]] = {}  # key -> (cost, when measured)
        self._cost_ready = threading.Condition(self.lock)
        self._warming: set[tuple[str, str]] = set()

    # -- choosing a worker ------------------------------------------------------------

    def _worker_for(self, model_class: str) -> _Worker:
        """The worker for a job of ``model_class`` (the lock is held): an idle one that has
        the class, else one that is only warming it, else any idle one, else a new one
        (below the limit), else the least loaded."""
        idle = [w for w in self.workers if w.load == 0]
        warming = [w for w in self.workers if not w.busy and all(j.kind == "warm" for j in w.jobs) and model_class in w.classes]
        for candidates in ([w for w in idle if model_class in w.classes], warming, idle):
            if candidates:
                return candidates[0]
        if len(self.workers) < self.max_workers:
            self.workers.append(_Worker(self))
            return self.workers[-1]
        return min(self.workers, key=lambda w: w.load)

    def submit(self, request: RunRequest, progress: Callable[[int, int], None] | None = None,
               cancel: threading.Event | None = None) -> WorkerRun:
        """Run ``request`` in a worker; returns its handle at once."""
        run = WorkerRun(request, progress, cancel or threading.Event())
        with self.lock:
            self._worker_for(request.settings.model_class).add(_Job("run", run=run))
        return run

    def warm(self, models_dir: str, model_class: str, guidance: GuidanceWeights | None = None) -> None:
        """Load ``model_class`` in a worker and time one tiny call (non-blocking; nothing
        when it is measured or being measured already)."""
        guidance = guidance or GuidanceWeights()
        key = (model_class, guidance.to_text())
        with self.lock:
            measured = self._costs.get(key)
            if key in self._warming or (measured is not None and time.monotonic() - measured[1] < RECALIBRATE_S):
                return
            self._warming.add(key)
            self._worker_for(model_class).add(_Job("warm", warm=(str(models_dir), model_class, guidance)))

    # -- measured costs ---------------------------------------------------------------

    def call_cost(self, models_dir: str, settings: GenerationSettings, timeout: float = 0.0) -> CallCost | None:
        """The measured cost of one network call for ``settings``'s class and guide (the
        latest warm-up's; one older than :data:`RECALIBRATE_S` is measured again in the
        background). Warms the class when unknown and waits up to ``timeout`` seconds; None
        when still unknown."""
        key = cost_key(settings)
        self.warm(models_dir, settings.model_class, settings.guidance)
        deadline = time.monotonic() + timeout
        with self.lock:
            while key not in self._costs and key in self._warming and time.monotonic() < deadline:
                self._cost_ready.wait(max(0.0, deadline - time.monotonic()))
            measured = self._costs.get(key)
        return None if measured is None else measured[0]

    def _warmed(self, key: tuple[str, str], cost: CallCost | None) -> None:
        """A warm-up answered (``cost``: what it measured; None when it failed)."""
        with self.lock:
            if cost is not None:
                self._costs[key] = (cost, time.monotonic())
            self._warming.discard(key)
            self._cost_ready.notify_all()

    # -- ending ----------------------------------------------------------------------

    @property
    def pids(self) -> list[int]:
        """Process ids of the workers now running."""
        with self.lock:
            return [w.process.pid for w in self.workers if w.process.pid is not None]

    def shutdown(self) -> None:
        """Stop every worker (runs in progress end with an error) and wait for them."""
        with self.lock:
            workers = list(self.workers)
        for worker in workers:
            worker.stop()

