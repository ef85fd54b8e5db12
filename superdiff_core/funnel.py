"""The screening funnel as a user reads it: the engine's stages, then the user's thresholds.

The engine's own counts (raw samples, basic filters, unique, novel) come from
:mod:`superdiff_core.screening`; this module adds the stages computed from a candidate
table (valid by the run's check, predicted superconductor, Tc and formation-energy thresholds) and
gives both front ends one list of :class:`FunnelStage` to print or draw.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .screening import StageCount
from .validity import DEFAULT_VALIDITY_CHECK, VALID_COLUMN, get_validity_check


@dataclass(frozen=True)
class Thresholds:
    """The user's funnel stages: Tc and formation-energy thresholds (defaults of Wines, Xie &
    Choudhary 2023), and two switches that apply when the table has their columns: keep only
    plausible substitutions (``plausible_substitution``; candidates adding no element pass), and
    leave out candidates the hull rules out (``above_hull_beyond_error``, more than 2σ above it)."""

    tc_min_kelvin: float = 5.0
    formation_max_ev: float = 0.0
    plausible_only: bool = False
    hull_rule_out: bool = True


@dataclass(frozen=True)
class FunnelStage:
    """One stage of the funnel as shown: label, candidates remaining (None when the
    stage cannot be computed, e.g. a property model is missing) and a short explanation."""

    label: str
    count: int | None
    help: str = ""


ENGINE_STAGE_LABELS: dict[str, tuple[str, str]] = {
    "raw": ("raw samples", "everything the diffusion model drew"),
    "element count": (
        "basic filters",
        "amounts rounded to 0.01, residual noise zeroed, no negative amount, allowed number of elements",
    ),
    "unique": ("unique", "duplicates removed"),
    "novel": ("novel", "not already in the class's SuperCon training set"),
}
"""Engine stages shown in the funnel (``non-negative`` is folded into the basic filters)."""


def boolean_column(table: pd.DataFrame, column: str) -> np.ndarray | None:
    """Boolean mask of a True/False column (missing values count as False), or None if absent."""
    if column not in table.columns:
        return None
    return table[column].astype("boolean").fillna(False).to_numpy(dtype=bool)


def numeric_column(table: pd.DataFrame, column: str) -> np.ndarray | None:
    if column not in table.columns:
        return None
    return pd.to_numeric(table[column], errors="coerce").to_numpy(dtype=float)


def validity_stage_words(validity_check: str) -> tuple[str, str]:
    """Label and help of the validity ("SMACT-valid") stage of a run that applied ``validity_check``,
    e.g. ``"valid (bounded charge balance)"``."""
    check = get_validity_check(validity_check)
    return f"valid ({check.label})", f"the charges can balance by the run's validity check, {check.label} (Help: validity checks)"


def table_funnel(
    table: pd.DataFrame, thresholds: Thresholds, validity_check: str = DEFAULT_VALIDITY_CHECK
) -> tuple[list[FunnelStage], np.ndarray]:
    """The funnel stages computed from a candidate table, and the mask of rows that pass
    them all. The validity stage counts ``smact_valid`` (the verdict of ``validity_check``,
    the check the run applied) and is labelled with that check.

    Stages: valid (novel ones, when a ``novel`` column exists), predicted
    superconductor, Tc above the threshold, formation energy below the threshold. A stage
    whose column is missing (property models not built) has ``count=None`` and so do the
    stages after it. NaN values (no prediction) fail a threshold.
    """
    passing = np.ones(len(table), dtype=bool)
    novel = boolean_column(table, "novel")
    if novel is not None:
        passing &= novel
    stages: list[FunnelStage] = []
    available = True

    def add(label: str, mask: np.ndarray | None, help_text: str) -> None:
        nonlocal passing, available
        if mask is None:
            available = False
        if available:
            passing = passing & mask
        stages.append(FunnelStage(label, int(passing.sum()) if available else None, help_text))

    label, help_text = validity_stage_words(validity_check)
    add(label, boolean_column(table, VALID_COLUMN), help_text)
    add("predicted superconductor", boolean_column(table, "is_superconductor"),
        "the superconductor classifier (boosted trees, calibrated) says superconductor")
    tc = numeric_column(table, "tc_kelvin")
    add(
        f"Tc > {thresholds.tc_min_kelvin:g} K",
        None if tc is None else np.nan_to_num(tc, nan=-np.inf) > thresholds.tc_min_kelvin,
        "predicted critical temperature above your threshold",
    )
    energy = numeric_column(table, "formation_energy_ev_per_atom")
    add(
        f"formation energy < {thresholds.formation_max_ev:g} eV/atom",
        None if energy is None else np.nan_to_num(energy, nan=np.inf) < thresholds.formation_max_ev,
        "predicted formation energy below your threshold (no prediction: fails)",
    )
    if thresholds.hull_rule_out and "above_hull_beyond_error" in table.columns:
        ruled_out = boolean_column(table, "above_hull_beyond_error")
        add("not ruled out by the hull", ~ruled_out,
            "not more than 2σ above the convex hull of the known OQMD phases (σ: the formation model's spread)")
    if thresholds.plausible_only and "plausible_substitution" in table.columns:
        implausible = table["plausible_substitution"].astype("boolean").eq(False).fillna(False).to_numpy(dtype=bool)
        add("plausible substitutions", ~implausible,
            "every element added to the reference is a plausible substitute (Hautier et al. 2011); adding none passes")
    return stages, (passing if available else np.zeros(len(table), dtype=bool))


def engine_funnel(
    stages: Sequence[StageCount], table: pd.DataFrame, thresholds: Thresholds, validity_check: str = DEFAULT_VALIDITY_CHECK
) -> tuple[list[FunnelStage], np.ndarray]:
    """The full funnel of a generation run: the engine's counts (raw, basic filters,
    unique, novel) then :func:`table_funnel` on the candidate table."""
    shown = [
        FunnelStage(ENGINE_STAGE_LABELS[s.stage][0], s.remaining, ENGINE_STAGE_LABELS[s.stage][1])
        for s in stages
        if s.stage in ENGINE_STAGE_LABELS
    ]
    rest, mask = table_funnel(table, thresholds, validity_check)
    return shown + rest, mask


def funnel_frame(stages: Sequence[FunnelStage]) -> pd.DataFrame:
    """The funnel as a table: stage, remaining (blank when unavailable), share of the first stage."""
    first = next((s.count for s in stages if s.count), None)
    rows = []
    for stage in stages:
        share = "" if stage.count is None or not first else f"{100.0 * stage.count / first:.1f} %"
        rows.append({"stage": stage.label, "remaining": stage.count, "of first stage": share, "what it checks": stage.help})
    frame = pd.DataFrame(rows, columns=["stage", "remaining", "of first stage", "what it checks"])
    frame["remaining"] = frame["remaining"].astype("Int64")
    return frame
