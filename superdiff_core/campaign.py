"""Campaigns: many (reference, N, seed) generation runs split into shards, stored as a
folder of Parquet files that a rerun resumes.

A :class:`CampaignPlan` (from a TOML file or from flags) expands to :class:`Shard`\\ s,
one per reference × N × seed × batch of samples. Each shard is one ordinary run of the
engine (:func:`superdiff_core.run.run_generation` with one reference, one N and
``batch`` samples), so a campaign's rows are exactly the rows ``generate`` would give for
the same work: the candidate schema of :mod:`superdiff_core.results` plus the run
columns :data:`RUN_COLUMNS`.

Layout of a campaign folder::

    campaign.json               manifest: plan, versions, checkpoint sha256, shard states
    shards/<shard_id>.parquet   one file per finished shard (written atomically)
    report/                     ``superdiff campaign report`` output

A shard counts as finished when its Parquet file exists (the manifest is a record of it,
reconciled from the files' own metadata on resume), so a run killed at any moment loses at
most the shards in flight: temporary files are removed and their shards rerun, finished
ones are skipped, nothing is duplicated. Execution on Ray is in
:mod:`superdiff_core.campaign_runner`; queries in :mod:`superdiff_core.campaign_queries`.
"""

from __future__ import annotations

import json
import os
import platform
import re
import time
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, fields, is_dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .artifacts import DEFAULT_MODELS_DIR, atomic_path, write_json_atomically
from .composition import ParsedFormula
from .errors import InputError
from .results import ordered_columns
from .settings import MAX_SAMPLES_PER_RUN, GenerationSettings
from .validity import CHECK_COLUMNS, VALID_COLUMN

MANIFEST_FILE = "campaign.json"
SHARDS_DIR = "shards"
REPORT_DIR = "report"
MANIFEST_FORMAT = 1
SHARD_METADATA_KEY = b"superdiff.shard"
"""Key of the shard record (JSON) in each Parquet file's schema metadata."""

SEED_STRIDE = 1_000_003
"""Batch b of seed s samples with seed ``s + b * SEED_STRIDE`` (batch 0: the seed itself,
the same as ``generate --seed s`` for one reference and one N)."""

RUNNING_STALE_S = 900.0
"""A campaign whose manifest says running but has not been written for this long (no
shard finished) is shown as stopped."""

DEFAULT_BATCH = 500
"""Samples per shard when a plan does not say."""

DEFAULT_PLAN_SAMPLES = 2000
"""Samples per reference, per N and per seed when a plan does not say."""

RUN_COLUMNS: tuple[str, ...] = ("shard_id", "seed", "batch", "sampling_seed", "steps", "checkpoint_sha256")
"""Columns every campaign row carries beside the candidate schema."""

ELEMENT_SYSTEM_COLUMN = "element_system"
"""A derived column of every campaign row: the formula's elements in writing order
(``Ba-Fe-As``), the key of the report's families (computed per shard, so the report on
millions of rows only groups)."""

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
        if self.settings.baseline is not None:
            raise InputError("campaigns draw diffusion candidates only: leave out baseline")
        shards = expand_shards(self)
        shard_settings(self, shards[0]).resolved()


@dataclass(frozen=True)
class Shard:
    """One unit of work: ``samples`` samples of one (reference, N, seed), batch ``batch``.

    ``reference`` is "" and ``scale_factor`` None for unconditional sampling.
    """

    shard_id: str
    reference_index: int
    reference: str
    scale_factor: int | None
    seed: int
    batch: int
    samples: int

    @property
    def sampling_seed(self) -> int:
        return self.seed + self.batch * SEED_STRIDE


def expand_shards(plan: CampaignPlan) -> list[Shard]:
    """Every shard of ``plan``, in a fixed order (reference, N, seed, batch)."""
    batches = [(b, min(plan.batch, plan.samples - start)) for b, start in enumerate(range(0, plan.samples, plan.batch))]
    runs: list[tuple[int, str, int | None]] = (
        [(i, reference, n) for i, reference in enumerate(plan.references) for n in plan.scale_factors]
        if plan.references else [(0, "", None)]
    )
    shards = []
    for index, reference, n in runs:
        for seed in plan.seeds:
            for batch, size in batches:
                n_part = f"N{n:02d}" if n is not None else "uncond"
                shard_id = f"r{index:04d}-{n_part}-s{seed}-b{batch:05d}"
                shards.append(Shard(shard_id, index, reference, n, seed, batch, size))
    return shards


def shard_settings(plan: CampaignPlan, shard: Shard) -> GenerationSettings:
    """The engine settings of one shard: the plan's template with one reference, one N,
    the shard's batch and seed."""
    template = plan.settings
    reference = template.references[shard.reference_index] if shard.reference else None
    return replace(
        template,
        references=(reference,) if reference is not None else (),
        scale_factors=(shard.scale_factor,) if shard.scale_factor is not None else (),
        samples=shard.samples,
        seed=shard.sampling_seed,
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
    from .formula_lists import read_formula_file

    path = Path(path)
    if not path.is_file():
        raise InputError(f"references file not found: {path}")
    return [str(f) for f in read_formula_file(path)["formula"]]


# ---------------------------------------------------------------------------------------
# Shard tables as Parquet
# ---------------------------------------------------------------------------------------

STRING_COLUMNS = ("formula", "model_class", "reference", "smact_status", "nearest_known_formula", "cluster_name",
                  "family_id", "family_formula", "note", "property_note", "shard_id", "checkpoint_sha256", ELEMENT_SYSTEM_COLUMN)
BOOLEAN_COLUMNS = (VALID_COLUMN, *CHECK_COLUMNS, "novel", "is_superconductor", "outside_training_domain",
                   "is_new_family")
INTEGER_COLUMNS = ("scale_factor", "n_elements", "known_close_count", "cluster", "seed", "batch", "sampling_seed", "steps")


def element_system(formula: str) -> str:
    """The elements of a formula in its writing order, ``BaFe2As2`` → ``Ba-Fe-As`` (the
    engine writes every formula in one element order, so equal systems give equal text)."""
    return "-".join(re.findall(r"[A-Z][a-z]?", formula))


def _arrow_type(column: str, dtype: Any):
    import pyarrow as pa

    if column in STRING_COLUMNS:
        return pa.string()
    if column in BOOLEAN_COLUMNS:
        return pa.bool_()
    if column in INTEGER_COLUMNS:
        return pa.int64()
    if pd.api.types.is_float_dtype(dtype):
        return pa.float64()
    return None


def shard_arrow_table(table: pd.DataFrame, record: Mapping[str, Any]):
    """A shard's candidate table as an Arrow table with fixed column types (so empty and
    full shards share one schema) and the shard record in its metadata."""
    import pyarrow as pa

    table = table[ordered_columns(table)]
    arrays, names = [], []
    for column in table.columns:
        target = _arrow_type(column, table[column].dtype)
        values = table[column].astype(object).where(table[column].notna(), None).tolist()
        arrays.append(pa.array(values, type=target, from_pandas=True))
        names.append(column)
    arrow = pa.Table.from_arrays(arrays, names=names)
    return arrow.replace_schema_metadata({SHARD_METADATA_KEY: json.dumps(dict(record)).encode()})


def with_record_fields(arrow_table, **values: Any):
    """``arrow_table`` with ``values`` added to the shard record in its metadata."""
    record = {**json.loads(arrow_table.schema.metadata[SHARD_METADATA_KEY]), **values}
    return arrow_table.replace_schema_metadata({SHARD_METADATA_KEY: json.dumps(record).encode()})


def shard_record_of(arrow_table) -> dict[str, Any]:
    """The shard record in an Arrow table's metadata."""
    return json.loads(arrow_table.schema.metadata[SHARD_METADATA_KEY])


def write_shard(folder: Path, arrow_table) -> Path:
    """Write a shard's Arrow table to ``shards/<shard_id>.parquet`` atomically."""
    import pyarrow.parquet as pq

    path = shard_path(folder, shard_record_of(arrow_table)["shard_id"])
    with atomic_path(path) as temporary:
        pq.write_table(arrow_table, temporary, compression="zstd")
    return path


def shard_path(folder: Path, shard_id: str) -> Path:
    return Path(folder) / SHARDS_DIR / f"{shard_id}.parquet"


def read_shard_record(path: Path) -> dict[str, Any] | None:
    """The shard record stored in a Parquet file's metadata (None if unreadable)."""
    import pyarrow.parquet as pq

    try:
        metadata = pq.read_schema(path).metadata or {}
        return json.loads(metadata[SHARD_METADATA_KEY])
    except (OSError, KeyError, ValueError):
        return None


def finished_shard_files(folder: str | os.PathLike) -> list[Path]:
    """The finished shard files of a campaign folder (temporary files excluded), sorted."""
    return sorted((Path(folder) / SHARDS_DIR).glob("r*.parquet"))


# ---------------------------------------------------------------------------------------
# Running one shard through the engine (called inside a Ray actor, or directly)
# ---------------------------------------------------------------------------------------


@dataclass
class ShardContext:
    """What a worker loads once and reuses for every shard: the engine and run models.

    Attributes:
        plan: the campaign plan.
        engine: :class:`superdiff_core.pipeline.Engine` of the plan's class.
        models: :class:`superdiff_core.run.RunModels` (properties and map as the plan asks).
        checkpoint_sha256: sha256 of the diffusion checkpoint file.
    """

    plan: CampaignPlan
    engine: Any
    models: Any
    checkpoint_sha256: str


def checkpoint_file(models_dir: str | os.PathLike, model_class: str, element_order: str = "z") -> Path:
    from .checkpoints import diffusion_dir

    return diffusion_dir(models_dir, model_class, element_order) / "model.pt"


def load_shard_context(plan: CampaignPlan, models_dir: str | os.PathLike = DEFAULT_MODELS_DIR, device=None) -> ShardContext:
    """Load the engine and the optional models of a plan (once per worker)."""
    from .data import sha256_of_file
    from .pipeline import load_engine
    from .run import RunModels, load_run_models

    engine = load_engine(plan.model_class, models_dir, device, plan.settings.element_order)
    if plan.properties or plan.map:
        models = load_run_models(models_dir, plan.model_class, with_map=plan.map)
        if not plan.properties:
            models.property_models = None
    else:
        models = RunModels()
    checkpoint = checkpoint_file(models_dir, plan.model_class, plan.settings.element_order)
    return ShardContext(plan, engine, models, sha256_of_file(checkpoint))


def run_shard(context: ShardContext, shard: Shard):
    """Sample, screen and score one shard through the engine; returns its Arrow table
    (candidate schema + :data:`RUN_COLUMNS`, shard record in the metadata)."""
    from .run import run_generation

    start = time.perf_counter()
    settings = shard_settings(context.plan, shard)
    record = run_generation(context.engine, settings, context.models, keep_partial=False)
    table = record.table.copy()
    if "scale_factor" in table.columns:
        table["scale_factor"] = pd.array(table["scale_factor"], dtype="Int64")
    run_values = {
        "shard_id": shard.shard_id, "seed": shard.seed, "batch": shard.batch, "sampling_seed": shard.sampling_seed,
        "steps": context.plan.steps, "checkpoint_sha256": context.checkpoint_sha256,
    }
    for column, value in run_values.items():
        table[column] = [value] * len(table)
    table[ELEMENT_SYSTEM_COLUMN] = [element_system(formula) for formula in table["formula"]]
    shard_record = {
        **asdict(shard),
        "state": "done",
        "rows": len(table),
        "raw": record.raw_samples,
        "stages": {s.stage: s.remaining for s in record.engine_stages or []},
        "seconds": round(time.perf_counter() - start, 4),
        "finished_at": time.time(),
        "node": platform.node(),
        "pid": os.getpid(),
    }
    return shard_arrow_table(table, shard_record)


# ---------------------------------------------------------------------------------------
# The campaign folder and its manifest
# ---------------------------------------------------------------------------------------


def software_versions() -> dict[str, str]:
    """Versions recorded in the manifest."""
    from importlib import metadata

    versions = {"python": platform.python_version()}
    for package in ("superdiff", "torch", "numpy", "pandas", "pyarrow", "ray", "duckdb"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            pass
    return versions


@dataclass
class Campaign:
    """An opened campaign folder: its plan, its shards and which are finished.

    Attributes:
        folder: the campaign folder.
        plan: the plan (from the manifest when resuming).
        shards: every shard, in plan order.
        manifest: the manifest as a dict (written by :meth:`save_manifest`).
    """

    folder: Path
    plan: CampaignPlan
    shards: list[Shard]
    manifest: dict[str, Any] = field(default_factory=dict)

    @property
    def records(self) -> dict[str, dict[str, Any]]:
        return self.manifest.setdefault("shards", {})

    def done_ids(self) -> set[str]:
        return {shard_id for shard_id, record in self.records.items() if record.get("state") == "done"}

    def pending(self) -> list[Shard]:
        done = self.done_ids()
        return [shard for shard in self.shards if shard.shard_id not in done]

    def mark_done(self, record: Mapping[str, Any]) -> None:
        self.records[record["shard_id"]] = dict(record)

    def save_manifest(self) -> None:
        self.manifest["updated_at"] = time.time()
        write_json_atomically(self.folder / MANIFEST_FILE, self.manifest)


def _check_writable_folder(folder: Path) -> None:
    try:
        (folder / SHARDS_DIR).mkdir(parents=True, exist_ok=True)
        with atomic_path(folder / ".write-check") as probe:
            probe.write_text("ok")
        (folder / ".write-check").unlink()
    except OSError as error:
        raise InputError(f"cannot write campaign folder {folder}: {error.strerror or error}") from None


def remove_temporary_files(folder: Path) -> int:
    """Remove half-written shard files (a killed run's temporaries); returns how many."""
    removed = 0
    for path in (folder / SHARDS_DIR).glob(".*.tmp*"):
        path.unlink(missing_ok=True)
        removed += 1
    return removed


def read_manifest(folder: str | os.PathLike) -> dict[str, Any]:
    """The manifest of a campaign folder (InputError when the folder holds none)."""
    path = Path(folder) / MANIFEST_FILE
    if not path.is_file():
        raise InputError(f"{folder} is not a campaign folder (no {MANIFEST_FILE})")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise InputError(f"cannot read {path}: {error}") from None


def plan_from_manifest(manifest: Mapping[str, Any]) -> CampaignPlan:
    return plan_from_mapping(manifest["plan"])


def plan_validity_check(plan: Mapping[str, Any]) -> str:
    """The validity check of a manifest's plan (a plan from before the registry: its
    ``mixed_valence`` flag's check)."""
    return plan_from_mapping(plan).settings.screening.validity_check


def plan_differences(stored: Any, given: Any, width: int = 40, prefix: str = "") -> str:
    """The keys in which two plans differ (nested settings as ``settings.steps``), with both
    values cut to ``width`` characters: ``"settings.samples: 2000 there, 500 given"``."""

    def short(value: object) -> str:
        text = repr(list(value) if isinstance(value, tuple) else value)
        return text if len(text) <= width else text[: width - 1] + "…"

    parts = []
    for item in fields(stored):
        a, b = getattr(stored, item.name), getattr(given, item.name)
        if a == b:
            continue
        if is_dataclass(a) and type(a) is type(b):
            parts.append(plan_differences(a, b, width, f"{prefix}{item.name}."))
        else:
            parts.append(f"{prefix}{item.name}: {short(a)} there, {short(b)} given")
    return "; ".join(parts)


def open_campaign(folder: str | os.PathLike, plan: CampaignPlan | None = None) -> Campaign:
    """Create or resume a campaign folder.

    With a ``plan`` on a folder that already holds a campaign, the plans must agree (else
    InputError). Without one, the folder's own plan is used. Half-written shard files are
    removed; the manifest's shard states are reconciled with the finished files (a file is
    the proof a shard is done; a record without its file is rerun).
    """
    folder = Path(folder)
    manifest_path = folder / MANIFEST_FILE
    if manifest_path.is_file():
        manifest = read_manifest(folder)
        stored = plan_from_manifest(manifest)
        if plan is not None and plan != stored:
            raise InputError(f"{folder} holds a campaign with a different plan ({plan_differences(stored, plan)}); "
                             f"give a new --out folder (or the same plan to resume)")
        plan = stored
    elif plan is None:
        raise InputError(f"{folder} is not a campaign folder (no {MANIFEST_FILE}); give --plan or --model to start one")
    else:
        manifest = {"format": MANIFEST_FORMAT, "plan": plan.to_dict(), "created_at": time.time()}
    _check_writable_folder(folder)
    remove_temporary_files(folder)
    shards = expand_shards(plan)
    campaign = Campaign(folder, plan, shards, manifest)
    reconcile(campaign)
    manifest["shard_count"] = len(shards)
    manifest["versions"] = software_versions()
    campaign.save_manifest()
    return campaign


def reconcile(campaign: Campaign) -> None:
    """Make the manifest's states agree with the shard files on disk."""
    on_disk = {path.stem: path for path in finished_shard_files(campaign.folder)}
    known = {shard.shard_id for shard in campaign.shards}
    for shard_id, record in list(campaign.records.items()):
        if record.get("state") == "done" and shard_id not in on_disk:
            campaign.records[shard_id] = {**record, "state": "pending"}
    for shard_id, path in on_disk.items():
        if shard_id not in known:
            continue
        if campaign.records.get(shard_id, {}).get("state") != "done":
            record = read_shard_record(path)
            if record is None:  # unreadable: rerun it
                path.unlink(missing_ok=True)
                continue
            campaign.mark_done(record)


# ---------------------------------------------------------------------------------------
# Progress
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CampaignProgress:
    """Where a campaign stands.

    Attributes:
        shards_done, shards_total: finished shards and all shards.
        candidates: rows in the finished shards.
        raw_samples: samples drawn by the finished shards.
        candidates_per_second, shards_per_second: over the latest session's finished shards
            (NaN when fewer than two finished in it).
        seconds_left: estimated wall time to finish (NaN when unknown, 0 when done).
        running: a run is recorded as running and wrote the manifest within
            :data:`RUNNING_STALE_S` (a killed driver leaves "running" behind).
    """

    shards_done: int
    shards_total: int
    candidates: int
    raw_samples: int
    candidates_per_second: float
    shards_per_second: float
    seconds_left: float
    running: bool

    @property
    def fraction(self) -> float:
        return self.shards_done / self.shards_total if self.shards_total else 1.0


def campaign_progress(folder: str | os.PathLike, now: float | None = None) -> CampaignProgress:
    """Progress of a campaign folder from its shard files (works while a run writes)."""
    folder = Path(folder)
    manifest = read_manifest(folder)
    total = int(manifest.get("shard_count") or len(expand_shards(plan_from_manifest(manifest))))
    records = {}
    for path in finished_shard_files(folder):
        record = manifest.get("shards", {}).get(path.stem)
        if record is None or record.get("state") != "done":
            record = read_shard_record(path)
        if record is not None:
            records[path.stem] = record
    now = time.time() if now is None else now
    session_start = float(manifest.get("session_started_at", manifest.get("created_at", now)))
    session = sorted(r["finished_at"] for r in records.values() if r.get("finished_at", 0) >= session_start)
    session_rows = sum(r["rows"] for r in records.values() if r.get("finished_at", 0) >= session_start)
    elapsed = (session[-1] - session_start) if session else 0.0
    shard_rate = len(session) / elapsed if session and elapsed > 0 else float("nan")
    candidate_rate = session_rows / elapsed if session and elapsed > 0 else float("nan")
    left = total - len(records)
    seconds_left = 0.0 if left == 0 else (left / shard_rate if shard_rate == shard_rate and shard_rate > 0 else float("nan"))
    running = left > 0 and now - float(manifest.get("updated_at", 0)) < RUNNING_STALE_S and manifest.get("state") == "running"
    return CampaignProgress(
        len(records), total, sum(r["rows"] for r in records.values()), sum(r.get("raw", 0) for r in records.values()),
        candidate_rate, shard_rate, seconds_left, running,
    )


def engine_stage_totals(records: Iterable[Mapping[str, Any]], by: str | None = None) -> pd.DataFrame:
    """The engine funnel (raw … novel) summed over shard records, optionally per ``by``
    (``reference`` or ``scale_factor``): one row per group, one column per stage."""
    rows = []
    for record in records:
        row = {stage: count for stage, count in record.get("stages", {}).items()}
        row["reference"], row["scale_factor"] = record.get("reference", ""), record.get("scale_factor")
        rows.append(row)
    stages = [s for s in ("raw", "non-negative", "element count", "unique", "novel", "SMACT-valid")]
    if not rows:
        return pd.DataFrame(columns=([by] if by else []) + stages)
    frame = pd.DataFrame(rows)
    for stage in stages:
        if stage not in frame.columns:
            frame[stage] = 0
    if by is None:
        return frame[stages].sum().to_frame().T.astype(np.int64)
    return frame.groupby(by, dropna=False)[stages].sum().reset_index()


def shard_records(folder: str | os.PathLike) -> list[dict[str, Any]]:
    """The records of the finished shards (manifest, else each file's own metadata)."""
    folder = Path(folder)
    manifest = read_manifest(folder)
    out = []
    for path in finished_shard_files(folder):
        record = manifest.get("shards", {}).get(path.stem)
        if record is None or record.get("state") != "done":
            record = read_shard_record(path)
        if record is not None:
            out.append(record)
    return out
