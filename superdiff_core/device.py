"""Device choice in one place: CUDA when available, else CPU; the user can force CPU."""

from __future__ import annotations

import os

import torch


def select_device(force_cpu: bool = False) -> torch.device:
    """``cuda`` if a GPU is available and not ``force_cpu`` (or ``SUPERDIFF_DEVICE=cpu``), else ``cpu``."""
    if force_cpu or os.environ.get("SUPERDIFF_DEVICE", "").lower() == "cpu":
        return torch.device("cpu")
    return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")


def describe_device(device: torch.device) -> str:
    """Human-readable device: the GPU's name, or ``CPU (N threads)``."""
    if device.type == "cuda":
        return f"GPU: {torch.cuda.get_device_name(device)}"
    threads = torch.get_num_threads()
    return f"CPU ({threads} thread{'s' if threads != 1 else ''})"
