"""The on-screen candidate table: its columns, the user's filters and map selections."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from superdiff_core.funnel import boolean_column, numeric_column
from superdiff_core.validity import VALID_COLUMN, VALIDITY_CHECKS

DISPLAY_COLUMNS: dict[str, str] = {
    "formula": "Formula",
    "reference": "Reference",
    "source": "Source",
    "scale_factors": "N",
    "tc_kelvin": "Predicted Tc (K)",
    "tc_kelvin_low": "Tc 90 % interval, low (K)",
    "tc_kelvin_high": "Tc 90 % interval, high (K)",
    "sc_probability": "SC probability",
    "formation_energy_ev_per_atom": "Formation energy (eV/atom)",
    "formation_energy_std_ev_per_atom": "Formation energy ± 1σ (eV/atom)",
    "nearest_known_formula": "Nearest known (SuperCon)",
    "nearest_known_tc_kelvin": "Its measured Tc (K)",
    "known_close_tc_median_kelvin": "Measured Tc of close known (median, K)",
    "distance_to_known": "Distance to known",
    "outside_training_domain": "Outside training domain",
    "plausible_substitution": "Plausible substitution",
    "substitution_reason": "Substitution (Hautier p)",
    "energy_above_hull_ev_per_atom": "Above hull (eV/atom)",
    "energy_above_hull_std_ev_per_atom": "Above hull ± 1σ (eV/atom)",
    "above_hull_beyond_error": "Ruled out by the hull",
    "decomposes_to": "Would decompose to",
    VALID_COLUMN: "Valid (run's check)",
    **{check.column: f"Valid: {check.label}" for check in VALIDITY_CHECKS.values()},
    "novel": "Novel",
    "cluster_name": "Cluster",
    "family_id": "Family",
    "family_formula": "Family formula",
    "note": "Note",
}
"""Columns of the on-screen candidate table (when present) and their headers."""


def display_columns(table: pd.DataFrame) -> list[str]:
    """The :data:`DISPLAY_COLUMNS` present in ``table``, in that order (the ``reference``
    column only when the run had more than one reference)."""
    columns = [c for c in DISPLAY_COLUMNS if c in table.columns]
    if "reference" in columns and table["reference"].nunique() <= 1:
        columns.remove("reference")
    if "note" in columns and not table["note"].astype(str).str.len().any():
        columns.remove("note")
    return columns


@dataclass(frozen=True)
class CandidateFilter:
    """What the user narrowed the candidate table to. ``None``/empty means no filter.

    Attributes:
        text: case-sensitive substring of the formula (e.g. an element symbol).
        min_tc_kelvin: smallest predicted Tc.
        max_formation_ev: largest predicted formation energy.
        only_superconductors: predicted superconductors only.
        only_funnel: only candidates that pass the whole funnel.
        scale_factors: ILVR N values to keep.
        families: family ids to keep.
        references: reference formulas to keep (their candidates).
        rows: table positions to keep (a map selection).
    """

    text: str = ""
    min_tc_kelvin: float | None = None
    max_formation_ev: float | None = None
    only_superconductors: bool = False
    only_funnel: bool = False
    scale_factors: tuple[int, ...] = ()
    families: tuple[str, ...] = ()
    references: tuple[str, ...] = ()
    rows: tuple[int, ...] | None = None


def filter_candidates(table: pd.DataFrame, spec: CandidateFilter, funnel_mask: np.ndarray | None = None) -> pd.DataFrame:
    """The rows of ``table`` that match ``spec`` (index kept, so rows map back to the run).

    Filters on columns the table does not have are ignored, except that asking for
    superconductors or a Tc bound without property columns leaves no row.
    """
    keep = np.ones(len(table), dtype=bool)
    if spec.text:
        keep &= table["formula"].astype(str).str.contains(spec.text, regex=False).to_numpy()
    if spec.min_tc_kelvin is not None:
        tc = numeric_column(table, "tc_kelvin")
        keep &= False if tc is None else np.nan_to_num(tc, nan=-np.inf) >= spec.min_tc_kelvin
    if spec.max_formation_ev is not None:
        energy = numeric_column(table, "formation_energy_ev_per_atom")
        keep &= False if energy is None else np.nan_to_num(energy, nan=np.inf) <= spec.max_formation_ev
    if spec.only_superconductors:
        mask = boolean_column(table, "is_superconductor")
        keep &= False if mask is None else mask
    if spec.only_funnel and funnel_mask is not None:
        keep &= funnel_mask
    if spec.scale_factors and "scale_factor" in table.columns:
        keep &= table["scale_factor"].isin(spec.scale_factors).fillna(False).to_numpy(dtype=bool)
    if spec.families and "family_id" in table.columns:
        keep &= table["family_id"].isin(spec.families).to_numpy()
    if spec.references and "reference" in table.columns:
        keep &= table["reference"].astype(str).isin(spec.references).to_numpy()
    if spec.rows is not None:
        selected = np.zeros(len(table), dtype=bool)
        positions = [r for r in spec.rows if 0 <= r < len(table)]
        selected[positions] = True
        keep &= selected
    return table[keep]


CANDIDATE_GROUP = "candidates"
"""``legendgroup`` of the candidate points on the map (see :func:`selected_rows`)."""


def selected_rows(points: Iterable[Mapping]) -> tuple[int, ...]:
    """Table rows of the candidate points in a Plotly selection (``event.selection.points``).

    Candidate points carry ``legendgroup == "candidates"`` and their table row as the
    last ``customdata`` entry; SuperCon and reference points are ignored.
    """
    rows = set()
    for point in points:
        if point.get("legendgroup") != CANDIDATE_GROUP:
            continue
        data = point.get("customdata")
        if isinstance(data, (list, tuple)) and data:
            try:
                rows.add(int(data[-1]))
            except (TypeError, ValueError):
                continue
    return tuple(sorted(rows))
