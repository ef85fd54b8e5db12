"""Plain UI logic of the app: no Streamlit here, so every function is unit-tested directly.

What lives here: the model-class suggestion from a reference's elements, the screening
funnel (engine stages, then the user's Tc and formation-energy thresholds), candidate
filters, map-selection handling, download file names, the run-settings JSON (and reading
it back), uploaded formula lists, and the periodic-table heat-map data.
"""

from __future__ import annotations

import dataclasses
import io
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pandas as pd

from superdiff_core.composition import (
    ELEMENT_SYMBOLS,
    N_ELEMENTS,
    FormulaError,
    parse_formula,
    split_formulas,
    vector_to_formula,
)
from superdiff_core.errors import InputError
from superdiff_core.pipeline import GenerationSettings
from superdiff_core.screening import ScreeningOptions, StageCount

# ---------------------------------------------------------------------------------------
# Model class suggestion
# ---------------------------------------------------------------------------------------

PNICTIDE_METALS = frozenset({"Fe", "Ni"})
PNICTIDE_PARTNERS = frozenset({"As", "P", "Se", "Te"})


@dataclass(frozen=True)
class ClassSuggestion:
    """The model class a reference looks like, and why (shown to the user)."""

    model_class: str
    reason: str


def suggest_class(elements: Iterable[str]) -> ClassSuggestion:
    """Suggest a model class from one compound's elements.

    Cu and O make a cuprate; Fe or Ni with As, P, Se or Te make a pnictide (the
    iron-based family, chalcogenides included, as SuperCon files them); anything else is
    an "other" superconductor.
    """
    present = set(elements)
    if {"Cu", "O"} <= present:
        return ClassSuggestion("cuprates", "it contains Cu and O")
    metals = sorted(present & PNICTIDE_METALS)
    partners = sorted(present & PNICTIDE_PARTNERS)
    if metals and partners:
        return ClassSuggestion("pnictides", f"it contains {' and '.join(metals)} with {' and '.join(partners)}")
    return ClassSuggestion("others", "it is neither a Cu–O compound nor Fe/Ni with As, P, Se or Te")


def suggest_class_for(element_sets: Sequence[Iterable[str]]) -> ClassSuggestion | None:
    """One suggestion for several references: their common class, or ``everything`` when
    they disagree; None without references."""
    suggestions = [suggest_class(elements) for elements in element_sets]
    if not suggestions:
        return None
    classes = {s.model_class for s in suggestions}
    if len(classes) == 1:
        return suggestions[0]
    return ClassSuggestion("everything", f"the references belong to different classes ({', '.join(sorted(classes))})")


def default_class(suggestion: ClassSuggestion | None, available: Sequence[str]) -> str | None:
    """The class to preselect: the suggestion when its model exists, else ``everything``,
    else the first available one; None when no model exists."""
    if suggestion is not None and suggestion.model_class in available:
        return suggestion.model_class
    if "everything" in available:
        return "everything"
    return available[0] if available else None


def class_mismatch_warning(chosen: str, suggestion: ClassSuggestion | None) -> str | None:
    """A warning when the chosen model does not match the references, else None.

    The ``everything`` model has seen every class, so it never mismatches.
    """
    if suggestion is None or chosen == suggestion.model_class or chosen == "everything":
        return None
    if suggestion.model_class == "everything":
        return (
            f"The references span several classes ({suggestion.reason.split('(')[-1].rstrip(')')}), but the "
            f"{chosen} model has only seen {chosen}: the 'everything' model is the better choice."
        )
    return (
        f"The reference looks like one of the {suggestion.model_class} ({suggestion.reason}), but the {chosen} "
        f"model is selected. It has only seen {chosen}, so its candidates will drift away from the reference."
    )


# ---------------------------------------------------------------------------------------
# Screening funnel
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Thresholds:
    """The user's last two funnel stages (defaults of Wines, Xie & Choudhary 2023)."""

    tc_min_kelvin: float = 5.0
    formation_max_ev: float = 0.0


@dataclass(frozen=True)
class FunnelStage:
    """One stage of the funnel as shown: label, candidates remaining (None when the
    stage cannot be computed, e.g. a property model is missing) and a short explanation."""

    label: str
    count: int | None
    help: str = ""


ENGINE_STAGE_LABELS: dict[str, tuple[str, str]] = {
    "raw": ("raw samples", "everything the diffusion model drew"),
    "element count": (
        "basic filters",
        "amounts rounded to 0.01, residual noise zeroed, no negative amount, allowed number of elements",
    ),
    "unique": ("unique", "duplicates removed"),
    "novel": ("novel", "not already in the class's SuperCon training set"),
}
"""Engine stages shown in the funnel (``non-negative`` is folded into the basic filters)."""


def _column_mask(table: pd.DataFrame, column: str) -> np.ndarray | None:
    """Boolean mask of a True/False column (missing values count as False), or None if absent."""
    if column not in table.columns:
        return None
    return table[column].astype("boolean").fillna(False).to_numpy(dtype=bool)


def _numeric(table: pd.DataFrame, column: str) -> np.ndarray | None:
    if column not in table.columns:
        return None
    return pd.to_numeric(table[column], errors="coerce").to_numpy(dtype=float)


def table_funnel(table: pd.DataFrame, thresholds: Thresholds) -> tuple[list[FunnelStage], np.ndarray]:
    """The funnel stages computed from a candidate table, and the mask of rows that pass
    them all.

    Stages: SMACT-valid (novel ones, when a ``novel`` column exists), predicted
    superconductor, Tc above the threshold, formation energy below the threshold. A stage
    whose column is missing (property models not built) has ``count=None`` and so do the
    stages after it. NaN values (no prediction) fail a threshold.
    """
    passing = np.ones(len(table), dtype=bool)
    novel = _column_mask(table, "novel")
    if novel is not None:
        passing &= novel
    stages: list[FunnelStage] = []
    available = True

    def add(label: str, mask: np.ndarray | None, help_text: str) -> None:
        nonlocal passing, available
        if mask is None:
            available = False
        if available:
            passing = passing & mask
        stages.append(FunnelStage(label, int(passing.sum()) if available else None, help_text))

    add(
        "SMACT-valid", _column_mask(table, "smact_valid"),
        "charge-neutral with allowed oxidation states and Pauling electronegativity order",
    )
    add("predicted superconductor", _column_mask(table, "is_superconductor"), "the k-nearest-neighbour classifier says superconductor")
    tc = _numeric(table, "tc_kelvin")
    add(
        f"Tc > {thresholds.tc_min_kelvin:g} K",
        None if tc is None else np.nan_to_num(tc, nan=-np.inf) > thresholds.tc_min_kelvin,
        "predicted critical temperature above your threshold",
    )
    energy = _numeric(table, "formation_energy_ev_per_atom")
    add(
        f"formation energy < {thresholds.formation_max_ev:g} eV/atom",
        None if energy is None else np.nan_to_num(energy, nan=np.inf) < thresholds.formation_max_ev,
        "predicted formation energy below your threshold (no prediction: fails)",
    )
    return stages, (passing if available else np.zeros(len(table), dtype=bool))


def engine_funnel(stages: Sequence[StageCount], table: pd.DataFrame, thresholds: Thresholds) -> tuple[list[FunnelStage], np.ndarray]:
    """The full funnel of a generation run: the engine's counts (raw, basic filters,
    unique, novel) then :func:`table_funnel` on the candidate table."""
    shown = [
        FunnelStage(ENGINE_STAGE_LABELS[s.stage][0], s.remaining, ENGINE_STAGE_LABELS[s.stage][1])
        for s in stages
        if s.stage in ENGINE_STAGE_LABELS
    ]
    rest, mask = table_funnel(table, thresholds)
    return shown + rest, mask


def funnel_frame(stages: Sequence[FunnelStage]) -> pd.DataFrame:
    """The funnel as a table: stage, remaining (blank when unavailable), share of the first stage."""
    first = next((s.count for s in stages if s.count), None)
    rows = []
    for stage in stages:
        share = "" if stage.count is None or not first else f"{100.0 * stage.count / first:.1f} %"
        rows.append({"stage": stage.label, "remaining": stage.count, "of first stage": share, "what it checks": stage.help})
    frame = pd.DataFrame(rows, columns=["stage", "remaining", "of first stage", "what it checks"])
    frame["remaining"] = frame["remaining"].astype("Int64")
    return frame


# ---------------------------------------------------------------------------------------
# Candidate table and filters
# ---------------------------------------------------------------------------------------

DISPLAY_COLUMNS: dict[str, str] = {
    "formula": "Formula",
    "reference": "Reference",
    "scale_factor": "N",
    "tc_kelvin": "Predicted Tc (K)",
    "sc_probability": "SC probability",
    "formation_energy_ev_per_atom": "Formation energy (eV/atom)",
    "smact_valid": "SMACT-valid",
    "novel": "Novel",
    "cluster_name": "Cluster",
    "family_id": "Family",
    "family_formula": "Family formula",
    "note": "Note",
}
"""Columns of the on-screen candidate table (when present) and their headers."""


def display_columns(table: pd.DataFrame) -> list[str]:
    """The :data:`DISPLAY_COLUMNS` present in ``table``, in that order (the ``reference``
    column only when the run had more than one reference)."""
    columns = [c for c in DISPLAY_COLUMNS if c in table.columns]
    if "reference" in columns and table["reference"].nunique() <= 1:
        columns.remove("reference")
    if "note" in columns and not table["note"].astype(str).str.len().any():
        columns.remove("note")
    return columns


@dataclass(frozen=True)
class CandidateFilter:
    """What the user narrowed the candidate table to. ``None``/empty means no filter.

    Attributes:
        text: case-sensitive substring of the formula (e.g. an element symbol).
        min_tc_kelvin: smallest predicted Tc.
        max_formation_ev: largest predicted formation energy.
        only_superconductors: predicted superconductors only.
        only_funnel: only candidates that pass the whole funnel.
        scale_factors: ILVR N values to keep.
        families: family ids to keep.
        rows: table positions to keep (a map selection).
    """

    text: str = ""
    min_tc_kelvin: float | None = None
    max_formation_ev: float | None = None
    only_superconductors: bool = False
    only_funnel: bool = False
    scale_factors: tuple[int, ...] = ()
    families: tuple[str, ...] = ()
    rows: tuple[int, ...] | None = None


def filter_candidates(table: pd.DataFrame, spec: CandidateFilter, funnel_mask: np.ndarray | None = None) -> pd.DataFrame:
    """The rows of ``table`` that match ``spec`` (index kept, so rows map back to the run).

    Filters on columns the table does not have are ignored, except that asking for
    superconductors or a Tc bound without property columns leaves no row.
    """
    keep = np.ones(len(table), dtype=bool)
    if spec.text:
        keep &= table["formula"].astype(str).str.contains(spec.text, regex=False).to_numpy()
    if spec.min_tc_kelvin is not None:
        tc = _numeric(table, "tc_kelvin")
        keep &= False if tc is None else np.nan_to_num(tc, nan=-np.inf) >= spec.min_tc_kelvin
    if spec.max_formation_ev is not None:
        energy = _numeric(table, "formation_energy_ev_per_atom")
        keep &= False if energy is None else np.nan_to_num(energy, nan=np.inf) <= spec.max_formation_ev
    if spec.only_superconductors:
        mask = _column_mask(table, "is_superconductor")
        keep &= False if mask is None else mask
    if spec.only_funnel and funnel_mask is not None:
        keep &= funnel_mask
    if spec.scale_factors and "scale_factor" in table.columns:
        keep &= table["scale_factor"].isin(spec.scale_factors).fillna(False).to_numpy(dtype=bool)
    if spec.families and "family_id" in table.columns:
        keep &= table["family_id"].isin(spec.families).to_numpy()
    if spec.rows is not None:
        selected = np.zeros(len(table), dtype=bool)
        positions = [r for r in spec.rows if 0 <= r < len(table)]
        selected[positions] = True
        keep &= selected
    return table[keep]


CANDIDATE_GROUP = "candidates"
"""``legendgroup`` of the candidate points on the map (see :func:`selected_rows`)."""


def selected_rows(points: Iterable[Mapping]) -> tuple[int, ...]:
    """Table rows of the candidate points in a Plotly selection (``event.selection.points``).

    Candidate points carry ``legendgroup == "candidates"`` and their table row as the
    last ``customdata`` entry; SuperCon and reference points are ignored.
    """
    rows = set()
    for point in points:
        if point.get("legendgroup") != CANDIDATE_GROUP:
            continue
        data = point.get("customdata")
        if isinstance(data, (list, tuple)) and data:
            try:
                rows.add(int(data[-1]))
            except (TypeError, ValueError):
                continue
    return tuple(sorted(rows))


# ---------------------------------------------------------------------------------------
# Downloads: file names and the run-settings JSON
# ---------------------------------------------------------------------------------------

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
    if settings.references:
        names = [_safe_formula(r) for r in settings.references[:MAX_STEM_REFERENCES]]
        more = len(settings.references) - MAX_STEM_REFERENCES
        refs = "+".join(names) + (f"+{more}more" if more > 0 else "")
        conditioning = f"{refs}_{settings.model_class}_N{_ranges(settings.scale_factors)}"
    else:
        conditioning = f"unconditional_{settings.model_class}"
    return f"superdiff_{conditioning}_{settings.samples}x{settings.steps}{settings.method}_seed{settings.seed}"


def screen_file_stem(formulas: Sequence[str], map_class: str) -> str:
    """File name stem of a Screen-formulas export, e.g. ``superdiff_screen_12formulas_everything``."""
    return f"superdiff_screen_{len(formulas)}formulas_{map_class}"


SETTINGS_FORMAT = "superdiff-run-settings"
SETTINGS_VERSION = 1


def cli_command(settings: GenerationSettings) -> str:
    """The ``superdiff generate``/``evaluate`` command line of the same run (screening
    options the CLI has no flag for are in the JSON only)."""
    parts = ["superdiff", "generate" if settings.references else "evaluate", "--model", settings.model_class]
    for reference in settings.references:
        parts += ["--reference", _shell_quote(reference)]
    if settings.references:
        parts += ["--scale-factor", *map(str, settings.scale_factors), "--ilvr-stop", str(settings.conditioning_stop)]
    parts += ["--samples", str(settings.samples), "--steps", str(settings.steps), "--seed", str(settings.seed), "--method", settings.method]
    if settings.screening.mixed_valence:
        parts.append("--mixed-valence")
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
    """The JSON that reproduces a run: the settings, the funnel thresholds, which model
    (training data checksum, size, best epoch) and the equivalent command line."""
    card = model_card or {}
    document = {
        "format": SETTINGS_FORMAT,
        "version": SETTINGS_VERSION,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "settings": settings.to_dict(),
        "thresholds": dataclasses.asdict(thresholds or Thresholds()),
        "model": {
            "model_class": settings.model_class,
            "data_sha256": card.get("data", {}).get("sha256"),
            "parameters": card.get("architecture", {}).get("parameters"),
            "best_epoch": card.get("training", {}).get("best_epoch"),
        },
        "command": cli_command(settings),
    }
    if extra:
        document.update(extra)
    return json.dumps(document, indent=2, default=_json_default) + "\n"


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


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
    try:
        screening = ScreeningOptions(**raw.get("screening", {}))
        values = {k: v for k, v in raw.items() if k != "screening"}
        values["references"] = tuple(values.get("references", ()))
        values["scale_factors"] = tuple(int(n) for n in values.get("scale_factors", (2, 3, 4)))
        settings = GenerationSettings(screening=screening, **values)
        thresholds = Thresholds(**document.get("thresholds", {}))
    except TypeError as error:
        raise InputError(f"unexpected field in the settings: {error}") from None
    settings.validate()
    return settings, thresholds


# ---------------------------------------------------------------------------------------
# Formula lists for the Screen page
# ---------------------------------------------------------------------------------------

MAX_SCREEN_FORMULAS = 20_000
"""Most formulas screened at once in the app (the CLI has no limit)."""


def formulas_from_text(text: str) -> list[str]:
    """Formulas pasted in a text box: one per line, or separated by commas or semicolons;
    lines starting with ``#`` are comments."""
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    return split_formulas("\n".join(lines))


def formulas_from_upload(name: str, data: bytes) -> list[str]:
    """Formulas of an uploaded file: a CSV with a ``formula`` column, or text with one
    formula per line (``#`` comments and blank lines skipped), in file order.

    Raises:
        InputError: unreadable file, CSV without a ``formula`` column, or no formula.
    """
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InputError(f"{name} is not a UTF-8 text file") from None
    if name.lower().endswith(".csv"):
        try:
            table = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
        except (pd.errors.ParserError, pd.errors.EmptyDataError) as error:
            raise InputError(f"cannot read {name}: {str(error).splitlines()[0]}") from None
        if "formula" not in table.columns:
            columns = ", ".join(map(str, table.columns)) or "none"
            raise InputError(f"{name} has no 'formula' column (columns: {columns})")
        formulas = [f.strip() for f in table["formula"].astype(str) if f.strip()]
    else:
        formulas = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    if not formulas:
        raise InputError(f"{name} has no formula")
    return formulas


def check_formula_count(formulas: Sequence[str]) -> None:
    """Raise InputError when there are no formulas or more than :data:`MAX_SCREEN_FORMULAS`."""
    if not formulas:
        raise InputError("paste or upload at least one formula")
    if len(formulas) > MAX_SCREEN_FORMULAS:
        raise InputError(
            f"{len(formulas)} formulas: the app screens at most {MAX_SCREEN_FORMULAS:,} at once "
            "(use `superdiff screen` for longer lists)"
        )


# ---------------------------------------------------------------------------------------
# Periodic-table heat map
# ---------------------------------------------------------------------------------------

_PERIOD_STARTS = (1, 3, 11, 19, 37, 55, 87, 119)


def periodic_position(z: int) -> tuple[int, int]:
    """(row, column) of element ``z`` in the usual 18-column table, 1-based.

    Lanthanides (La–Lu) go to row 9 and actinides (Ac–Lr) to row 10, columns 3–17.
    """
    if not 1 <= z <= 118:
        raise ValueError(f"no element with Z = {z}")
    if 57 <= z <= 71:
        return 9, 3 + (z - 57)
    if 89 <= z <= 103:
        return 10, 3 + (z - 89)
    period = next(p for p in range(7) if _PERIOD_STARTS[p] <= z < _PERIOD_STARTS[p + 1]) + 1
    offset = z - _PERIOD_STARTS[period - 1]
    if period == 1:
        return 1, 1 if z == 1 else 18
    if period in (2, 3):
        return period, offset + 1 if offset < 2 else offset + 11
    if period in (4, 5):
        return period, offset + 1
    # periods 6 and 7: s-block, then the f-block row apart, then groups 4-18
    if offset < 2:
        return period, offset + 1
    return period, offset - 14 + 1


def element_tc_probability(vectors: np.ndarray, tc_kelvin: np.ndarray, threshold_kelvin: float) -> pd.DataFrame:
    """Per element: how many compounds contain it and the share whose Tc is above the
    threshold (the heat map of Wines, Xie & Choudhary 2023).

    Args:
        vectors: amounts, shape (n, 96) (index Z - 1).
        tc_kelvin: Tc per compound (predicted or measured), shape (n,); NaN is left out.
        threshold_kelvin: Tc threshold.

    Returns:
        One row per element present: ``symbol``, ``z``, ``row``, ``column``, ``compounds``,
        ``above`` and ``probability`` (above / compounds), ordered by Z.
    """
    vectors = np.asarray(vectors, dtype=float).reshape(-1, len(ELEMENT_SYMBOLS))
    tc = np.asarray(tc_kelvin, dtype=float).reshape(-1)
    if len(tc) != len(vectors):
        raise ValueError(f"{len(vectors)} compounds but {len(tc)} Tc values")
    known = np.isfinite(tc)
    contains = vectors[known] > 0
    above = tc[known] > threshold_kelvin
    counts = contains.sum(axis=0)
    above_counts = (contains & above[:, None]).sum(axis=0)
    rows = []
    for index in np.flatnonzero(counts):
        z = int(index) + 1
        row, column = periodic_position(z)
        rows.append(
            {
                "symbol": ELEMENT_SYMBOLS[index],
                "z": z,
                "row": row,
                "column": column,
                "compounds": int(counts[index]),
                "above": int(above_counts[index]),
                "probability": float(above_counts[index] / counts[index]),
            }
        )
    return pd.DataFrame(rows, columns=["symbol", "z", "row", "column", "compounds", "above", "probability"])


def periodic_grid(data: pd.DataFrame, min_compounds: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """A 10 x 18 grid of probabilities (NaN where no data or fewer than ``min_compounds``)
    and the matching cell labels (every element up to Cm gets its symbol)."""
    values = np.full((10, 18), np.nan)
    labels = np.full((10, 18), "", dtype=object)
    for index, symbol in enumerate(ELEMENT_SYMBOLS):
        row, column = periodic_position(index + 1)
        labels[row - 1, column - 1] = symbol
    for record in data.itertuples(index=False):
        if record.compounds >= min_compounds:
            values[record.row - 1, record.column - 1] = record.probability
    return values, labels


# ---------------------------------------------------------------------------------------
# Small formatting helpers
# ---------------------------------------------------------------------------------------


def format_seconds(seconds: float) -> str:
    """``"4.2 s"``, ``"1 min 05 s"``."""
    if not math.isfinite(seconds) or seconds < 0:
        return "–"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(int(round(seconds)), 60)
    return f"{minutes} min {rest:02d} s"


def progress_text(done: int, total: int, elapsed: float) -> str:
    """The live progress line: steps done, elapsed time and a rough time left."""
    if total <= 0:
        return f"Starting… {format_seconds(elapsed)} elapsed"
    text = f"Sampling: step {done:,} of {total:,} · {format_seconds(elapsed)} elapsed"
    if 0 < done < total:
        text += f" · about {format_seconds(elapsed * (total - done) / done)} left"
    return text


def scale_factor_tuple(bounds: Sequence[int]) -> tuple[int, ...]:
    """The N values of a range slider's (low, high) bounds, inclusive."""
    low, high = int(min(bounds)), int(max(bounds))
    return tuple(range(low, high + 1))


TABLE_1_ROWS: tuple[tuple[str, str, str, str], ...] = (
    ("novel %", "novel_percent", "novel_percent", "%"),
    ("unique %", "unique_percent", "unique_percent", "%"),
    ("valid (SMACT) per 1,000 samples", "valid_per_1000", "valid_per_1000", ""),
    ("predicted superconductors %", "predicted_sc_percent", "predicted_sc_percent", "%"),
    ("mean predicted Tc (K)", "tc_mean_kelvin", "tc_mean_kelvin", "K"),
    ("max predicted Tc (K)", "tc_max_kelvin", "tc_max_kelvin", "K"),
)
"""(label, key in our metrics, key in the published row, unit)."""


def table_1_frame(metrics: Mapping) -> pd.DataFrame:
    """Our Table-1 metrics next to the published row (missing values blank)."""
    published = metrics.get("published", {})
    rows = []
    for label, ours_key, published_key, _unit in TABLE_1_ROWS:
        ours = metrics.get(ours_key)
        ours = None if ours is None or (isinstance(ours, float) and math.isnan(ours)) else round(float(ours), 2)
        reference = published.get(published_key)
        rows.append({"metric": label, "this run": ours, "published (500,000 samples)": reference})
    return pd.DataFrame(rows, columns=["metric", "this run", "published (500,000 samples)"])



def card_value(card: Mapping, path: str, default=None):
    """A nested value of a model card by dotted path (``"training.best_epoch"``), or
    ``default`` when any part is missing."""
    value = card
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return default
        value = value[part]
    return value


def facts_frame(card: Mapping, rows: Sequence[tuple[str, str]]) -> pd.DataFrame:
    """A two-column table (what, value) of the card values at the given dotted paths;
    missing values are left out. Numbers keep up to 4 significant decimals."""
    records = []
    for label, path in rows:
        value = card_value(card, path)
        if value is None or value == "":
            continue
        if isinstance(value, float):
            value = f"{value:.4g}"
        elif isinstance(value, (list, tuple)):
            value = ", ".join(map(str, value))
        elif isinstance(value, Mapping):
            value = "; ".join(f"{key}: {item}" for key, item in value.items())
        elif isinstance(value, bool):
            value = "yes" if value else "no"
        records.append({"what": label, "value": str(value)})
    return pd.DataFrame(records, columns=["what", "value"])
