"""The paper's post-processing and screening of raw samples (method section 4), in order:

1. round every amount to 2 decimals and zero amounts with |x| < 0.08 (residual noise);
2. reject vectors with a negative amount;
3. reject vectors with fewer than 2 or more than the class's limit of elements;
4. unique % and novel % (against the class's training set), then de-duplication; both compare
   normalised compositions within a tolerance (:mod:`superdiff_core.novelty`): a rescaled
   or ±0.005 copy of a SuperCon compound is not novel, and of two draws of one composition
   only the first is kept;
5. validity (charge balance, :mod:`superdiff_core.validity`): the check chosen in the options
   filters and writes ``smact_valid``; every registered check's own verdict is recorded for the
   rows that survive.

Each stage reports how many candidates it removed, so a run can be read as a funnel.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .composition import vectors_to_formulas
from .model_classes import check_model_class, get_model_class
from .novelty import KnownCompositions, first_of_duplicates
from .smact_check import DEFAULT_TIMEOUT_SECONDS
from .validity import (
    DEFAULT_VALIDITY_CHECK,
    VALIDITY_CHECKS,
    get_validity_check,
    validity_frame,
    validity_statuses,
)

ROUNDING_DECIMALS = 2
RESIDUAL_THRESHOLD = 0.08
"""Amounts below this (in absolute value) are residual noise of the reference code."""

MIN_ELEMENTS = 2

STAGE_NAMES: tuple[str, ...] = ("raw", "non-negative", "element count", "unique", "novel", "SMACT-valid")
"""The funnel stages of :func:`screen_samples`, in order."""


@dataclass(frozen=True)
class ScreeningOptions:
    """User-settable screening knobs; the defaults are the paper's.

    Attributes:
        residual_threshold: amounts with |x| below this become 0.
        min_elements, max_elements: allowed number of distinct elements (None: class default).
        validity_check: the validity check that filters (a name of
            :data:`~superdiff_core.validity.VALIDITY_CHECKS`; InputError for another).
        smact_timeout_s: time bound per formula for the SMACT check.
        keep_known: keep candidates already in the training set (flagged ``novel=False``).
        keep_invalid: keep SMACT-invalid candidates (flagged ``smact_valid=False``).
    """

    residual_threshold: float = RESIDUAL_THRESHOLD
    min_elements: int = MIN_ELEMENTS
    max_elements: int | None = None
    validity_check: str = DEFAULT_VALIDITY_CHECK
    smact_timeout_s: float = DEFAULT_TIMEOUT_SECONDS
    keep_known: bool = False
    keep_invalid: bool = False

    def __post_init__(self) -> None:
        get_validity_check(self.validity_check)

    def element_limit(self, model_class: str) -> int:
        return self.max_elements if self.max_elements is not None else get_model_class(model_class).max_elements


@dataclass
class StageCount:
    """One stage of the funnel: its name, how many it removed and how many remain."""

    stage: str
    removed: int
    remaining: int


@dataclass
class ScreeningResult:
    """Outcome of :func:`screen_samples`.

    Attributes:
        vectors: surviving candidates, shape (m, 96), rounded amounts.
        table: one row per survivor: formula, n_elements, novel, ``smact_valid`` (the
            verdict of the chosen check; NA for a timeout), the own column of every registered
            check (:data:`~superdiff_core.validity.CHECK_COLUMNS`), ``smact_status`` (of the
            chosen check: valid, invalid or timeout) and ``sample_index`` (row in the raw
            array).
        stages: the funnel, from ``raw`` to the last stage.
        unique_percent: distinct compositions / total among vectors that passed the basic
            filters (:func:`~superdiff_core.novelty.first_of_duplicates`).
        novel_percent: not within the novelty tolerance of a training-set composition /
            total among the same vectors.
    """

    vectors: np.ndarray
    table: pd.DataFrame
    stages: list[StageCount] = field(default_factory=list)
    unique_percent: float = float("nan")
    novel_percent: float = float("nan")

    def counts(self) -> dict[str, int]:
        """Remaining candidates after each stage, by stage name."""
        return {s.stage: s.remaining for s in self.stages}


def round_and_threshold(samples: np.ndarray, threshold: float = RESIDUAL_THRESHOLD) -> np.ndarray:
    """Round to 2 decimals, then zero amounts with |x| < ``threshold``. Shape preserved."""
    rounded = np.round(np.asarray(samples, dtype=np.float64), ROUNDING_DECIMALS)
    rounded[np.abs(rounded) < threshold] = 0.0
    return rounded + 0.0  # folds -0.0


def screen_samples(
    samples: np.ndarray,
    model_class: str,
    training_keys: KnownCompositions | set[bytes],
    options: ScreeningOptions = ScreeningOptions(),
) -> ScreeningResult:
    """Run the screening stages on raw samples.

    Args:
        samples: raw sampler output, shape (n, 96).
        model_class: one of the four classes (sets the element limit).
        training_keys: the class's training set, indexed once
            (:class:`~superdiff_core.novelty.KnownCompositions`); a set of
            :func:`~superdiff_core.data.vector_keys` is indexed here on every call.
        options: screening knobs.
    """
    check_model_class(model_class)
    vectors = round_and_threshold(samples, options.residual_threshold)
    index = np.arange(len(vectors))
    stages = [StageCount("raw", 0, len(vectors))]

    def keep(stage: str, mask: np.ndarray, drop: bool = True) -> np.ndarray:
        """Record the stage's counts; remove the rows failing ``mask`` unless ``drop`` is False.
        Returns the mask of rows kept."""
        nonlocal vectors, index
        stages.append(StageCount(stage, int((~mask).sum()), int(mask.sum())))
        kept = mask if drop else np.ones_like(mask)
        vectors, index = vectors[kept], index[kept]
        return kept

    keep("non-negative", ~(vectors < 0).any(axis=1))
    n_elements = (vectors > 0).sum(axis=1)
    keep("element count", (n_elements >= options.min_elements) & (n_elements <= options.element_limit(model_class)))

    known = training_keys if isinstance(training_keys, KnownCompositions) else KnownCompositions.from_keys(training_keys)
    basic = len(vectors)
    unique_mask = first_of_duplicates(vectors) == np.arange(basic)
    unique_percent = 100.0 * unique_mask.sum() / basic if basic else float("nan")
    novel = ~known.contains(vectors)
    novel_percent = 100.0 * novel.mean() if basic else float("nan")

    keep("unique", unique_mask)
    novel = novel[unique_mask]
    novel = novel[keep("novel", novel, drop=not options.keep_known)]

    chosen = options.validity_check
    statuses = {chosen: validity_statuses(vectors, [chosen], timeout_s=options.smact_timeout_s)[chosen]}
    kept = keep("SMACT-valid", statuses[chosen] == "valid", drop=not options.keep_invalid)
    others = [name for name in VALIDITY_CHECKS if name != chosen]  # only on the rows kept
    statuses = {chosen: statuses[chosen][kept], **validity_statuses(vectors, others, timeout_s=options.smact_timeout_s)}
    validity = validity_frame(statuses, chosen, VALIDITY_CHECKS)

    table = pd.DataFrame(
        {
            "formula": vectors_to_formulas(vectors),
            "n_elements": (vectors > 0).sum(axis=1).astype(int),
            **{column: validity[column].array for column in validity.columns},
            "novel": novel[kept],
            "sample_index": index,
        }
    )
    return ScreeningResult(vectors, table, stages, unique_percent, novel_percent)
