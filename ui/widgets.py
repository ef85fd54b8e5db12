"""Streamlit widgets shared by the pages: inputs, the run with live progress, and the
results section (funnel, map, candidate table, distributions, families, downloads).

Pages stay thin: they read their own inputs and call these. Figures come from
:mod:`ui.plots`, decisions from :mod:`ui.logic`; only drawing happens here.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import streamlit as st

from superdiff_core import funnel, run_settings
from superdiff_core.composition import ParsedFormula
from superdiff_core.errors import CheckpointError, SuperDiffError
from superdiff_core.guidance import GUIDE_KEYS, GuidanceWeights
from superdiff_core.model_classes import MODEL_CLASSES, get_model_class
from superdiff_core.pipeline import MAX_SAMPLES_PER_RUN, GenerationSettings
from superdiff_core.results import candidates_to_csv
from superdiff_core.run import RunRecord, run_generation, run_generation_per_class
from superdiff_core.sampler import DEFAULT_CONDITIONING_STOP, DEFAULT_METHOD, SamplingCancelled
from superdiff_core.screening import RESIDUAL_THRESHOLD, ScreeningOptions

from . import candidate_table, formatting, plots, resources, state
from .runs import ActiveRun, RunProgress

LOGGER = logging.getLogger(__name__)

POLL_SECONDS = 1.0
"""How often the progress line is redrawn while a run works in the background. Each redraw
runs Python in the server's thread and holds the GIL that the sampling thread needs between
its small tensor operations: at 0.25 s a default run (HgBa2Ca2Cu3O8.27, 3 × 150 samples,
1 thread) took 2 min 04 s (sampling 86 s, map 36 s) against 22.6 s (sampling 20.5 s, map
2.0 s) at 1 s, measured in headless Chromium on the quiet 2-core machine."""

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


def model_class_picker(key: str, label: str = "Model class", help_text: str | None = None, disabled: bool = False) -> str | None:
    """A select box of the four classes, untrained ones marked; says which are missing
    (``disabled``: shown greyed out, e.g. while each reference runs on its own class).

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
    chosen = st.selectbox(
        label, MODEL_CLASSES, key=key, format_func=class_label, help=help_text, persist_state="session", disabled=disabled,
    )
    if chosen not in available:

        st.warning(
            f"The {chosen} model is not trained yet (trained: {', '.join(available)}). "
            f"It is built with `{get_model_class(chosen).train_command('checkpoints')}`."
        )
        return None
    return chosen


def sampling_inputs(prefix: str, model_class: str, default_samples: int, samples_label: str) -> tuple[int, int, int]:
    """Samples, steps and seed in one row; returns ``(samples, steps, seed)``. The steps
    start at the class's recommended count and follow the class until the user changes them."""
    recommended = get_model_class(model_class).recommended_steps
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
    class_limit = get_model_class(model_class).max_elements
    state.init_defaults({
        f"{prefix}_method": DEFAULT_METHOD, f"{prefix}_ilvr_stop": DEFAULT_CONDITIONING_STOP,
        f"{prefix}_residual": RESIDUAL_THRESHOLD, f"{prefix}_mixed": True,  # measured default (benchmarks/README.md)
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


STEER_SLIDERS: dict[str, tuple[str, str]] = {
    "tc": ("Higher predicted Tc", "Pushes toward compositions the guidance network predicts a higher Tc for."),
    "superconductor": ("Superconducting", "Pushes toward compositions the guidance network calls superconducting."),
    "formation": ("Stability (negative formation energy)", "Pushes toward a lower predicted formation energy."),
}
"""The "Steer toward" sliders: guidance weight name -> (label, help)."""

STEER_MAX = 3.0
"""Largest weight the sliders offer (at 2 unconditional runs keep a fifth to a quarter of their
valid candidates; benchmarks/README.md, "Property guidance")."""


def steer_key(prefix: str, name: str) -> str:
    """Session key of one "Steer toward" slider."""
    return f"{prefix}_guide_{name}"


def steering_inputs(prefix: str) -> GuidanceWeights:
    """The "Steer toward" group (property guidance, off by default): one strength slider
    per property; returns the weights (all 0: unguided)."""
    state.init_defaults({steer_key(prefix, name): 0.0 for name in GUIDE_KEYS})
    with st.expander("Advanced: steer toward higher Tc or stability"):
        st.markdown("**Steer toward**")
        st.caption(
            "Each step of the sampling is nudged along the gradient of a small property network, so candidates lean "
            "toward the chosen properties; it cannot promise a higher real Tc or stability: the nudge can fool its own "
            "network, so the table scores candidates with independent models, and strong settings lower the share "
            "of valid candidates."
        )
        values = {
            name: st.slider(
                label, 0.0, STEER_MAX, step=0.1, key=steer_key(prefix, name), persist_state="session",
                help=f"{text} 0 = off; 1 is the measured recommended strength.",
            )
            for name, (label, text) in STEER_SLIDERS.items()
        }
    return GuidanceWeights(**{name: float(value) for name, value in values.items()})


# ---------------------------------------------------------------------------------------
# Running
# ---------------------------------------------------------------------------------------


CONFIRM_SECONDS = 180.0
"""Estimated runs longer than this ask for a confirmation before they start."""


def plan_size(settings: GenerationSettings) -> int:
    """How many (reference, N) sampling runs ``settings`` make (1 without references)."""
    return max(1, len(settings.references) * len(settings.scale_factors)) if settings.references else 1


def per_class_settings(settings: GenerationSettings, groups: Mapping[str, Sequence[ParsedFormula]]) -> list[GenerationSettings]:
    """What runs: ``settings`` itself, or, when the references are grouped into several
    classes (:func:`superdiff_core.run.references_by_class`), one copy per class with that
    class's model and references (every other setting shared)."""
    if len(groups) < 2:
        return [settings]
    return [
        dataclasses.replace(settings, model_class=model_class, references=tuple(r.text for r in references))
        for model_class, references in groups.items()
    ]


def _as_list(settings: GenerationSettings | Sequence[GenerationSettings]) -> list[GenerationSettings]:
    return [settings] if isinstance(settings, GenerationSettings) else list(settings)


def estimated_seconds(settings: GenerationSettings | Sequence[GenerationSettings]) -> tuple[float, list[float]] | None:
    """``(seconds, rates)``: the sampling time of ``settings`` (one or one per class) from
    the rate of each class's model measured on this machine (sample-steps per second,
    :func:`ui.resources.sampling_rate`); None when a class's model cannot be loaded."""
    seconds, rates = 0.0, []
    for one in _as_list(settings):
        try:
            rate = resources.sampling_rate(one.model_class, str(resources.models_dir()))
        except SuperDiffError:
            return None
        seconds += plan_size(one) * one.samples * one.network_calls_per_sample / rate
        rates.append(rate)
    return seconds, rates


def cost_and_confirm(settings: GenerationSettings | Sequence[GenerationSettings], key: str) -> bool:
    """Show the estimated time before Start; above :data:`CONFIRM_SECONDS` ask for a
    confirmation. Returns whether the run may start."""
    estimate = estimated_seconds(settings)
    if estimate is None:
        return True
    seconds, rates = estimate
    rate_text = f"{rates[0]:,.0f}" if len(rates) == 1 else f"{min(rates):,.0f}–{max(rates):,.0f}"
    st.caption(
        f"Estimated time: **about {formatting.format_seconds(seconds)}** of sampling "
        f"({rate_text} sample-steps/s measured on this machine at start-up; scoring and the map add a little)."
    )
    if seconds <= CONFIRM_SECONDS:
        return True
    return st.checkbox(
        f"Yes, run for about {formatting.format_seconds(seconds)}", key=f"{key}_confirm",
        help="Long runs ask first: fewer samples, steps, N values or references make it shorter.",
    )


def clear_confirmation(key: str) -> None:
    """Callback of the Start button: a confirmation holds for one run only (the next long
    run asks again, with its own estimate); :func:`confirmed_by_click` says whether this
    click was confirmed."""
    st.session_state[f"{key}_confirmed_click"] = bool(st.session_state.pop(f"{key}_confirm", False))


def confirmed_by_click(key: str) -> bool:
    """Whether the last click of Start came with the confirmation ticked (read once)."""
    return state.flag(f"{key}_confirmed_click")


def start_run(
    kind: str, settings: GenerationSettings, references: list[ParsedFormula],
    groups: Mapping[str, Sequence[ParsedFormula]] | None = None,
) -> bool:
    """Start a generation in the background of the session (it keeps going while the user
    looks at other pages); :func:`show_active_run` shows its progress and stores its
    record once finished. With ``groups`` of several classes
    (:func:`superdiff_core.run.references_by_class`) each class's references run on that
    class's own model, one record per class. Returns False (after a message) when it
    cannot start."""
    folder = str(resources.models_dir())
    planned = per_class_settings(settings, groups or {})
    try:  # every model is loaded here, in the page's thread, so the worker only samples
        for one in planned:
            one.validate()
        engines = {one.model_class: resources.engine(one.model_class, folder) for one in planned}
    except SuperDiffError as error:
        st.error(str(error))
        return False
    models = {one.model_class: resources.run_models(folder, one.model_class) for one in planned}

    def work(progress: RunProgress, cancel: threading.Event) -> RunRecord | list[RunRecord]:
        if len(planned) > 1:
            return run_generation_per_class(
                engines.__getitem__, settings, groups, models.__getitem__, kind=kind,
                progress=progress.update, cancel=cancel, keep_partial=True,
            )
        return run_generation(
            engines[settings.model_class], settings, references, models[settings.model_class], kind=kind,
            evaluate=kind == "explore", progress=progress.update, cancel=cancel, keep_partial=True,
        )

    state.set_active(kind, ActiveRun(kind, settings, sum(plan_size(one) for one in planned), work, planned))
    return True


def run_in_progress(kind: str) -> bool:
    """Whether the page's run is still working."""
    active = state.get_active(kind)
    return active is not None and not active.background.finished


def show_active_run(kind: str, key: str) -> None:
    """Progress of the page's background run (redrawn every :data:`POLL_SECONDS`), with a
    Stop button; once finished, store its record (and add it to the history)."""
    active = state.get_active(kind)
    if active is None:
        return
    if active.background.finished:
        _collect(kind, active)
        return
    _progress_fragment(kind, key)


@st.fragment(run_every=POLL_SECONDS)
def _progress_fragment(kind: str, key: str) -> None:
    active = state.get_active(kind)
    if active is None or active.background.finished:
        st.rerun(scope="app")
        return
    with st.container(border=True):
        stopping = active.cancel.is_set()
        text = "Stopping after the current step…" if stopping else _progress_line(active.progress)
        st.progress(_fraction(active.progress), text=text)
        st.caption(
            f"{active.runs} sampling run(s). The run keeps going while you look at other pages; its results "
            "appear here when it is done."
        )
        st.button(
            "Stop", key=f"{key}_stop", icon=":material/stop_circle:", on_click=active.stop, disabled=stopping,
            help="Stops the run at its next step and keeps the candidates of the sampling runs already finished.",
        )


def _collect(kind: str, active: ActiveRun) -> None:
    state.clear_active(kind)
    previous = " The results below are those of the previous run." if state.get_run(kind) is not None else ""
    try:
        result = active.background.result()
    except SamplingCancelled:
        st.warning(f"The run was stopped before its first sampling run finished; nothing of it was kept.{previous}")
        return
    except SuperDiffError as error:
        st.error(str(error))
        return
    except Exception as error:  # anything else: one line for the user, traceback in the log
        show_unexpected(error, "generating")
        return
    records = list(result) if isinstance(result, list) else [result]
    if not any(record.raw_samples for record in records):  # stopped before any sampling run finished
        st.warning(f"The run was stopped before its first sampling run finished; nothing of it was kept.{previous}")
        return
    ran = {record.model_class for record in records}
    for skipped in (one for one in active.planned if one.model_class not in ran):
        records[-1].notes.append(
            f"The run was stopped before the {skipped.model_class} model ran ({', '.join(skipped.references)}): "
            "nothing of it was kept."
        )
    state.save_run_group(kind, records)
    state.add_to_history(records[0], records)


def partial_notice(record: RunRecord) -> str | None:
    """"Partial: stopped after k of n runs …" for a stopped run, else None."""
    if not record.partial or record.settings is None:
        return None
    total = plan_size(record.settings)
    finished = record.raw_samples // max(1, record.settings.samples)
    return (
        f"Partial: stopped after {finished} of {total} sampling run(s). The candidates of the {finished} finished "
        "run(s) are kept below."
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


def _fraction(progress: RunProgress) -> float:
    return min(1.0, progress.done / progress.total) if progress.total else 0.0


def _progress_line(progress: RunProgress) -> str:
    if progress.phase == "sampling":
        return formatting.progress_text(progress.done, progress.total, progress.elapsed)
    words = {"scoring": "Scoring the candidates and placing them on the map", "references": "Placing the references"}
    return f"{words.get(progress.phase, progress.phase)}… {formatting.format_seconds(progress.elapsed)} elapsed"


# ---------------------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------------------


def changed_inputs(record_settings: GenerationSettings | None, current: GenerationSettings | None) -> list[str]:
    """Names of the settings that differ between a stored run and the inputs on screen
    (empty when they agree or either is unknown)."""
    if record_settings is None or current is None:
        return []
    return [f.name for f in dataclasses.fields(current) if getattr(record_settings, f.name) != getattr(current, f.name)]


def stale_notice(
    record: RunRecord | Sequence[RunRecord], current: GenerationSettings | Sequence[GenerationSettings] | None,
) -> None:
    """Mark results computed with other inputs than those on screen as out of date
    (``record``: the run's record, or its records one per class; ``current``: what the
    inputs would run, likewise)."""
    records = [record] if isinstance(record, RunRecord) else list(record)
    changed = changed_inputs_of_runs(records, None if current is None else _as_list(current))
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
    thresholds = funnel.Thresholds(
        float(st.session_state.get(f"{kind}_thresholds_tc", 5.0)), float(st.session_state.get(f"{kind}_thresholds_energy", 0.0))
    )
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
        return funnel.engine_funnel(record.engine_stages, record.table, thresholds, record.mixed_valence)
    rest, funnel_mask = funnel.table_funnel(record.table, thresholds, record.mixed_valence)
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
    labels = [f"{r.model_class} model: {', '.join(r.settings.references) if r.settings else ''}" for r in records]
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
            "the Advanced options (mixed-valence SMACT, keep invalid candidates)."
        )
        _downloads(record, record.table, thresholds, key)
        return
    results_key = f"{key}_res"  # widget keys of the results section, apart from the page's inputs
    selection = _map_section(record, results_key)
    shown = _table_section(record, results_key, funnel_mask, selection)
    _downloads(record, shown, thresholds, key)
    _distributions(record, thresholds)
    _families_section(record, results_key)


def _threshold_inputs(key: str) -> funnel.Thresholds:
    state.init_defaults({f"{key}_tc": 5.0, f"{key}_energy": 0.0})
    with st.sidebar:
        st.markdown("**Funnel thresholds**")
        tc = st.number_input("Predicted Tc above (K)", min_value=0.0, max_value=300.0, step=1.0, key=f"{key}_tc", persist_state="session")
        energy = st.number_input(
            "Formation energy below (eV/atom)", min_value=-5.0, max_value=5.0, step=0.05, key=f"{key}_energy",
            persist_state="session",
        )
    return funnel.Thresholds(float(tc), float(energy))


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
    new_families = 0 if record.families is None else int(record.families["headline"].astype(bool).sum())
    columns[4].metric("New families", f"{new_families:,}", help="headline families: new to SuperCon (outside its clusters, "
                      "or an element system it does not have), with at least 3 SMACT-valid members")
    if record.timings:
        parts = [f"{name} {formatting.format_seconds(seconds)}" for name, seconds in record.timings.items() if name != "total"]
        total = record.timings.get("total")
        line = f"Took {formatting.format_seconds(total)}" if total is not None else "Took"
        details = f" ({', '.join(parts)})" if parts else ""
        st.caption(f"{line}{details} on {resources.device_description()}.")


def _funnel_section(stages: list[funnel.FunnelStage], key: str) -> None:
    st.subheader("Screening funnel")
    left, right = st.columns([3, 2])
    left.plotly_chart(plots.funnel_figure(stages), width="stretch", key=f"{key}_funnel")
    frame = funnel.funnel_frame(stages)
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
    rows = candidate_table.selected_rows(selection.get("points", []) if selection else [])
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
    spec = candidate_table.CandidateFilter(
        text=text.strip(), min_tc_kelvin=min_tc, max_formation_ev=max_energy, only_funnel=only_funnel,
        scale_factors=scale_factors, families=families, references=chosen_references, rows=selection,
    )
    shown = candidate_table.filter_candidates(table, spec, funnel_mask)
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
    "tc_kelvin_low": "%.1f", "tc_kelvin_high": "%.1f", "formation_energy_std_ev_per_atom": "%.3f",
    "nearest_known_tc_kelvin": "%.1f", "known_close_tc_median_kelvin": "%.1f", "distance_to_known": "%.3f",
}
"""Display formats of the table's numeric columns without a column of their own below."""


def formula_column_width(longest_formula: int) -> int:
    """Pixels for the formula column: wide enough for the longest formula (``longest_formula``
    characters, about 7.5 px each), between 140 and 420 px."""
    return int(min(420, max(140, 7.5 * longest_formula + 24)))


def _column_config(longest_formula: int = 0) -> dict:
    """Header, format and help of every column of the candidate table: each column of
    :data:`ui.candidate_table.DISPLAY_COLUMNS` gets its readable header (no raw names), the
    formula column is wide enough for the longest formula (``longest_formula`` characters)."""
    config = st.column_config
    labels = candidate_table.DISPLAY_COLUMNS
    columns = {
        name: config.NumberColumn(label, format=NUMBER_FORMATS[name]) if name in NUMBER_FORMATS else config.Column(label)
        for name, label in labels.items()
    }
    return columns | {
        "formula": config.TextColumn(labels["formula"], pinned=True, width=formula_column_width(longest_formula)),
        "reference": config.TextColumn(candidate_table.DISPLAY_COLUMNS["reference"]),
        "scale_factor": config.NumberColumn("N", format="%d", help="ILVR scale factor"),
        "tc_kelvin": config.NumberColumn(candidate_table.DISPLAY_COLUMNS["tc_kelvin"], format="%.1f", help="0 for predicted non-superconductors"),
        "sc_probability": config.NumberColumn(candidate_table.DISPLAY_COLUMNS["sc_probability"], format="%.2f"),
        "formation_energy_ev_per_atom": config.NumberColumn(candidate_table.DISPLAY_COLUMNS["formation_energy_ev_per_atom"], format="%.3f"),
        "smact_valid": config.CheckboxColumn(candidate_table.DISPLAY_COLUMNS["smact_valid"], help="the paper's check: amounts as a whole-number ratio, one oxidation state per element"),
        "smact_valid_mixed_valence": config.CheckboxColumn(candidate_table.DISPLAY_COLUMNS["smact_valid_mixed_valence"], help="an element may split between two oxidation states (Cu2+/Cu3+): what doping does"),
        "novel": config.CheckboxColumn(candidate_table.DISPLAY_COLUMNS["novel"], help="not in the class's SuperCon training set"),
        "cluster_name": config.TextColumn(candidate_table.DISPLAY_COLUMNS["cluster_name"], help="SuperCon cluster it lies inside"),
        "family_id": config.TextColumn(candidate_table.DISPLAY_COLUMNS["family_id"], help="N…: new family, K…: family inside a known cluster"),
        "family_formula": config.TextColumn(candidate_table.DISPLAY_COLUMNS["family_formula"]),
        "nearest_known_formula": config.TextColumn(labels["nearest_known_formula"], help="the closest measured SuperCon compound"),
        "note": config.TextColumn(labels["note"], width="large", help="why a row is flagged (hover a cell to read it whole)"),
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
    if families is None or families.empty:
        st.info(
            "No family found: a family needs at least three distinct candidates with the same elements "
            "(or a tight group outside the known clusters)."
            if record.has_map else "Families are found on the map, which is missing."
        )
        return
    show_known = st.toggle("Include families that are not new (known element systems inside SuperCon clusters, "
                           "or too few valid members)", key=f"{key}_known_families", persist_state="session")
    shown = families if show_known else families[families["headline"].astype(bool)]
    if shown.empty:
        st.info("No new family (new to SuperCon, with at least 3 SMACT-valid members that keep the reference's "
                "elements): switch the toggle to see the others.")
        return
    columns = [
        "family_id", "general_formula", "variable_ranges", "n_members", "n_valid", "family_kind", "headline",
        "mean_tc_kelvin", "max_tc_kelvin", "nearest_cluster_name", "example_formulas",
    ]
    st.dataframe(
        shown[[c for c in columns if c in shown.columns]], hide_index=True, width="stretch", placeholder="–",
        column_config={
            "family_id": "Family", "general_formula": "General formula", "variable_ranges": "Ranges",
            "n_members": "Members", "n_valid": "SMACT-valid members", "family_kind": "Kind", "headline": "Headline",
            "mean_tc_kelvin": st.column_config.NumberColumn("Mean Tc (K)", format="%.1f"),
            "max_tc_kelvin": st.column_config.NumberColumn("Max Tc (K)", format="%.1f"),
            "nearest_cluster_name": "Nearest SuperCon cluster", "example_formulas": "Examples",
        },
    )
    _doping_plot(record, shown, key)


def _doping_plot(record: RunRecord, families: pd.DataFrame, key: str) -> None:
    from superdiff_core.families import doping_curve, family_formula, members_order

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
