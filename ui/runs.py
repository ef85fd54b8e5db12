"""What a page keeps of a run, and the steps after sampling (no Streamlit here).

A :class:`RunRecord` is everything the results section draws: the candidate table with
its property and map columns, the funnel counts, the families, the reference compounds
(scored and placed on the map) and the notes about anything that was missing. It is
stored in the session (one per page), so results survive page switches.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from superdiff_core.composition import N_ELEMENTS, ParsedFormula
from superdiff_core.errors import CheckpointError
from superdiff_core.pipeline import GenerationResult, GenerationSettings, generate
from superdiff_core.screening import StageCount

from .logic import FunnelStage, file_stem

LOGGER = logging.getLogger(__name__)

REFERENCE_COLUMNS = ("formula", "tsne_x", "tsne_y", "cluster_name", "tc_kelvin", "formation_energy_ev_per_atom")


@dataclass
class RunRecord:
    """One finished run as the results section shows it.

    Attributes:
        kind: ``generate``, ``explore`` or ``screen``.
        model_class: the class of the model (and of the map the candidates are placed on).
        table: one row per candidate (``results.CANDIDATE_COLUMNS`` order, plus extras).
        vectors: the candidates' amounts, shape (len(table), 96).
        engine_stages: the sampler's funnel (raw … SMACT-valid); None for screened lists.
        leading_stages: funnel stages before the table's own (Screen page: formulas, parsed).
        families: one row per family (``families.FAMILY_COLUMNS``) or None.
        references: the reference compounds: formula, tsne_x, tsne_y, cluster_name,
            tc_kelvin, formation_energy_ev_per_atom (NaN where unknown).
        settings: the generation settings (None for screened lists).
        file_stem: name of the downloads, without extension.
        notes: one line per optional stage that could not run.
        timings: seconds per phase (sampling, scoring, map…).
        metrics: the paper's Table-1 metrics (Explore page) or None.
        raw_samples: what the sampler drew (0 for screened lists).
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

    @property
    def has_properties(self) -> bool:
        return "tc_kelvin" in self.table.columns

    @property
    def has_map(self) -> bool:
        return "tsne_x" in self.table.columns


def score_and_place(
    result: GenerationResult, folder: str | os.PathLike, with_map: bool = True, property_models=None, class_map=None,
) -> tuple[list[str], dict[str, float]]:
    """The optional stages after sampling, exactly as the CLI runs them
    (:func:`superdiff_core.enrich.enrich_candidates`): property scores, then map placement
    and families, with the already loaded models when given (None: load from ``folder``).
    Returns the notes and the seconds each took."""
    from superdiff_core.enrich import add_map, add_properties

    notes, timings = [], {}
    start = time.perf_counter()
    notes.append(add_properties(result, folder, property_models))
    timings["scoring"] = time.perf_counter() - start
    if with_map:
        start = time.perf_counter()
        notes.append(add_map(result, folder, class_map=class_map))
        timings["map"] = time.perf_counter() - start
    return [note for note in notes if note], timings


def reference_points(references: list[ParsedFormula], property_models=None, class_map=None) -> pd.DataFrame:
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
        from superdiff_core.maps import OUTSIDE_NAME, place_and_assign

        placement = place_and_assign(vectors, class_map, preview=True)
        table["tsne_x"], table["tsne_y"] = placement.coords[:, 0], placement.coords[:, 1]
        names = np.array([*class_map.cluster_names, OUTSIDE_NAME], dtype=object)
        table["cluster_name"] = names[placement.assignment.cluster]
    return table


def screen_formulas(
    formulas: list[str],
    property_models=None,
    class_map=None,
    mixed_valence: bool = False,
    smact_timeout_s: float = 2.0,
) -> tuple[pd.DataFrame, np.ndarray, pd.DataFrame | None, list[FunnelStage]]:
    """Score a list of formulas as ``superdiff screen`` does, and place them on a map.

    Every formula keeps its row, in input order; one that does not parse gets its reason
    in ``note`` and no scores. Without property models only SMACT and the map are
    computed (the property columns are then absent).

    Returns:
        ``(table, vectors, families, leading_stages)``: the table has ``formula``,
        ``smact_valid``, the property columns, the map columns and ``note``; vectors are
        all-zero for unparsable rows.
    """
    from superdiff_core.commands.properties import smact_validity
    from superdiff_core.properties import encode_formulas, join_notes

    vectors, parse_notes = encode_formulas(formulas)
    parsed = np.array([not note for note in parse_notes], dtype=bool)
    table = pd.DataFrame({"formula": list(formulas)})
    valid, smact_notes = smact_validity(vectors, parsed, mixed_valence, smact_timeout_s, progress=False)
    table["smact_valid"] = pd.array(valid, dtype="boolean")
    model_notes = [""] * len(formulas)
    if property_models is not None:
        scores = property_models.score(vectors)
        for column in ("sc_probability", "is_superconductor", "tc_kelvin", "formation_energy_ev_per_atom"):
            table[column] = scores[column].array
        model_notes = list(scores["note"])
    families = None
    if class_map is not None and parsed.any():
        from superdiff_core.families import annotate_candidates
        from superdiff_core.results import MAP_COLUMNS

        annotated, families = annotate_candidates(table[parsed].reset_index(drop=True), vectors[parsed], class_map)
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
    leading = [
        FunnelStage("formulas", len(formulas), "formulas pasted or uploaded"),
        FunnelStage("parsed", int(parsed.sum()), "understood as a chemical formula"),
    ]
    return table, vectors, families, leading


def load_optional(loader, *args):
    """``loader(*args)``, or ``(None, note)`` when its artifact is missing."""
    try:
        return loader(*args), None
    except CheckpointError as error:
        return None, str(error)


def empty_vectors() -> np.ndarray:
    return np.zeros((0, N_ELEMENTS))


# ---------------------------------------------------------------------------------------
# Running a generation in the background
# ---------------------------------------------------------------------------------------


class RunProgress:
    """Progress of a background run, written by the worker and read by the page.

    Plain attribute writes are atomic under the GIL; the page only reads them.
    """

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.done = 0
        self.total = 0
        self.phase = "sampling"

    def update(self, done: int, total: int) -> None:
        """The engine's ``progress(done, total)`` callback."""
        self.done, self.total = done, total

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.started


class BackgroundRun:
    """Runs ``function(*args)`` on a daemon thread and keeps its result or exception.

    The page polls :attr:`finished` and redraws its progress in between, so the
    elapsed time keeps moving even when one sampling step takes long; if the page is
    left (Stop, another page, a changed input), it sets the cancel flag and the engine
    stops at its next step.
    """

    def __init__(self, function: Callable[..., Any], *args: Any) -> None:
        self._result: Any = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(function, *args), daemon=True, name="superdiff-run")
        self._thread.start()

    def _run(self, function: Callable[..., Any], *args: Any) -> None:
        try:
            self._result = function(*args)
        except BaseException as error:  # handed to the page, which decides what to show
            self._error = error

    @property
    def finished(self) -> bool:
        return not self._thread.is_alive()

    def wait(self, seconds: float) -> bool:
        """Wait up to ``seconds``; True when finished."""
        self._thread.join(seconds)
        return self.finished

    def result(self) -> Any:
        """The function's return value; re-raises its exception."""
        if self._error is not None:
            raise self._error
        return self._result


def run_generation(
    kind: str,
    engine,
    settings: GenerationSettings,
    references: list[ParsedFormula],
    folder: str | os.PathLike,
    progress: RunProgress,
    cancel: threading.Event,
    property_models=None,
    class_map=None,
    evaluate: bool = False,
) -> RunRecord:
    """Sample, screen, score and place one run; the whole Generate/Explore pipeline.

    Args:
        kind: ``generate`` or ``explore``.
        engine: from :func:`superdiff_core.pipeline.load_engine` (shared, not modified).
        settings, references: what to run.
        folder: the models folder (for the optional stages).
        progress: updated as the run goes.
        cancel: the engine raises ``SamplingCancelled`` at its next step once it is set.
        property_models, class_map: loaded models (None: the candidates' stages load them
            from ``folder``, and the reference compounds are not scored / placed).
        evaluate: also compute the paper's Table-1 metrics (Explore page).
    """
    result = generate(engine, settings, references, progress=progress.update, cancel=cancel)
    timings = {"sampling": progress.elapsed}
    progress.phase = "scoring"
    notes, stage_timings = score_and_place(result, folder, property_models=property_models, class_map=class_map)
    timings.update(stage_timings)
    progress.phase = "references"
    refs = reference_points(references, property_models, class_map)
    metrics = None
    if evaluate:
        from superdiff_core.evaluation import evaluation_metrics

        metrics = evaluation_metrics(result, folder)
    timings["total"] = progress.elapsed
    return RunRecord(
        kind=kind,
        model_class=settings.model_class,
        table=result.table,
        vectors=result.vectors,
        engine_stages=result.stages,
        families=result.families,
        references=refs,
        settings=settings,
        file_stem=file_stem(settings),
        notes=notes,
        timings=timings,
        metrics=metrics,
        raw_samples=result.raw_samples,
    )
