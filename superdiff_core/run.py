"""One run end to end, the same for the app and the CLI.

Two entry points, each returning a :class:`RunRecord`:

- :func:`run_generation`: sample and screen every (reference, N) of the settings
  (:mod:`superdiff_core.pipeline`), then score the candidates (superconductor
  probability, Tc, formation energy), place them on the class's SuperCon map and find
  families, and score and place the reference compounds themselves;
- :func:`screen_formulas`: the same scoring and placement for a list of formulas a user
  typed or uploaded (every formula keeps its row; a bad one gets its reason in ``note``).

The property models and the map are optional: a front end loads them once
(:func:`load_run_models`) and passes them in; a stage whose model is missing is skipped
and says so in :attr:`RunRecord.notes`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from . import assessment
from .composition import N_ELEMENTS, ParsedFormula, element_set
from .errors import CheckpointError
from .formula_notation import formulas_in_reference_order
from .funnel import FunnelStage
from .guidance import build_guide
from .model_classes import default_class, suggest_class
from .pipeline import Engine, GenerationResult, generate, with_baseline
from .results import MAP_COLUMNS, append_notes, join_notes
from .run_settings import file_stem, screen_file_stem
from .sampler import CancelFlag
from .screening import StageCount
from .settings import GenerationSettings
from .smact_check import DEFAULT_TIMEOUT_SECONDS
from .validity import DEFAULT_VALIDITY_CHECK, VALID_COLUMN, VALIDITY_CHECKS, validity_frame, validity_statuses

if TYPE_CHECKING:
    from .maps import ClassMap
    from .properties import PropertyModels
    from .stability import KnownPhases

REFERENCE_COLUMNS = ("formula", "tsne_x", "tsne_y", "cluster_name", "tc_kelvin", "formation_energy_ev_per_atom")
"""Columns of :attr:`RunRecord.references`."""

SMACT_BATCH = 500
"""Formulas per SMACT call (and per progress update) when screening a list."""

SCREEN_BATCH = 1_000
"""Formulas per progress report of the stages of :func:`screen_formulas` that go row by row
(parsing, scoring, known compounds, hull): a long list shows progress in every stage."""

SCREEN_STAGES: tuple[str, ...] = ("parsing", "validity", "scoring", "map and families", "known compounds", "hull")
"""The stages :func:`screen_formulas` reports, in order (those without their models are skipped)."""


PhaseCallback = Callable[[str, int, int], None]
"""Called as ``progress(phase, done, total)``; phases: sampling, scoring, map, references,
SMACT. ``done``/``total`` count reverse steps while sampling and formulas while screening."""


@dataclass
class RunRecord:
    """One finished run as the front ends show and export it.

    Attributes:
        kind: ``generate``, ``explore`` or ``screen``.
        model_class: the class of the model (and of the map the candidates are placed on).
        table: one row per candidate (``results.CANDIDATE_COLUMNS`` order, plus extras).
        vectors: the candidates' amounts, shape (len(table), 96).
        engine_stages: the sampler's funnel (raw … SMACT-valid); None for screened lists.
        leading_stages: funnel stages before the table's own (screened lists: formulas, parsed).
        families: one row per family (``families.FAMILY_COLUMNS``) or None.
        references: the reference compounds (:data:`REFERENCE_COLUMNS`; NaN where unknown).
        settings: the generation settings (None for screened lists).
        file_stem: name of the downloads, without extension.
        notes: one line per optional stage that could not run.
        timings: seconds per phase (sampling, screening, scoring, …, total), in the order run
            (:meth:`timing_line` writes them for the run's log).
        metrics: the paper's Table-1 metrics (unconditional evaluation) or None.
        raw_samples: what the sampler drew (0 for screened lists).
        unique_percent, novel_percent: over samples passing the basic filters (NaN when none).
        partial: True when the run was stopped and holds only the sampling runs finished.
        validity_check: the validity check the run applied (its verdict is ``smact_valid``; the
            funnel names it); taken from ``settings`` when there are settings.
        prediction_spread: per prediction, its spread inside the run against its own error
            (:func:`superdiff_core.assessment.prediction_spread`); None without property scores.
        comparison: diffusion against the substitution baseline
            (:func:`superdiff_core.assessment.source_comparison`); None without a baseline.
        plausible_share: share (0 … 1) of the candidates adding an element whose new elements
            are plausible substitutes (NaN when none adds one, or without references).
    """

    kind: str
    model_class: str
    table: pd.DataFrame
    vectors: np.ndarray
    engine_stages: list[StageCount] | None = None
    leading_stages: list[FunnelStage] = field(default_factory=list)
    families: pd.DataFrame | None = None
    references: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=list(REFERENCE_COLUMNS)))
    settings: GenerationSettings | None = None
    file_stem: str = "superdiff"
    notes: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    metrics: dict | None = None
    raw_samples: int = 0
    unique_percent: float = float("nan")
    novel_percent: float = float("nan")
    partial: bool = False
    validity_check: str = DEFAULT_VALIDITY_CHECK
    prediction_spread: pd.DataFrame | None = None
    comparison: pd.DataFrame | None = None
    plausible_share: float = float("nan")

    def __post_init__(self) -> None:
        if self.settings is not None:
            self.validity_check = self.settings.screening.validity_check

    @property
    def has_properties(self) -> bool:
        return "tc_kelvin" in self.table.columns

    @property
    def has_map(self) -> bool:
        return "tsne_x" in self.table.columns

    @property
    def from_references(self) -> bool:
        """Whether the rows were generated from reference compounds (not unconditional, not a screened list)."""
        return bool(self.settings is not None and self.settings.references)

    def timing_line(self) -> str:
        """The seconds of each phase, for the run's log: ``"seconds: sampling 4.1 · screening 0.3 · … · total 5.2"``."""
        return "seconds: " + " · ".join(f"{phase} {seconds:.1f}" for phase, seconds in self.timings.items())


@dataclass
class RunModels:
    """The optional models of a run, loaded once by a front end.

    Attributes:
        property_models: classifier, Tc and formation energy (None: not built).
        class_map: the SuperCon map of the run's class (None: not built or not wanted).
        known_map: the map whose compounds are the "known" ones next to each prediction
            (the class map when there is one, else the ``everything`` map; None: not built).
        notes: why a model is None, one line each.
        phases: the known phases (OQMD) for hull distances (None: not built or not wanted).
    """

    property_models: PropertyModels | None = None
    class_map: ClassMap | None = None
    known_map: ClassMap | None = None
    notes: list[str] = field(default_factory=list)
    phases: KnownPhases | None = None

    def __post_init__(self) -> None:
        if self.known_map is None:
            self.known_map = self.class_map


def load_optional(loader: Callable, *args) -> tuple[object | None, str | None]:
    """``(loader(*args), None)``, or ``(None, note)`` when its artifact is missing."""
    try:
        return loader(*args), None
    except CheckpointError as error:
        return None, str(error)


def load_run_models(
    models_dir: str | os.PathLike,
    model_class: str | None,
    with_map: bool = True,
    *,
    load_properties: Callable | None = None,
    load_map: Callable | None = None,
    load_phases: Callable | None = None,
    with_hull: bool = True,
) -> RunModels:
    """Load the property models, (when ``with_map``) the class's map and (when ``with_hull``)
    the known phases; a missing one becomes a note ("no property scores: ...", "no map
    placement: ...", "no hull distances: ...").

    ``load_properties(models_dir)``, ``load_map(models_dir, model_class)`` and
    ``load_phases(models_dir)`` default to the engine's loaders; the app passes its cached ones.
    """
    if load_properties is None:
        from .properties import load_property_models as load_properties
    if load_map is None:
        from .maps import load_class_map as load_map

    property_models, property_note = load_optional(load_properties, models_dir)
    notes = [f"no property scores: {property_note}"] if property_note else []
    class_map = None
    if with_map and model_class is not None:
        class_map, map_note = load_optional(load_map, models_dir, model_class)
        if map_note:
            notes.append(f"no map placement: {map_note}")
    known_map = class_map
    if known_map is None:
        known_map, known_note = load_optional(load_map, models_dir, "everything")
        if known_note:
            notes.append(f"no known-compound columns: {known_note}")
    phases = None
    if with_hull:
        if load_phases is None:
            from .stability import load_known_phases as load_phases
        phases, phases_note = load_optional(load_phases, models_dir)
        if phases_note:
            notes.append(f"no hull distances: {phases_note}")
    return RunModels(property_models, class_map, known_map, notes, phases)


# ---------------------------------------------------------------------------------------
# The stages after sampling
# ---------------------------------------------------------------------------------------


def add_properties(table: pd.DataFrame, vectors: np.ndarray, property_models: PropertyModels) -> pd.DataFrame:
    """``table`` with the property columns of ``vectors`` (aligned rows) appended; the
    models' notes go to ``property_note`` when any row has one."""
    scores = property_models.score(vectors)
    table = table.copy()
    for column in scores.columns:
        if column != "note":
            table[column] = scores[column].to_numpy()
        elif scores[column].astype(bool).any():
            table["property_note"] = scores[column].to_numpy()
    return table


def add_known(table: pd.DataFrame, vectors: np.ndarray, known_map: ClassMap) -> pd.DataFrame:
    """``table`` with the known-compound columns (:mod:`superdiff_core.known_compounds`);
    the out-of-domain reason goes to ``note``."""
    from .known_compounds import nearest_known

    known, domain_notes = nearest_known(vectors, known_map)
    table = table.copy()
    for column in known.columns:
        table[column] = known[column].array
    return append_notes(table, domain_notes)


def add_map(
    table: pd.DataFrame, vectors: np.ndarray, class_map: ClassMap, preview: bool = False
) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """``table`` with the map and family columns, and the families found."""
    from .families import annotate_candidates

    if len(table) == 0:
        return table, None
    return annotate_candidates(table, vectors, class_map, preview=preview)


def reference_points(
    references: list[ParsedFormula], property_models: PropertyModels | None = None, class_map: ClassMap | None = None
) -> pd.DataFrame:
    """The reference compounds scored by the property models and placed on the map
    (columns :data:`REFERENCE_COLUMNS`; NaN where a model is missing)."""
    table = pd.DataFrame({"formula": [r.text for r in references]})
    for column in REFERENCE_COLUMNS[1:]:
        table[column] = "" if column == "cluster_name" else np.nan
    if not references:
        return table
    vectors = np.array([r.vector for r in references])
    if property_models is not None:
        scores = property_models.score(vectors)
        table["tc_kelvin"] = scores["tc_kelvin"].to_numpy(dtype=float)
        table["formation_energy_ev_per_atom"] = scores["formation_energy_ev_per_atom"].to_numpy(dtype=float)
    if class_map is not None:
        from .maps import OUTSIDE_NAME, place_and_assign

        placement = place_and_assign(vectors, class_map, preview=True)
        table["tsne_x"], table["tsne_y"] = placement.coords[:, 0], placement.coords[:, 1]
        names = np.array([*class_map.cluster_names, OUTSIDE_NAME], dtype=object)
        table["cluster_name"] = names[placement.assignment.cluster]
    return table


def _timed(timings: dict[str, float], phase: str, function: Callable, *args, **kwargs):
    start = time.perf_counter()
    value = function(*args, **kwargs)
    timings[phase] = time.perf_counter() - start
    return value


def complete_generation(
    result: GenerationResult,
    models: RunModels,
    *,
    kind: str = "generate",
    evaluate: bool = False,
    timings: dict[str, float] | None = None,
    partial: bool = False,
) -> RunRecord:
    """Score, place and describe a sampled-and-screened result (the steps after sampling)."""
    timings = dict(timings or {})
    table, vectors, families = result.table, result.vectors, None
    references = list(result.settings.references)
    if references and len(table):  # a chemist reads a candidate against its reference: same element order
        table = table.assign(formula=formulas_in_reference_order(vectors, table["reference"].astype(str)))
    if models.property_models is not None:
        table = _timed(timings, "scoring", add_properties, table, vectors, models.property_models)
    if models.known_map is not None and len(table):
        table = _timed(timings, "known compounds", add_known, table, vectors, models.known_map)
    if references:
        table = _timed(timings, "plausibility", assessment.add_plausibility, table, vectors, references)
    notes = list(models.notes)
    if result.settings.guidance.active and result.settings.guided_stay_near and references:
        keep = assessment.stays_near_reference(table, vectors, references)
        if not keep.all():
            notes.append(f"steering kept {int(keep.sum()):,} of {len(keep):,} candidates: the others lost a reference element "
                         "or left the training domain (turn this off with --guide-anywhere)")
        table, vectors = table[keep].reset_index(drop=True), vectors[keep]
    if models.phases is not None and models.property_models is not None:
        table = _timed(timings, "hull", assessment.add_hull, table, vectors, models.phases)
    if models.class_map is not None:
        table, families = _timed(timings, "map", add_map, table, vectors, models.class_map)
    if families is not None and "plausible_substitution" in table.columns and "family_id" in table.columns:
        families = assessment.add_family_plausibility(families, table)
    if families is not None and "family_id" in table.columns:
        families = assessment.add_family_sources(families, table)
    comparison = None
    if assessment.SOURCE_COLUMN in table.columns:
        comparison = assessment.source_comparison(table, vectors, result.drawn_by_source,
                                                   models.known_map.element_systems if models.known_map is not None else frozenset())
    if "note" not in table.columns:  # one schema in every run: the column is there, empty when nothing is flagged
        table = table.assign(note="")
    refs = reference_points(list(result.settings.references), models.property_models, models.class_map)
    result.table, result.vectors, result.families = table, vectors, families
    metrics = None
    if evaluate:
        from .evaluation import evaluation_metrics

        metrics = evaluation_metrics(result, models.property_models)
    return RunRecord(
        kind=kind,
        model_class=result.settings.model_class,
        table=table,
        vectors=vectors,
        engine_stages=result.stages,
        families=families,
        references=refs,
        settings=result.settings,
        file_stem=file_stem(result.settings),
        notes=notes,
        timings=timings,
        metrics=metrics,
        raw_samples=result.raw_samples,
        unique_percent=result.unique_percent,
        novel_percent=result.novel_percent,
        partial=partial,
        prediction_spread=assessment.prediction_spread(table) if models.property_models is not None else None,
        comparison=comparison,
        plausible_share=assessment.model_plausible_share(table),
    )


def run_generation(
    engine: Engine,
    settings: GenerationSettings,
    models: RunModels,
    *,
    kind: str = "generate",
    evaluate: bool = False,
    progress: Callable[[int, int], None] | None = None,
    cancel: CancelFlag | None = None,
    keep_partial: bool = True,
) -> RunRecord:
    """Sample, screen, score and place one run: the whole Generate pipeline.

    Args:
        engine: from :func:`superdiff_core.pipeline.load_engine` (shared, not modified).
        settings: what to run (resolved here: :meth:`GenerationSettings.resolved`).
        models: the optional models (:func:`load_run_models`).
        kind: ``generate`` or ``explore`` (recorded).
        evaluate: also compute the paper's Table-1 metrics.
        progress: ``progress(done, total)`` over all reverse steps of all (reference, N) runs.
        cancel: checked every step; when set, the run stops at the next step.
        keep_partial: when stopped, return the (reference, N) runs already finished, marked
            ``partial`` (False: re-raise :class:`~superdiff_core.sampler.SamplingCancelled`).

    Raises:
        InputError: when ``settings.guidance`` asks for guidance and its models are missing.
    """
    start = time.perf_counter()
    settings = settings.resolved()
    guide = build_guide(settings.guidance, models.property_models)  # None without guidance; built from loaded models
    result = generate(engine, settings, progress=progress, cancel=cancel, keep_partial=keep_partial, guide=guide)
    timings = {"sampling": time.perf_counter() - start - result.screening_seconds, "screening": result.screening_seconds}
    if settings.baseline == assessment.SUBSTITUTION_SOURCE and settings.references and not result.partial:
        result = _timed(timings, "substitution baseline", with_baseline, result, engine)
    record = complete_generation(
        result, models, kind=kind, evaluate=evaluate and not result.partial, timings=timings, partial=result.partial
    )
    record.timings["total"] = time.perf_counter() - start
    return record


def references_by_class(references: Sequence[ParsedFormula], available: Sequence[str]) -> dict[str, list[ParsedFormula]]:
    """The references grouped by the model class each one looks like
    (:func:`~superdiff_core.model_classes.suggest_class`; a class without a trained model
    falls back as :func:`~superdiff_core.model_classes.default_class` says), classes and
    references in the order given. Empty when no model is trained."""

    groups: dict[str, list[ParsedFormula]] = {}
    for reference in references:
        chosen = default_class(suggest_class(element_set(reference.vector)), available)
        if chosen is not None:
            groups.setdefault(chosen, []).append(reference)
    return groups


def run_generation_per_class(
    engine_for: Callable[[str], Engine],
    settings: GenerationSettings,
    groups: Mapping[str, Sequence[ParsedFormula]],
    models_for: Callable[[str], RunModels],
    *,
    kind: str = "generate",
    progress: Callable[[int, int], None] | None = None,
    cancel: CancelFlag | None = None,
    keep_partial: bool = True,
) -> list[RunRecord]:
    """Each class's references on that class's own model (:func:`references_by_class`):
    one :func:`run_generation` per class, in order, with every other setting of
    ``settings`` shared; one :class:`RunRecord` per class.

    Args:
        engine_for, models_for: ``engine_for(model_class)`` and ``models_for(model_class)``
            load (or return cached) that class's engine and optional models.
        progress: ``progress(done, total)`` over the reverse steps of every run of every class.
        cancel, keep_partial: as in :func:`run_generation`. When stopped, the classes already
            finished are returned whole, the class being sampled as a ``partial`` record
            (when one of its runs finished), and the classes after it are not run.
    """
    all_runs = sum(len(refs) for refs in groups.values()) * max(1, len(settings.scale_factors))
    records: list[RunRecord] = []
    runs_before = 0
    for model_class, class_references in groups.items():
        if cancel is not None and cancel.is_set():
            break
        class_settings = replace(settings, model_class=model_class, references=tuple(class_references))
        class_runs = len(class_references) * max(1, len(settings.scale_factors))

        def class_progress(done: int, total: int, before: int = runs_before, runs: int = class_runs) -> None:
            if progress is not None:
                per_run = total // max(1, runs)
                progress(before * per_run + done, per_run * all_runs)

        record = run_generation(
            engine_for(model_class), class_settings, models_for(model_class), kind=kind,
            progress=class_progress, cancel=cancel, keep_partial=keep_partial,
        )
        runs_before += class_runs
        if record.raw_samples or not record.partial:
            records.append(record)
        if record.partial:
            break
    return records


# ---------------------------------------------------------------------------------------
# Screening a list of formulas
# ---------------------------------------------------------------------------------------


def smact_validity(
    vectors: np.ndarray,
    parsed: np.ndarray,
    validity_check: str,
    timeout_s: float,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[pd.DataFrame, list[str]]:
    """Validity columns of the parsed rows (:func:`~superdiff_core.validity.validity_frame`:
    ``smact_valid`` of ``validity_check``, ``smact_status`` and every check's own column; all
    NA for unparsed rows, ``smact_valid`` NA for timeouts) and a note per row (the timeout, else "")."""
    rows = np.flatnonzero(parsed)
    statuses = {name: np.empty(len(rows), dtype=object) for name in VALIDITY_CHECKS}
    if progress is not None:
        progress(0, len(rows))
    for start in range(0, len(rows), SMACT_BATCH):
        batch = slice(start, start + SMACT_BATCH)
        for name, found in validity_statuses(vectors[rows[batch]], list(VALIDITY_CHECKS), timeout_s=timeout_s).items():
            statuses[name][batch] = found
        if progress is not None:
            progress(min(start + SMACT_BATCH, len(rows)), len(rows))
    checked = validity_frame(statuses, validity_check, VALIDITY_CHECKS).set_axis(rows)
    columns = checked.reindex(range(len(vectors)))
    for column in columns.columns.drop(VALID_COLUMN):
        columns[column] = columns[column].astype("boolean" if column != "smact_status" else object)
    notes = [f"SMACT timeout (> {timeout_s:g} s)" if status == "timeout" else "" for status in columns["smact_status"]]
    return columns, notes


def screen_formulas(
    formulas: list[str],
    models: RunModels,
    *,
    map_class: str = "everything",
    validity_check: str = DEFAULT_VALIDITY_CHECK,
    smact_timeout_s: float = DEFAULT_TIMEOUT_SECONDS,
    extra_columns: pd.DataFrame | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> RunRecord:
    """Score a list of formulas (``superdiff screen`` and the Screen page).

    Every formula keeps its row, in input order; one that does not parse gets its reason
    in ``note`` and no scores. Without property models only SMACT and the map are
    computed (the property columns are then absent).

    Args:
        formulas: as typed.
        models: the optional models; ``models.class_map`` is the map to place them on.
        map_class: the class of that map (recorded).
        validity_check, smact_timeout_s: the validity check that gives ``smact_valid`` (a name
            of :data:`~superdiff_core.validity.VALIDITY_CHECKS`) and its bound per formula.
        extra_columns: the input file's other columns, kept after ``formula`` (same length).
        progress: ``progress(stage, done, total)``: a stage of :data:`SCREEN_STAGES` and the formulas
            it has done (every :data:`SCREEN_BATCH` or :data:`SMACT_BATCH`; "map and families", which
            works on all rows at once, reports 0 of 1 when it starts and 1 of 1 when done).

    Returns:
        A record whose table has ``formula``, the validity columns of :func:`smact_validity`, the property columns, the
        map columns and ``note``; ``vectors`` are all-zero for unparsable rows;
        ``leading_stages`` count the formulas and those that parsed.
    """
    from .properties import encode_formulas

    start = time.perf_counter()
    report = progress or (lambda stage, done, total: None)

    def in_batches(stage: str, count: int, compute: Callable[[slice], object]) -> list:
        """``compute`` of each :data:`SCREEN_BATCH` rows of ``count``, reporting ``stage`` after each."""
        parts = []
        report(stage, 0, count)
        for first in range(0, count, SCREEN_BATCH):
            parts.append(compute(slice(first, first + SCREEN_BATCH)))
            report(stage, min(first + SCREEN_BATCH, count), count)
        return parts

    encoded = in_batches("parsing", len(formulas), lambda rows: encode_formulas(list(formulas[rows])))
    vectors = np.concatenate([part[0] for part in encoded]) if encoded else np.zeros((0, N_ELEMENTS))
    parse_notes = [note for part in encoded for note in part[1]]
    parsed = np.array([not note for note in parse_notes], dtype=bool)
    table = pd.DataFrame({"formula": list(formulas)})
    if extra_columns is not None:
        for column in extra_columns.columns:
            if column != "formula":
                table[column] = extra_columns[column].to_numpy()
    validity, smact_notes = smact_validity(vectors, parsed, validity_check, smact_timeout_s,
                                           lambda done, total: report("validity", done, total))
    for column in validity.columns:
        table[column] = validity[column].array
    model_notes = [""] * len(formulas)
    if models.property_models is not None:
        scored = in_batches("scoring", len(vectors), lambda rows: models.property_models.score(vectors[rows]))
        scores = pd.concat(scored, ignore_index=True) if scored else models.property_models.score(vectors)
        for column in scores.columns:
            if column != "note":
                table[column] = scores[column].array
        model_notes = list(scores["note"])
    families = None
    if models.class_map is not None and parsed.any():
        report("map and families", 0, 1)
        annotated, families = add_map(table[parsed].reset_index(drop=True), vectors[parsed], models.class_map)
        report("map and families", 1, 1)
        annotated.index = np.flatnonzero(parsed)  # back to input rows; unparsed rows get no map values
        table = table.join(annotated[list(MAP_COLUMNS)])
        table["cluster"] = table["cluster"].astype("Int64")
        table["is_new_family"] = table["is_new_family"].astype("boolean")
        for column in ("cluster_name", "family_id", "family_formula"):
            table[column] = table[column].fillna("").astype(str)
    table["note"] = [
        parse_note or join_notes(model_note, smact_note)
        for parse_note, model_note, smact_note in zip(parse_notes, model_notes, smact_notes)
    ]
    if models.known_map is not None and len(table):
        table = pd.concat(in_batches("known compounds", len(table),
                                     lambda rows: add_known(table.iloc[rows], vectors[rows], models.known_map)))
    if models.phases is not None and models.property_models is not None and parsed.any():
        candidates, candidate_vectors = table[parsed].reset_index(drop=True), vectors[parsed]
        hull = pd.concat(in_batches("hull", len(candidates), lambda rows: assessment.add_hull(
            candidates.iloc[rows], candidate_vectors[rows], models.phases)))
        hull.index = np.flatnonzero(parsed)
        for column in hull.columns.difference(table.columns).union(["note"]):
            table.loc[parsed, column] = hull[column]
    leading = [
        FunnelStage("formulas", len(formulas), "formulas pasted or uploaded"),
        FunnelStage("parsed", int(parsed.sum()), "understood as a chemical formula"),
    ]

    return RunRecord(
        kind="screen",
        validity_check=validity_check,
        model_class=map_class,
        table=table,
        vectors=vectors,
        leading_stages=leading,
        families=families,
        file_stem=screen_file_stem(formulas, map_class),
        notes=list(models.notes),
        timings={"total": time.perf_counter() - start},
        prediction_spread=assessment.prediction_spread(table) if models.property_models is not None else None,
    )
