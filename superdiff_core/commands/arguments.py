"""Argument types and shared options of the subcommands (one definition each)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from ..artifacts import DEFAULT_MODELS_DIR
from ..device import configure_threads
from ..errors import InputError
from ..guidance_weights import GUIDE_KEYS, RECOMMENDED_MAX_WEIGHT


def _int_at_least(text: str, least: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < least:
        raise argparse.ArgumentTypeError(f"must be at least {least}, got {value}")
    return value


def positive_int(text: str) -> int:
    """argparse type: an integer ≥ 1."""
    return _int_at_least(text, 1)


def non_negative_int(text: str) -> int:
    """argparse type: an integer ≥ 0."""
    return _int_at_least(text, 0)


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
    parser.add_argument("--threads", type=positive_int, default=None,
                        help="CPU threads for torch (default: the cores not busy with other work, at least 1)")


def apply_threads(threads: int | None) -> int:
    """Set torch's (and BLAS's) threads: ``threads``, or the load-aware default of
    :func:`superdiff_core.device.default_threads` when None. Returns the count set."""
    return configure_threads(threads)


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


def settings_warnings(settings) -> list[str]:
    """One-line warnings for resolved :class:`~superdiff_core.settings.GenerationSettings`
    that the engine accepts but that are unlikely to be what the user meant: a guidance
    weight above :data:`~superdiff_core.guidance.RECOMMENDED_MAX_WEIGHT`, and more resampled
    steps than the run has (every step but the last can be resampled)."""

    warnings = []
    for key in GUIDE_KEYS:
        weight = getattr(settings.guidance, key)
        if weight > RECOMMENDED_MAX_WEIGHT:
            warnings.append(f"guidance weight {key}={weight:g} is above {RECOMMENDED_MAX_WEIGHT:g}: most candidates will "
                            f"be invalid (at 2 unconditional runs keep a fifth of their valid ones; benchmarks/README.md)")
    resampleable = max(settings.steps - 1, 0)
    if settings.references and settings.resample_steps > resampleable:
        warnings.append(f"--resample-steps {settings.resample_steps} is more than the {resampleable} step(s) a "
                        f"{settings.steps}-step run can resample (every step but the last): all {resampleable} are resampled")
    return warnings


def print_warnings(lines: list[str], command: str) -> None:
    """Print each warning as one line on stderr: ``superdiff COMMAND: warning: …``."""
    for line in lines:
        print(f"superdiff {command}: warning: {line}", file=sys.stderr)


def add_validity_arguments(parser: argparse.ArgumentParser, default: str | None = None) -> None:
    """``--validity CHECK`` (a name of :data:`~superdiff_core.validity.VALIDITY_CHECKS`; ``default``
    None leaves it unset, so the settings' default applies) and its deprecated alias
    ``--mixed-valence`` (``--validity mixed_valence``)."""
    from ..validity import DEFAULT_VALIDITY_CHECK, MIXED_VALENCE_FLAG_CHECKS, VALIDITY_CHECKS

    parser.add_argument("--validity", type=str.lower, choices=tuple(VALIDITY_CHECKS), default=default,
                        help="the charge-balance check that filters and fills smact_valid: "
                             + "; ".join(f"{name} = {check.label}" for name, check in VALIDITY_CHECKS.items())
                             + f" (default: {DEFAULT_VALIDITY_CHECK}; the Help page and benchmarks/validity.md compare them)")
    parser.add_argument("--mixed-valence", dest="validity", action="store_const", const=MIXED_VALENCE_FLAG_CHECKS[True],
                        help="deprecated: the same as --validity mixed_valence")
