"""Argument types and shared options of the subcommands (one definition each)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from ..artifacts import DEFAULT_MODELS_DIR
from ..errors import InputError


def positive_int(text: str) -> int:
    """argparse type: an integer ≥ 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def bounded_float(low: float, high: float):
    """argparse type: a number in [low, high)."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if not low <= value < high:
            raise argparse.ArgumentTypeError(f"must be at least {low:g} and below {high:g}, got {text}")
        return value

    return parse


def positive_float(text: str) -> float:
    """argparse type: a finite number > 0 (e.g. a time limit in seconds)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def add_models_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--models", type=Path, default=DEFAULT_MODELS_DIR, help="models folder (default: the repository's checkpoints/)")


def add_threads_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--threads", type=positive_int, default=None, help="CPU threads for torch (default: torch's choice)")


def apply_threads(threads: int | None) -> None:
    """Limit torch (and BLAS) threads; None keeps the defaults."""
    if threads is None:
        return
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(threads)
    threadpool_limits(threads)


def check_writable(path: Path | None) -> None:
    """Fail before a long run, not after it, if the output cannot be written."""
    if path is None:
        return
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise InputError(f"cannot write {path}: folder {folder} does not exist")
    if path.is_dir():
        raise InputError(f"cannot write {path}: it is a folder")
    if not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise InputError(f"cannot write {path}: permission denied")
