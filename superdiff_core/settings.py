"""One description of a run: what a user chose, and the one step that resolves it.

Every front end builds a :class:`GenerationSettings` the same way, through
:meth:`GenerationSettings.from_mapping` (CLI arguments, a run-settings JSON, a campaign
plan's template, a page's inputs), and the engine runs :meth:`GenerationSettings.resolved`:
the single place where the class's step count, the resampling of guided runs, the network's
element order and number format, the unconditional normal form and the screening defaults are
decided, and where an unknown method or clip mode is refused.

Unset fields stay ``None`` until resolved, so ``dataclasses.replace`` on a user's
settings never carries a default derived from an earlier choice (e.g. resampling that a
guidance weight has since turned off): change the user's settings, resolve last.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field

from .chemical_order import DEFAULT_FILTER_ORDER, FILTER_ORDERS
from .composition import FormulaError, ParsedFormula, parse_formula
from .device import default_precision
from .errors import InputError
from .guidance_weights import GuidanceWeights
from .ilvr import check_scale_factor
from .model_classes import check_model_class, get_model_class
from .screening import ScreeningOptions
from .timetable import (
    CLIP_MODES,
    DEFAULT_CLIP,
    DEFAULT_CONDITIONING_STOP,
    DEFAULT_METHOD,
    DEFAULT_RESAMPLE_COUNT,
    DEFAULT_RESAMPLE_STEPS,
    LEGACY_PRECISION,
    PRECISIONS,
    SamplingMethod,
    check_num_steps,
    resampling_repeats,
)
from .validity import MIXED_VALENCE_FLAG_CHECKS

MAX_SAMPLES_PER_RUN = 100_000
"""Cap on samples per reference and per N (a laptop CPU draws ~1,000 per second at the default steps)."""

SAMPLING_METHODS: tuple[str, ...] = typing.get_args(SamplingMethod)
"""The sampler's method names, read from its :data:`~superdiff_core.sampler.SamplingMethod` type."""

DEFAULT_ELEMENT_ORDER: str = DEFAULT_FILTER_ORDER
"""The element order of the network a run uses unless it says otherwise."""

BASELINES: tuple[str, ...] = ("substitution",)
"""Baselines a run can draw beside the diffusion candidates."""


def _as_reference(value: object) -> ParsedFormula:
    """A reference from its formula text (or an already parsed one); InputError if unreadable."""
    if isinstance(value, ParsedFormula):
        return value
    if not isinstance(value, str):
        raise InputError(f"a reference must be a formula, got {value!r}")
    try:
        return ParsedFormula(value.strip(), parse_formula(value))
    except FormulaError as error:
        raise InputError(f"bad reference: {error}") from None


NAMES_IN_ANY_CASE: tuple[str, ...] = ("method", "element_order", "filter_order", "clip", "baseline", "precision")
"""Settings whose value is a name read in any case, in every front end."""


@dataclass(frozen=True)
class GenerationSettings:
    """What a user chooses for a run (stored with the results so a run can be reproduced).

    ``None`` means "the default" and is filled in by :meth:`resolved`.

    Attributes:
        model_class: which model.
        references: the references, parsed (formula text is parsed on construction; empty:
            unconditional sampling).
        scale_factors: ILVR N values (ignored without references).
        samples: samples per reference and per N.
        steps: reverse diffusion steps (None: the class's recommended count).
        seed: random seed of the first run (run i uses seed + i).
        method: the sampler (:data:`SAMPLING_METHODS`; None: the default sampler).
        conditioning_stop: ILVR acts at timesteps ≥ this (0: every step, as in the paper;
            resolved to 0 without references: the unconditional normal form).
        element_order: the element order the network was trained on (which checkpoint:
            ``z`` is the paper's, ``pettifor`` a chemical order; None: the default).
        filter_order: the order ILVR's low-pass filter smooths along (None: the network's).
        resample_steps, resample_count: ILVR resampling near the end of the loop
            (:data:`superdiff_core.sampler.DEFAULT_RESAMPLE_STEPS`; 0 steps: the paper's
            loop). None resolves to the default, or to 0 for a guided run: resampling pulls
            the candidates back onto the reference's profile, which is where guidance was
            steering them away from (benchmarks/README.md, "Property guidance"); also 0
            without references.
        clip: how x0_hat is clipped in ILVR runs (:data:`superdiff_core.sampler.ClipMode`).
        screening: screening options.
        guidance: property guidance weights (:mod:`superdiff_core.guidance`; all 0: none).
        baseline: a baseline drawn beside the diffusion candidates (:data:`BASELINES`; None: none).
        guided_stay_near: in a guided run, keep only the candidates that keep every element of
            their reference and stay inside the training domain (steering otherwise pays for a
            higher predicted Tc by leaving the reference's family: benchmarks/README.md,
            "Property guidance"); no effect without guidance or references.
        precision: the network's number format (:data:`superdiff_core.timetable.Precision`;
            None: ``bf16`` where the machine runs it natively, else ``fp32``,
            :func:`superdiff_core.device.default_precision`).
    """

    model_class: str
    references: tuple[ParsedFormula, ...] = ()
    scale_factors: tuple[int, ...] = (2, 3, 4)
    samples: int = 500
    steps: int | None = None
    seed: int = 0
    method: str | None = None
    conditioning_stop: int | None = None
    element_order: str | None = None
    filter_order: str | None = None
    resample_steps: int | None = None
    resample_count: int = DEFAULT_RESAMPLE_COUNT
    clip: str = DEFAULT_CLIP
    screening: ScreeningOptions = field(default_factory=ScreeningOptions)
    guidance: GuidanceWeights = field(default_factory=GuidanceWeights)
    baseline: str | None = None
    guided_stay_near: bool = True
    precision: str | None = None

    def __post_init__(self) -> None:
        # types only (formula text, lists and JSON mappings); no defaults are derived here
        object.__setattr__(self, "references", tuple(_as_reference(r) for r in self.references))
        object.__setattr__(self, "scale_factors", tuple(self.scale_factors))
        if not isinstance(self.guidance, GuidanceWeights):
            object.__setattr__(self, "guidance", GuidanceWeights.from_dict(self.guidance))
        if isinstance(self.screening, Mapping):
            object.__setattr__(self, "screening", _screening_from_mapping(self.screening))

    # ------------------------------------------------------------------ ways in and out

    @classmethod
    def from_mapping(cls, values: Mapping[str, object]) -> GenerationSettings:
        """Settings from plain values (a JSON ``settings`` section, CLI arguments, a page).

        Keys left out, or given as None, take their defaults. References may be formula
        text; ``screening`` and ``guidance`` may be mappings; the names of
        :data:`NAMES_IN_ANY_CASE` are read in any case (``"DDIM"`` is ``"ddim"``).

        Raises:
            InputError: one line naming an unknown field or a value of the wrong type.
        """
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise InputError(f"unknown setting {unknown[0]!r}: known settings are {', '.join(sorted(known))}")
        given = {key: value for key, value in values.items() if value is not None}
        if "model_class" not in given:
            raise InputError("the settings name no model class")
        try:
            for key in ("references", "scale_factors"):
                if key in given:
                    if isinstance(given[key], (str, bytes)) or not isinstance(given[key], (list, tuple)):
                        raise InputError(f"{key} must be a list, got {given[key]!r}")
                    given[key] = tuple(given[key])
            given["scale_factors"] = tuple(_as_int("scale_factors", n) for n in given.get("scale_factors", (2, 3, 4)))
            for key in ("samples", "steps", "seed", "conditioning_stop", "resample_steps", "resample_count"):
                if key in given:
                    given[key] = _as_int(key, given[key])
            for key in ("model_class", *NAMES_IN_ANY_CASE):  # the settings given as text
                if key in given:
                    given[key] = _as_text(key, given[key])
            for key in NAMES_IN_ANY_CASE:  # as the command line reads them
                if key in given:
                    given[key] = given[key].lower()
            return cls(**given)
        except TypeError as error:
            raise InputError(f"bad settings: {error}") from None

    def to_dict(self) -> dict:
        """Plain values (JSON-able): references as their formula text."""
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        values["references"] = list(self.reference_texts)
        values["scale_factors"] = list(self.scale_factors)
        values["screening"] = dataclasses.asdict(self.screening)
        values["guidance"] = self.guidance.to_dict()
        return values

    @property
    def reference_texts(self) -> tuple[str, ...]:
        """The references as the user wrote them."""
        return tuple(reference.text for reference in self.references)

    # ------------------------------------------------------------------ resolution

    def resolved(self) -> GenerationSettings:
        """These settings with every default decided and every value checked.

        Idempotent: resolving resolved settings returns equal settings.

        Raises:
            InputError: one line for any value out of range, unknown method, clip mode,
                element or filter order, or baseline.
        """
        check = _checked(self.model_class, check_model_class)
        _check_scale_factors(self.scale_factors)  # before the unconditional normal form drops them
        conditioned = bool(self.references)
        element_order = self.element_order or DEFAULT_ELEMENT_ORDER
        if self.resample_steps is not None:
            resample_steps = self.resample_steps
        else:
            resample_steps = 0 if self.guidance.active else DEFAULT_RESAMPLE_STEPS
        precision = default_precision() if self.precision is None else self.precision  # torch only when the machine decides
        resolved = dataclasses.replace(
            self,
            model_class=check,
            precision=precision,
            steps=self.steps if self.steps is not None else get_model_class(check).recommended_steps,
            method=self.method or DEFAULT_METHOD,
            element_order=element_order,
            # the unconditional normal form: no conditioning-only values
            scale_factors=self.scale_factors if conditioned else (),
            conditioning_stop=(DEFAULT_CONDITIONING_STOP if self.conditioning_stop is None else self.conditioning_stop)
            if conditioned else 0,
            filter_order=(self.filter_order or element_order) if conditioned else element_order,
            resample_steps=resample_steps if conditioned else 0,
        )
        resolved._validate()
        return resolved

    @property
    def is_resolved(self) -> bool:
        return None not in (self.steps, self.method, self.element_order, self.filter_order, self.conditioning_stop, self.resample_steps,
                            self.precision)

    def _validate(self) -> None:
        if not 1 <= self.samples <= MAX_SAMPLES_PER_RUN:
            raise InputError(f"samples must be from 1 to {MAX_SAMPLES_PER_RUN}, got {self.samples}")
        if not 0 <= self.conditioning_stop <= 1000:
            raise InputError(f"ILVR stop timestep must be from 0 to 1000, got {self.conditioning_stop}")
        _check_choice("method", self.method, SAMPLING_METHODS)
        _check_choice("clip mode", self.clip, CLIP_MODES)
        _check_choice("precision", self.precision, PRECISIONS)
        _check_choice("element order", self.element_order, FILTER_ORDERS)
        _check_choice("filter order", self.filter_order, FILTER_ORDERS)
        if self.baseline is not None:
            _check_choice("baseline", self.baseline, BASELINES)
        try:
            check_num_steps(self.steps)
            resampling_repeats(1, self.resample_steps, self.resample_count)
        except ValueError as error:
            raise InputError(str(error)) from None
        _check_scale_factors(self.scale_factors)
        if self.references and not self.scale_factors:
            raise InputError("give at least one scale factor N with a reference")

    @property
    def network_calls_per_sample(self) -> int:
        """Reverse steps one sample takes, counting resampled steps (what the progress bar
        counts and what a time estimate multiplies by). Needs resolved settings."""
        settings = self if self.is_resolved else self.resolved()
        return sum(resampling_repeats(settings.steps, settings.resample_steps, settings.resample_count))



def with_recorded_defaults(values: Mapping[str, object]) -> dict[str, object]:
    """A settings mapping *read back from a record* (a run-settings file, a campaign manifest)
    with the settings added since it was written set to what that run used, so it reruns
    exactly: a record without ``precision`` ran in float32 (:data:`LEGACY_PRECISION`). A mapping
    a user writes (a plan, the command line) goes to :meth:`GenerationSettings.from_mapping`
    directly, where a missing key means the current default."""
    out = dict(values)
    if out.get("precision") is None:
        out["precision"] = LEGACY_PRECISION
    return out


def _checked(value: str, check) -> str:
    try:
        return check(value)
    except ValueError as error:
        raise InputError(str(error)) from None


def _check_scale_factors(scale_factors: tuple[int, ...]) -> None:
    try:
        for n in scale_factors:
            check_scale_factor(n)
    except ValueError as error:
        raise InputError(str(error)) from None


def _check_choice(what: str, value: object, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise InputError(f"unknown {what} {value!r}: choose one of {', '.join(choices)}")


def _as_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or int(value) != value:
        raise InputError(f"{name} must be a whole number, got {value!r}")
    return int(value)


def _as_text(name: str, value: object) -> str:
    if not isinstance(value, str):
        raise InputError(f"{name} must be text, got {value!r}")
    return value


def _screening_from_mapping(values: Mapping) -> ScreeningOptions:
    """Screening options from a JSON/TOML mapping (None: the default); the old ``mixed_valence``
    flag becomes its check."""
    values = {key: value for key, value in values.items() if value is not None}
    if "mixed_valence" in values:
        legacy = values.pop("mixed_valence")
        if not isinstance(legacy, bool):
            raise InputError(f"mixed_valence must be true or false, got {legacy!r}")
        if values.setdefault("validity_check", MIXED_VALENCE_FLAG_CHECKS[legacy]) != MIXED_VALENCE_FLAG_CHECKS[legacy]:
            raise InputError(f"give validity_check or the old mixed_valence, not both (validity_check {values['validity_check']!r}, "
                             f"mixed_valence {str(legacy).lower()})")
    known = {f.name for f in dataclasses.fields(ScreeningOptions)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise InputError(f"unknown screening setting {unknown[0]!r}: known are {', '.join(sorted(known))}")
    if not isinstance(values.get("validity_check", ""), str):
        raise InputError(f"validity_check must be text, got {values['validity_check']!r}")
    return ScreeningOptions(**values)
