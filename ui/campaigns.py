"""The Campaigns page's pieces: progress line, funnel, candidate filters, map placement.

Every number comes from :mod:`superdiff_core.campaign.queries` (DuckDB over the finished
Parquet files), so the page works while a campaign is still running and never loads a
whole campaign into memory.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from superdiff_core.campaign import CampaignProgress, plan_validity_check, read_manifest
from superdiff_core.campaign.queries import CampaignQueries
from superdiff_core.candidate_filter import CandidateFilter
from superdiff_core.funnel import ENGINE_STAGE_LABELS, FunnelStage, validity_stage_words
from superdiff_core.validity import get_validity_check
from ui.formatting import format_seconds

KEY = "campaigns"
MAX_SHOWN = 5000
"""Most rows shown in the table (the CSV export has no such cap below :data:`MAX_EXPORT`)."""
MAX_EXPORT = 200_000
"""Most rows in one CSV download from the page (``superdiff campaign report --all`` has no cap)."""
MAX_ON_MAP = 500
"""Most candidates put on the map at once."""
FUNNEL_CAPTION = (
    "The stages of `superdiff campaign report` (its funnel.csv), in order. Up to \"written by the shards\" they are "
    "summed over the shards: each shard screens its own samples, so a formula drawn by two shards counts twice there. "
    "From \"unique across the campaign\" on, each formula counts once, at the first shard that drew it."
)
"""What the campaign funnel's stages count (under the funnel figure)."""


def campaign_folders(root: Path) -> list[str]:
    """Campaign folders directly under ``root`` (those with a manifest), newest first."""
    if not root.is_dir():
        return []
    found = [path for path in root.iterdir() if (path / "campaign.json").is_file()]
    return [str(path) for path in sorted(found, key=lambda p: p.stat().st_mtime, reverse=True)]


def progress_text(progress: CampaignProgress) -> str:
    """One line: shards, candidates, rate, and the time left while it runs (a stopped
    campaign has shards left, no time left: as ``superdiff campaign status`` says)."""
    parts = [f"{progress.shards_done:,} / {progress.shards_total:,} shards", f"{progress.candidates:,} candidates"]
    if not math.isnan(progress.candidates_per_second):
        parts.append(f"{progress.candidates_per_second:,.1f} candidates/s")
    if progress.running:
        parts.append(f"time left {format_seconds(progress.seconds_left)}")
    return " · ".join(parts)


def plan_caption(folder: Path) -> str:
    """What the campaign runs, in one line."""
    plan = read_manifest(folder)["plan"]
    references = plan["references"]
    shown = ", ".join(references[:3]) + (f" and {len(references) - 3} more" if len(references) > 3 else "")
    return (f"{plan['model_class']} · {len(references)} references ({shown or 'unconditional'}) · N {plan['scale_factors']} · "
            f"seeds {plan['seeds']} · {plan['samples']:,} samples each · {plan['steps']} steps · {plan['batch']} per shard")


def _plan_option(plan: Mapping[str, Any], name: str) -> bool:
    """A screening option of a manifest's plan (flat, or under ``screening``)."""
    screening = plan.get("screening") if isinstance(plan.get("screening"), Mapping) else {}
    return bool(plan.get(name, screening.get(name, False)))


def funnel_words(plan: Mapping[str, Any]) -> dict[str, tuple[str, str]]:
    """Plain (label, help) of each stage (column) of ``superdiff campaign report``'s funnel
    (:func:`superdiff_core.campaign.queries.campaign_funnel`), in the Generate page's words
    where a stage is the same; a stage not listed keeps the report's name. ``candidates``
    says which checks the shards applied before writing rows."""
    invalid, known = _plan_option(plan, "keep_invalid"), _plan_option(plan, "keep_known")
    written = {(False, False): "novel, valid rows", (True, False): "novel rows, valid or not",
               (False, True): "valid rows, known compositions included", (True, True): "every screened row"}[(invalid, known)]
    per_shard = " (each shard counts its own: a formula drawn by two shards counts twice)"
    raw, basic = ENGINE_STAGE_LABELS["raw"], ENGINE_STAGE_LABELS["element count"]
    return {
        "raw": (raw[0], raw[1] + per_shard),
        "basic filters": (basic[0], basic[1] + per_shard),
        "unique in shard": ("unique within a shard", "duplicates within each shard removed" + per_shard),
        "novel in shard": ("novel", ENGINE_STAGE_LABELS["novel"][1] + per_shard),
        "candidates": ("written by the shards", f"the rows the shards stored: {written}" + per_shard),
        "campaign-unique": ("unique across the campaign", "each formula once, at the first shard that drew it"),
        "not in SuperCon": ("not in SuperCon", "not in any SuperCon class (the campaign's own check)"),
        "SMACT-valid": validity_stage_words(plan_validity_check(plan)),
        "predicted superconductor": ("predicted superconductor", "the superconductor classifier says superconductor"),
        "reference": ("Reference", "the reference compound of the shards"),
    }


def funnel_stages(totals: pd.DataFrame, plan: Mapping[str, Any]) -> list[FunnelStage]:
    """The whole-campaign funnel row (``campaign report``'s ``funnel.csv``) as
    :class:`FunnelStage`\\ s for the funnel figure: every stage of the report, in its
    order, in :func:`funnel_words`."""
    if totals.empty:
        return []
    row = totals.iloc[0]
    words = funnel_words(plan)
    stages = []
    for column in totals.columns:
        label, help_text = words.get(str(column), (str(column), ""))
        stages.append(FunnelStage(label, int(row[column]), help_text))
    return stages


def plain_funnel_table(table: pd.DataFrame, plan: Mapping[str, Any]) -> pd.DataFrame:
    """A per-reference or per-N funnel of the report with the labels of :func:`funnel_words` as column names."""
    return table.rename(columns={column: label for column, (label, _help) in funnel_words(plan).items()})


def filter_inputs(queries: CampaignQueries, references: list[str], scale_factors: list[int]) -> tuple[CandidateFilter, str, bool, int]:
    """The filter and sort widgets; returns (filter, sort column, descending, rows shown)."""
    left, middle, right = st.columns(3)
    chosen_references = left.multiselect("References", references, key=f"{KEY}_references", placeholder="all")
    chosen_n = left.multiselect("N", scale_factors, key=f"{KEY}_n", placeholder="all")
    contains = left.text_input("Formula contains", key=f"{KEY}_contains", placeholder="e.g. Hg")
    new_only = middle.checkbox("Not in SuperCon", value=True, key=f"{KEY}_new")
    valid_only = middle.checkbox("Valid only", value=False, key=f"{KEY}_valid",
                                 help=f"valid by the campaign's check, {get_validity_check(queries.validity_check).label}")
    scored = "tc_kelvin" in queries.columns
    sc_only = middle.checkbox("Predicted superconductors only", value=False, key=f"{KEY}_sc", disabled=not scored)
    tc_min = middle.number_input("Tc above (K)", value=0.0, min_value=0.0, step=5.0, key=f"{KEY}_tc", disabled=not scored)
    columns = list(queries.columns)
    default_sort = "tc_kelvin" if scored else "formula"
    sort_by = right.selectbox("Sort by", columns, index=columns.index(default_sort), key=f"{KEY}_sort")
    descending = right.toggle("Largest first", value=scored, key=f"{KEY}_descending")
    shown = right.number_input("Rows shown", min_value=10, max_value=MAX_SHOWN, value=200, step=50, key=f"{KEY}_rows")
    chosen = CandidateFilter(
        references=tuple(chosen_references), scale_factors=tuple(int(n) for n in chosen_n), new_only=new_only,
        smact_valid_only=valid_only, superconductor_only=sc_only, tc_min_kelvin=tc_min if scored and tc_min > 0 else None,
        formula_contains=contains.strip(),
    )
    return chosen, sort_by, descending, int(shown)


def place_on_map(table: pd.DataFrame, class_map) -> pd.DataFrame:
    """``table``'s candidates with map coordinates: their own when the campaign placed them,
    else placed now (formula, reference, tsne_x, tsne_y, cluster_name, tc_kelvin)."""
    from superdiff_core.composition import parse_formulas
    from superdiff_core.run import reference_points

    columns = [c for c in ("formula", "reference", "tsne_x", "tsne_y", "cluster_name", "tc_kelvin") if c in table.columns]
    if {"tsne_x", "tsne_y"} <= set(table.columns):
        return table[columns].dropna(subset=["tsne_x", "tsne_y"])
    parsed = [parse_formulas(formula)[0][0] for formula in table["formula"]]
    placed = reference_points(parsed, None, class_map)
    out = table[[c for c in ("formula", "reference", "tc_kelvin") if c in table.columns]].reset_index(drop=True).copy()
    for column in ("tsne_x", "tsne_y", "cluster_name"):
        out[column] = placed[column].to_numpy()
    return out
