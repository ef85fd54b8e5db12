"""The results section of a run: the out-of-date mark, summary, funnel, map, candidate
table, downloads, property distributions, families, and the session's history of runs.

Figures come from :mod:`ui.plots`, table filters from :mod:`ui.candidate_table`; only
drawing happens here.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
import streamlit as st

from superdiff_core import funnel, run_plan, run_settings
from superdiff_core.assessment import doping_variant_count
from superdiff_core.candidate_filter import CandidateFilter, filter_candidates
from superdiff_core.errors import CheckpointError, InputError, SuperDiffError
from superdiff_core.families import MIN_HEADLINE_MEMBERS, doping_curve, family_formula, members_order, unwritten_new_families
from superdiff_core.formula_notation import MAX_HEADLINE_VARIABLES
from superdiff_core.results import candidates_to_csv, column_help
from superdiff_core.run import RunRecord
from superdiff_core.settings import GenerationSettings
from superdiff_core.shortlist import (
    CRITERIA,
    DEFAULT_SIZE,
    IN_DOMAIN_FIRST,
    LEAVE_OUT_DOPING_VARIANTS,
    MAX_PER_ELEMENT_SET,
    ShortlistWeights,
    shortlist,
)
from superdiff_core.validity import CHECK_COLUMNS, VALID_COLUMN

from . import candidate_table, formatting, plots, resources, state


def partial_notice(record: RunRecord) -> str | None:
    """"Partial: stopped after k of n runs …" for a stopped run (with the samples kept of the
    run that was stopped, when some of its batches had finished), else None."""
    if not record.partial or record.settings is None:
        return None
    total = run_plan.plan_size(record.settings)
    finished, drawn = divmod(record.raw_samples, max(1, record.settings.samples))
    if not drawn:
        return (
            f"Partial: stopped after {finished} of {total} sampling run(s). The candidates of the {finished} finished "
            "run(s) are kept below."
        )
    kept = f"the candidates of the {finished} finished run(s) and " if finished else ""
    return (
        f"Partial: stopped during sampling run {finished + 1} of {total}. Kept below: {kept}the candidates of the "
        f"{drawn:,} of its {record.settings.samples:,} samples already drawn (its finished batches)."
    )


def changed_inputs_of_runs(records: Sequence[RunRecord], planned: Sequence[GenerationSettings] | None) -> list[str]:
    """Names of the settings in which a stored run (one record per class it ran on)
    differs from what the inputs on screen would run (:func:`per_class_settings`)."""
    if not planned or not records:
        return []
    if [r.model_class for r in records] != [p.model_class for p in planned][: len(records)]:
        return ["model class"]
    changed: list[str] = []
    for record, current in zip(records, planned):
        changed += [name for name in changed_inputs(record.settings, current) if name not in changed]
    return changed



DERIVED_FROM: dict[str, tuple[str, ...]] = {
    "resample_steps": ("guidance", "references"),
    "steps": ("model_class",),
    "conditioning_stop": ("references",),
    "filter_order": ("element_order", "references"),
    "scale_factors": ("references",),
}
"""Settings that follow others when the user leaves them unset: resampling is off when
guided, the steps follow the class, … A change of those is not one the user made."""


def changed_inputs(record_settings: GenerationSettings | None, current: GenerationSettings | None) -> list[str]:
    """Names of the settings that differ between a stored run (resolved) and what the
    inputs on screen would run (``current``, resolved here), leaving out a setting that only
    follows another the user changed (:data:`DERIVED_FROM`: a guidance weight turns
    resampling off); empty when they agree or either is unknown."""
    if record_settings is None or current is None:
        return []
    try:
        resolved = current.resolved()
    except SuperDiffError:
        resolved = current
    changed = [f.name for f in dataclasses.fields(resolved) if getattr(record_settings, f.name) != getattr(resolved, f.name)]
    return [
        name for name in changed
        if not (getattr(current, name) is None and any(source in changed for source in DERIVED_FROM.get(name, ())))
    ]


def stale_notice(
    record: RunRecord | Sequence[RunRecord], current: GenerationSettings | Sequence[GenerationSettings] | None,
) -> None:
    """Mark results computed with other inputs than those on screen as out of date
    (``record``: the run's record, or its records one per class; ``current``: what the
    inputs would run, likewise)."""
    records = [record] if isinstance(record, RunRecord) else list(record)
    planned = None if current is None else [current] if isinstance(current, GenerationSettings) else list(current)
    changed = changed_inputs_of_runs(records, planned)
    if changed:
        st.warning(
            f"**Out of date:** these results were computed with other inputs than those above "
            f"(changed: {', '.join(name.replace('_', ' ') for name in changed)}). Run again to update them.",
            icon=":material/history:",
        )


def history_section(kind: str) -> None:
    """The session's finished runs: reopen one, or compare two side by side (funnel and
    Tc distribution of each)."""
    entries = state.history()
    if not entries:
        return
    st.divider()
    st.subheader("Runs of this session")
    labels = {entry.number: entry.label for entry in entries}
    numbers = list(reversed(labels))
    left, right = st.columns([3, 1], vertical_alignment="bottom")
    chosen = left.selectbox("Reopen a run", numbers, format_func=labels.get, key=f"{kind}_history_pick")
    if right.button("Reopen", key=f"{kind}_history_open", icon=":material/restore:"):
        entry = next(e for e in entries if e.number == chosen)
        state.save_run_group(entry.record.kind, entry.records)  # back on the page that made it
        if entry.record.kind != kind:
            st.switch_page(f"app_pages/{entry.record.kind}.py")
        st.rerun()
    if len(entries) < 2:
        st.caption("Run again with other settings to compare two runs side by side.")
        return
    pair = st.multiselect(
        "Compare two runs", numbers, default=numbers[:2], max_selections=2, format_func=labels.get, key=f"{kind}_compare",
    )
    if len(pair) != 2:
        return
    thresholds = thresholds_from_state(f"{kind}_thresholds")
    for column, number in zip(st.columns(2), pair):
        records = next(e for e in entries if e.number == number).records
        with column:
            st.markdown(f"**{labels[number]}**")
            for record in records:
                model = f", {record.model_class} model" if len(records) > 1 else ""
                stages = _stages(record, thresholds)[0]
                st.dataframe(
                    funnel.funnel_frame(stages)[["stage", "remaining", "of first stage"]], hide_index=True, width="stretch",
                    placeholder="n/a",
                )
                if record.has_properties:
                    is_sc = record.table["is_superconductor"].astype("boolean").fillna(False).to_numpy(dtype=bool)
                    st.plotly_chart(
                        plots.histogram_figure(
                            record.table.loc[is_sc, "tc_kelvin"], f"Predicted Tc, run #{number}{model}", "K",
                            groups=record.table.loc[is_sc, "reference"].astype(str) if "reference" in record.table.columns else None,
                        ),
                        width="stretch", key=f"{kind}_compare_tc_{number}_{record.model_class}",
                    )


def _stages(record: RunRecord, thresholds: funnel.Thresholds) -> tuple[list[funnel.FunnelStage], np.ndarray]:
    if record.engine_stages is not None:
        return funnel.engine_funnel(record.engine_stages, record.table, thresholds, record.validity_check)
    rest, funnel_mask = funnel.table_funnel(record.table, thresholds, record.validity_check)
    return list(record.leading_stages) + rest, funnel_mask


def show_run_results(
    records: Sequence[RunRecord], key: str, current: GenerationSettings | Sequence[GenerationSettings] | None = None,
) -> None:
    """The results of a page's run: its out-of-date mark (against ``current``, what the
    inputs on screen would run), then one results section, or one tab per model class
    when its references ran each on their own class model."""
    stale_notice(records, current)
    if len(records) == 1:
        show_results(records[0], key)
        return
    st.caption("Each reference ran on the model of its own class: one tab per model, each with its own map.")
    thresholds = _threshold_inputs(f"{key}_thresholds")
    labels = [f"{r.model_class} model: {', '.join(r.settings.reference_texts) if r.settings else ''}" for r in records]
    for tab, record in zip(st.tabs(labels), records):
        with tab:
            show_results(record, f"{key}_{record.model_class}", thresholds)


def show_results(record: RunRecord, key: str, thresholds: funnel.Thresholds | None = None) -> None:
    """The whole results section of a run (``thresholds``: the funnel thresholds when
    the caller already shows their inputs, else they are shown in the sidebar)."""
    if thresholds is None:
        thresholds = _threshold_inputs(f"{key}_thresholds")
    stages, funnel_mask = _stages(record, thresholds)
    if notice := partial_notice(record):
        st.warning(notice, icon=":material/stop_circle:")
    _summary(record, stages)
    for note in record.notes:
        st.info(note)
    _funnel_section(stages, key)
    if record.table.empty:
        st.warning(
            "No candidate survived the screening. Try more samples, more sampling steps, a smaller N, or "
            "the Advanced options (another validity check, keep invalid candidates)."
        )
        _downloads(record, record.table, thresholds, key)
        return
    results_key = f"{key}_res"  # widget keys of the results section, apart from the page's inputs
    _reliability_section(record)
    selection = _map_section(record, results_key)
    shown = _table_section(record, results_key, funnel_mask, selection)
    _downloads(record, shown, thresholds, key)
    _shortlist_section(record, results_key)
    _distributions(record, thresholds)
    _families_section(record, results_key)


def _threshold_inputs(key: str) -> funnel.Thresholds:
    defaults = funnel.Thresholds()
    state.init_defaults({f"{key}_tc": defaults.tc_min_kelvin, f"{key}_energy": defaults.formation_max_ev,
                         f"{key}_hull": defaults.hull_rule_out, f"{key}_plausible": defaults.plausible_only})
    with st.sidebar:
        st.markdown("**Funnel thresholds**")
        st.number_input("Predicted Tc above (K)", min_value=0.0, max_value=300.0, step=1.0, key=f"{key}_tc", persist_state="session")
        st.number_input(
            "Formation energy below (eV/atom)", min_value=-5.0, max_value=5.0, step=0.05, key=f"{key}_energy",
            persist_state="session",
        )
        st.toggle("Leave out candidates > 2σ above the hull", key=f"{key}_hull", persist_state="session",
                  help="the predicted formation energy against the known OQMD phases, with the model's spread")
        st.toggle("Plausible substitutions only", key=f"{key}_plausible", persist_state="session",
                  help="candidates whose added elements are plausible substitutes (Hautier et al. 2011)")
    return thresholds_from_state(key)  # the widgets keep their values in the session state


def thresholds_from_state(key: str) -> funnel.Thresholds:
    """The funnel thresholds held by the sidebar inputs of ``key`` (their defaults before they are drawn)."""
    defaults, get = funnel.Thresholds(), st.session_state.get
    return funnel.Thresholds(
        float(get(f"{key}_tc", defaults.tc_min_kelvin)), float(get(f"{key}_energy", defaults.formation_max_ev)),
        plausible_only=bool(get(f"{key}_plausible", defaults.plausible_only)),
        hull_rule_out=bool(get(f"{key}_hull", defaults.hull_rule_out)),
    )


def _summary(record: RunRecord, stages: list[funnel.FunnelStage]) -> None:
    columns = st.columns(5)
    if record.raw_samples:
        columns[0].metric("Raw samples", f"{record.raw_samples:,}")
    else:
        columns[0].metric("Formulas", f"{len(record.table):,}")
    parsed = next((stage.count for stage in record.leading_stages if stage.label == "parsed"), None)
    if parsed is not None:  # a screened list: lines that are not formulas are no candidates
        columns[1].metric("Candidates", f"{parsed:,}", help="formulas that could be read (unparsable lines are not counted)")
    else:
        columns[1].metric("Candidates", f"{len(record.table):,}", help="rows of the table (after screening)")
    sc_stage = next((stage for stage in stages if stage.label == "predicted superconductor"), None)
    if record.has_properties and sc_stage is not None and sc_stage.count is not None:
        columns[2].metric("Predicted superconductors", f"{sc_stage.count:,}", help="as in the funnel: after the checks above it")
    else:
        columns[2].metric("Predicted superconductors", "n/a", help="the property models are not built")
    last = stages[-1]
    columns[3].metric("Pass the whole funnel", "n/a" if last.count is None else f"{last.count:,}")
    headline = None if record.families is None else record.families[record.families["headline"].astype(bool)]
    new_families = "0" if headline is None else f"{len(headline):,}"
    help_text = f"a new family is {new_family_definition(record.from_references)}"
    if headline is not None and "diffusion_percent" in headline.columns:
        new_families += f" ({int((headline['diffusion_percent'] > 0).sum())} by diffusion)"
        help_text += "; in brackets, those holding candidates the diffusion model drew (the others: substitution baseline alone)"
    columns[4].metric("New families", new_families, help=help_text)
    if record.timings:
        parts = [f"{name} {formatting.format_seconds(seconds)}" for name, seconds in record.timings.items() if name != "total"]
        total = record.timings.get("total")
        line = f"Took {formatting.format_seconds(total)}" if total is not None else "Took"
        details = f" ({', '.join(parts)})" if parts else ""
        precision = "" if record.settings is None else f", network in {record.settings.precision}"
        st.caption(f"{line}{details} on {resources.device_description()}{precision}.")


SPREAD_NAMES = {"tc_kelvin": "Predicted Tc", "formation_energy_ev_per_atom": "Formation energy",
                "energy_above_hull_ev_per_atom": "Distance above the hull"}
SPREAD_UNITS = {"tc_kelvin": "K", "formation_energy_ev_per_atom": "eV/atom", "energy_above_hull_ev_per_atom": "eV/atom"}


def spread_sentences(spread: pd.DataFrame) -> list[str]:
    """One sentence per prediction: does it tell this run's candidates apart, or is their order
    inside the model's own error (spread p10–p90 against the median error width)?"""
    sentences = []
    for row in spread.itertuples():
        unit = SPREAD_UNITS.get(row.prediction, "")
        name = SPREAD_NAMES.get(row.prediction, row.prediction)
        figures = (f"spread {row.spread_p10_p90:.3g} {unit} (10th to 90th percentile) against a median error band of "
                   f"{row.median_error_width:.3g} {unit}")
        if row.distinguishable:
            sentences.append(f"**{name}** separates these {row.candidates:,} candidates: {figures}.")
        else:
            sentences.append(f"**{name}** cannot rank these {row.candidates:,} candidates: {figures}; "
                             "their order by it is inside the model's error.")
    return sentences


def _reliability_section(record: RunRecord) -> None:
    """What the run's numbers are worth: plausible substitutions, doping variants of known compounds,
    whether each prediction separates the candidates, and diffusion against the substitution baseline."""
    lines = []
    if not math.isnan(record.plausible_share):
        lines.append(f"**{100 * record.plausible_share:.0f} %** of the candidates that add an element add a plausible "
                     "substitute for a reference element (data-mined substitution probabilities, Hautier et al. 2011; "
                     "the threshold separates SuperCon's own substitutions from random ones with AUC 0.63 only, "
                     "so read it as a flag, not a verdict).")
    variants = doping_variant_count(record.table)
    if variants and record.kind != "screen":
        lines.append(f"**{variants:,} of {len(record.table):,}** candidates are doping variants of a known compound: "
                     "exactly its elements, within 0.05 in atomic fractions (the Doping variant of column). They "
                     "rescale or dope what SuperCon already lists; the Shortlist can leave them out.")
    if record.prediction_spread is not None:
        lines.extend(spread_sentences(record.prediction_spread))
    if not lines and record.comparison is None:
        return
    st.subheader("What these numbers are worth")
    for line in lines:
        st.markdown(f"- {line}")
    if record.comparison is not None:
        st.markdown("**Diffusion against plain ion substitution** (same references, as many draws, same screening and models):")
        st.dataframe(record.comparison, hide_index=True, width="stretch", column_config=source_comparison_columns())


def source_comparison_columns() -> dict:
    """Column labels and help of a diffusion-vs-substitution table (a run's, or a campaign's per reference)."""
    return {
        "reference": "Reference", "source": "Source", "drawn": "Drawn", "candidates": "Candidates",
        "candidates_per_100_drawn": "Per 100 drawn",
        "new_element_systems": st.column_config.NumberColumn("New element systems", help="element sets no known compound has"),
        "found_by_both": st.column_config.NumberColumn("Found by both", help="candidates the other source drew too"),
        "plausible_extensions_percent": "Plausible extensions (%)",
        "predicted_superconductors_percent": "Predicted superconductors (%)",
        "median_tc_kelvin_of_those": st.column_config.NumberColumn("Their median Tc (K)", format="%.1f"),
        "median_distance_to_known": st.column_config.NumberColumn("Median distance to known", format="%.4f"),
    }


def _shortlist_section(record: RunRecord, key: str) -> None:
    """The top candidates by a rule the user weights, each with its reasons and flags."""
    if not record.has_properties or record.table.empty:
        return
    st.subheader("Shortlist")
    st.caption("Each criterion becomes the candidate's percentile within this run; the score is their weighted mean. "
               "Candidates more than 2σ above the hull are left out. Read the reasons, and the flags: Tc within the "
               "error of the top candidate's, a doping variant of a known compound, outside the training domain. "
               "By default one row per element set (the best-scoring), so each row is a different substitution, and "
               "candidates inside the training domain first.")
    defaults = ShortlistWeights()
    with st.expander("Weights"):
        columns = st.columns(len(CRITERIA) + 2)
        weights = {name: columns[i].number_input(name, 0.0, 5.0, float(getattr(defaults, name)), 0.25, key=f"{key}_w_{name}")
                   for i, name in enumerate(CRITERIA)}
        size = columns[-2].number_input("size", 1, 200, DEFAULT_SIZE, key=f"{key}_w_size")
        per_elements = columns[-1].number_input("per element set", 0, 200, MAX_PER_ELEMENT_SET, key=f"{key}_w_per_elements",
                                                help="at most this many rows with the same elements (0: no limit)")
    variants = doping_variant_count(record.table) or 0
    new_only = st.toggle(f"Leave out doping variants of known compounds ({variants:,} in this run)", value=LEAVE_OUT_DOPING_VARIANTS,
                         key=f"{key}_shortlist_new_only",
                         help="candidates with exactly the elements of a measured compound, within 0.05 in atomic fractions "
                              "(the Doping variant of column): a known compound rescaled, worth making perhaps, but not a "
                              "new family; on by default")
    in_domain_first = st.toggle("Rank candidates inside the training domain first", value=IN_DOMAIN_FIRST,
                                key=f"{key}_shortlist_in_domain_first",
                                help="a candidate outside the training domain lies farther from every known compound "
                                     "than known families reach: its Tc, probability and hull margin are extrapolations, "
                                     "so it comes after every candidate inside (on by default)")
    try:
        chosen = shortlist(record.table, ShortlistWeights(**weights), int(size), new_only=new_only,
                           max_per_element_set=int(per_elements), in_domain_first=in_domain_first)
    except InputError as error:
        st.error(str(error))
        return
    shown = [c for c in ("shortlist_rank", "formula", "source", "shortlist_score", "shortlist_reasons", "tc_within_error_of_top",
                         "same_elements_in_run", "doping_variant_of", "outside_training_domain") if c in chosen.columns]
    st.dataframe(chosen[shown], hide_index=True, width="stretch", column_config={
        "shortlist_rank": "Rank", "formula": "Formula", "source": "Source", "shortlist_score": "Score",
        "shortlist_reasons": st.column_config.TextColumn("Why", width="large"),
        "tc_within_error_of_top": st.column_config.CheckboxColumn("Tc within error of #1"),
        "same_elements_in_run": st.column_config.NumberColumn(
            "With these elements", help="candidates of this run with exactly its elements, itself included"),
        "doping_variant_of": st.column_config.TextColumn(
            "Doping variant of", help="a known compound with exactly its elements, within 0.05 in atomic fractions"),
        "outside_training_domain": st.column_config.CheckboxColumn("Outside training domain"),
    })
    if len(chosen):
        with st.expander(f"The top {min(len(chosen), SHORTLIST_READ_IN_FULL)} with their reasons in full", expanded=True):
            st.markdown("\n".join(f"{row.shortlist_rank}. **{row.formula}**: {row.shortlist_reasons}"
                                   for row in chosen.head(SHORTLIST_READ_IN_FULL).itertuples()))
    st.download_button("Download the shortlist (CSV)", candidates_to_csv(chosen), file_name=f"{record.file_stem}_shortlist.csv",
                       mime="text/csv", on_click="ignore", icon=":material/star:", key=f"{key}_download_shortlist")


def _funnel_section(stages: list[funnel.FunnelStage], key: str) -> None:
    st.subheader("Screening funnel")
    left, right = st.columns([3, 2])
    left.plotly_chart(plots.funnel_figure(stages), width="stretch", key=f"{key}_funnel")
    frame = funnel.funnel_frame(stages)
    right.dataframe(frame[["stage", "remaining", "of first stage"]], hide_index=True, width="stretch", placeholder="n/a")
    if any(stage.count is None for stage in stages):
        right.caption("Stages without a count need the property models (checkpoints/tc, checkpoints/formation).")
    right.caption("Thresholds are set in the sidebar. A candidate without a prediction fails a threshold.")


SHORTLIST_READ_IN_FULL = 5
"""Shortlist rows whose reasons the page also writes out in full (the table's Why column is cut)."""

MAX_LABELLED_FORMULAS = 40
"""Most screened formulas written beside their points on the map (more would hide the map)."""


def new_family_definition(from_references: bool = True) -> str:
    """What makes a family *new* (a headline family, :func:`superdiff_core.families.is_headline`),
    in the words the Generate page, the Screen page and Help all use. ``from_references``: the
    rows were generated from references (a new family must then keep every reference element);
    False for a screened list, which has none."""
    members = "candidates" if from_references else "formulas"
    text = (
        f"a group of {members} with the same elements whose amounts vary in a regular way, written as one general formula "
        f"(such as La₂₋ₓSrₓCuO₄, at most {MAX_HEADLINE_VARIABLES} varying amounts), new to SuperCon (outside every SuperCon "
        f"cluster, or an element system SuperCon does not have), with at least {MIN_HEADLINE_MEMBERS} members that pass the "
        "run's SMACT check and are predicted to superconduct"
    )
    return text + (", keeping every element of its reference" if from_references else "")


def _map_section(record: RunRecord, key: str) -> tuple[int, ...] | None:
    st.subheader("Map of SuperCon families")
    if not record.has_map:
        st.info("No map: the map artifacts are missing (checkpoints/maps). The candidates are listed below.")
        return None
    folder = str(resources.models_dir())
    try:
        points = resources.map_points(folder, record.model_class)
    except CheckpointError as error:
        st.info(f"No map: {error}")
        return None
    references = record.references.dropna(subset=["tsne_x"]) if len(record.references) else None
    screened = record.kind == "screen"
    labelled = screened and int(record.table["tsne_x"].notna().sum()) <= MAX_LABELLED_FORMULAS
    figure = plots.map_figure(
        points, record.table, references,
        title=f"{record.model_class}: SuperCon clusters and {'screened formulas' if screened else 'candidates'}",
        candidate_label="screened formulas" if screened else "candidates", label_candidates=labelled,
    )
    event = st.plotly_chart(
        figure, key=f"{key}_map", on_select="rerun", selection_mode=("points", "box", "lasso"), width="stretch",
    )
    selection = getattr(event, "selection", None)
    rows = candidate_table.selected_rows(selection.get("points", []) if selection else [])
    if screened:
        st.caption(
            "Small coloured points: SuperCon compounds of this class by cluster (the largest clusters are named). "
            "Large black circles: your screened formulas"
            + (", labelled with their formula" if labelled else
               f" (more than {MAX_LABELLED_FORMULAS}: hover a point for its formula)")
            + ". Select points with a click, box or lasso to filter the table below; double-click the map to clear."
        )
    else:
        st.caption(
            "Small coloured points: SuperCon compounds of this class by cluster (the largest clusters are named). "
            "Large circles: candidates (black; with several references, one colour per reference and a black ring); "
            "★: the references, labelled with their formula. Select candidates with a click, box or lasso to "
            "filter the table below; double-click the map to clear."
        )
    return rows or None


def _table_section(record: RunRecord, key: str, funnel_mask: np.ndarray, selection: tuple[int, ...] | None) -> pd.DataFrame:
    st.subheader("Candidates")
    table = record.table
    columns = st.columns(4)
    text = columns[0].text_input("Formula contains", key=f"{key}_text", placeholder="e.g. Co or La", persist_state="session")
    min_tc = columns[1].number_input(
        "Predicted Tc at least (K)", min_value=0.0, value=None, key=f"{key}_min_tc", placeholder="any", persist_state="session",
    )
    max_energy = columns[2].number_input(
        "Formation energy at most (eV/atom)", value=None, step=0.05, key=f"{key}_max_energy", placeholder="any", persist_state="session",
    )
    only_funnel = columns[3].toggle("Only those passing the funnel", key=f"{key}_only_funnel", persist_state="session")
    scale_factors: tuple[int, ...] = ()
    families: tuple[str, ...] = ()
    chosen_references: tuple[str, ...] = ()
    more = st.columns(3)
    if "reference" in table.columns and table["reference"].astype(str).nunique() > 1:
        options = list(dict.fromkeys(str(r) for r in table["reference"] if str(r)))
        chosen_references = tuple(
            more[2].multiselect("Reference", options, key=f"{key}_references", placeholder="all references", persist_state="session")
        )
    if "scale_factor" in table.columns and table["scale_factor"].notna().any():
        options = sorted(int(n) for n in table["scale_factor"].dropna().unique())
        scale_factors = tuple(more[0].multiselect("N", options, key=f"{key}_n", placeholder="all N", persist_state="session"))
    if "family_id" in table.columns:
        options = sorted(f for f in table["family_id"].dropna().unique() if f)
        if options:
            families = tuple(
                more[1].multiselect("Family", options, key=f"{key}_families", placeholder="all families", persist_state="session")
            )
    spec = CandidateFilter(
        formula_contains=text.strip(), tc_min_kelvin=min_tc, formation_max_ev=max_energy, funnel_only=only_funnel, new_only=False,
        scale_factors=scale_factors, families=families, references=chosen_references, rows=selection,
    )
    shown = filter_candidates(table, spec, funnel_mask)
    if selection:
        st.info(f"{len(selection)} candidates selected on the map; showing those only (double-click the map to clear).")
    st.caption(f"Showing {len(shown):,} of {len(table):,} candidates. Click a column header to sort.")
    display = shown[candidate_table.display_columns(table)]
    longest = int(table["formula"].astype(str).str.len().max()) if len(table) else 0
    st.dataframe(
        display, hide_index=True, width="stretch", column_config=_column_config(longest), key=f"{key}_table", placeholder="–",
    )
    return shown


NUMBER_FORMATS: dict[str, str] = {
    "tc_kelvin": "%.1f", "tc_kelvin_low": "%.1f", "tc_kelvin_high": "%.1f", "sc_probability": "%.2f",
    "formation_energy_ev_per_atom": "%.3f", "formation_energy_std_ev_per_atom": "%.3f",
    "nearest_known_tc_kelvin": "%.1f", "known_close_tc_median_kelvin": "%.1f", "distance_to_known": "%.3f",
    "energy_above_hull_ev_per_atom": "%.3f", "energy_above_hull_std_ev_per_atom": "%.3f",
}
"""Display formats of the candidate table's numeric columns."""


def formula_column_width(longest_formula: int) -> int:
    """Pixels for the formula column: wide enough for the longest formula (``longest_formula``
    characters, about 7.5 px each), between 140 and 420 px."""
    return int(min(420, max(140, 7.5 * longest_formula + 24)))


def _column_config(longest_formula: int = 0) -> dict:
    """Header, format and help of every column of the candidate table: each column of
    :data:`ui.candidate_table.DISPLAY_COLUMNS` gets its readable header (no raw names) and, as its
    help, the description the Help page and the CSV use (:data:`superdiff_core.results.COLUMN_HELP`);
    the formula column is wide enough for the longest formula (``longest_formula`` characters)."""
    config = st.column_config
    labels = candidate_table.DISPLAY_COLUMNS
    checkboxes = ("plausible_substitution", "above_hull_beyond_error", "outside_training_domain", "novel", VALID_COLUMN, *CHECK_COLUMNS)

    def column(name: str, label: str) -> dict:
        """The column's type (checkbox, number with its format, or text) with its CSV description as help."""
        text = column_help(name) or None
        if name in checkboxes:
            return config.CheckboxColumn(label, help=text)
        if name in NUMBER_FORMATS:
            return config.NumberColumn(label, format=NUMBER_FORMATS[name], help=text)
        return config.TextColumn(label, help=text)

    columns = {name: column(name, label) for name, label in labels.items()}
    return columns | {
        "formula": config.TextColumn(labels["formula"], pinned=True, width=formula_column_width(longest_formula),
                                     help=column_help("formula") or None),
        "scale_factor": config.NumberColumn("N", format="%d", help=column_help("scale_factor") or None),
        "note": config.TextColumn(labels["note"], width="large", help=f"{column_help('note')} (hover a cell to read it whole)"),
    }


def _downloads(record: RunRecord, shown: pd.DataFrame, thresholds: funnel.Thresholds, key: str) -> None:
    columns = st.columns(3)
    columns[0].download_button(
        f"Download all {len(record.table):,} candidates (CSV)", candidates_to_csv(record.table),
        file_name=f"{record.file_stem}.csv", mime="text/csv", on_click="ignore", icon=":material/download:",
        key=f"{key}_download_all",
    )
    if len(shown) != len(record.table):
        columns[1].download_button(
            f"Download the {len(shown):,} shown (CSV)", candidates_to_csv(shown),
            file_name=f"{record.file_stem}_filtered.csv", mime="text/csv", on_click="ignore",
            icon=":material/filter_alt:", key=f"{key}_download_shown",
        )
    if record.settings is not None:
        card = resources.read_json_card("diffusion", record.model_class, "card.json")
        columns[2].download_button(
            "Run settings (JSON)", run_settings.run_settings_json(record.settings, thresholds, card),
            file_name=f"{record.file_stem}.json", mime="application/json", on_click="ignore",
            icon=":material/settings:", key=f"{key}_download_settings",
            help="Everything needed to repeat this run: load it on the Generate page, or use its command line.",
        )


def _distributions(record: RunRecord, thresholds: funnel.Thresholds) -> None:
    st.subheader("Predicted properties")
    if not record.has_properties:
        st.info("No property predictions: the property models are not built yet (checkpoints/tc, checkpoints/formation).")
        return
    references = record.references
    energy_refs = dict(zip(references["formula"], references["formation_energy_ev_per_atom"])) if len(references) else {}
    tc_refs = dict(zip(references["formula"], references["tc_kelvin"])) if len(references) else {}
    groups = record.table["reference"].astype(str) if "reference" in record.table.columns else None
    left, right = st.columns(2)
    left.plotly_chart(
        plots.histogram_figure(
            record.table["formation_energy_ev_per_atom"], "Formation energy (cf. paper Fig. 4)", "eV/atom",
            energy_refs, thresholds.formation_max_ev, f"< {thresholds.formation_max_ev:g}", groups=groups,
        ),
        width="stretch",
    )
    is_sc = record.table["is_superconductor"].astype("boolean").fillna(False).to_numpy(dtype=bool)
    right.plotly_chart(
        plots.histogram_figure(
            record.table.loc[is_sc, "tc_kelvin"], "Predicted Tc of predicted superconductors", "K",
            tc_refs, thresholds.tc_min_kelvin, f"> {thresholds.tc_min_kelvin:g} K",
            groups=None if groups is None else groups[is_sc],
        ),
        width="stretch",
    )


def _families_section(record: RunRecord, key: str) -> None:
    st.subheader("Families")
    families = record.families
    from_references = record.from_references
    if families is None or families.empty:
        st.info(
            f"No family found: a family needs at least three distinct {'candidates' if from_references else 'formulas'} "
            "with the same elements (or a tight group outside the known clusters)."
            if record.has_map else "Families are found on the map, which is missing."
        )
        return
    lost = ", or a reference element lost" if from_references else ""
    show_known = st.toggle(f"Include the other families (known to SuperCon, too few valid or superconducting members, "
                           f"more varying amounts than one general formula writes{lost})", key=f"{key}_known_families",
                           persist_state="session")
    headline = families["headline"].astype(bool)
    shown = families if show_known else families[headline]
    if not show_known:
        new_unwritten = unwritten_new_families(families)
        if new_unwritten:
            st.caption(f"{new_unwritten:,} more group{'s' if new_unwritten > 1 else ''} of new element systems "
                       f"{'are' if new_unwritten > 1 else 'is'} not headlined: more than {MAX_HEADLINE_VARIABLES} amounts "
                       f"vary at once, too few members pass the SMACT check and are predicted to superconduct{lost}. "
                       "The toggle lists them, each written around its mean composition.")
    if shown.empty:
        st.info(f"No new family ({new_family_definition(from_references)}): switch the toggle to see the others.")
        return
    columns = [
        "family_id", "general_formula", "variable_ranges", "n_members", "n_valid", "family_kind", "headline",
        "mean_tc_kelvin", "max_tc_kelvin", "plausible_percent", "diffusion_percent", "nearest_cluster_name", "example_formulas",
    ]
    st.dataframe(
        shown[[c for c in columns if c in shown.columns]], hide_index=True, width="stretch", placeholder="–",
        column_config={
            "family_id": "Family", "general_formula": "General formula", "variable_ranges": "Ranges",
            "n_members": "Members", "n_valid": "SMACT-valid members", "family_kind": "Kind", "headline": "Headline",
            "mean_tc_kelvin": st.column_config.NumberColumn("Mean Tc (K)", format="%.1f"),
            "max_tc_kelvin": st.column_config.NumberColumn("Max Tc (K)", format="%.1f"),
            "diffusion_percent": st.column_config.NumberColumn(
                "Drawn by diffusion (%)", format="%.0f",
                help=("members the diffusion model drew; the rest came from the substitution baseline "
                      "(0: a family the baseline alone found)")),
            "plausible_percent": st.column_config.NumberColumn("Plausible substitutions (%)", format="%.0f",
                                                               help="members adding a plausible substitute (Hautier et al. 2011)"),
            "nearest_cluster_name": "Nearest SuperCon cluster", "example_formulas": "Examples",
        },
    )
    _doping_plot(record, shown, key)


def _doping_plot(record: RunRecord, families: pd.DataFrame, key: str) -> None:
    labels = {row.family_id: f"{row.family_id}: {row.general_formula}" for row in families.itertuples()}
    family = st.selectbox("Predicted Tc against doping for", list(labels), format_func=labels.get, key=f"{key}_family")
    if family is None:
        return
    if not record.has_properties:
        st.info("The doping plot needs predicted Tc: the property models are not built yet.")
        return
    mask = (record.table["family_id"] == family).to_numpy()
    element_order = None
    try:
        element_order = resources.class_map(str(resources.models_dir()), record.model_class).element_order
    except CheckpointError:
        pass
    if "reference" in record.table.columns:  # the families table's formulas are led by the reference
        element_order = members_order(element_order, record.table.loc[mask, "reference"].fillna("").astype(str).tolist())
    formula = family_formula(record.vectors[mask], element_order)
    if formula is None or not formula.variables:
        st.info("This family has no single varying amount to plot against (its members differ in their elements).")
        return
    names = [v.name for v in formula.variables]
    variable = names[0]
    if len(names) > 1:
        elements = {v.name: v.element for v in formula.variables}
        variable = st.radio(
            "Varying amount", names, horizontal=True, key=f"{key}_variable", format_func=lambda n: f"{n} ({elements[n]})",
        )
    try:
        curve = doping_curve(record.table[mask], element_order, variable)
    except SuperDiffError as error:
        st.info(str(error))
        return
    st.plotly_chart(plots.doping_figure(curve), width="stretch")
