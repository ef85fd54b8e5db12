"""Explore the model: unconditional samples of one class and the paper's Table-1 metrics."""

from __future__ import annotations

import streamlit as st

from superdiff_core.settings import GenerationSettings
from ui import inputs, model_facts, results, running, state

KEY = "explore"
DEFAULT_SAMPLES = 500

st.title("Explore a model")
st.markdown(
    "Sample a model **without a reference** to see what it has learned: the same screening, predictions and "
    "map as on the Generate page, and the paper's Table-1 metrics of this run next to the published ones "
    "(Yuan & Dordevic 2024, 500,000 samples per class)."
)
model_class = inputs.model_class_picker(f"{KEY}_class")
samples, steps, seed = inputs.sampling_inputs(KEY, model_class or "everything", DEFAULT_SAMPLES, "Samples")
method, _, screening = inputs.advanced_inputs(KEY, model_class or "everything")
settings = None
if model_class is not None:
    settings = GenerationSettings(
        model_class=model_class, references=(), scale_factors=(), samples=samples, steps=steps, seed=seed,
        method=method, screening=screening,
    )
st.caption(f"{samples:,} samples at {steps} steps. {inputs.device_caption()}.")
confirmed = running.cost_and_confirm(settings, KEY) if settings is not None else False
confirmed = running.confirmed_by_click(KEY) or confirmed  # this click took the ticked confirmation with it
busy = running.run_in_progress(KEY)
clicked = st.button(
    "Sample", type="primary", icon=":material/play_arrow:", disabled=settings is None or not confirmed or busy, key=f"{KEY}_go",
    on_click=running.clear_confirmation, args=(KEY,),
)
if clicked and settings is not None and confirmed and not busy:  # a click may come from before the rerun that disabled it
    running.start_run(KEY, settings, [])
running.show_active_run(KEY, KEY)

record = state.get_run(KEY)
if record is not None:
    st.divider()
    st.header(f"Unconditional samples of the {record.model_class} model")
    results.stale_notice(record, settings)
    if record.metrics is not None:
        st.subheader("Table 1: this run against the paper")
        st.dataframe(model_facts.table_1_frame(record.metrics), hide_index=True, width="content", placeholder="n/a")
        settings = record.settings
        if settings is not None and (settings.screening.keep_invalid or settings.screening.keep_known):
            st.warning("Kept invalid or known candidates change the metrics; switch those options off to compare with the paper.")
        st.caption(
            f"This run: {record.raw_samples:,} samples at {record.metrics.get('steps')} {record.metrics.get('method')} "
            "steps. Valid per 1,000 samples counts SMACT-valid, novel, unique candidates; predicted superconductor "
            "% and Tc are over those. Small runs scatter: compare with a few thousand samples."
        )
    results.show_results(record, KEY)
results.history_section(KEY)
