"""Device and CPU threads in one place: CUDA when available, else CPU (the user can force
CPU); how many torch threads a run uses when the user does not say.

Threads (measured in benchmarks/startup.md, "Threads"): the network is small, so every
torch operator is a short OpenMP parallel region whose threads meet at a barrier; when
another process holds one of the cores, the descheduled thread stalls the region and a
run on all cores becomes several times slower than the same run on one thread. The default
is therefore the number of cores *not* busy with other work (this process's CPU affinity
minus the 1-minute load average, at least 1), and OpenMP waits passively
(:data:`THREAD_ENVIRONMENT`, set before torch is imported) so idle threads do not take
cores from the busy ones. torch is imported only inside the functions that need it, so
importing this module costs nothing.
"""

from __future__ import annotations

import functools
import math
import os
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

THREAD_ENVIRONMENT: dict[str, str] = {"OMP_WAIT_POLICY": "PASSIVE"}
"""OpenMP settings applied (unless the user set them) before torch is imported: waiting
threads sleep instead of spinning, so they do not compete with the working ones or with
other processes on a loaded machine."""


def prepare_thread_environment() -> bool:
    """Set :data:`THREAD_ENVIRONMENT` in ``os.environ`` where the user has not.

    Call before torch is imported (OpenMP reads these once, when it loads): the CLI does so
    at start; Ray workers started from it inherit the environment. Returns False (and
    changes nothing) when torch is already imported, since it would have no effect.
    """
    if "torch" in sys.modules:
        return False
    for name, value in THREAD_ENVIRONMENT.items():
        os.environ.setdefault(name, value)
    return True


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity; ``os.cpu_count()`` where affinity is unknown)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def threads_for_load(cores: int, load: float) -> int:
    """Threads for a run on ``cores`` cores while other work keeps ``load`` of them busy
    (a load average, in runnable processes): the free cores, rounded, from 1 to ``cores``.

    >>> threads_for_load(2, 0.1), threads_for_load(2, 0.8), threads_for_load(2, 4.0), threads_for_load(16, 3.2)
    (2, 1, 1, 13)
    """
    if cores < 1:
        raise ValueError(f"cores must be at least 1, got {cores}")
    if not math.isfinite(load):
        return 1
    free = cores - max(0.0, float(load))
    return int(min(cores, max(1, math.floor(free + 0.5))))


def default_threads() -> int:
    """The torch thread count a run uses when the user does not choose one: the cores free
    of other work right now (:func:`threads_for_load` of :func:`available_cores` and the
    1-minute load average; all cores where the load is unknown)."""
    cores = available_cores()
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):
        return cores
    return threads_for_load(cores, load)


def configure_threads(threads: int | None = None) -> int:
    """Set torch's (and the BLAS libraries') thread count: ``threads``, or
    :func:`default_threads` when None. Returns the count set."""
    import torch
    from threadpoolctl import threadpool_limits

    count = default_threads() if threads is None else int(threads)
    if count < 1:
        raise ValueError(f"threads must be at least 1, got {count}")
    torch.set_num_threads(count)
    threadpool_limits(count)
    return count


@functools.cache
def default_precision() -> str:
    """``"bf16"`` where this machine runs bfloat16 natively (a CPU with AVX-512 BF16 or AMX, as
    oneDNN reports, or a CUDA GPU that supports it), else ``"fp32"``: the network's forward pass
    then takes 1.3–2.2× less time with the same candidates' quality (benchmarks/README.md,
    "Network precision"); emulated bfloat16 would be slower than float32."""
    import torch

    try:  # the CPU: runs with --cpu, and the guide's models
        native = bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # a torch build without oneDNN's check: assume nothing
        native = False
    if torch.cuda.is_available():
        native = native and torch.cuda.is_bf16_supported()
    return "bf16" if native else "fp32"


def select_device(force_cpu: bool = False) -> torch.device:
    """``cuda`` if a GPU is available and not ``force_cpu`` (or ``SUPERDIFF_DEVICE=cpu``), else ``cpu``."""
    import torch

    if force_cpu or os.environ.get("SUPERDIFF_DEVICE", "").lower() == "cpu":
        return torch.device("cpu")
    return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")


def describe_device(device: torch.device) -> str:
    """Human-readable device: the GPU's name, or ``CPU (N threads)``."""
    import torch

    if device.type == "cuda":
        return f"GPU: {torch.cuda.get_device_name(device)}"
    threads = torch.get_num_threads()
    return f"CPU ({threads} thread{'s' if threads != 1 else ''})"
