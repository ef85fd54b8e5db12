"""A campaign's shards as data: running one shard through the engine, its Arrow/Parquet
table and its record.

Each shard's rows are exactly the rows ``generate`` would give for the same work: the
candidate schema of :mod:`superdiff_core.results` plus the run columns :data:`RUN_COLUMNS`
and :data:`ELEMENT_SYSTEM_COLUMN`. Column types are fixed (so empty and full shards share one
schema), and the shard's record (rows, raw samples, engine stages, time, node) travels in
the table's schema metadata under :data:`SHARD_METADATA_KEY`, so a Parquet file is its own
proof that the shard finished. Where the files live is :mod:`superdiff_core.campaign.store`'s
business.
"""

from __future__ import annotations

import json
import os
import platform
import time
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..artifacts import DEFAULT_MODELS_DIR
from ..composition import element_system
from ..results import DIFFUSION_SOURCE, SOURCE_COLUMN, ordered_columns
from ..validity import CHECK_COLUMNS, VALID_COLUMN
from .plan import CampaignPlan, Shard, shard_settings

SHARD_METADATA_KEY = b"superdiff.shard"
"""Key of the shard record (JSON) in each Parquet file's schema metadata."""

RUN_COLUMNS: tuple[str, ...] = ("shard_id", "seed", "batch", "sampling_seed", "steps", "checkpoint_sha256")
"""Columns every campaign row carries beside the candidate schema."""

ELEMENT_SYSTEM_COLUMN = "element_system"
"""A derived column of every campaign row: the formula's element system
(:func:`superdiff_core.composition.element_system`, alphabetical like pymatgen's
``chemical_system``: ``BaFe2As2`` → ``As-Ba-Fe``), the key of the report's families
(computed per shard, so the report on millions of rows only groups)."""

STRING_COLUMNS = ("formula", "model_class", "reference", "smact_status", "nearest_known_formula", "cluster_name",
                  "family_id", "family_formula", "note", "property_note", "shard_id", "checkpoint_sha256", ELEMENT_SYSTEM_COLUMN,
                  SOURCE_COLUMN)
BOOLEAN_COLUMNS = (VALID_COLUMN, *CHECK_COLUMNS, "novel", "is_superconductor", "outside_training_domain",
                   "is_new_family")
INTEGER_COLUMNS = ("scale_factor", "n_elements", "known_close_count", "cluster", "seed", "batch", "sampling_seed", "steps")


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


def read_shard_record(path: Path) -> dict[str, Any] | None:
    """The shard record stored in a Parquet file's metadata (None if unreadable)."""
    import pyarrow.parquet as pq

    try:
        metadata = pq.read_schema(path).metadata or {}
        return json.loads(metadata[SHARD_METADATA_KEY])
    except (OSError, KeyError, ValueError):
        return None


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
    """The diffusion checkpoint of a class and element order (its sha256 is recorded with every row)."""
    from ..checkpoints import diffusion_dir

    return diffusion_dir(models_dir, model_class, element_order) / "model.pt"


def load_shard_context(plan: CampaignPlan, models_dir: str | os.PathLike = DEFAULT_MODELS_DIR, device=None) -> ShardContext:
    """Load the engine and the optional models of a plan (once per worker)."""
    from ..data import sha256_of_file
    from ..pipeline import load_engine
    from ..run import RunModels, load_run_models

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
    """Sample (or, for a baseline shard, substitute), screen and score one shard through the
    engine; returns its Arrow table (candidate schema + :data:`RUN_COLUMNS` + ``source``,
    shard record in the metadata)."""
    from ..pipeline import generate_baseline
    from ..run import complete_generation, run_generation

    start = time.perf_counter()
    settings = shard_settings(context.plan, shard)
    if shard.source == DIFFUSION_SOURCE:
        record = run_generation(context.engine, settings, context.models, keep_partial=False)
    else:
        record = complete_generation(generate_baseline(context.engine, settings, shard.samples), context.models)
    table = record.table.copy()
    table[SOURCE_COLUMN] = shard.source
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


def engine_stage_totals(records: Iterable[Mapping[str, Any]], by: str | list[str] | None = None) -> pd.DataFrame:
    """The engine funnel (raw … novel) summed over shard records, optionally per ``by``
    (``reference``, ``scale_factor`` or ``source``, or a list of them): one row per group, one
    column per stage. Records written before campaigns drew baselines have no source: diffusion."""
    rows = []
    for record in records:
        row = {stage: count for stage, count in record.get("stages", {}).items()}
        row["reference"], row["scale_factor"] = record.get("reference", ""), record.get("scale_factor")
        row[SOURCE_COLUMN] = record.get("source", DIFFUSION_SOURCE)
        rows.append(row)
    stages = [s for s in ("raw", "non-negative", "element count", "unique", "novel", "SMACT-valid")]
    keys = [by] if isinstance(by, str) else list(by or [])
    if not rows:
        return pd.DataFrame(columns=keys + stages)
    frame = pd.DataFrame(rows)
    for stage in stages:
        if stage not in frame.columns:
            frame[stage] = 0
    if by is None:
        return frame[stages].sum().to_frame().T.astype(np.int64)
    return frame.groupby(keys, dropna=False)[stages].sum().reset_index()
