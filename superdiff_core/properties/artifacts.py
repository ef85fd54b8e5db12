"""Where the property models' artifacts live and how their model cards are written.

Each model has a folder under the models directory (``checkpoints/`` by default) with
its fitted arrays or weights and a ``card.json`` (data checksums, hyperparameters,
metrics, wall time, the command that rebuilds it, published figures beside ours).
"""

from __future__ import annotations

import json
import os
import shlex
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import CheckpointError
from ..results import write_text_atomically

CARD_FILE = "card.json"
"""Name of the model card inside each artifact folder."""


def default_models_dir() -> Path:
    """``checkpoints/`` of the repository that holds the ``superdiff_core`` package."""
    return Path(__file__).resolve().parents[2] / "checkpoints"


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


def _plain(value: Any) -> Any:
    """JSON-friendly copy of numpy scalars/arrays, tuples and paths."""
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, np.ndarray):
        return _plain(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, os.PathLike):
        return str(value)
    return value


def write_card(folder: Path, card: dict[str, Any]) -> Path:
    """Write ``card`` as indented JSON to ``folder/card.json`` atomically."""
    return write_text_atomically(folder / CARD_FILE, json.dumps(_plain(card), indent=2) + "\n")


def read_card(folder: Path, rebuild_command: str) -> dict[str, Any]:
    """The model card of an artifact folder.

    Raises:
        CheckpointError: if missing or not JSON, naming the rebuild command.
    """
    path = required_file(folder / CARD_FILE, rebuild_command)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise CheckpointError(f"corrupt {path} ({error}); rebuild it with: {rebuild_command}") from None


def save_npz_atomically(path: Path, **arrays: np.ndarray) -> Path:
    """``np.savez_compressed`` through a temporary file and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.stem}.tmp.npz")
    np.savez_compressed(temporary, **arrays)
    os.replace(temporary, path)
    return path
