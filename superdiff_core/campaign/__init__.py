"""Campaigns: many (reference, N, seed) generation runs split into shards, stored as a
folder of Parquet files that a rerun resumes.

What lives where:

- :mod:`~superdiff_core.campaign.plan` — :class:`CampaignPlan` (from a TOML file, flags or
  a manifest), its :class:`Shard`\\ s and each shard's engine settings;
- :mod:`~superdiff_core.campaign.shard` — one shard run through the engine
  (:func:`run_shard`, models loaded once per worker in a :class:`ShardContext`), its Arrow
  table and the record in its metadata, the engine funnel summed over records;
- :mod:`~superdiff_core.campaign.store` — the campaign folder: layout, manifest, create or
  resume (:func:`open_campaign`), shard files, progress (:func:`campaign_progress`);
- :mod:`~superdiff_core.campaign.runner` — running the pending shards on Ray (imports Ray
  only when it runs);
- :mod:`~superdiff_core.campaign.queries` — DuckDB over the Parquet files: funnels, top
  candidates, families, the ``campaign report`` files (imports DuckDB only when it opens).

This package re-exports the names of plan, shard and store; import the runner and the
queries from their modules. Importing it imports neither torch, scikit-learn nor Ray, so
``superdiff campaign status`` and ``report`` start fast.
"""

from __future__ import annotations

from .plan import (
    CampaignPlan,
    Shard,
    expand_shards,
    plan_differences,
    plan_from_mapping,
    read_plan,
    references_from_file,
    shard_settings,
)
from .shard import (
    ELEMENT_SYSTEM_COLUMN,
    RUN_COLUMNS,
    ShardContext,
    engine_stage_totals,
    load_shard_context,
    run_shard,
    shard_arrow_table,
    shard_record_of,
)
from .store import (
    MANIFEST_FILE,
    REPORT_DIR,
    SHARDS_DIR,
    Campaign,
    CampaignProgress,
    campaign_progress,
    finished_shard_files,
    open_campaign,
    plan_validity_check,
    read_manifest,
    reconcile,
    remove_temporary_files,
    shard_records,
    write_shard,
)

__all__ = [
    "ELEMENT_SYSTEM_COLUMN",
    "MANIFEST_FILE",
    "REPORT_DIR",
    "RUN_COLUMNS",
    "SHARDS_DIR",
    "Campaign",
    "CampaignPlan",
    "CampaignProgress",
    "Shard",
    "ShardContext",
    "campaign_progress",
    "engine_stage_totals",
    "expand_shards",
    "finished_shard_files",
    "load_shard_context",
    "open_campaign",
    "plan_differences",
    "plan_from_mapping",
    "plan_validity_check",
    "read_manifest",
    "read_plan",
    "reconcile",
    "references_from_file",
    "remove_temporary_files",
    "run_shard",
    "shard_arrow_table",
    "shard_record_of",
    "shard_records",
    "shard_settings",
    "write_shard",
]
