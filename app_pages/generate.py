"""Generate (home page): candidates conditioned on reference formulas by ILVR."""

from __future__ import annotations

import streamlit as st

from superdiff_core import model_classes, run_settings
from superdiff_core.composition import element_set, parse_formulas
from superdiff_core.errors import InputError
from superdiff_core.guidance import GUIDE_KEYS
from superdiff_core.ilvr import SAFE_SCALE_FACTOR
from superdiff_core.model_classes import get_model_class
from superdiff_core.pipeline import GenerationSettings
from superdiff_core.run import references_by_class
from ui import formatting, resources, state, widgets

KEY = "generate"
REFS = f"{KEY}_refs"
CLASS = f"{KEY}_class"
SCALE = f"{KEY}_n"
SETTINGS_FILE = f"{KEY}_settings_file"
SETTINGS_MESSAGE = f"{KEY}_settings_message"
PER_CLASS = f"{KEY}_per_class"
EXAMPLES = {"YBa₂Cu₃O₇": "YBa₂Cu₃O₇", "La₁.₈₅Sr₀.₁₅CuO₄": "La1.85Sr0.15CuO4", "BaFe₂As₂": "BaFe2As2", "MgB₂": "MgB2"}
SCALE_RANGE = (1, 8)
DEFAULT_SAMPLES_PER_N = 150


def _suggest_class() -> None:
    """Callback of the reference box: preselect the class the references look like."""
    parsed, _ = parse_formulas(st.session_state.get(REFS, ""))
    suggestion = model_classes.suggest_class_for([element_set(p.vector) for p in parsed])
    chosen = model_classes.default_class(suggestion, resources.trained_classes())
    if suggestion is not None and chosen is not None:
        st.session_state[CLASS] = chosen


def _use_example(text: str) -> None:
    st.session_state[REFS] = text
    _suggest_class()


def _load_settings() -> None:
    """Callback of the settings uploader: fill every input from a run-settings JSON."""
    upload = st.session_state.get(SETTINGS_FILE)
    if upload is None:
        return
    try:
        settings, thresholds = run_settings.settings_from_json(upload.getvalue())
        if not settings.references:
            raise InputError("these settings are of an unconditional run: open them on the Explore page")
    except InputError as error:
        st.session_state[SETTINGS_MESSAGE] = ("error", f"Could not load {upload.name}: {error}")
        return
    low, high = min(settings.scale_factors), max(settings.scale_factors)
    clamped = (max(SCALE_RANGE[0], low), min(SCALE_RANGE[1], high))
    st.session_state.update({
        REFS: "\n".join(settings.references), CLASS: settings.model_class, SCALE: clamped,
        f"{KEY}_samples": settings.samples, f"{KEY}_steps": settings.steps, f"{KEY}_seed": settings.seed,
        f"{KEY}_method": settings.method, f"{KEY}_ilvr_stop": settings.conditioning_stop,
        f"{KEY}_residual": settings.screening.residual_threshold,
        f"{KEY}_elements": (settings.screening.min_elements, settings.screening.element_limit(settings.model_class)),
        f"{KEY}_mixed": settings.screening.mixed_valence,
        **{widgets.steer_key(KEY, name): min(getattr(settings.guidance, name), widgets.STEER_MAX) for name in GUIDE_KEYS},
        # the loaded values are this class's own: the class defaults must not replace them
        f"{KEY}_steps_default_for": (settings.model_class, get_model_class(settings.model_class).recommended_steps),
        f"{KEY}_elements_default_for": (settings.model_class, (2, get_model_class(settings.model_class).max_elements)),
        f"{KEY}_keep_invalid": settings.screening.keep_invalid, f"{KEY}_keep_known": settings.screening.keep_known,
        f"{KEY}_thresholds_tc": thresholds.tc_min_kelvin, f"{KEY}_thresholds_energy": thresholds.formation_max_ev,
    })
    exact = tuple(range(clamped[0], clamped[1] + 1)) == tuple(settings.scale_factors)
    message = f"Loaded the settings of {upload.name}: the inputs above now hold them; press Generate to run them."
    if not exact:
        message += f" N was {settings.scale_factors}: the slider takes a range, now {clamped[0]}–{clamped[1]}."
    st.session_state[SETTINGS_MESSAGE] = ("success" if exact else "warning", message)


st.title("Generate candidate superconductors")
st.markdown(
    "Give a known compound as the **reference**: the diffusion model draws new compositions that keep the "
    "reference's coarse pattern (ILVR), screens them, predicts their properties and places them on the map "
    "of known superconductor families."
)
settings_message = st.session_state.pop(SETTINGS_MESSAGE, None)  # shown at the uploader and as a toast
if settings_message is not None and settings_message[0] != "error":
    st.toast(settings_message[1], icon=":material/settings:")
state.init_defaults({REFS: "", SCALE: (2, 4), PER_CLASS: True})

st.text_area(
    "Reference formulas, one per line",
    key=REFS, on_change=_suggest_class, height=100, persist_state="session",
    placeholder="e.g. YBa2Cu3O7, La1.85Sr0.15CuO4 or Ba(Fe0.9Co0.1)2As2",
    help="Subscripts (YBa₂Cu₃O₇) and parentheses are fine. Commas or semicolons also separate formulas. "
    "Amounts must be numbers (write YBa2Cu3O6.9, not YBa2Cu3O7-x).",
)
with st.container(horizontal=True, vertical_alignment="center", gap="small"):
    st.caption("Examples:", width="content")
    for label, text in EXAMPLES.items():
        st.button(label, key=f"{KEY}_example_{text}", on_click=_use_example, args=(text,), type="tertiary")

parsed, errors = parse_formulas(st.session_state[REFS]) if st.session_state[REFS].strip() else ([], [])
for error in errors:
    st.error(f"Bad reference {error}")
if errors and parsed:
    st.warning(f"The {len(errors)} line(s) above are skipped; {len(parsed)} good reference(s) will run.")

suggestion = model_classes.suggest_class_for([element_set(p.vector) for p in parsed])
if suggestion is not None and st.session_state.get(CLASS) is None:
    st.session_state[CLASS] = model_classes.default_class(suggestion, resources.trained_classes())
groups = references_by_class(parsed, resources.trained_classes())
per_class = len(groups) > 1 and st.toggle(
    "Each reference on the model of its own class", key=PER_CLASS, persist_state="session",
    help="References of different classes each run on their own class's model (its own map and families); "
    "off: all run on the one model chosen below.",
)
model_class = widgets.model_class_picker(
    CLASS, label="Model class for all references" if len(groups) > 1 else "Model class",
    help_text="Which diffusion model draws the candidates.", disabled=per_class,
)
if per_class:
    st.caption("Runs " + "; ".join(f"{', '.join(r.text for r in refs)} on the **{c}** model" for c, refs in groups.items()) + ".")
elif suggestion is not None:
    st.caption(f"Suggested: **{suggestion.model_class}**, because {suggestion.reason}.")
    if model_class is not None and (warning := model_classes.class_mismatch_warning(model_class, suggestion)):
        st.warning(warning)

low, high = st.slider(
    "Scale factor N (ILVR)", *SCALE_RANGE, key=SCALE, persist_state="session",
    help="How much of the reference each candidate keeps: the reference is shrunk N times and blown up again, "
    "and the candidates are steered to match that blurred copy. N = 1 keeps almost everything, larger N leaves "
    "the model more freedom. One run per N in the range.",
)
if high > SAFE_SCALE_FACTOR:
    st.warning(
        f"N > {SAFE_SCALE_FACTOR}: the paper found that larger scale factors give many invalid compounds "
        "(negative amounts), and used N = 2, 3 and 4."
    )
# each on its own class: the shared inputs start at the most generous class defaults (most steps, most elements)
defaults_class = (
    max(groups, key=lambda c: (get_model_class(c).recommended_steps, get_model_class(c).max_elements))
    if per_class else model_class or "everything"
)
samples, steps, seed = widgets.sampling_inputs(KEY, defaults_class, DEFAULT_SAMPLES_PER_N, "Samples per N")
method, conditioning_stop, screening = widgets.advanced_inputs(KEY, defaults_class, conditioning=True)
guidance = widgets.steering_inputs(KEY)
with st.expander("Repeat a run from its settings file", expanded=settings_message is not None):
    st.file_uploader("Run settings (JSON) downloaded with earlier results", type=["json"], key=SETTINGS_FILE, on_change=_load_settings)
    if settings_message is not None:  # where the user is looking after the upload
        getattr(st, settings_message[0])(settings_message[1])

scale_factors = formatting.scale_factor_tuple((low, high))
runs = len(parsed) * len(scale_factors)
settings = None
if model_class is not None and parsed:
    settings = GenerationSettings(
        model_class=model_class, references=tuple(p.text for p in parsed), scale_factors=scale_factors,
        samples=samples, steps=steps, seed=seed, method=method, conditioning_stop=conditioning_stop, screening=screening,
        guidance=guidance,
    )
st.caption(f"{runs} run(s) of {samples:,} samples: {runs * samples:,} samples at {steps} steps. {widgets.device_caption()}.")
planned = widgets.per_class_settings(settings, groups if per_class else {}) if settings is not None else None
confirmed = widgets.cost_and_confirm(planned, KEY) if planned is not None else False
confirmed = widgets.confirmed_by_click(KEY) or confirmed  # this click took the ticked confirmation with it
busy = widgets.run_in_progress(KEY)
clicked = st.button(
    "Generate", type="primary", icon=":material/play_arrow:", disabled=settings is None or not confirmed or busy,
    key=f"{KEY}_go", help="A run is in progress: stop it or wait for it" if busy else None,
    on_click=widgets.clear_confirmation, args=(KEY,),
)
if not parsed and not errors:
    st.caption("Type a reference formula to start.")

if clicked and settings is not None and confirmed and not busy:  # a click may come from before the rerun that disabled it
    widgets.start_run(KEY, settings, parsed, groups if per_class else None)
widgets.show_active_run(KEY, KEY)

records = state.get_run_group(KEY)
if records:
    st.divider()
    references = ", ".join(r for record in records if record.settings for r in record.settings.references)
    st.header(f"Results for {references}")
    widgets.show_run_results(records, KEY, planned)
widgets.history_section(KEY)
