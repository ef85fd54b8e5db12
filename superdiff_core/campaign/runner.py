"""Running a campaign's pending shards on Ray.

:func:`run_campaign` connects to Ray (:func:`connect`: a local Ray started on this
machine by default, all cores; ``address`` joins a running cluster), starts a pool of
:class:`ShardWorker` actors — each loads the engine and the run models once and then runs
shard after shard with one torch thread (or on one GPU when the cluster has GPUs) — and
writes each finished shard's Parquet file from the driver, atomically, as results arrive.
The campaign folder therefore only needs to exist on the driver's machine; the models
folder must exist at the same path on every node.

A worker that dies is restarted by Ray and its shard retried (shards are seeded, so the
retry gives the same rows); Ctrl-C or SIGTERM stops the run after recording the finished
shards, and a rerun resumes (:func:`superdiff_core.campaign.store.open_campaign`). One
thing this module cannot silence without hiding real errors: a SIGTERM sent to the whole
process group (not only the driver) also kills Ray's workers and GCS at the same moment,
and Ray's C++ in the driver then sometimes logs ``task_manager.cc: Failed to push error to
driver`` lines for the shards that were in flight (Ray 2.60, about one stop in six).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..artifacts import DEFAULT_MODELS_DIR
from ..device import select_device
from ..errors import InputError
from .plan import CampaignPlan, Shard, plan_from_mapping
from .shard import load_shard_context, run_shard, shard_record_of, with_record_fields
from .store import Campaign, write_shard

ADDRESS_TIMEOUT_S = 3.0
"""How long the driver waits for a cluster address to answer before giving up."""

TASKS_IN_FLIGHT_PER_WORKER = 2
"""Shards queued on each worker, so it never waits for the driver between shards."""

ShardCallback = Callable[[dict[str, Any]], None]
"""Called with each finished shard's record (rows, seconds, stages …)."""


class StopRequested(KeyboardInterrupt):
    """SIGTERM during :func:`run_campaign`, raised in the driver like Ctrl-C's
    KeyboardInterrupt so that both stop the same way (finished shards kept, actors stopped).

    Attributes:
        signal_number: the signal received (``signal.SIGTERM``).
    """

    def __init__(self, signal_number: int):
        super().__init__(f"signal {signal_number}")
        self.signal_number = signal_number


@contextlib.contextmanager
def sigterm_stops_the_run() -> Iterator[None]:
    """Within the block, SIGTERM raises :class:`StopRequested` in the main thread.

    Entered after Ray has started: Ray's driver installs a C++ handler that prints a stack
    trace and aborts on SIGTERM; this one replaces it for the run and puts it back after.
    A SIGTERM that arrives while the driver waits inside Ray's C++ (``ray.wait``) comes out
    of Ray as a plain KeyboardInterrupt; it leaves the block as :class:`StopRequested` too,
    so the caller can tell SIGTERM from Ctrl-C. Does nothing outside the main thread (where
    Python cannot take signals).
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    received: list[int] = []

    def stop(signal_number: int, frame: object) -> None:
        if not received:  # a second SIGTERM while the actors are being stopped is ignored
            received.append(signal_number)
            raise StopRequested(signal_number)

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    except KeyboardInterrupt as interrupt:
        if received and not isinstance(interrupt, StopRequested):
            raise StopRequested(received[0]) from None
        raise
    finally:
        signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)


def stop_actors(actors: list[Any], in_flight: Iterable[Any]) -> None:
    """Cancel the shards still in flight, then kill the actors.

    Cancelling first matters: a killed actor's queued tasks would otherwise be retried
    (``max_task_retries``), and Ray prints a "will be retried" line for each.
    """
    import ray

    for reference in in_flight:
        with contextlib.suppress(Exception):  # already finished, or the actor is gone
            ray.cancel(reference)
    for actor in actors:
        ray.kill(actor, no_restart=True)


class ShardWorker:
    """A Ray actor body: the engine and models of one plan, loaded once, then shards.

    Args:
        plan_dict: :meth:`CampaignPlan.to_dict` (plain data travels to remote nodes).
        models_dir: the models folder (the same path on every node).
        use_gpu: run on the GPU Ray assigned to this actor.
    """

    def __init__(self, plan_dict: dict[str, Any], models_dir: str, use_gpu: bool = False):
        import torch


        torch.set_num_threads(1)
        plan = plan_from_mapping(plan_dict)
        self.context = load_shard_context(plan, models_dir, select_device(force_cpu=not use_gpu))
        self.pid = os.getpid()

    def run(self, shard: Shard):
        """One shard's Arrow table (see :func:`superdiff_core.campaign.shard.run_shard`); its
        record names the Ray node that ran it."""
        import ray

        return with_record_fields(run_shard(self.context, shard), node=ray.get_runtime_context().get_node_id())

    def where(self) -> tuple[str, int]:
        """(node id, process id) of this worker."""
        import ray

        return ray.get_runtime_context().get_node_id(), self.pid


def check_address(address: str, timeout_s: float = ADDRESS_TIMEOUT_S) -> None:
    """Fail in seconds, with one line, when nothing answers at a cluster address
    (``host:port`` or ``ray://host:port``; ``auto`` is left to Ray)."""
    if address == "auto":
        return
    target = address.split("://", 1)[-1]
    host, _, port_text = target.rpartition(":")
    if not host or not port_text.isdigit():
        raise InputError(f"--address must be host:port (or ray://host:port or auto), got {address!r}")
    try:
        with socket.create_connection((host, int(port_text)), timeout=timeout_s):
            pass
    except OSError as error:
        raise InputError(f"no Ray cluster answers at {address}: {error.strerror or error}") from None


@dataclass
class RayConnection:
    """A Ray session: whether this call started it (and so must shut it down)."""

    started_here: bool

    def close(self) -> None:
        import ray

        if self.started_here and ray.is_initialized():
            ray.shutdown()


def connect(address: str | None = None, num_cpus: int | None = None) -> RayConnection:
    """Connect to Ray: reuse a session already open in this process, else join the cluster
    at ``address``, else start Ray on this machine with ``num_cpus`` CPUs (default: all)."""
    import logging

    import ray

    if ray.is_initialized():
        return RayConnection(started_here=False)
    if address:
        check_address(address)
        try:
            ray.init(address=address, logging_level=logging.ERROR, log_to_driver=False)
        except (ConnectionError, RuntimeError, ValueError) as error:
            raise InputError(f"cannot join the Ray cluster at {address}: {str(error).splitlines()[0]}") from None
    else:
        ray.init(num_cpus=num_cpus or os.cpu_count() or 1, include_dashboard=False,
                 logging_level=logging.ERROR, log_to_driver=False)
    return RayConnection(started_here=True)


def worker_layout(requested: int | None = None) -> tuple[int, float, float]:
    """(workers, CPUs per worker, GPUs per worker) for the connected cluster: one worker
    per GPU when it has GPUs, else one per CPU; ``requested`` caps the count."""
    import ray

    resources = ray.cluster_resources()
    gpus = int(resources.get("GPU", 0))
    cpus = max(1, int(resources.get("CPU", 1)))
    if gpus:
        return (min(requested, gpus) if requested else gpus), 1.0, 1.0
    return (min(requested, cpus) if requested else cpus), 1.0, 0.0


@dataclass
class RunSummary:
    """What one :func:`run_campaign` call did.

    Attributes:
        shards_run: shards finished by this call.
        shards_skipped: shards already finished before it (resume).
        candidates: rows written by this call.
        seconds: wall time of the call, including worker start-up.
        startup_seconds: from the call to the first shard result (Ray + model loading).
        workers: actors used; nodes: distinct Ray nodes that ran shards.
    """

    shards_run: int
    shards_skipped: int
    candidates: int
    seconds: float
    startup_seconds: float
    workers: int
    nodes: int


def run_campaign(
    campaign: Campaign,
    *,
    models_dir: str | os.PathLike = DEFAULT_MODELS_DIR,
    address: str | None = None,
    workers: int | None = None,
    num_cpus: int | None = None,
    on_shard: ShardCallback | None = None,
) -> RunSummary:
    """Run every pending shard of ``campaign`` on Ray and record each as it finishes.

    Args:
        campaign: from :func:`superdiff_core.campaign.store.open_campaign`.
        models_dir: the models folder (same path on every node).
        address: a Ray cluster to join (None: this machine, or the session already open).
        workers: at most this many actors (default: one per CPU, or per GPU).
        num_cpus: CPUs of a local Ray started here (default: all).
        on_shard: called with each finished shard's record.

    On KeyboardInterrupt (Ctrl-C) or SIGTERM (:class:`StopRequested`, a KeyboardInterrupt)
    the finished shards are recorded, the shards in flight cancelled, the actors stopped and
    the interrupt re-raised; the next call resumes.
    """
    import ray

    start = time.perf_counter()
    pending = campaign.pending()
    skipped = len(campaign.shards) - len(pending)
    campaign.manifest["session_started_at"] = time.time()
    campaign.manifest["state"] = "running" if pending else "finished"
    campaign.save_manifest()
    if not pending:
        return RunSummary(0, skipped, 0, time.perf_counter() - start, 0.0, 0, 0)
    connection = connect(address, num_cpus)
    actors: list[Any] = []
    in_flight: dict[Any, int] = {}
    candidates = 0
    first_result = None
    nodes: set[str] = set()
    done = 0
    with sigterm_stops_the_run():
        try:
            count, cpus, gpus = worker_layout(workers)
            count = min(count, len(pending))
            actor_class = ray.remote(num_cpus=cpus, num_gpus=gpus, max_restarts=3, max_task_retries=3)(ShardWorker)
            actors = [actor_class.remote(campaign.plan.to_dict(), str(Path(models_dir).resolve()), gpus > 0) for _ in range(count)]
            queue = list(pending)

            def submit(actor_index: int) -> None:
                if queue:
                    in_flight[actors[actor_index].run.remote(queue.pop(0))] = actor_index

            for _ in range(TASKS_IN_FLIGHT_PER_WORKER):
                for index in range(count):
                    submit(index)
            while in_flight:
                ready, _ = ray.wait(list(in_flight), num_returns=1, timeout=0.5)
                for reference in ready:
                    actor_index = in_flight.pop(reference)
                    table = ray.get(reference)
                    write_shard(campaign.folder, table)
                    record = shard_record_of(table)
                    campaign.mark_done(record)
                    campaign.save_manifest()
                    candidates += record["rows"]
                    nodes.add(record.get("node", ""))
                    done += 1
                    first_result = first_result if first_result is not None else time.perf_counter() - start
                    if on_shard is not None:
                        on_shard(record)
                    submit(actor_index)
            campaign.manifest["state"] = "finished" if not campaign.pending() else "stopped"
        except BaseException:
            campaign.manifest["state"] = "stopped"
            raise
        finally:
            campaign.save_manifest()
            stop_actors(actors, in_flight)
            connection.close()
    return RunSummary(done, skipped, candidates, time.perf_counter() - start, first_result or 0.0, len(actors), len(nodes))


def run_plan_here(plan: CampaignPlan, shards: list[Shard], models_dir: str | os.PathLike = DEFAULT_MODELS_DIR,
                  threads: int = 1) -> list:
    """Run shards in this process, without Ray (the benchmark's baseline and the tests'
    reference), with ``threads`` torch threads as a Ray worker has: their Arrow tables,
    in order."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        context = load_shard_context(plan, models_dir)
        return [run_shard(context, shard) for shard in shards]
    finally:
        torch.set_num_threads(before)
