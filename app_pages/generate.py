"""Generate (home page): candidates conditioned on reference formulas by ILVR."""

from __future__ import annotations

import dataclasses

import streamlit as st

from superdiff_core import model_classes, run_settings
from superdiff_core.composition import element_set, parse_formulas
from superdiff_core.errors import InputError
from superdiff_core.ilvr import SAFE_SCALE_FACTOR
from superdiff_core.model_classes import get_model_class
from superdiff_core.run import references_by_class
from superdiff_core.run_plan import per_class_settings
from superdiff_core.screening import ScreeningOptions
from superdiff_core.settings import GenerationSettings
from ui import formatting, inputs, resources, results, running, state

KEY = "generate"
REFS = f"{KEY}_refs"
CLASS = f"{KEY}_class"
SCALE = f"{KEY}_n"
SETTINGS_FILE = f"{KEY}_settings_file"
SETTINGS_MESSAGE = f"{KEY}_settings_message"
PER_CLASS = f"{KEY}_per_class"
LOADED_EXTRAS = f"{KEY}_loaded_extras"
BASELINE = f"{KEY}_baseline"
PLAUSIBLE_ONLY = f"{KEY}_plausible_only"
# The two clip modes the "plausible substitutes only" toggle chooses between (on, off); others stay loaded extras.
TOGGLE_CLIPS = ("plausible", "widened")
STAY_NEAR = f"{KEY}_stay_near"
EXAMPLES = {"HgBa₂Ca₂Cu₃O₈.₂₇": "HgBa2Ca2Cu3O8.27", "YBa₂Cu₃O₇": "YBa₂Cu₃O₇", "La₁.₈₅Sr₀.₁₅CuO₄": "La1.85Sr0.15CuO4",
            "BaFe₂As₂": "BaFe2As2", "MgB₂": "MgB2"}
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


# Settings the page has no input for, with their names: a loaded file's values of them are kept
# (LOADED_EXTRAS) and shown, so the run is the file's. (Comments, not docstrings: Streamlit's magic
# would show a bare string of a page on the page.)
NO_INPUT: dict[str, str] = {
    "element_order": "network element order", "filter_order": "ILVR filter order", "resample_steps": "resampled steps",
    "resample_count": "runs per resampled step", "clip": "clip mode", "precision": "network number format",
}

# The one screening option without an input on the page (kept from a loaded file likewise).
SMACT_TIMEOUT = "smact_timeout_s"


def _without_inputs(settings: GenerationSettings) -> dict:
    """The values of ``settings`` (as loaded) that the page has no input for and that differ
    from what the page would run without them (e.g. a Pettifor filter order, resampling
    other than the default); empty when the page's own defaults give the same run."""
    defaults = {f.name: f.default for f in dataclasses.fields(GenerationSettings) if f.name in NO_INPUT}
    loaded, bare = settings.resolved(), dataclasses.replace(settings, **defaults).resolved()
    extras = {name: getattr(loaded, name) for name in NO_INPUT if getattr(loaded, name) != getattr(bare, name)}
    if extras.get("clip") in TOGGLE_CLIPS:  # the toggle holds it
        extras.pop("clip")
    if settings.screening.smact_timeout_s != ScreeningOptions().smact_timeout_s:
        extras[SMACT_TIMEOUT] = settings.screening.smact_timeout_s
    return extras


def _fit(changes: list[str], label: str, value, low, high):
    """``value`` within the input's ``low``..``high``; a change is described in ``changes``."""
    fitted = min(max(value, low), high)
    if fitted != value:
        changes.append(f"{label} {_number(value)} → {_number(fitted)} (the page takes {_number(low)} to {_number(high)})")
    return fitted


def _number(value: float) -> str:
    """``2,147,483,647``, ``0.5``, ``3``."""
    return f"{value:,}" if isinstance(value, int) else f"{value:g}"


def _input_values(settings: GenerationSettings) -> tuple[dict, list[str]]:
    """The session values of the page's inputs for loaded (resolved) ``settings``, and one line
    per value an input could not hold as it was (what it became instead)."""
    changes: list[str] = []
    low, high = min(settings.scale_factors), max(settings.scale_factors)
    scale = (max(SCALE_RANGE[0], low), min(SCALE_RANGE[1], high))
    if tuple(range(scale[0], scale[1] + 1)) != tuple(settings.scale_factors):
        changes.append(f"N {', '.join(map(str, settings.scale_factors))} → {scale[0]}–{scale[1]} (the slider takes one range "
                       f"from {SCALE_RANGE[0]} to {SCALE_RANGE[1]})")
    screening = settings.screening
    limit = screening.element_limit(settings.model_class)
    values = {
        REFS: "\n".join(settings.reference_texts), CLASS: settings.model_class, SCALE: scale,
        f"{KEY}_samples": settings.samples, f"{KEY}_steps": settings.steps,
        f"{KEY}_seed": _fit(changes, "seed", settings.seed, *inputs.SEED_RANGE),
        f"{KEY}_method": settings.method, f"{KEY}_ilvr_stop": settings.conditioning_stop,
        f"{KEY}_residual": _fit(changes, "residual threshold", screening.residual_threshold, *inputs.RESIDUAL_RANGE),
        f"{KEY}_elements": (_fit(changes, "fewest elements", screening.min_elements, *inputs.ELEMENTS_RANGE),
                            _fit(changes, "most elements", limit, *inputs.ELEMENTS_RANGE)),
        inputs.validity_key(KEY): screening.validity_check,
        BASELINE: settings.baseline is not None,
        PLAUSIBLE_ONLY: settings.clip != TOGGLE_CLIPS[1],
        STAY_NEAR: settings.guided_stay_near,
        f"{KEY}_keep_invalid": screening.keep_invalid, f"{KEY}_keep_known": screening.keep_known,
        **{
            inputs.steer_key(KEY, name): _fit(changes, f"“{label}” guidance", getattr(settings.guidance, name), 0.0, inputs.STEER_MAX)
            for name, (label, _) in inputs.STEER_SLIDERS.items()
        },
        # the loaded values are this class's own: the class defaults must not replace them
        f"{KEY}_steps_default_for": (settings.model_class, get_model_class(settings.model_class).recommended_steps),
        f"{KEY}_elements_default_for": (settings.model_class, (2, get_model_class(settings.model_class).max_elements)),
    }
    return values, changes


def _load_settings() -> None:
    """Callback of the settings uploader: fill every input from a run-settings JSON, keep the
    settings that have no input (shown below the uploader), and say what had to change."""
    upload = st.session_state.get(SETTINGS_FILE)
    if upload is None:
        return
    try:
        settings, thresholds = run_settings.settings_from_json(upload.getvalue())
        if not settings.references:
            raise InputError("these settings are of an unconditional run: open them on the Explore page")
        resolved = settings.resolved()
        extras = _without_inputs(settings)
    except InputError as error:
        st.session_state[SETTINGS_MESSAGE] = ("error", f"Could not load {upload.name}: {error}")
        return
    values, changes = _input_values(resolved)
    st.session_state.update(values | {
        LOADED_EXTRAS: extras,
        f"{KEY}_thresholds_tc": thresholds.tc_min_kelvin, f"{KEY}_thresholds_energy": thresholds.formation_max_ev,
        f"{KEY}_thresholds_hull": thresholds.hull_rule_out, f"{KEY}_thresholds_plausible": thresholds.plausible_only,
    })
    if changes:
        message = (f"Loaded the settings of {upload.name}, but the page's inputs cannot hold all of them as they are: "
                   f"{'; '.join(changes)}. A run now differs from the file's; `superdiff generate --settings` runs it "
                   "exactly.")
    else:
        message = f"Loaded the settings of {upload.name}: the inputs above now hold them; press Generate to run them."
    st.session_state[SETTINGS_MESSAGE] = ("warning" if changes else "success", message)


def _extras_text(extras: dict) -> str:
    """``ILVR filter order pettifor; resampled steps 3`` (the kept values without inputs)."""
    names = NO_INPUT | {SMACT_TIMEOUT: "SMACT time limit per formula (s)"}
    return "; ".join(f"{names[name]} {value}" for name, value in extras.items())


def _drop_extras() -> None:
    st.session_state.pop(LOADED_EXTRAS, None)


st.title("Generate candidate superconductors")
st.markdown(
    "Give a known compound as the **reference**: the diffusion model draws new compositions that keep the "
    "reference's coarse pattern (ILVR), screens them, predicts their properties and places them on the map "
    "of known superconductor families."
)
settings_message = st.session_state.pop(SETTINGS_MESSAGE, None)  # shown at the uploader and as a toast
if settings_message is not None and settings_message[0] != "error":
    st.toast(settings_message[1], icon=":material/settings:")
state.init_defaults({REFS: "", SCALE: (2, 4), PER_CLASS: True, STAY_NEAR: True, BASELINE: False})

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
model_class = inputs.model_class_picker(
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
samples, steps, seed = inputs.sampling_inputs(KEY, defaults_class, DEFAULT_SAMPLES_PER_N, "Samples per N")
method, conditioning_stop, screening = inputs.advanced_inputs(KEY, defaults_class, conditioning=True)
guidance = inputs.steering_inputs(KEY)
stay_near = st.toggle(
    "While steering, keep only candidates that keep every reference element and stay in the training domain",
    key=STAY_NEAR, persist_state="session", disabled=not guidance.active,
    help="Steering raises the guide's predicted Tc mostly by moving candidates to other families (on La1.85Sr0.15CuO4, "
    "Ba- and Hg-containing candidates rise and La and Sr fall; out-of-domain candidates 17 → 39 %), where an independent "
    "model agrees far less. This keeps the candidates that stay near the reference; measured so, Tc steering did "
    "not raise an independent model's Tc (La1.85Sr0.15CuO4 27 → 16 K, BaFe2As2 unchanged).",
)
with_baseline = st.toggle(
    "Also draw the substitution baseline", key=BASELINE, persist_state="session",
    help="As many candidates per reference by plain data-mined ion substitution (Hautier et al. 2011) at the doping "
    "levels SuperCon uses, screened and scored the same way, so you see what the model finds that substitution "
    "would not (the 'source' column and a comparison table).",
)
state.init_defaults({PLAUSIBLE_ONLY: True})
plausible_only = st.toggle(
    "New elements: plausible substitutes only", key=PLAUSIBLE_ONLY, persist_state="session",
    help="On (the default), ILVR lets a candidate add only elements that substitute plausibly for a reference element by "
    "data-mined ion-substitution probabilities (Hautier et al. 2011): Sr or La into a cuprate, Co into BaFe2As2. Off, "
    "it lets in the atomic-number neighbours its blur spreads the reference onto, as the paper did: As and Br beside Se, "
    "Au beside Hg, N beside O. Off reproduces the paper's families; on, 1–2 % instead of 96–98 % of the paper example's "
    "new elements are implausible, and more samples pass (benchmarks/substitution.md).",
)
extras = dict(st.session_state.get(LOADED_EXTRAS) or {})
with st.expander("Repeat a run from its settings file", expanded=settings_message is not None or bool(extras)):
    st.file_uploader("Run settings (JSON) downloaded with earlier results", type=["json"], key=SETTINGS_FILE, on_change=_load_settings)
    if settings_message is not None:  # where the user is looking after the upload
        getattr(st, settings_message[0])(settings_message[1])
    if extras:
        st.info(f"Kept from the loaded settings, with no input on this page (they apply to every run until dropped): "
                f"{_extras_text(extras)}.", icon=":material/tune:")
        st.button("Drop them: use the page's defaults", key=f"{KEY}_drop_extras", on_click=_drop_extras)
if SMACT_TIMEOUT in extras:
    screening = dataclasses.replace(screening, smact_timeout_s=extras.pop(SMACT_TIMEOUT))

scale_factors = formatting.scale_factor_tuple((low, high))
runs = len(parsed) * len(scale_factors)
settings = None
if model_class is not None and parsed:
    settings = GenerationSettings(
        model_class=model_class, references=tuple(parsed), scale_factors=scale_factors,
        samples=samples, steps=steps, seed=seed, method=method, conditioning_stop=conditioning_stop, screening=screening,
        guidance=guidance, baseline="substitution" if with_baseline else None, guided_stay_near=bool(stay_near),
        clip=extras.pop("clip", TOGGLE_CLIPS[0] if plausible_only else TOGGLE_CLIPS[1]), **extras,
    )
st.caption(f"{runs} run(s) of {samples:,} samples: {runs * samples:,} samples at {steps} steps. {inputs.device_caption()}.")
planned = per_class_settings(settings, groups if per_class else {}) if settings is not None else None
confirmed = running.cost_and_confirm(planned, KEY) if planned is not None else False
confirmed = running.confirmed_by_click(KEY) or confirmed  # this click took the ticked confirmation with it
busy = running.run_in_progress(KEY)
clicked = st.button(
    "Generate", type="primary", icon=":material/play_arrow:", disabled=settings is None or not confirmed or busy,
    key=f"{KEY}_go", help="A run is in progress: stop it or wait for it" if busy else None,
    on_click=running.clear_confirmation, args=(KEY,),
)
if not parsed and not errors:
    st.caption("Type a reference formula to start.")

if clicked and settings is not None and confirmed and not busy:  # a click may come from before the rerun that disabled it
    running.start_run(KEY, settings, groups if per_class else None)
running.show_active_run(KEY, KEY)

records = state.get_run_group(KEY)
if records:
    st.divider()
    references = ", ".join(r for record in records if record.settings for r in record.settings.reference_texts)
    st.header(f"Results for {references}")
    results.show_run_results(records, KEY, planned)
results.history_section(KEY)
