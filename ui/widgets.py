"""Streamlit widgets shared by the pages: inputs, the run with live progress, and the
results section (funnel, map, candidate table, distributions, families, downloads).

Pages stay thin: they read their own inputs and call these. Figures come from
:mod:`ui.plots`, decisions from :mod:`ui.logic`; only drawing happens here.
"""

from __future__ import annotations

import logging
import threading

import numpy as np
import pandas as pd
import streamlit as st

from superdiff_core.composition import ParsedFormula
from superdiff_core.data import MODEL_CLASSES
from superdiff_core.errors import CheckpointError, SuperDiffError
from superdiff_core.pipeline import MAX_SAMPLES_PER_RUN, GenerationSettings
from superdiff_core.results import candidates_to_csv
from superdiff_core.sampler import DEFAULT_CONDITIONING_STOP, DEFAULT_METHOD, SamplingCancelled, default_steps
from superdiff_core.screening import MAX_ELEMENTS_PER_CLASS, RESIDUAL_THRESHOLD, ScreeningOptions

from . import logic, plots, resources, state
from .runs import BackgroundRun, RunProgress, RunRecord, load_optional, run_generation

LOGGER = logging.getLogger(__name__)

POLL_SECONDS = 0.25
"""How often the progress line is redrawn while a run works in the background."""

METHODS: dict[str, str] = {
    "ancestral": "ancestral (default)",
    "ddim": "DDIM (deterministic)",
    "ddpm": "DDPM, the paper's (needs ~1,000 steps)",
}
"""Reverse updates offered, as the engine names them, with their labels."""

# ---------------------------------------------------------------------------------------
# Messages
# ---------------------------------------------------------------------------------------


def show_unexpected(error: BaseException, what: str) -> None:
    """One line for the user, the traceback for the server log."""
    LOGGER.error("unexpected error while %s", what, exc_info=error)
    st.error(f"Something went wrong while {what} ({type(error).__name__}: {error}). Details are in the server log.")


def device_caption() -> str:
    return f"Runs on {resources.device_description()}"


# ---------------------------------------------------------------------------------------
# Inputs
# ---------------------------------------------------------------------------------------


def class_label(model_class: str) -> str:
    """Class name with a mark when its model is not trained yet."""
    return model_class if model_class in resources.trained_classes() else f"{model_class} (not trained yet)"


def model_class_picker(key: str, label: str = "Model class", help_text: str | None = None) -> str | None:
    """A select box of the four classes, untrained ones marked; says which are missing.

    Returns the chosen class if its model exists, else None (after an explanation).
    """
    available = resources.trained_classes()
    if not available:
        st.error(
            "No diffusion model is trained yet: there is no checkpoint under "
            f"{resources.models_dir() / 'diffusion'}. Build one with `superdiff train --model pnictides`."
        )
        return None
    if st.session_state.get(key) not in MODEL_CLASSES:
        st.session_state[key] = available[0]
    chosen = st.selectbox(label, MODEL_CLASSES, key=key, format_func=class_label, help=help_text, persist_state="session")
    if chosen not in available:
        from superdiff_core.checkpoints import train_command

        st.warning(
            f"The {chosen} model is not trained yet (trained: {', '.join(available)}). "
            f"It is built with `{train_command(chosen, 'checkpoints')}`."
        )
        return None
    return chosen


def sampling_inputs(prefix: str, model_class: str, default_samples: int, samples_label: str) -> tuple[int, int, int]:
    """Samples, steps and seed in one row; returns ``(samples, steps, seed)``. The steps
    start at the class's recommended count and follow the class until the user changes them."""
    recommended = default_steps(model_class)
    state.init_defaults({f"{prefix}_samples": default_samples, f"{prefix}_seed": 0})
    _follow_class_default(f"{prefix}_steps", model_class, recommended)
    left, middle, right = st.columns(3)
    samples = left.number_input(
        samples_label, min_value=1, max_value=MAX_SAMPLES_PER_RUN, step=50, key=f"{prefix}_samples",
        persist_state="session", help="More samples find more candidates; the time grows in proportion.",
    )
    steps = middle.number_input(
        "Sampling steps", min_value=1, max_value=1000, step=10, key=f"{prefix}_steps", persist_state="session",
        help=f"Speed against quality: the time grows in proportion to the steps, and with fewer steps more samples "
        f"fail the basic filters (negative amounts). {recommended} is the fewest that keeps the 1,000-step quality "
        f"for {model_class}; the paper used 1,000.",
    )
    seed = right.number_input(
        "Seed", min_value=0, max_value=2**31 - 1, step=1, key=f"{prefix}_seed", persist_state="session",
        help="The same seed and settings give the same candidates on the same device.",
    )
    st.caption(
        f"**Speed or quality:** time grows with samples × steps ({steps} steps ≈ {steps / recommended:.1f}× the time of "
        f"the recommended {recommended} for {model_class}); with fewer steps more samples fail the basic filters."
    )
    return int(samples), int(steps), int(seed)


def _follow_class_default(key: str, model_class: str, default) -> None:
    """Give ``key`` the class's default when the class changes, unless the user had changed
    the value from the previous class's default."""
    marker = f"{key}_default_for"
    previous = st.session_state.get(marker)
    if previous is None or (previous[0] != model_class and st.session_state.get(key) == previous[1]):
        st.session_state[key] = default
        st.session_state[marker] = (model_class, default)
    elif previous[0] != model_class:
        st.session_state[marker] = (model_class, default)


def advanced_inputs(prefix: str, model_class: str, conditioning: bool = False) -> tuple[str, int, ScreeningOptions]:
    """The Advanced section: update rule, ILVR stop (with references), residual threshold,
    element limits, SMACT variant; returns ``(method, conditioning_stop, screening options)``."""
    class_limit = MAX_ELEMENTS_PER_CLASS[model_class]
    state.init_defaults({
        f"{prefix}_method": DEFAULT_METHOD, f"{prefix}_ilvr_stop": DEFAULT_CONDITIONING_STOP,
        f"{prefix}_residual": RESIDUAL_THRESHOLD, f"{prefix}_mixed": False,
        f"{prefix}_keep_invalid": False, f"{prefix}_keep_known": False,
    })
    _follow_class_default(f"{prefix}_elements", model_class, (2, class_limit))
    with st.expander("Advanced: sampling and screening options"):
        method = st.radio(
            "Reverse update", tuple(METHODS), format_func=METHODS.get, key=f"{prefix}_method", horizontal=True,
            persist_state="session",
            help="The default keeps quality at few steps. DDIM is deterministic. DDPM is the paper's update "
            "(sigma² = beta) and needs about 1,000 steps.",
        )
        stop = DEFAULT_CONDITIONING_STOP
        if conditioning:
            stop = st.slider(
                "ILVR acts down to timestep", 0, 1000, step=10, key=f"{prefix}_ilvr_stop", persist_state="session",
                help="The reference steers the sampling from t = 1000 down to this timestep; the last steps run "
                "free and clean up amounts the blur smeared onto neighbouring elements. 0 steers every step, as in "
                f"the paper; {DEFAULT_CONDITIONING_STOP} is the measured default.",
            )
        residual = st.slider(
            "Residual threshold", 0.0, 0.5, step=0.01, key=f"{prefix}_residual", persist_state="session",
            help="After rounding to 0.01, amounts below this are treated as noise and set to zero (paper: 0.08).",
        )
        low, high = st.slider(
            "Number of elements", 1, 10, key=f"{prefix}_elements", persist_state="session",
            help=f"Candidates with fewer or more distinct elements are rejected (paper: 2 to {class_limit} for "
            f"{model_class}).",
        )
        mixed = st.toggle(
            "Mixed-valence SMACT check", key=f"{prefix}_mixed", persist_state="session",
            help="The paper's check gives each element one oxidation state, so most doped compounds fail. The "
            "mixed-valence variant lets an element (Cu, Fe…) split between two of its states, e.g. Cu2+/Cu3+.",
        )
        keep_invalid = st.toggle(
            "Keep SMACT-invalid candidates (flagged in the table)", key=f"{prefix}_keep_invalid", persist_state="session",
        )
        keep_known = st.toggle(
            "Keep candidates already in SuperCon (flagged in the table)", key=f"{prefix}_keep_known", persist_state="session",
        )
    options = ScreeningOptions(
        residual_threshold=float(residual), min_elements=int(low), max_elements=int(high), mixed_valence=bool(mixed),
        keep_known=bool(keep_known), keep_invalid=bool(keep_invalid),
    )
    return str(method), int(stop), options


# ---------------------------------------------------------------------------------------
# Running
# ---------------------------------------------------------------------------------------


def _stop_key(key: str) -> str:
    return f"{key}_stopped"


def execute_run(kind: str, settings: GenerationSettings, references: list[ParsedFormula], key: str) -> RunRecord | None:
    """Run a generation with live progress and a Stop button; store and return its record.

    The engine works on a background thread; this script thread redraws the step
    counter and elapsed time every :data:`POLL_SECONDS`. A click on Stop (or any other
    widget, or leaving the page) interrupts the script at its next redraw, and the
    ``finally`` clause sets the engine's cancel flag, so sampling stops at its next step.
    """
    folder = str(resources.models_dir())
    try:
        settings.validate()
        engine = resources.engine(settings.model_class, folder)
    except SuperDiffError as error:
        st.error(str(error))
        return None
    property_models, _ = load_optional(resources.property_models, folder)
    class_map, _ = load_optional(resources.class_map, folder, settings.model_class)

    progress, cancel = RunProgress(), threading.Event()
    holder = st.empty()
    with holder.container(border=True):
        bar = st.progress(0.0, text="Starting…")
        st.button(
            "Stop", key=f"{key}_stop", icon=":material/stop_circle:", on_click=state.set_flag, args=(_stop_key(key),),
            help="Stops the run; nothing of it is kept.",
        )
    background = BackgroundRun(
        run_generation, kind, engine, settings, references, folder, progress, cancel, property_models, class_map,
        kind == "explore",
    )
    try:
        while not background.wait(POLL_SECONDS):
            bar.progress(_fraction(progress), text=_progress_line(progress))
        record = background.result()
    except SamplingCancelled:
        holder.empty()
        st.warning("The run was stopped; nothing of it was kept.")
        return None
    except SuperDiffError as error:
        holder.empty()
        st.error(str(error))
        return None
    except Exception as error:  # anything else: one line for the user, traceback in the log
        holder.empty()
        show_unexpected(error, "generating")
        return None
    finally:
        cancel.set()  # no-op after a normal finish; stops the engine when the script was interrupted
    holder.empty()
    state.save_run(record)
    return record


def show_stopped_notice(key: str) -> None:
    """After a Stop click (which reruns the page), say that the run was stopped."""
    if state.flag(_stop_key(key)):
        st.warning("The run was stopped; nothing of it was kept. Your inputs are unchanged.")


def _fraction(progress: RunProgress) -> float:
    return min(1.0, progress.done / progress.total) if progress.total else 0.0


def _progress_line(progress: RunProgress) -> str:
    if progress.phase == "sampling":
        return logic.progress_text(progress.done, progress.total, progress.elapsed)
    words = {"scoring": "Scoring the candidates and placing them on the map", "references": "Placing the references"}
    return f"{words.get(progress.phase, progress.phase)}… {logic.format_seconds(progress.elapsed)} elapsed"


# ---------------------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------------------


def show_results(record: RunRecord, key: str) -> None:
    """The whole results section of a run."""
    funnel_key = f"{key}_thresholds"
    thresholds = _threshold_inputs(funnel_key)
    if record.engine_stages is not None:
        stages, funnel_mask = logic.engine_funnel(record.engine_stages, record.table, thresholds)
    else:
        rest, funnel_mask = logic.table_funnel(record.table, thresholds)
        stages = list(record.leading_stages) + rest
    _summary(record, stages)
    for note in record.notes:
        st.info(note)
    _funnel_section(stages)
    if record.table.empty:
        st.warning(
            "No candidate survived the screening. Try more samples, more sampling steps, a smaller N, or "
            "the Advanced options (mixed-valence SMACT, keep invalid candidates)."
        )
        _downloads(record, record.table, thresholds)
        return
    results_key = f"{key}_res"  # widget keys of the results section, apart from the page's inputs
    selection = _map_section(record, results_key)
    shown = _table_section(record, results_key, funnel_mask, selection)
    _downloads(record, shown, thresholds)
    _distributions(record, thresholds)
    _families_section(record, results_key)


def _threshold_inputs(key: str) -> logic.Thresholds:
    state.init_defaults({f"{key}_tc": 5.0, f"{key}_energy": 0.0})
    with st.sidebar:
        st.markdown("**Funnel thresholds**")
        tc = st.number_input("Predicted Tc above (K)", min_value=0.0, max_value=300.0, step=1.0, key=f"{key}_tc", persist_state="session")
        energy = st.number_input(
            "Formation energy below (eV/atom)", min_value=-5.0, max_value=5.0, step=0.05, key=f"{key}_energy",
            persist_state="session",
        )
    return logic.Thresholds(float(tc), float(energy))


def _summary(record: RunRecord, stages: list[logic.FunnelStage]) -> None:
    columns = st.columns(5)
    if record.raw_samples:
        columns[0].metric("Raw samples", f"{record.raw_samples:,}")
    else:
        columns[0].metric("Formulas", f"{len(record.table):,}")
    columns[1].metric("Candidates", f"{len(record.table):,}", help="rows of the table (after screening)")
    if record.has_properties:
        sc = int(record.table["is_superconductor"].astype("boolean").fillna(False).sum())
        columns[2].metric("Predicted superconductors", f"{sc:,}")
    else:
        columns[2].metric("Predicted superconductors", "n/a", help="the property models are not built")
    last = stages[-1]
    columns[3].metric("Pass the whole funnel", "n/a" if last.count is None else f"{last.count:,}")
    new_families = 0 if record.families is None else int(record.families["is_new_family"].astype(bool).sum())
    columns[4].metric("New families", f"{new_families:,}")
    if record.timings:
        parts = [f"{name} {logic.format_seconds(seconds)}" for name, seconds in record.timings.items() if name != "total"]
        total = record.timings.get("total")
        line = f"Took {logic.format_seconds(total)}" if total is not None else "Took"
        details = f" ({', '.join(parts)})" if parts else ""
        st.caption(f"{line}{details} on {resources.device_description()}.")


def _funnel_section(stages: list[logic.FunnelStage]) -> None:
    st.subheader("Screening funnel")
    left, right = st.columns([3, 2])
    left.plotly_chart(plots.funnel_figure(stages), width="stretch")
    frame = logic.funnel_frame(stages)
    right.dataframe(frame[["stage", "remaining", "of first stage"]], hide_index=True, width="stretch", placeholder="n/a")
    if any(stage.count is None for stage in stages):
        right.caption("Stages without a count need the property models (checkpoints/tc, checkpoints/formation).")
    right.caption("Thresholds are set in the sidebar. A candidate without a prediction fails a threshold.")


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
    figure = plots.map_figure(points, record.table, references, title=f"{record.model_class}: SuperCon clusters and candidates")
    event = st.plotly_chart(
        figure, key=f"{key}_map", on_select="rerun", selection_mode=("points", "box", "lasso"), width="stretch",
    )
    selection = getattr(event, "selection", None)
    rows = logic.selected_rows(selection.get("points", []) if selection else [])
    st.caption(
        "Coloured points: SuperCon compounds of this class by cluster (the largest clusters are named). "
        "Open black circles: candidates; ★: the reference. Select candidates with a click, box or lasso to "
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
    more = st.columns(2)
    if "scale_factor" in table.columns and table["scale_factor"].notna().any():
        options = sorted(int(n) for n in table["scale_factor"].dropna().unique())
        scale_factors = tuple(more[0].multiselect("N", options, key=f"{key}_n", placeholder="all N", persist_state="session"))
    if "family_id" in table.columns:
        options = sorted(f for f in table["family_id"].dropna().unique() if f)
        if options:
            families = tuple(
                more[1].multiselect("Family", options, key=f"{key}_families", placeholder="all families", persist_state="session")
            )
    spec = logic.CandidateFilter(
        text=text.strip(), min_tc_kelvin=min_tc, max_formation_ev=max_energy, only_funnel=only_funnel,
        scale_factors=scale_factors, families=families, rows=selection,
    )
    shown = logic.filter_candidates(table, spec, funnel_mask)
    if selection:
        st.info(f"{len(selection)} candidates selected on the map; showing those only (double-click the map to clear).")
    st.caption(f"Showing {len(shown):,} of {len(table):,} candidates. Click a column header to sort.")
    display = shown[logic.display_columns(table)]
    st.dataframe(display, hide_index=True, width="stretch", column_config=_column_config(), key=f"{key}_table", placeholder="–")
    return shown


def _column_config() -> dict:
    config = st.column_config
    return {
        "formula": config.TextColumn(logic.DISPLAY_COLUMNS["formula"], pinned=True),
        "reference": config.TextColumn(logic.DISPLAY_COLUMNS["reference"]),
        "scale_factor": config.NumberColumn("N", format="%d", help="ILVR scale factor"),
        "tc_kelvin": config.NumberColumn(logic.DISPLAY_COLUMNS["tc_kelvin"], format="%.1f", help="0 for predicted non-superconductors"),
        "sc_probability": config.NumberColumn(logic.DISPLAY_COLUMNS["sc_probability"], format="%.2f"),
        "formation_energy_ev_per_atom": config.NumberColumn(logic.DISPLAY_COLUMNS["formation_energy_ev_per_atom"], format="%.3f"),
        "smact_valid": config.CheckboxColumn(logic.DISPLAY_COLUMNS["smact_valid"]),
        "novel": config.CheckboxColumn(logic.DISPLAY_COLUMNS["novel"], help="not in the class's SuperCon training set"),
        "cluster_name": config.TextColumn(logic.DISPLAY_COLUMNS["cluster_name"], help="SuperCon cluster it lies inside"),
        "family_id": config.TextColumn(logic.DISPLAY_COLUMNS["family_id"], help="N…: new family, K…: family inside a known cluster"),
        "family_formula": config.TextColumn(logic.DISPLAY_COLUMNS["family_formula"]),
        "note": config.TextColumn(logic.DISPLAY_COLUMNS["note"]),
    }


def _downloads(record: RunRecord, shown: pd.DataFrame, thresholds: logic.Thresholds) -> None:
    columns = st.columns(3)
    columns[0].download_button(
        f"Download all {len(record.table):,} candidates (CSV)", candidates_to_csv(record.table),
        file_name=f"{record.file_stem}.csv", mime="text/csv", on_click="ignore", icon=":material/download:",
        key=f"{record.kind}_download_all",
    )
    if len(shown) != len(record.table):
        columns[1].download_button(
            f"Download the {len(shown):,} shown (CSV)", candidates_to_csv(shown),
            file_name=f"{record.file_stem}_filtered.csv", mime="text/csv", on_click="ignore",
            icon=":material/filter_alt:", key=f"{record.kind}_download_shown",
        )
    if record.settings is not None:
        card = resources.read_json_card("diffusion", record.model_class, "card.json")
        columns[2].download_button(
            "Run settings (JSON)", logic.run_settings_json(record.settings, thresholds, card),
            file_name=f"{record.file_stem}.json", mime="application/json", on_click="ignore",
            icon=":material/settings:", key=f"{record.kind}_download_settings",
            help="Everything needed to repeat this run: load it on the Generate page, or use its command line.",
        )


def _distributions(record: RunRecord, thresholds: logic.Thresholds) -> None:
    st.subheader("Predicted properties")
    if not record.has_properties:
        st.info("No property predictions: the property models are not built yet (checkpoints/tc, checkpoints/formation).")
        return
    references = record.references
    energy_refs = dict(zip(references["formula"], references["formation_energy_ev_per_atom"])) if len(references) else {}
    tc_refs = dict(zip(references["formula"], references["tc_kelvin"])) if len(references) else {}
    left, right = st.columns(2)
    left.plotly_chart(
        plots.histogram_figure(
            record.table["formation_energy_ev_per_atom"], "Formation energy (cf. paper Fig. 4)", "eV/atom",
            energy_refs, thresholds.formation_max_ev, f"< {thresholds.formation_max_ev:g}",
        ),
        width="stretch",
    )
    is_sc = record.table["is_superconductor"].astype("boolean").fillna(False).to_numpy(dtype=bool)
    right.plotly_chart(
        plots.histogram_figure(
            record.table.loc[is_sc, "tc_kelvin"], "Predicted Tc of predicted superconductors", "K",
            tc_refs, thresholds.tc_min_kelvin, f"> {thresholds.tc_min_kelvin:g} K",
        ),
        width="stretch",
    )


def _families_section(record: RunRecord, key: str) -> None:
    st.subheader("Families")
    families = record.families
    if families is None or families.empty:
        st.info(
            "No family found: a family needs at least three distinct candidates with the same elements "
            "(or a tight group outside the known clusters)."
            if record.has_map else "Families are found on the map, which is missing."
        )
        return
    show_known = st.toggle("Include families inside known SuperCon clusters", key=f"{key}_known_families", persist_state="session")
    shown = families if show_known else families[families["is_new_family"].astype(bool)]
    if shown.empty:
        st.info("No new family (all families lie inside known SuperCon clusters): switch the toggle to see them.")
        return
    columns = [
        "family_id", "general_formula", "variable_ranges", "n_members", "mean_tc_kelvin", "max_tc_kelvin",
        "nearest_cluster_name", "example_formulas",
    ]
    st.dataframe(
        shown[[c for c in columns if c in shown.columns]], hide_index=True, width="stretch", placeholder="–",
        column_config={
            "family_id": "Family", "general_formula": "General formula", "variable_ranges": "Ranges",
            "n_members": "Members", "mean_tc_kelvin": st.column_config.NumberColumn("Mean Tc (K)", format="%.1f"),
            "max_tc_kelvin": st.column_config.NumberColumn("Max Tc (K)", format="%.1f"),
            "nearest_cluster_name": "Nearest SuperCon cluster", "example_formulas": "Examples",
        },
    )
    _doping_plot(record, shown, key)


def _doping_plot(record: RunRecord, families: pd.DataFrame, key: str) -> None:
    from superdiff_core.families import doping_curve, family_formula

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
