"""Artifacts on disk: the models folder, atomic writes, JSON of numpy values, model cards.

Everything the project writes — checkpoints, fitted arrays, maps, model cards, candidate
CSVs, run settings — goes through :func:`atomic_path`: the bytes land in a temporary file
beside the target and are renamed over it only when complete, so an interrupted run never
leaves half a file and a previous artifact stays usable. Cards are read by
:func:`read_card` alone.

Layout of a models folder (default :data:`DEFAULT_MODELS_DIR`, the repository's
``checkpoints/``)::

    supercon/supercon.npz        encoded SuperCon (novelty check, maps)
    diffusion/<class>/model.pt   diffusion weights + config (torch, weights_only)
    tc/, formation/, maps/       property models and maps, each with card.json
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from .errors import CheckpointError, InputError

REPOSITORY_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MODELS_DIR = REPOSITORY_ROOT / "checkpoints"
"""The committed models; ``--models DIR`` points elsewhere."""

CARD_FILE = "card.json"
"""Name of the model card inside each artifact folder."""


def default_models_dir() -> Path:
    """:data:`DEFAULT_MODELS_DIR` (a function for callers that take ``None`` as "default")."""
    return DEFAULT_MODELS_DIR


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, mode: int = 0o644) -> Iterator[Path]:
    """A temporary path beside ``path`` to write to; renamed over ``path`` on success.

    On an exception (including KeyboardInterrupt) the temporary file is removed and
    ``path`` is left as it was. The folder is created if needed.

    Example::

        with atomic_path(folder / "model.pt") as temporary:
            torch.save(payload, temporary)
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}")
    os.close(handle)
    temporary = Path(name)
    try:
        yield temporary
        os.chmod(temporary, mode)  # mkstemp makes 0600; no umask juggling (not thread-safe)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def write_text_atomically(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically.

    Raises:
        InputError: if the folder does not exist or is not writable (one line).
    """
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise InputError(f"cannot write {path}: folder {folder} does not exist")
    try:
        with atomic_path(path) as temporary:
            temporary.write_text(text, encoding="utf-8", newline="")
    except OSError as error:
        raise InputError(f"cannot write {path}: {error.strerror or error}") from None
    return path


def to_jsonable(value: Any) -> Any:
    """A JSON-friendly copy: numpy scalars and arrays, tuples, sets and paths become plain
    Python values; NaN becomes None."""
    if isinstance(value, dict):
        return {str(key): to_jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [to_jsonable(item) for item in value]
    if isinstance(value, np.ndarray):
        return to_jsonable(value.tolist())
    if isinstance(value, np.generic):
        return to_jsonable(value.item())
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, os.PathLike):
        return str(value)
    return value


def json_text(data: Any) -> str:
    """Indented JSON of ``data`` (through :func:`to_jsonable`), with a final newline."""
    return json.dumps(to_jsonable(data), indent=2) + "\n"


def write_json_atomically(path: str | os.PathLike, data: Any) -> Path:
    """Write ``data`` as indented JSON atomically; returns the path."""
    return write_text_atomically(path, json_text(data))


def save_npz_atomically(path: str | os.PathLike, **arrays: np.ndarray) -> Path:
    """``np.savez_compressed`` atomically; returns the path."""
    path = Path(path)
    with atomic_path(path) as temporary:
        with open(temporary, "wb") as handle:
            np.savez_compressed(handle, **arrays)
    return path


def required_file(path: Path, rebuild_command: str) -> Path:
    """``path`` if it is a file.

    Raises:
        CheckpointError: naming the file and the command that rebuilds it.
    """
    if not path.is_file():
        raise CheckpointError(f"missing {path}; rebuild it with: {rebuild_command}")
    return path


def command_line(*parts: Any) -> str:
    """A shell command from its words, quoted where needed (for the model cards)."""
    return " ".join(shlex.quote(str(part)) for part in parts)


SHARED_DATA_ROOT = REPOSITORY_ROOT.parent / "shared"
"""Where the public data sets sit beside a checkout (``../shared``); cards name them from there."""

_ABSOLUTE_PATH = re.compile(r"(?<![\w.:/])/[^\s'\",;:]+")


def portable_path(path: str | os.PathLike) -> str:
    """``path`` as it means something on another machine: relative to the repository for its own
    files, ``../shared/...`` for the shared data sets, the bare file name for anything else (a
    scratch folder of the machine that built an artifact)."""
    resolved = Path(os.path.abspath(path))
    for root, prefix in ((REPOSITORY_ROOT, ""), (SHARED_DATA_ROOT, "../shared/")):
        if resolved == root or root in resolved.parents:
            relative = resolved.relative_to(root).as_posix()
            return prefix + relative if relative != "." else (prefix.rstrip("/") or ".")
    return resolved.name


def portable_card(value: Any) -> Any:
    """``value`` (a card or any part of one) with every absolute path in its strings made
    :func:`portable_path`, so a card's rebuild command runs from any checkout."""
    if isinstance(value, dict):
        return {key: portable_card(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [portable_card(item) for item in value]
    if isinstance(value, str) and "/" in value:
        return _ABSOLUTE_PATH.sub(lambda match: portable_path(match.group(0)), value)
    return value


def write_card(folder: str | os.PathLike, card: dict[str, Any]) -> Path:
    """Write ``card`` to ``folder/card.json`` atomically, its paths made portable (:func:`portable_card`)."""
    return write_json_atomically(Path(folder) / CARD_FILE, portable_card(to_jsonable(card)))


def read_card(folder: str | os.PathLike, rebuild_command: str | None = None) -> dict[str, Any]:
    """The model card ``folder/card.json``.

    Args:
        folder: the artifact folder.
        rebuild_command: when given, a missing or corrupt card raises
            :class:`CheckpointError` naming it; when None, such a card reads as ``{}``
            (for pages that only show what is there).
    """
    path = Path(folder) / CARD_FILE
    if rebuild_command is not None:
        required_file(path, rebuild_command)
    try:
        card = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        if rebuild_command is None:
            return {}
        raise CheckpointError(f"corrupt {path} ({error}); rebuild it with: {rebuild_command}") from None
    return card if isinstance(card, dict) else {}
