"""The candidate table: one schema and one CSV writer for the CLI and the app.

Each stage of a run adds its columns to a :class:`pandas.DataFrame`; this module fixes
the order in which they are written, so the CLI's ``--out`` file and the app's download
are the same file.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import pandas as pd

from .artifacts import write_text_atomically

ENGINE_COLUMNS: tuple[str, ...] = (
    "formula",
    "model_class",
    "reference",
    "scale_factor",
    "n_elements",
    "smact_valid",
    "smact_valid_mixed_valence",
    "novel",
)
"""Columns written by generation and screening (issue: engine)."""

PROPERTY_COLUMNS: tuple[str, ...] = (
    "sc_probability",
    "is_superconductor",
    "tc_kelvin",
    "tc_kelvin_low",
    "tc_kelvin_high",
    "formation_energy_ev_per_atom",
    "formation_energy_std_ev_per_atom",
)
"""Columns added by the property models: ``tc_kelvin_low``/``tc_kelvin_high`` bound the
conformal 90 % Tc interval (0.0 like ``tc_kelvin`` where the classifier says "not a
superconductor"); ``formation_energy_std_ev_per_atom`` is the calibrated 1-sigma spread."""

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

KNOWN_COLUMNS: tuple[str, ...] = (
    "nearest_known_formula",
    "nearest_known_tc_kelvin",
    "distance_to_known",
    "known_close_count",
    "known_close_tc_median_kelvin",
    "known_close_tc_max_kelvin",
    "outside_training_domain",
)
"""Columns added by :func:`superdiff_core.known_compounds.nearest_known` (the measured
SuperCon compounds nearest to each row)."""

GUIDANCE_COLUMN = "guidance"
"""Run metadata of a guided run: its weights as ``--guide`` takes them (``tc=1,formation=0.5``);
absent from unguided runs."""

RUN_METADATA_COLUMNS: tuple[str, ...] = (GUIDANCE_COLUMN,)
"""Columns that describe how a candidate was drawn (present only when used)."""

CANDIDATE_COLUMNS: tuple[str, ...] = ENGINE_COLUMNS + RUN_METADATA_COLUMNS + PROPERTY_COLUMNS + KNOWN_COLUMNS + MAP_COLUMNS
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


def write_candidates_csv(table: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write a candidate table as CSV (schema order) atomically; returns the path."""
    return write_text_atomically(path, candidates_to_csv(table))
