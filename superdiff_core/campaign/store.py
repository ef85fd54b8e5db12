"""A campaign folder: its layout, its manifest, resume, and progress.

Layout of a campaign folder::

    campaign.json               manifest: plan, versions, checkpoint sha256, shard states
    shards/<shard_id>.parquet   one file per finished shard (written atomically)
    report/                     ``superdiff campaign report`` output

A shard counts as finished when its Parquet file exists (the manifest is a record of it,
reconciled from the files' own metadata on resume, :func:`reconcile`), so a run killed at
any moment loses at most the shards in flight: temporary files are removed and their
shards rerun, finished ones are skipped, nothing is duplicated. :func:`open_campaign`
creates or resumes a folder; :func:`campaign_progress` reads where it stands (while a run
writes, too).
"""

from __future__ import annotations

import json
import os
import platform
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..artifacts import atomic_path, write_json_atomically
from ..errors import InputError
from ..settings import with_recorded_defaults
from .plan import CampaignPlan, Shard, expand_shards, plan_differences, plan_from_mapping
from .shard import read_shard_record, shard_record_of

MANIFEST_FILE = "campaign.json"
SHARDS_DIR = "shards"
REPORT_DIR = "report"
MANIFEST_FORMAT = 1

RUNNING_STALE_S = 900.0
"""A campaign whose manifest says running but has not been written for this long (no
shard finished) is shown as stopped."""


# ---------------------------------------------------------------------------------------
# Shard files in the folder
# ---------------------------------------------------------------------------------------


def shard_path(folder: str | os.PathLike, shard_id: str) -> Path:
    """Where a shard's Parquet file lives in a campaign folder."""
    return Path(folder) / SHARDS_DIR / f"{shard_id}.parquet"


def write_shard(folder: str | os.PathLike, arrow_table) -> Path:
    """Write a shard's Arrow table to ``shards/<shard_id>.parquet`` atomically."""
    import pyarrow.parquet as pq

    path = shard_path(folder, shard_record_of(arrow_table)["shard_id"])
    with atomic_path(path) as temporary:
        pq.write_table(arrow_table, temporary, compression="zstd")
    return path


def finished_shard_files(folder: str | os.PathLike) -> list[Path]:
    """The finished shard files of a campaign folder (temporary files excluded), sorted."""
    return sorted((Path(folder) / SHARDS_DIR).glob("r*.parquet"))


def finished_records(folder: str | os.PathLike, manifest: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Shard id → record of each finished shard file: the manifest's record when it says
    done, else the file's own metadata (a run still writing, or a manifest behind its files);
    unreadable files are left out."""
    records = {}
    for path in finished_shard_files(folder):
        record = manifest.get("shards", {}).get(path.stem)
        if record is None or record.get("state") != "done":
            record = read_shard_record(path)
        if record is not None:
            records[path.stem] = record
    return records


def shard_records(folder: str | os.PathLike) -> list[dict[str, Any]]:
    """The records of the finished shards, in shard-id order (see :func:`finished_records`)."""
    return list(finished_records(folder, read_manifest(folder)).values())


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
    """The plan a manifest records."""
    return _recorded_plan(manifest["plan"])


def plan_validity_check(plan: Mapping[str, Any]) -> str:
    """The validity check of a manifest's plan (a plan from before the registry: its
    ``mixed_valence`` flag's check)."""
    return _recorded_plan(plan).settings.screening.validity_check


def _recorded_plan(plan: Mapping[str, Any]) -> CampaignPlan:
    """A manifest's plan mapping as a plan; one written before a setting existed reads as it ran
    (:func:`~superdiff_core.settings.with_recorded_defaults`)."""
    return plan_from_mapping(with_recorded_defaults(plan))


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
    records = finished_records(folder, manifest)
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
