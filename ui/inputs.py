"""The run inputs shared by the pages: model class, samples/steps/seed, the Advanced
sampling and screening options, and the "Steer toward" sliders.

Each widget is created with ``key`` only (its first value comes from
:func:`ui.state.init_defaults`), so a loaded settings file can fill it through session state.
"""

from __future__ import annotations

import streamlit as st

from superdiff_core.guidance_weights import GUIDE_KEYS, GuidanceWeights
from superdiff_core.model_classes import MODEL_CLASSES, get_model_class
from superdiff_core.sampler import DEFAULT_CONDITIONING_STOP, DEFAULT_METHOD
from superdiff_core.screening import RESIDUAL_THRESHOLD, ScreeningOptions
from superdiff_core.settings import MAX_SAMPLES_PER_RUN
from superdiff_core.validity import DEFAULT_VALIDITY_CHECK, VALIDITY_CHECKS

from . import resources, state

METHODS: dict[str, str] = {
    "ancestral": "ancestral (default)",
    "ddim": "DDIM (deterministic)",
    "ddpm": "DDPM, the paper's (needs ~1,000 steps)",
}
"""Reverse updates offered, as the engine names them, with their labels."""



SEED_RANGE = (0, 2**31 - 1)
"""Seeds the seed input takes."""

RESIDUAL_RANGE = (0.0, 0.5)
"""Residual thresholds the slider takes."""

ELEMENTS_RANGE = (1, 10)
"""Element counts the "Number of elements" slider takes."""


def device_caption() -> str:
    return f"Runs on {resources.device_description()}"


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
        "Seed", min_value=SEED_RANGE[0], max_value=SEED_RANGE[1], step=1, key=f"{prefix}_seed", persist_state="session",
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
    element limits, validity check; returns ``(method, conditioning_stop, screening options)``."""
    class_limit = get_model_class(model_class).max_elements
    state.init_defaults({
        f"{prefix}_method": DEFAULT_METHOD, f"{prefix}_ilvr_stop": DEFAULT_CONDITIONING_STOP,
        f"{prefix}_residual": RESIDUAL_THRESHOLD,
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
            "Residual threshold", *RESIDUAL_RANGE, step=0.01, key=f"{prefix}_residual", persist_state="session",
            help="After rounding to 0.01, amounts below this are treated as noise and set to zero (paper: 0.08).",
        )
        low, high = st.slider(
            "Number of elements", *ELEMENTS_RANGE, key=f"{prefix}_elements", persist_state="session",
            help=f"Candidates with fewer or more distinct elements are rejected (paper: 2 to {class_limit} for "
            f"{model_class}).",
        )
        validity = validity_picker(prefix)
        keep_invalid = st.toggle(
            "Keep invalid candidates (flagged in the table)", key=f"{prefix}_keep_invalid", persist_state="session",
        )
        keep_known = st.toggle(
            "Keep candidates already in SuperCon (flagged in the table)", key=f"{prefix}_keep_known", persist_state="session",
        )
    options = ScreeningOptions(
        residual_threshold=float(residual), min_elements=int(low), max_elements=int(high), validity_check=validity,
        keep_known=bool(keep_known), keep_invalid=bool(keep_invalid),
    )
    return str(method), int(stop), options


def validity_key(prefix: str) -> str:
    """Session key of a page's validity-check select box."""
    return f"{prefix}_validity"


def validity_label(name: str) -> str:
    """A check's menu label, the default marked."""
    return VALIDITY_CHECKS[name].label + (" (default)" if name == DEFAULT_VALIDITY_CHECK else "")


def validity_picker(prefix: str, container=st) -> str:
    """The validity-check select box (the registry's checks, the default first chosen; help:
    each check's own description); returns the chosen check's name."""
    key = validity_key(prefix)
    if st.session_state.get(key) not in VALIDITY_CHECKS:  # unset, or a value no check has
        st.session_state[key] = DEFAULT_VALIDITY_CHECK
    return container.selectbox(
        "Validity check", tuple(VALIDITY_CHECKS), key=key, format_func=validity_label, persist_state="session",
        help="The charge-balance check that filters the candidates and fills smact_valid (each check's verdict has "
        "its own column too).\n\n" + "\n\n".join(f"**{check.label}**: {check.help}" for check in VALIDITY_CHECKS.values()),
    )


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

