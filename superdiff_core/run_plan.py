"""What a run will do before it starts: its sampling runs, network calls and time.

A front end shows this before Start (the app's time estimate) and runs exactly what it
planned: :func:`per_class_settings` is what :func:`superdiff_core.run.run_generation_per_class`
runs, :func:`network_calls` counts what the sampler's progress bar counts, and
:func:`sampling_seconds` prices those calls batch by batch with a measured :class:`CallCost`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from .composition import ParsedFormula
from .sampler import DEFAULT_BATCH_SIZE
from .settings import GenerationSettings


def plan_size(settings: GenerationSettings) -> int:
    """How many (reference, N) sampling runs ``settings`` make (1 without references)."""
    return max(1, len(settings.references) * len(settings.scale_factors)) if settings.references else 1


def per_class_settings(settings: GenerationSettings, groups: Mapping[str, Sequence[ParsedFormula]]) -> list[GenerationSettings]:
    """What runs: ``settings`` itself, or, when the references are grouped into several
    classes (:func:`superdiff_core.run.references_by_class`), one copy per class with that
    class's model and references (every other setting shared)."""
    if len(groups) < 2:
        return [settings]
    return [
        dataclasses.replace(settings, model_class=model_class, references=tuple(r.text for r in references))
        for model_class, references in groups.items()
    ]


def network_calls(settings: GenerationSettings) -> int:
    """Sample-calls of the whole run: samples × reverse steps per sample (resampled steps
    included, as the progress bar counts them) × sampling runs."""
    return plan_size(settings) * settings.samples * settings.network_calls_per_sample


def batch_sizes(samples: int, batch_size: int = DEFAULT_BATCH_SIZE) -> list[int]:
    """The batches the sampler draws ``samples`` in (each a network call per step)."""
    return [min(batch_size, samples - start) for start in range(0, samples, batch_size)]


@dataclass(frozen=True)
class CallCost:
    """The measured cost of one network call on this machine: a fixed part and a part per
    sample of the batch (a call on 8 samples costs far more per sample than one on 1,000).

    Attributes:
        per_call: seconds of a call whatever its batch.
        per_sample: seconds each sample of the batch adds.
    """

    per_call: float
    per_sample: float

    def seconds(self, batch: int) -> float:
        """Seconds of one call on ``batch`` samples."""
        return self.per_call + self.per_sample * batch

    def scaled(self, factor: float) -> CallCost:
        """The same shape, ``factor`` times slower (what a finished run measured)."""
        return CallCost(self.per_call * factor, self.per_sample * factor)


def cost_from_two_batches(small: int, small_s: float, large: int, large_s: float) -> CallCost:
    """The cost line through two timed calls (``small``/``large`` samples, seconds each)."""
    per_sample = max(0.0, (large_s - small_s) / max(1, large - small))
    return CallCost(max(0.0, small_s - per_sample * small), per_sample)


def sampling_seconds(settings: GenerationSettings, cost: CallCost) -> float:
    """Seconds of the sampling of resolved ``settings``: every (reference, N) run draws its
    batches, each batch one call per reverse step (resampled steps included)."""
    per_run = sum(cost.seconds(batch) for batch in batch_sizes(settings.samples))
    return plan_size(settings) * settings.network_calls_per_sample * per_run


def cost_key(settings: GenerationSettings) -> tuple[str, str]:
    """What the cost of one network call depends on: the class's model and the guide
    (a guided step also differentiates the guide's networks, so it costs more): ``(model
    class, guide text or "")``."""
    return settings.model_class, settings.guidance.to_text()


def estimated_seconds(
    planned: Sequence[GenerationSettings], cost_for: Callable[[GenerationSettings], CallCost | None],
) -> float | None:
    """Sampling time of the resolved ``planned`` settings (one per class it runs) from the
    measured cost of a network call (``cost_for(settings)``; None when unknown): the sum of
    :func:`sampling_seconds`; None when a cost is unknown."""
    seconds = 0.0
    for settings in planned:
        cost = cost_for(settings)
        if cost is None:
            return None
        seconds += sampling_seconds(settings, cost)
    return seconds
