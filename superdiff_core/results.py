"""The candidate table: one schema and one CSV writer for the CLI and the app.

Each stage of a run adds its columns to a :class:`pandas.DataFrame`; this module fixes
the order in which they are written, so the CLI's ``--out`` file and the app's download
are the same file.
"""

from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path

import pandas as pd

from .errors import InputError

ENGINE_COLUMNS: tuple[str, ...] = (
    "formula",
    "model_class",
    "reference",
    "scale_factor",
    "n_elements",
    "smact_valid",
    "novel",
)
"""Columns written by generation and screening (issue: engine)."""

PROPERTY_COLUMNS: tuple[str, ...] = (
    "sc_probability",
    "is_superconductor",
    "tc_kelvin",
    "formation_energy_ev_per_atom",
)
"""Columns added by the property models."""

MAP_COLUMNS: tuple[str, ...] = (
    "tsne_x",
    "tsne_y",
    "cluster",
    "cluster_name",
    "family_id",
    "family_formula",
    "is_new_family",
)
"""Columns added by map placement and family discovery."""

CANDIDATE_COLUMNS: tuple[str, ...] = ENGINE_COLUMNS + PROPERTY_COLUMNS + MAP_COLUMNS
"""Every known column, in the order they are written."""


def ordered_columns(table: pd.DataFrame) -> list[str]:
    """The columns of ``table`` in schema order: known ones first, then any others."""
    known = [column for column in CANDIDATE_COLUMNS if column in table.columns]
    return known + [column for column in table.columns if column not in CANDIDATE_COLUMNS]


def candidates_to_csv(table: pd.DataFrame) -> str:
    """The CSV text of a candidate table, columns in schema order (used by the app's download)."""
    buffer = io.StringIO()
    table[ordered_columns(table)].to_csv(buffer, index=False)
    return buffer.getvalue()


def write_text_atomically(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` to ``path`` through a temporary file and a rename, so an interrupted
    run never leaves half a file.

    Raises:
        InputError: if the folder does not exist or is not writable.
    """
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise InputError(f"cannot write {path}: folder {folder} does not exist")
    try:
        handle, temporary = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as stream:
            stream.write(text)
        os.chmod(temporary, 0o644)  # mkstemp makes 0600; no umask juggling (not thread-safe)
        os.replace(temporary, path)
    except OSError as error:
        raise InputError(f"cannot write {path}: {error.strerror or error}") from None
    return path


def write_candidates_csv(table: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write a candidate table as CSV (schema order) atomically; returns the path."""
    return write_text_atomically(path, candidates_to_csv(table))
