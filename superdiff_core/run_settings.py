"""The run-settings JSON that reproduces a run, the equivalent command line, file names.

The app writes this JSON next to every download and reads it back ("Load settings");
``superdiff generate --settings run.json`` runs the same settings from the command line.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from .artifacts import to_jsonable
from .composition import N_ELEMENTS, FormulaError, parse_formula, vector_to_formula
from .errors import InputError
from .funnel import Thresholds
from .settings import GenerationSettings, with_recorded_defaults

_SUBSCRIPT_DIGITS = str.maketrans("₀₁₂₃₄₅₆₇₈₉", "0123456789")


_UNSAFE = re.compile(r"[^A-Za-z0-9.]+")


MAX_STEM_REFERENCES = 2


def _safe_formula(text: str) -> str:
    """The formula as typed when that is a safe file name (subscripts become digits),
    else its expanded composition: ``Ba(Fe0.9Co0.1)₂As₂`` -> ``BaFe1.8Co0.2As2``."""
    plain = "".join(text.translate(_SUBSCRIPT_DIGITS).split())
    if plain and not _UNSAFE.search(plain):
        return plain
    try:
        return _UNSAFE.sub("", vector_to_formula(parse_formula(text, max_elements=N_ELEMENTS))) or "formula"
    except FormulaError:
        return _UNSAFE.sub("", plain) or "formula"


def _ranges(values: Sequence[int]) -> str:
    """``(2, 3, 4)`` -> ``"2-4"``, ``(2, 4)`` -> ``"2_4"``."""
    values = sorted(set(values))
    if len(values) > 2 and values == list(range(values[0], values[-1] + 1)):
        return f"{values[0]}-{values[-1]}"
    return "_".join(str(v) for v in values)


def file_stem(settings: GenerationSettings) -> str:
    """A file name stem that says what was run, e.g.
    ``superdiff_BaFe2As2_pnictides_N2-4_500x50ancestral_seed0`` (unconditional runs say so)."""
    settings = settings.resolved()
    if settings.references:
        names = [_safe_formula(r) for r in settings.reference_texts[:MAX_STEM_REFERENCES]]
        more = len(settings.references) - MAX_STEM_REFERENCES
        refs = "+".join(names) + (f"+{more}more" if more > 0 else "")
        conditioning = f"{refs}_{settings.model_class}_N{_ranges(settings.scale_factors)}"
    else:
        conditioning = f"unconditional_{settings.model_class}"
    guided = "_guided-" + settings.guidance.to_text().replace("=", "").replace(",", "-") if settings.guidance.active else ""
    order = "" if settings.element_order == "z" else f"_{settings.element_order}"
    return f"superdiff_{conditioning}{order}_{settings.samples}x{settings.steps}{settings.method}_seed{settings.seed}{guided}"


def screen_file_stem(formulas: Sequence[str], map_class: str) -> str:
    """File name stem of a Screen-formulas export, e.g. ``superdiff_screen_12formulas_everything``."""
    return f"superdiff_screen_{len(formulas)}formulas_{map_class}"


SETTINGS_FORMAT = "superdiff-run-settings"


SETTINGS_VERSION = 1


def cli_command(settings: GenerationSettings) -> str:
    """The ``superdiff generate``/``evaluate`` command line of the same run (screening
    options the CLI has no flag for are in the JSON only)."""
    settings = settings.resolved()
    parts = ["superdiff", "generate" if settings.references else "evaluate", "--model", settings.model_class]
    for reference in settings.reference_texts:
        parts += ["--reference", _shell_quote(reference)]
    if settings.references:
        parts += ["--scale-factor", *map(str, settings.scale_factors), "--ilvr-stop", str(settings.conditioning_stop),
                  "--filter-order", settings.filter_order, "--resample-steps", str(settings.resample_steps),
                  "--resample-count", str(settings.resample_count), "--clip", settings.clip]
    parts += ["--samples", str(settings.samples), "--steps", str(settings.steps), "--seed", str(settings.seed), "--method", settings.method,
              "--order", settings.element_order, "--validity", settings.screening.validity_check, "--precision", settings.precision]
    if settings.guidance.active:
        parts += ["--guide", settings.guidance.to_text()]
        if not settings.guided_stay_near:
            parts.append("--guide-anywhere")
    if settings.baseline is not None:
        parts += ["--baseline", settings.baseline]
    if settings.references and settings.screening.keep_invalid:
        parts.append("--keep-invalid")
    if settings.references and settings.screening.keep_known:
        parts.append("--keep-known")
    return " ".join(parts)


def _shell_quote(text: str) -> str:
    return text if re.fullmatch(r"[A-Za-z0-9.]+", text) else "'" + text.replace("'", "'\"'\"'") + "'"


def run_settings_json(
    settings: GenerationSettings,
    thresholds: Thresholds | None = None,
    model_card: Mapping | None = None,
    extra: Mapping | None = None,
) -> str:
    """The JSON that reproduces a run: the settings as resolved (every default written out,
    so a later version with other defaults reruns the same), the funnel thresholds, which
    model (training data checksum, size, best epoch) and the equivalent command line."""
    settings = settings.resolved()
    card = model_card or {}
    document = {
        "format": SETTINGS_FORMAT,
        "version": SETTINGS_VERSION,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "settings": settings.to_dict(),
        "thresholds": dataclasses.asdict(thresholds or Thresholds()),
        "model": {
            "model_class": settings.model_class,
            "element_order": settings.element_order,
            "data_sha256": card.get("data", {}).get("sha256"),
            "parameters": card.get("architecture", {}).get("parameters"),
            "best_epoch": card.get("training", {}).get("best_epoch"),
        },
        "command": cli_command(settings),
    }
    if settings.guidance.active:
        document["guidance_method"] = guidance_method()
    if extra:
        document.update(extra)
    return json.dumps(to_jsonable(document), indent=2) + "\n"


def guidance_method() -> dict:
    """How guidance is applied in this version (recorded beside the weights, for the record)."""
    from . import guidance

    return {"target": guidance.DEFAULT_TARGET, "schedule": guidance.DEFAULT_SCHEDULE, "scale": guidance.GUIDANCE_SCALE,
            "guide_models": "tc: checkpoints/tc guidance network; formation: checkpoints/formation network"}


def settings_from_json(text: str | bytes) -> tuple[GenerationSettings, Thresholds]:
    """Read back a run-settings JSON written by :func:`run_settings_json`.

    Raises:
        InputError: one line naming what is wrong.
    """
    try:
        document = json.loads(text)
    except (ValueError, UnicodeDecodeError) as error:
        raise InputError(f"not a JSON file ({error})") from None
    if not isinstance(document, dict) or document.get("format") != SETTINGS_FORMAT:
        raise InputError("not a SuperDiff run-settings file (no \"format\": \"superdiff-run-settings\")")
    raw = document.get("settings")
    if not isinstance(raw, dict):
        raise InputError("the file has no \"settings\" section")
    settings = GenerationSettings.from_mapping(with_recorded_defaults(raw))
    settings.resolved()  # refuse a file the engine would refuse, now
    try:
        thresholds = Thresholds(**document.get("thresholds", {}))
    except TypeError as error:
        raise InputError(f"unexpected field in the thresholds: {error}") from None
    return settings, thresholds
