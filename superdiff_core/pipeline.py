"""One generation run, end to end: sample → screen → (score) → (map and families).

Used by ``superdiff generate`` / ``evaluate`` and by the app, so both produce the same
candidate table (see :mod:`superdiff_core.results`). Data only moves forward: each
stage takes the previous stage's output and adds columns or removes rows.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd
import torch

from .artifacts import DEFAULT_MODELS_DIR
from .checkpoints import DiffusionCheckpoint, load_diffusion
from .chemical_order import DEFAULT_FILTER_ORDER, FILTER_ORDERS
from .composition import ParsedFormula
from .data import load_training_set, vector_keys
from .device import select_device
from .errors import InputError
from .guidance import GuidanceWeights, Guide
from .ilvr import check_scale_factor
from .model_classes import MODEL_CLASSES, check_model_class, get_model_class
from .results import GUIDANCE_COLUMN, ordered_columns
from .sampler import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_CONDITIONING_STOP,
    DEFAULT_METHOD,
    DEFAULT_RESAMPLE_COUNT,
    DEFAULT_RESAMPLE_STEPS,
    CancelFlag,
    ProgressCallback,
    Sampler,
    SamplingCancelled,
    SamplingMethod,
    check_num_steps,
    resampling_repeats,
)
from .screening import STAGE_NAMES, ScreeningOptions, StageCount, screen_samples

MAX_SAMPLES_PER_RUN = 100_000
"""Cap on samples per reference and per N (a laptop CPU draws ~1,000 per second at the default steps)."""


@dataclass
class Engine:
    """Everything loaded once per class: the checkpoint, its sampler and the training set keys."""

    model_class: str
    checkpoint: DiffusionCheckpoint
    sampler: Sampler
    training_keys: set[bytes]
    training_vectors: np.ndarray


def load_engine(model_class: str, models_dir: str | os.PathLike = DEFAULT_MODELS_DIR, device: torch.device | None = None) -> Engine:
    """Load a class's checkpoint and training set. Raises CheckpointError if missing."""
    check_model_class(model_class)
    checkpoint = load_diffusion(models_dir, model_class)
    training = load_training_set(models_dir).subset(model_class)
    sampler = Sampler(checkpoint.model, checkpoint.x0_lower, checkpoint.x0_upper, device or select_device())
    return Engine(model_class, checkpoint, sampler, set(vector_keys(training.vectors)), training.vectors)


@dataclass(frozen=True)
class GenerationSettings:
    """What a user chooses for a run (stored with the results so a run can be reproduced).

    Attributes:
        model_class: which model.
        references: reference formulas (empty: unconditional).
        scale_factors: ILVR N values (ignored without references).
        samples: samples per reference and per N.
        steps: reverse diffusion steps (None: the class's recommended count).
        seed: random seed of the first run (run i uses seed + i).
        method: ``ddpm`` or ``ddim``.
        conditioning_stop: ILVR acts at timesteps ≥ this (0: every step, as in the paper).
        filter_order: element order ILVR's low-pass filter smooths along, ``z`` (the paper's)
            or ``pettifor`` (:mod:`superdiff_core.chemical_order`).
        resample_steps, resample_count: ILVR resampling near the end of the loop
            (:data:`superdiff_core.sampler.DEFAULT_RESAMPLE_STEPS`; 0 steps: the paper's loop).
            None resolves to the default, or to 0 for a guided run: resampling pulls the
            candidates back onto the reference's profile, which is where guidance was
            steering them away from (measured in benchmarks/README.md, "Property guidance").
        screening: screening options.
        guidance: property guidance weights (:mod:`superdiff_core.guidance`; all 0: none).
    """

    model_class: str
    references: tuple[str, ...] = ()
    scale_factors: tuple[int, ...] = (2, 3, 4)
    samples: int = 500
    steps: int | None = None
    seed: int = 0
    method: SamplingMethod = DEFAULT_METHOD
    conditioning_stop: int = DEFAULT_CONDITIONING_STOP
    filter_order: str = DEFAULT_FILTER_ORDER
    resample_steps: int | None = None
    resample_count: int = DEFAULT_RESAMPLE_COUNT
    screening: ScreeningOptions = field(default_factory=ScreeningOptions)
    guidance: GuidanceWeights = field(default_factory=GuidanceWeights)

    def __post_init__(self) -> None:
        if self.steps is None and self.model_class in MODEL_CLASSES:
            object.__setattr__(self, "steps", get_model_class(self.model_class).recommended_steps)
        if not isinstance(self.guidance, GuidanceWeights):  # e.g. {"tc": 1.0} from a JSON document
            object.__setattr__(self, "guidance", GuidanceWeights.from_dict(self.guidance))
        if self.resample_steps is None:
            object.__setattr__(self, "resample_steps", 0 if self.guidance.active else DEFAULT_RESAMPLE_STEPS)

    def validate(self) -> None:
        """Raise InputError with one clear line for any out-of-range value."""
        check_model_class(self.model_class)
        if not 1 <= self.samples <= MAX_SAMPLES_PER_RUN:
            raise InputError(f"samples must be from 1 to {MAX_SAMPLES_PER_RUN}, got {self.samples}")
        if not 0 <= self.conditioning_stop <= 1000:
            raise InputError(f"ILVR stop timestep must be from 0 to 1000, got {self.conditioning_stop}")
        try:
            check_num_steps(self.steps)
            resampling_repeats(1, self.resample_steps, self.resample_count)
            for n in self.scale_factors:
                check_scale_factor(n)
        except ValueError as error:
            raise InputError(str(error)) from None
        if self.filter_order not in FILTER_ORDERS:
            raise InputError(f"filter order must be one of {', '.join(FILTER_ORDERS)}, got {self.filter_order!r}")
        if self.references and not self.scale_factors:
            raise InputError("give at least one scale factor N with a reference")

    @property
    def network_calls_per_sample(self) -> int:
        """Reverse steps one sample takes, counting the resampled steps of ILVR runs (what the
        progress bar counts and what a time estimate should multiply by)."""
        resample_steps = self.resample_steps if self.references else 0
        return sum(resampling_repeats(self.steps, resample_steps, self.resample_count))

    def to_dict(self) -> dict:
        return asdict(self)


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
            before the stop are in it (``raw_samples`` counts those).
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


def plan_runs(references: list[ParsedFormula], scale_factors: tuple[int, ...]) -> list[RunSpec]:
    """One run per (reference, N); a single unconditional run without references."""
    if not references:
        return [RunSpec(None, None)]
    return [RunSpec(reference, n) for reference in references for n in scale_factors]


def generate(
    engine: Engine,
    settings: GenerationSettings,
    references: list[ParsedFormula],
    progress: ProgressCallback | None = None,
    cancel: CancelFlag | None = None,
    keep_partial: bool = False,
    guide: Guide | None = None,
) -> GenerationResult:
    """Sample and screen every (reference, N) run of ``settings``.

    ``progress(done, total)`` counts reverse steps over all runs. When ``cancel`` is set
    the sampler stops at its next step; with ``keep_partial`` the runs finished so far are
    returned (``partial=True``), otherwise :class:`SamplingCancelled` propagates.
    ``guide`` (:func:`superdiff_core.guidance.build_guide`) is required when
    ``settings.guidance`` has a weight above 0, and then adds a ``guidance`` column.
    """
    settings.validate()
    if engine.model_class != settings.model_class:
        raise InputError(f"engine is for {engine.model_class}, settings ask for {settings.model_class}")
    if settings.guidance.active and (guide is None or guide.weights != settings.guidance):
        raise InputError("these settings ask for property guidance: pass the guide built from their weights")
    if not settings.guidance.active:
        guide = None
    runs = plan_runs(references, settings.scale_factors)
    tables, vectors, stage_totals = [], [], None
    unique_weighted = novel_weighted = basic_total = 0.0
    finished = 0
    for run_index, run in enumerate(runs):
        def run_progress(done: int, total: int, index: int = run_index) -> None:
            if progress is not None:  # the sampler's own step count (resampled steps included), the same for every run
                progress(index * total + done, total * len(runs))

        try:
            samples = _sample_run(engine, settings, run, run_index, run_progress, cancel, guide)
        except SamplingCancelled:
            if not keep_partial:
                raise
            break
        finished += 1
        screened = screen_samples(samples, settings.model_class, engine.training_keys, settings.screening)
        basic = screened.stages[2].remaining
        if basic:
            unique_weighted += screened.unique_percent * basic
            novel_weighted += screened.novel_percent * basic
            basic_total += basic
        stage_totals = _add_stages(stage_totals, screened.stages)
        table = screened.table.drop(columns=["sample_index"])
        table.insert(1, "model_class", settings.model_class)
        table.insert(2, "reference", "" if run.reference is None else run.reference.text)
        table.insert(3, "scale_factor", pd.array([run.scale_factor] * len(table), dtype="Int64"))
        if guide is not None:
            table.insert(4, GUIDANCE_COLUMN, settings.guidance.to_text())
        tables.append(table)
        vectors.append(screened.vectors)
    if not tables:  # stopped before the first run finished
        tables = [pd.DataFrame(columns=["formula", "model_class", "reference", "scale_factor"])]
        stage_totals = [StageCount(stage, 0, 0) for stage in STAGE_NAMES]
    table = pd.concat(tables, ignore_index=True)
    return GenerationResult(
        table[ordered_columns(table)],
        np.concatenate(vectors) if vectors else np.zeros((0, 96)),
        stage_totals,
        unique_weighted / basic_total if basic_total else float("nan"),
        novel_weighted / basic_total if basic_total else float("nan"),
        settings.samples * finished,
        settings,
        partial=finished < len(runs),
    )


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
        resample_steps=settings.resample_steps,
        resample_count=settings.resample_count,
        progress=progress,
        cancel=cancel,
        guide=guide,
    )


def _add_stages(total: list[StageCount] | None, stages: list[StageCount]) -> list[StageCount]:
    if total is None:
        return [StageCount(s.stage, s.removed, s.remaining) for s in stages]
    return [StageCount(a.stage, a.removed + b.removed, a.remaining + b.remaining) for a, b in zip(total, stages)]


def reference_distance(vectors: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """L1 distance between each candidate's element fractions and the reference's, shape (n,).
    0 is the same composition; 2 shares no element."""
    fractions = vectors / np.maximum(vectors.sum(axis=1, keepdims=True), 1e-12)
    reference_fractions = reference / reference.sum()
    return np.abs(fractions - reference_fractions).sum(axis=1)
