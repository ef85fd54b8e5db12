"""The on-screen candidate table: its columns, the user's filters and map selections."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import pandas as pd

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
