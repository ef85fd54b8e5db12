"""A campaign's plan and its shards: what a campaign runs, and the units of work.

A :class:`CampaignPlan` (from a TOML file, from flags or from a manifest's ``plan``) is a
run-settings template plus seeds, batching and outputs; it expands to :class:`Shard`\\ s,
one per reference × N × seed × batch of samples. Each shard is one ordinary run of the
engine (:func:`shard_settings`: one reference, one N, ``batch`` samples, its own seed).
A plan with ``baseline = "substitution"`` adds, per reference × seed, the substitution
baseline's shards: as many candidates as diffusion draws for that reference and seed (samples
× N values), in batches, each shard marked ``source = substitution`` and without an N.
A folder is resumed only with the plan it was started with (:func:`plan_differences` names
the keys that differ).
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from ..composition import ParsedFormula
from ..errors import InputError
from ..results import DIFFUSION_SOURCE, SUBSTITUTION_SOURCE
from ..settings import MAX_SAMPLES_PER_RUN, GenerationSettings

SOURCE_ID_PARTS = {SUBSTITUTION_SOURCE: "sub"}
"""The N part of a baseline shard's id (``r0000-sub-s0-b00000``); it sorts after every
``N..`` part, so a formula both sources drew counts first as diffusion's."""

SEED_STRIDE = 1_000_003
"""Batch b of seed s samples with seed ``s + b * SEED_STRIDE`` (batch 0: the seed itself,
the same as ``generate --seed s`` for one reference and one N)."""

DEFAULT_BATCH = 500
"""Samples per shard when a plan does not say."""

DEFAULT_PLAN_SAMPLES = 2000
"""Samples per reference, per N and per seed when a plan does not say."""

PLAN_KEYS: tuple[str, ...] = ("seeds", "batch", "properties", "map")
"""The keys of a plan that are not run settings (the rest are :class:`GenerationSettings`' fields)."""

LEGACY_SCREENING_KEYS: tuple[str, ...] = ("validity_check", "mixed_valence", "keep_invalid", "keep_known")
"""Screening options a plan file may give at its top level (as earlier plans did); the old
``mixed_valence = true/false`` means ``validity_check = "mixed_valence"/"integer"``."""


@dataclass(frozen=True)
class CampaignPlan:
    """What a campaign runs: a run-settings template plus seeds, batching and outputs.

    Attributes:
        settings: the resolved run settings every shard shares (model class, references,
            N values, sampler, screening); ``settings.samples`` is per reference, per N and
            per seed. Resolved when the plan is made, so a resume samples as the start did.
        seeds: base random seeds; each gives an independent set of samples.
        batch: samples per shard (the unit of work, resume and retry).
        properties: score candidates (superconductor probability, Tc, formation energy).
        map: place candidates on the class's map and find families (slower).
    """

    settings: GenerationSettings
    seeds: tuple[int, ...] = (0,)
    batch: int = DEFAULT_BATCH
    properties: bool = True
    map: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "settings", self.settings.resolved())
        object.__setattr__(self, "seeds", tuple(self.seeds))

    @property
    def model_class(self) -> str:
        return self.settings.model_class

    @property
    def references(self) -> tuple[str, ...]:
        """The references as typed."""
        return self.settings.reference_texts

    @property
    def scale_factors(self) -> tuple[int, ...]:
        return self.settings.scale_factors

    @property
    def samples(self) -> int:
        return self.settings.samples

    @property
    def steps(self) -> int:
        return int(self.settings.steps)

    def to_dict(self) -> dict[str, Any]:
        """One flat mapping (the manifest's ``plan``): the settings' fields and the plan's own."""
        return {**self.settings.to_dict(), "seeds": list(self.seeds), "batch": self.batch,
                "properties": self.properties, "map": self.map}

    def parsed_references(self) -> list[ParsedFormula]:
        """The references, parsed."""
        return list(self.settings.references)

    def validate(self) -> None:
        """Raise InputError with one clear line for anything the engine would refuse."""
        if not 1 <= self.batch <= MAX_SAMPLES_PER_RUN:
            raise InputError(f"batch must be from 1 to {MAX_SAMPLES_PER_RUN}, got {self.batch}")
        if not self.seeds:
            raise InputError("give at least one seed")
        if len(set(self.seeds)) != len(self.seeds):
            raise InputError(f"seeds repeat: {list(self.seeds)}")
        if self.references and len(set(self.references)) != len(self.references):
            raise InputError("references repeat; give each once")
        if self.settings.baseline is not None and not self.references:
            raise InputError(f"the {self.settings.baseline} baseline substitutes into references: give references or leave out baseline")
        shards = expand_shards(self)
        shard_settings(self, shards[0]).resolved()


@dataclass(frozen=True)
class Shard:
    """One unit of work: ``samples`` samples of one (reference, N, seed), batch ``batch``.

    ``reference`` is "" and ``scale_factor`` None for unconditional sampling. A baseline
    shard (``source`` other than diffusion) draws ``samples`` candidates by substitution
    into its reference and has no ``scale_factor``.
    """

    shard_id: str
    reference_index: int
    reference: str
    scale_factor: int | None
    seed: int
    batch: int
    samples: int
    source: str = DIFFUSION_SOURCE

    @property
    def sampling_seed(self) -> int:
        return self.seed + self.batch * SEED_STRIDE


def _batches(total: int, batch: int) -> list[tuple[int, int]]:
    """(batch index, size) of ``total`` samples cut into batches of at most ``batch``."""
    return [(b, min(batch, total - start)) for b, start in enumerate(range(0, total, batch))]


def expand_shards(plan: CampaignPlan) -> list[Shard]:
    """Every shard of ``plan``, in a fixed order: per reference, its diffusion shards (N,
    seed, batch), then its baseline shards (seed, batch) when the plan draws a baseline."""
    shards = []
    if not plan.references:
        for seed in plan.seeds:
            shards += [Shard(f"r0000-uncond-s{seed}-b{batch:05d}", 0, "", None, seed, batch, size)
                       for batch, size in _batches(plan.samples, plan.batch)]
        return shards
    baseline_samples = plan.samples * len(plan.scale_factors)  # as many as diffusion draws per reference and seed
    for index, reference in enumerate(plan.references):
        for n in plan.scale_factors:
            for seed in plan.seeds:
                shards += [Shard(f"r{index:04d}-N{n:02d}-s{seed}-b{batch:05d}", index, reference, n, seed, batch, size)
                           for batch, size in _batches(plan.samples, plan.batch)]
        if plan.settings.baseline is not None:
            part = SOURCE_ID_PARTS[plan.settings.baseline]
            for seed in plan.seeds:
                shards += [Shard(f"r{index:04d}-{part}-s{seed}-b{batch:05d}", index, reference, None, seed, batch, size,
                                 plan.settings.baseline)
                           for batch, size in _batches(baseline_samples, plan.batch)]
    return shards


def plan_differences(stored: CampaignPlan, given: CampaignPlan, width: int = 40) -> str:
    """The keys in which two plans differ, named as a plan file names them (nested options
    as ``screening.keep_invalid``), with both values cut to ``width`` characters:
    ``"samples: 2000 there, 500 given; references: ['BaFe2As2'] there, ['FeSe'] given"``."""
    return "; ".join(_mapping_differences(stored.to_dict(), given.to_dict(), width))


def _mapping_differences(stored: Mapping[str, Any], given: Mapping[str, Any], width: int, prefix: str = "") -> list[str]:
    def short(value: object) -> str:
        text = repr(value)
        return text if len(text) <= width else text[: width - 1] + "…"

    parts = []
    for key in dict.fromkeys([*stored, *given]):
        there, here = stored.get(key), given.get(key)
        if there == here:
            continue
        if isinstance(there, Mapping) and isinstance(here, Mapping):
            parts.extend(_mapping_differences(there, here, width, f"{prefix}{key}."))
        else:
            parts.append(f"{prefix}{key}: {short(there)} there, {short(here)} given")
    return parts


def shard_settings(plan: CampaignPlan, shard: Shard) -> GenerationSettings:
    """The engine settings of one shard: the plan's template with one reference, one N,
    the shard's batch and seed (a baseline shard keeps the plan's N values: they are not
    sampled, only recorded)."""
    template = plan.settings
    reference = template.references[shard.reference_index] if shard.reference else None
    return replace(
        template,
        references=(reference,) if reference is not None else (),
        scale_factors=(shard.scale_factor,) if shard.scale_factor is not None else template.scale_factors,
        samples=shard.samples,
        seed=shard.sampling_seed,
        baseline=None,  # the shard's source says what it draws; the baseline has shards of its own
    ).resolved()


# ---------------------------------------------------------------------------------------
# Plans from TOML or flags
# ---------------------------------------------------------------------------------------


def _as_int_tuple(key: str, value: Any) -> tuple[int, ...]:
    values = value if isinstance(value, list | tuple) else [value]
    if not values or not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        raise InputError(f"plan: {key} must be a whole number or a list of whole numbers, got {value!r}")
    return tuple(values)


def plan_from_mapping(data: Mapping[str, Any], base_dir: Path = Path(".")) -> CampaignPlan:
    """A plan from a dict (a parsed TOML file, flags, or a manifest's ``plan``).

    Keys are :class:`GenerationSettings`' fields (``samples`` per reference, N and seed) and
    :data:`PLAN_KEYS`, plus ``model`` for ``model_class``, ``references_file`` (a formula
    list, relative to ``base_dir``), ``seeds`` as a count (``seeds = 3`` means 0, 1, 2) or a
    list, and the screening options of :data:`LEGACY_SCREENING_KEYS` at the top level.

    Raises:
        InputError: one line naming the key that is wrong.
    """
    values = dict(data)
    if "model" in values:
        values["model_class"] = values.pop("model")
    known = {f.name for f in fields(GenerationSettings)} | set(PLAN_KEYS) | set(LEGACY_SCREENING_KEYS) | {"references_file"}
    unknown = sorted(set(values) - known)
    if unknown:
        raise InputError(f"plan: unknown key {unknown[0]!r} (known: model, {', '.join(sorted(known - {'model_class'}))})")
    if "model_class" not in values:
        raise InputError("plan: give model = CLASS")
    references = values.pop("references", []) or []
    references = [references] if isinstance(references, str) else list(references)
    references_file = values.pop("references_file", None)
    if references_file is not None:
        references.extend(references_from_file(base_dir / str(references_file)))
    values["references"] = [str(r) for r in references]
    screening = dict(values.pop("screening", None) or {})
    for key in LEGACY_SCREENING_KEYS:
        if key in values:
            screening[key] = values.pop(key)
    values["screening"] = screening
    plan_values: dict[str, Any] = {key: values.pop(key) for key in PLAN_KEYS if key in values}
    if "seeds" in plan_values:
        seeds = plan_values["seeds"]
        if isinstance(seeds, int) and not isinstance(seeds, bool):
            if seeds < 1:
                raise InputError(f"plan: seeds as a count must be at least 1, got {seeds}")
            plan_values["seeds"] = tuple(range(seeds))
        else:
            plan_values["seeds"] = _as_int_tuple("seeds", seeds)
    if "batch" in plan_values and (not isinstance(plan_values["batch"], int) or isinstance(plan_values["batch"], bool)):
        raise InputError(f"plan: batch must be a whole number, got {plan_values['batch']!r}")
    values.setdefault("samples", DEFAULT_PLAN_SAMPLES)
    try:
        settings = GenerationSettings.from_mapping(values)
        plan = CampaignPlan(settings, **plan_values)
    except InputError as error:
        raise InputError(f"plan: {error}") from None
    plan.validate()
    return plan


def read_plan(path: str | os.PathLike) -> CampaignPlan:
    """A plan from a TOML file (one-line InputError when missing or malformed)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"plan file not found: {path}")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise InputError(f"plan {path} is not valid TOML: {error}") from None
    return plan_from_mapping(data, base_dir=path.parent)


def references_from_file(path: str | os.PathLike) -> list[str]:
    """Reference formulas from a list file (one per line, or a CSV with a formula column)."""
    from ..formula_lists import read_formula_file

    path = Path(path)
    if not path.is_file():
        raise InputError(f"references file not found: {path}")
    return [str(f) for f in read_formula_file(path)["formula"]]
