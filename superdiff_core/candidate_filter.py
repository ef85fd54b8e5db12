"""Which candidates a user wants to see: one filter for a run's table (the app's candidate table)
and for a campaign's Parquet shards (:func:`superdiff_core.campaign.queries.filter_sql` turns it
into SQL); :func:`filter_candidates` applies it to a table.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .funnel import boolean_column, numeric_column
from .validity import VALID_COLUMN


@dataclass(frozen=True)
class CandidateFilter:
    """What the user narrowed the candidates to. Empty or None means no filter on that field.

    Attributes:
        formula_contains: case-sensitive substring of the formula (e.g. an element symbol).
        tc_min_kelvin: smallest predicted Tc (K); a row without a prediction fails it.
        formation_max_ev: largest predicted formation energy (eV/atom); no prediction fails it.
        superconductor_only: predicted superconductors only.
        smact_valid_only: candidates valid by the run's (or plan's) validity check only.
        new_only: drop candidates already in SuperCon (``in_supercon`` in campaigns, ``novel``
            in a run's table).
        funnel_only: only candidates that pass the whole funnel (a run's table; needs the
            funnel's mask).
        scale_factors: ILVR N values to keep (a candidate drawn at several N matches any of them).
        references: reference formulas to keep (their candidates).
        families: family ids to keep (a run's table).
        rows: table positions to keep (a map selection; a run's table).
    """

    formula_contains: str = ""
    tc_min_kelvin: float | None = None
    formation_max_ev: float | None = None
    superconductor_only: bool = False
    smact_valid_only: bool = False
    new_only: bool = True
    funnel_only: bool = False
    scale_factors: tuple[int, ...] = ()
    references: tuple[str, ...] = ()
    families: tuple[str, ...] = ()
    rows: tuple[int, ...] | None = None


def drawn_at(table: pd.DataFrame, scale_factors: tuple[int, ...]) -> np.ndarray:
    """Rows drawn at one of ``scale_factors``: by the ``scale_factors`` column (every N of a
    composition) when the table has it, else by ``scale_factor``."""
    if "scale_factors" in table.columns:
        wanted = {str(int(n)) for n in scale_factors}
        return np.array([bool(wanted & set(str(text).split())) for text in table["scale_factors"]], dtype=bool)
    return table["scale_factor"].isin(scale_factors).fillna(False).to_numpy(dtype=bool)


def filter_candidates(table: pd.DataFrame, spec: CandidateFilter, funnel_mask: np.ndarray | None = None) -> pd.DataFrame:
    """The rows of ``table`` that match ``spec`` (index kept, so rows map back to the run).

    Filters on columns the table does not have are ignored, except that asking for
    superconductors or a Tc or energy bound without property columns leaves no row.
    """
    keep = np.ones(len(table), dtype=bool)
    if spec.formula_contains:
        keep &= table["formula"].astype(str).str.contains(spec.formula_contains, regex=False).to_numpy()
    if spec.tc_min_kelvin is not None:
        tc = numeric_column(table, "tc_kelvin")
        keep &= False if tc is None else np.nan_to_num(tc, nan=-np.inf) >= spec.tc_min_kelvin
    if spec.formation_max_ev is not None:
        energy = numeric_column(table, "formation_energy_ev_per_atom")
        keep &= False if energy is None else np.nan_to_num(energy, nan=np.inf) <= spec.formation_max_ev
    for wanted, column in ((spec.superconductor_only, "is_superconductor"), (spec.smact_valid_only, VALID_COLUMN)):
        if wanted:
            mask = boolean_column(table, column)
            keep &= False if mask is None else mask  # asked for a prediction the table lacks: no row has it
    if spec.new_only and "novel" in table.columns:  # without the column nothing is known to be known
        keep &= boolean_column(table, "novel")
    if spec.funnel_only and funnel_mask is not None:
        keep &= funnel_mask
    if spec.scale_factors and ("scale_factor" in table.columns or "scale_factors" in table.columns):
        keep &= drawn_at(table, spec.scale_factors)
    if spec.families and "family_id" in table.columns:
        keep &= table["family_id"].isin(spec.families).to_numpy()
    if spec.references and "reference" in table.columns:
        keep &= table["reference"].astype(str).isin(spec.references).to_numpy()
    if spec.rows is not None:
        selected = np.zeros(len(table), dtype=bool)
        selected[[r for r in spec.rows if 0 <= r < len(table)]] = True
        keep &= selected
    return table[keep]
