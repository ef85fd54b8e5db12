"""One generation run, end to end: sample → screen → (score) → (map and families).

Used by ``superdiff generate`` / ``evaluate`` and by the app, so both produce the same
candidate table (see :mod:`superdiff_core.results`). Data only moves forward: each
stage takes the previous stage's output and adds columns or removes rows.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch

from .artifacts import DEFAULT_MODELS_DIR
from .assessment import baseline_candidates, merge_scale_factors
from .checkpoints import DiffusionCheckpoint, load_diffusion
from .composition import ParsedFormula
from .data import load_training_set, vector_keys
from .device import select_device
from .errors import InputError
from .guidance import Guide
from .model_classes import check_model_class
from .novelty import KnownCompositions
from .results import DIFFUSION_SOURCE, GUIDANCE_COLUMN, SOURCE_COLUMN, SUBSTITUTION_SOURCE, ordered_columns
from .sampler import DEFAULT_BATCH_SIZE, CancelFlag, ProgressCallback, Sampler, SamplingCancelled
from .screening import STAGE_NAMES, ScreeningResult, StageCount, screen_samples
from .settings import DEFAULT_ELEMENT_ORDER, GenerationSettings


@dataclass
class Engine:
    """Everything loaded once per class: the checkpoint, its sampler and the training set keys."""

    model_class: str
    checkpoint: DiffusionCheckpoint
    sampler: Sampler
    training_keys: set[bytes]
    training_vectors: np.ndarray

    @property
    def element_order(self) -> str:
        """The element order of the loaded network (which checkpoint runs)."""
        return self.checkpoint.element_order


def load_engine(
    model_class: str,
    models_dir: str | os.PathLike = DEFAULT_MODELS_DIR,
    device: torch.device | None = None,
    element_order: str = DEFAULT_ELEMENT_ORDER,
) -> Engine:
    """Load a class's checkpoint (the network trained in ``element_order``) and training set.

    Raises:
        CheckpointError: if the checkpoint is missing or unreadable.
    """
    check_model_class(model_class)
    checkpoint = load_diffusion(models_dir, model_class, element_order)
    training = load_training_set(models_dir).subset(model_class)
    sampler = Sampler(checkpoint.model, checkpoint.x0_lower, checkpoint.x0_upper, device or select_device())
    return Engine(model_class, checkpoint, sampler, set(vector_keys(training.vectors)), training.vectors)


@dataclass
class RunSpec:
    """One sampling run: a reference (or none) and a scale factor."""

    reference: ParsedFormula | None
    scale_factor: int | None


@dataclass
class GenerationResult:
    """The candidate table of a run and its funnel.

    Attributes:
        table: one row per surviving candidate, schema columns first.
        vectors: the candidates' amounts, shape (len(table), 96), aligned with ``table``.
        stages: funnel summed over all runs.
        unique_percent, novel_percent: over vectors that passed the basic filters.
        raw_samples: everything the sampler drew.
        settings: what was asked.
        families: new families found among the candidates (after map placement), or None.
        partial: True when the run was stopped: only the (reference, N) runs finished
            before the stop are in it, with the finished batches of the run that was stopped
            (``raw_samples`` counts the samples drawn).
        drawn_by_source: raw draws per source when a baseline ran beside diffusion
            (:func:`with_baseline`), else empty.
    """

    table: pd.DataFrame
    vectors: np.ndarray
    stages: list[StageCount]
    unique_percent: float
    novel_percent: float
    raw_samples: int
    settings: GenerationSettings
    families: pd.DataFrame | None = None
    partial: bool = False
    drawn_by_source: dict[str, int] = field(default_factory=dict)
    screening_seconds: float = 0.0


def plan_runs(references: list[ParsedFormula], scale_factors: tuple[int, ...]) -> list[RunSpec]:
    """One run per (reference, N); a single unconditional run without references."""
    if not references:
        return [RunSpec(None, None)]
    return [RunSpec(reference, n) for reference in references for n in scale_factors]


def generate(
    engine: Engine,
    settings: GenerationSettings,
    progress: ProgressCallback | None = None,
    cancel: CancelFlag | None = None,
    keep_partial: bool = False,
    guide: Guide | None = None,
) -> GenerationResult:
    """Sample and screen every (reference, N) run of ``settings`` (resolved here).

    ``progress(done, total)`` counts reverse steps over all runs. When ``cancel`` is set
    the sampler stops at its next step; with ``keep_partial`` the runs finished so far, and
    the finished batches of the stopped run, are returned (``partial=True``), otherwise :class:`SamplingCancelled` propagates.
    ``guide`` (:func:`superdiff_core.guidance.build_guide`) is required when
    ``settings.guidance`` has a weight above 0, and then adds a ``guidance`` column.
    """
    settings = settings.resolved()
    if engine.model_class != settings.model_class:
        raise InputError(f"engine is for {engine.model_class}, settings ask for {settings.model_class}")
    if engine.element_order != settings.element_order:
        raise InputError(f"engine's network is in {engine.element_order} order, settings ask for {settings.element_order}")
    if settings.guidance.active and (guide is None or guide.weights != settings.guidance):
        raise InputError("these settings ask for property guidance: pass the guide built from their weights")
    if not settings.guidance.active:
        guide = None
    runs = plan_runs(list(settings.references), settings.scale_factors)
    tables, vectors, totals = [], [], _FunnelTotals()
    screening_seconds = 0.0
    finished = drawn = 0  # (reference, N) runs finished; raw samples drawn, a stopped run's finished batches included
    for run_index, run in enumerate(runs):
        def run_progress(done: int, total: int, index: int = run_index) -> None:
            if progress is not None:  # the sampler's own step count (resampled steps included), the same for every run
                progress(index * total + done, total * len(runs))

        stopped = False
        try:
            samples = _sample_run(engine, settings, run, run_index, run_progress, cancel, guide)
        except SamplingCancelled as error:
            if not keep_partial:
                raise
            samples, stopped = error.finished, True  # the batches of this run finished before the stop
            if not len(samples):
                break
        finished += 0 if stopped else 1
        drawn += len(samples)
        screening_start = time.perf_counter()
        screened = screen_samples(samples, settings.model_class, engine.training_keys, settings.screening)
        screening_seconds += time.perf_counter() - screening_start
        totals.add(screened)
        table = _run_table(screened, settings.model_class, run.reference, run.scale_factor)
        if guide is not None:
            table.insert(4, GUIDANCE_COLUMN, settings.guidance.to_text())
        tables.append(table)
        vectors.append(screened.vectors)
        if stopped:
            break
    if not tables:  # stopped before the first run finished
        tables = [pd.DataFrame(columns=["formula", "model_class", "reference", "scale_factor"])]
    table = pd.concat(tables, ignore_index=True)
    drawn_vectors = np.concatenate(vectors) if vectors else np.zeros((0, 96))
    merged, merged_vectors = merge_scale_factors(table, drawn_vectors)
    stage_totals = _count_merged(totals.summed_stages, table, merged)
    return GenerationResult(
        merged[ordered_columns(merged)],
        merged_vectors,
        stage_totals,
        totals.unique_percent,
        totals.novel_percent,
        drawn,
        settings,
        partial=finished < len(runs),
        screening_seconds=screening_seconds,
    )


def generate_baseline(engine: Engine, settings: GenerationSettings, per_reference: int) -> GenerationResult:
    """The substitution baseline alone, as a result :func:`generate` would give: ``per_reference``
    candidates drawn by ion substitution into each reference of ``settings`` (reference i with
    seed ``settings.seed + i``), screened with the run's options, marked ``source =
    substitution``, without an N. A campaign's baseline shards run this; :func:`with_baseline`
    appends it to a diffusion run (``generate --baseline substitution``)."""
    settings = settings.resolved()
    if not settings.references:
        raise InputError("the substitution baseline substitutes into references: give at least one")
    known = KnownCompositions(engine.training_vectors)
    tables, vectors, totals = [], [], _FunnelTotals()
    for reference, screened in baseline_candidates(settings.references, per_reference, settings.model_class, known,
                                                   engine.training_vectors, settings.screening, settings.seed):
        totals.add(screened)
        tables.append(_run_table(screened, settings.model_class, reference, None).assign(**{SOURCE_COLUMN: SUBSTITUTION_SOURCE}))
        vectors.append(screened.vectors)
    table = pd.concat(tables, ignore_index=True)
    drawn = per_reference * len(settings.references)
    return GenerationResult(table[ordered_columns(table)], np.concatenate(vectors), totals.summed_stages, totals.unique_percent,
                            totals.novel_percent, drawn, settings, drawn_by_source={SUBSTITUTION_SOURCE: drawn})


def with_baseline(result: GenerationResult, engine: Engine) -> GenerationResult:
    """``result`` (diffusion candidates of :func:`generate`) with the substitution baseline of
    each reference appended (:func:`generate_baseline`): as many candidates per reference as
    diffusion drew for it (samples × N values), marked ``source = substitution``; the
    diffusion rows are marked ``source = diffusion`` and :attr:`GenerationResult.drawn_by_source`
    records both counts."""
    baseline = generate_baseline(engine, result.settings, result.settings.samples * len(result.settings.scale_factors))
    combined = pd.concat([result.table.assign(**{SOURCE_COLUMN: DIFFUSION_SOURCE}), baseline.table], ignore_index=True)
    result.table = combined[ordered_columns(combined)]
    result.vectors = np.concatenate([result.vectors, baseline.vectors])
    result.drawn_by_source = {DIFFUSION_SOURCE: result.raw_samples, SUBSTITUTION_SOURCE: baseline.raw_samples}
    return result


@dataclass
class _FunnelTotals:
    """The funnel summed over screened runs, with unique and novel percents weighted by each
    run's candidates past the basic filters (a run with none has no percent and weighs 0)."""

    stages: list[StageCount] | None = None
    unique_weighted: float = 0.0
    novel_weighted: float = 0.0
    basic: int = 0

    def add(self, screened: ScreeningResult) -> None:
        self.stages = _add_stages(self.stages, screened.stages)
        basic = screened.stages[2].remaining
        if basic:
            self.unique_weighted += screened.unique_percent * basic
            self.novel_weighted += screened.novel_percent * basic
            self.basic += basic

    @property
    def summed_stages(self) -> list[StageCount]:
        """The stages summed (all zero when nothing was screened)."""
        return self.stages if self.stages is not None else [StageCount(stage, 0, 0) for stage in STAGE_NAMES]

    @property
    def unique_percent(self) -> float:
        return self.unique_weighted / self.basic if self.basic else float("nan")

    @property
    def novel_percent(self) -> float:
        return self.novel_weighted / self.basic if self.basic else float("nan")


def _run_table(screened: ScreeningResult, model_class: str, reference: ParsedFormula | None, scale_factor: int | None) -> pd.DataFrame:
    """One run's screened candidates as rows of the run's table: the run columns (model class,
    reference, N) after the formula."""
    table = screened.table.drop(columns=["sample_index"])
    table.insert(1, "model_class", model_class)
    table.insert(2, "reference", "" if reference is None else reference.text)
    table.insert(3, "scale_factor", pd.array([scale_factor] * len(table), dtype="Int64"))
    return table


def _sample_run(
    engine: Engine, settings: GenerationSettings, run: RunSpec, run_index: int,
    progress: ProgressCallback | None, cancel: CancelFlag | None, guide: Guide | None = None,
) -> np.ndarray:
    """The raw samples of one (reference, N) run; run i uses seed + i."""
    return engine.sampler.sample(
        settings.samples,
        settings.steps,
        reference=None if run.reference is None else run.reference.vector,
        scale_factor=run.scale_factor,
        seed=settings.seed + run_index,
        batch_size=DEFAULT_BATCH_SIZE,
        method=settings.method,
        conditioning_stop=settings.conditioning_stop,
        filter_order=settings.filter_order,
        clip=settings.clip,
        resample_steps=settings.resample_steps,
        resample_count=settings.resample_count,
        precision=settings.precision,
        progress=progress,
        cancel=cancel,
        guide=guide,
    )


def _add_stages(total: list[StageCount] | None, stages: list[StageCount]) -> list[StageCount]:
    if total is None:
        return [StageCount(s.stage, s.removed, s.remaining) for s in stages]
    return [StageCount(a.stage, a.removed + b.removed, a.remaining + b.remaining) for a, b in zip(total, stages)]


def _count_merged(stages: list[StageCount], before: pd.DataFrame, after: pd.DataFrame) -> list[StageCount]:
    """The funnel once :func:`~superdiff_core.assessment.merge_scale_factors` has folded the
    copies one composition left at several N: they count as not unique, and each later stage
    keeps only the rows that had passed it (``novel``, ``smact_status``)."""
    removed = len(before) - len(after)
    if removed == 0:
        return stages
    passed = {"unique": (len(before), len(after)),
              "novel": (int(before["novel"].sum()), int(after["novel"].sum())),
              "SMACT-valid": (int((before["smact_status"] == "valid").sum()), int((after["smact_status"] == "valid").sum()))}
    out = []
    for stage in stages:
        if stage.stage in passed:
            was, now = passed[stage.stage]
            extra = was - now
            out.append(StageCount(stage.stage, stage.removed + (removed if stage.stage == "unique" else 0), stage.remaining - extra))
        else:
            out.append(stage)
    return out


def reference_distance(vectors: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """L1 distance between each candidate's element fractions and the reference's, shape (n,).
    0 is the same composition; 2 shares no element."""
    fractions = vectors / np.maximum(vectors.sum(axis=1, keepdims=True), 1e-12)
    reference_fractions = reference / reference.sum()
    return np.abs(fractions - reference_fractions).sum(axis=1)
