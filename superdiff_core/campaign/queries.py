"""Queries over a campaign's Parquet files with DuckDB: funnels, top candidates,
families, filtered tables and the ``campaign report`` files.

Nothing is loaded into pandas whole: DuckDB scans ``shards/r*.parquet`` (only finished
files, so queries work while a campaign runs) and only aggregates or the requested rows
come back. Duplicates are removed at query time: a formula drawn by several shards counts
once, at its first shard (in shard-id order), and a formula already in SuperCon (the
committed ``supercon/supercon.npz``, in the candidates' own formula notation) is flagged
``in_supercon``.

Views of a connection from :func:`open_queries`:

- ``candidates``: every row of every finished shard, with ``source`` (``diffusion`` in
  shards written before campaigns drew a substitution baseline);
- ``unique_candidates``: one row per formula across the campaign, plus ``in_supercon`` and
  ``found_by`` (every source that drew the formula: ``diffusion+substitution`` says plain ion
  substitution finds it too);
- ``unique_by_source``: one row per (source, formula), at the formula's first shard of that
  source: what each source found, for the diffusion-vs-substitution comparison.
"""

from __future__ import annotations

import functools
import os
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..artifacts import DEFAULT_MODELS_DIR, atomic_path, write_text_atomically
from ..candidate_filter import CandidateFilter
from ..errors import InputError
from ..funnel import Thresholds
from ..results import DIFFUSION_SOURCE, SOURCE_COLUMN, SUBSTITUTION_SOURCE
from ..validity import DEFAULT_VALIDITY_CHECK, VALID_COLUMN, VALIDITY_CHECKS
from .shard import ELEMENT_SYSTEM_COLUMN, engine_stage_totals
from .store import REPORT_DIR, SHARDS_DIR, finished_shard_files, plan_validity_check, read_manifest, shard_records

DEFAULT_MEMORY_LIMIT = "1GB"
"""DuckDB's memory cap for campaign queries (it spills to disk beyond it)."""

ENGINE_STAGES = ("raw", "element count", "unique", "novel", "SMACT-valid")
"""Engine stages reported per group (``element count`` is "passed the basic filters")."""


MEMORY_LIMIT_PATTERN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(b|kb|mb|gb|tb|kib|mib|gib|tib)\s*$", re.IGNORECASE)
"""What ``--memory-limit`` accepts: a number and a unit, as DuckDB reads it (``500MB``, ``1.5GB``, ``2GiB``)."""


def check_memory_limit(text: str) -> str:
    """``text`` as DuckDB's ``memory_limit`` (e.g. ``"1GB"``), or InputError with one line.

    >>> check_memory_limit("2 gb")
    '2GB'
    """
    match = MEMORY_LIMIT_PATTERN.match(str(text))
    if match is None or float(match.group(1)) <= 0:
        raise InputError(f"memory limit must be a positive size such as 500MB, 1GB or 2GiB, got {text!r}")
    return f"{match.group(1)}{match.group(2).upper().replace('I', 'i')}"


def _sql_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def supercon_formulas(models_dir: str | os.PathLike = DEFAULT_MODELS_DIR) -> tuple[str, ...]:
    """SuperCon's compounds written as candidates are (amounts rounded to 0.01); computed
    once per models folder and process."""
    return _supercon_formulas(str(Path(models_dir).resolve()))


@functools.lru_cache(maxsize=4)
def _supercon_formulas(models_dir: str) -> tuple[str, ...]:
    from ..composition import vectors_to_formulas
    from ..data import load_training_set

    vectors = np.round(load_training_set(models_dir).vectors, 2)
    return tuple(sorted(set(vectors_to_formulas(vectors))))


@dataclass
class CampaignQueries:
    """A DuckDB connection with the campaign's views.

    Attributes:
        connection: the DuckDB connection (in memory; reads the Parquet files in place).
        folder: the campaign folder.
        columns: the candidate columns present (empty when no shard has finished).
        validity_check: the plan's validity check (whose verdict the funnel and filters count).
    """

    connection: Any
    folder: Path
    columns: list[str] = field(default_factory=list)
    validity_check: str = DEFAULT_VALIDITY_CHECK

    @property
    def has_rows(self) -> bool:
        return bool(self.columns)

    @property
    def valid_sql(self) -> str | None:
        """SQL of each row's verdict by the plan's check (None: no shard has one): the check's own
        column, else ``smact_valid`` (shards written before the checks had their own columns held
        the integer verdict there, the check of their plans unless ``mixed_valence`` was set, whose
        own column they have)."""
        own = VALIDITY_CHECKS[self.validity_check].column
        present = [column for column in (own, VALID_COLUMN) if column in self.columns]
        return f"coalesce({', '.join(present)})" if present else None

    def frame(self, sql: str, parameters: Sequence[Any] | None = None) -> pd.DataFrame:
        """A (small) query result as a DataFrame."""
        return self.connection.execute(sql, parameters or []).fetchdf()

    def scalar(self, sql: str, parameters: Sequence[Any] | None = None) -> Any:
        return self.connection.execute(sql, parameters or []).fetchone()[0]

    def check_column(self, column: str) -> str:
        """``column`` quoted for SQL, or InputError naming the columns there are."""
        if column not in self.columns:
            raise InputError(f"unknown column {column!r}; the campaign has: {', '.join(self.columns)}")
        return '"' + column + '"'

    def close(self) -> None:
        self.connection.close()


def open_queries(
    folder: str | os.PathLike,
    models_dir: str | os.PathLike = DEFAULT_MODELS_DIR,
    *,
    memory_limit: str = DEFAULT_MEMORY_LIMIT,
    threads: int | None = None,
    materialize: bool = False,
) -> CampaignQueries:
    """Open a campaign folder for queries.

    Args:
        folder: the campaign folder (InputError when it is not one).
        models_dir: where ``supercon/supercon.npz`` is.
        memory_limit: DuckDB's memory cap, e.g. ``"1GB"``.
        threads: DuckDB threads (default: DuckDB's choice).
        materialize: compute ``unique_candidates`` once, as a table (a report runs several
            queries over it); False keeps it a view, so every query sees the latest shards.
    """
    import duckdb
    import pyarrow as pa

    folder = Path(folder)
    validity_check = plan_validity_check(read_manifest(folder)["plan"])
    connection = duckdb.connect()
    connection.execute(f"SET memory_limit = {_sql_string(check_memory_limit(memory_limit))}")
    connection.execute("SET preserve_insertion_order = false")
    if threads:
        connection.execute(f"SET threads = {int(threads)}")
    supercon = pa.table({"formula": list(supercon_formulas(models_dir))})
    connection.register("supercon_arrow", supercon)
    connection.execute("CREATE TEMP TABLE supercon AS SELECT DISTINCT formula FROM supercon_arrow")
    queries = CampaignQueries(connection, folder, validity_check=validity_check)
    if not finished_shard_files(folder):
        return queries
    pattern = _sql_string(str(folder.resolve() / SHARDS_DIR / "r*.parquet"))
    connection.execute(f"CREATE TEMP VIEW shard_rows AS SELECT * FROM read_parquet({pattern}, union_by_name = true)")
    stored = [row[0] for row in connection.execute("DESCRIBE shard_rows").fetchall()]
    diffusion = _sql_string(DIFFUSION_SOURCE)
    source = (f"* REPLACE (coalesce({SOURCE_COLUMN}, {diffusion}) AS {SOURCE_COLUMN})" if SOURCE_COLUMN in stored
              else f"*, {diffusion} AS {SOURCE_COLUMN}")
    connection.execute(f"CREATE TEMP VIEW candidates AS SELECT {source} FROM shard_rows")
    kind = "TABLE" if materialize else "VIEW"
    in_supercon = "c.formula IN (SELECT formula FROM supercon) AS in_supercon"
    connection.execute(
        f"CREATE TEMP {kind} unique_candidates AS "
        f"SELECT c.*, {in_supercon}, f.found_by FROM candidates c "
        f"JOIN (SELECT formula, min(shard_id) AS shard_id, "
        f"string_agg(DISTINCT {SOURCE_COLUMN}, '+' ORDER BY {SOURCE_COLUMN}) AS found_by FROM candidates GROUP BY formula) f "
        "ON c.formula = f.formula AND c.shard_id = f.shard_id"
    )
    connection.execute(
        f"CREATE TEMP VIEW unique_by_source AS "
        f"SELECT c.*, {in_supercon} FROM candidates c "
        f"SEMI JOIN (SELECT {SOURCE_COLUMN}, formula, min(shard_id) AS shard_id FROM candidates GROUP BY {SOURCE_COLUMN}, formula) f "
        f"ON c.{SOURCE_COLUMN} = f.{SOURCE_COLUMN} AND c.formula = f.formula AND c.shard_id = f.shard_id"
    )
    queries.columns = [row[0] for row in connection.execute("DESCRIBE candidates").fetchall()]
    return queries


# ---------------------------------------------------------------------------------------
# Funnels
# ---------------------------------------------------------------------------------------


def funnel_stage_sql(queries: CampaignQueries, thresholds: Thresholds) -> list[tuple[str, str]]:
    """The funnel stages computed from the unique candidates, as (label, cumulative SQL
    condition); a stage whose column is missing (no property models) is left out, and so
    are the stages after it. ``SMACT-valid`` counts the verdict of the plan's check
    (:attr:`CampaignQueries.valid_sql`)."""
    stages = [("campaign-unique", "TRUE"), ("not in SuperCon", "NOT in_supercon")]

    def test(column: str, sql: str) -> str | None:
        return sql if column in queries.columns else None

    optional = [
        ("SMACT-valid", queries.valid_sql),
        ("predicted superconductor", test("is_superconductor", "is_superconductor")),
        (f"Tc > {thresholds.tc_min_kelvin:g} K", test("tc_kelvin", f"coalesce(tc_kelvin > {float(thresholds.tc_min_kelvin)!r}, FALSE)")),
        (f"E_f < {thresholds.formation_max_ev:g} eV/atom", test("formation_energy_ev_per_atom",
         f"coalesce(formation_energy_ev_per_atom < {float(thresholds.formation_max_ev)!r}, FALSE)")),
    ]
    condition = "NOT in_supercon"
    for label, sql in optional:
        if sql is None:
            break
        condition = f"{condition} AND coalesce({sql}, FALSE)"
        stages.append((label, condition))
    return stages


GROUPS = {"reference": "reference", "scale_factor": "N", SOURCE_COLUMN: SOURCE_COLUMN}
"""Groupings of the funnel: column → label."""


def campaign_funnel(queries: CampaignQueries, by: str | None = None, thresholds: Thresholds = Thresholds(),
                    folder_records: list[dict[str, Any]] | None = None) -> pd.DataFrame:
    """The funnel of the whole campaign (``by`` None) or per ``reference``, ``scale_factor``
    or ``source``.

    Columns: the group (if any); the engine stages summed over shards (``raw``, ``basic
    filters``, ``unique in shard``, ``novel in shard``: what the shards' screening kept); then
    ``candidates`` (rows) and the campaign-wide stages of :func:`funnel_stage_sql` (each
    formula counted once, at its first shard; per source, once per source, so a formula both
    sources drew counts for each). Per N counts the diffusion shards only (the baseline has no N).
    """
    if by is not None and by not in GROUPS:
        raise InputError(f"funnel groups by {' or '.join(GROUPS)}, not {by!r}")
    records = shard_records(queries.folder) if folder_records is None else folder_records
    where = ""
    if by == "scale_factor":  # N is diffusion's: baseline shards have none
        records = [record for record in records if record.get(SOURCE_COLUMN, DIFFUSION_SOURCE) == DIFFUSION_SOURCE]
        where = f" WHERE {SOURCE_COLUMN} = {_sql_string(DIFFUSION_SOURCE)}"
    engine = engine_stage_totals(records, by)
    engine = engine.rename(columns={"element count": "basic filters", "unique": "unique in shard", "novel": "novel in shard"})
    engine = engine.drop(columns=["non-negative", "SMACT-valid"], errors="ignore")
    if not queries.has_rows:
        return engine
    stages = funnel_stage_sql(queries, thresholds)
    counts = ", ".join(f"count(*) FILTER (WHERE {condition}) AS {_sql_string(label).replace(chr(39), chr(34))}"
                       for label, condition in stages)
    group = f"{by}, " if by else ""
    grouping = f"{where} GROUP BY {by}" if by else ""
    rows = queries.frame(f"SELECT {group}count(*) AS candidates FROM candidates{grouping}")
    view = "unique_by_source" if by in (SOURCE_COLUMN, "scale_factor") else "unique_candidates"
    unique = queries.frame(f"SELECT {group}{counts} FROM {view}{grouping}")
    if by is None:
        table = pd.concat([engine.reset_index(drop=True), rows, unique], axis=1)
    else:
        for frame in (engine, rows, unique):
            if by == "scale_factor":
                frame[by] = pd.array(frame[by], dtype="Int64")
            else:
                frame[by] = frame[by].astype(str)
        table = engine.merge(rows, on=by, how="outer").merge(unique, on=by, how="outer").sort_values(by)
    for column in table.columns:
        if column != by:
            table[column] = pd.array(table[column].fillna(0), dtype="Int64")
    return table.rename(columns={by: GROUPS[by]} if by else {}).reset_index(drop=True)


# ---------------------------------------------------------------------------------------
# Candidates, families
# ---------------------------------------------------------------------------------------


def filter_sql(queries: CampaignQueries, chosen: CandidateFilter) -> tuple[str, list[Any]]:
    """A WHERE clause (without the keyword) and its parameters."""
    conditions, parameters = ["TRUE"], []
    if chosen.references:
        conditions.append(f"reference IN ({', '.join('?' for _ in chosen.references)})")
        parameters.extend(chosen.references)
    if chosen.scale_factors:
        conditions.append(f"scale_factor IN ({', '.join('?' for _ in chosen.scale_factors)})")
        parameters.extend(int(n) for n in chosen.scale_factors)
    if chosen.new_only:
        conditions.append("NOT in_supercon")
    if chosen.smact_valid_only and queries.valid_sql:
        conditions.append(f"coalesce({queries.valid_sql}, FALSE)")
    if chosen.superconductor_only and "is_superconductor" in queries.columns:
        conditions.append("is_superconductor")
    if chosen.tc_min_kelvin is not None and "tc_kelvin" in queries.columns:
        conditions.append("tc_kelvin > ?")
        parameters.append(float(chosen.tc_min_kelvin))
    if chosen.formation_max_ev is not None and "formation_energy_ev_per_atom" in queries.columns:
        conditions.append("formation_energy_ev_per_atom < ?")
        parameters.append(float(chosen.formation_max_ev))
    if chosen.formula_contains:
        conditions.append("contains(formula, ?)")
        parameters.append(chosen.formula_contains)
    return " AND ".join(conditions), parameters


def count_candidates(queries: CampaignQueries, chosen: CandidateFilter = CandidateFilter()) -> int:
    """How many unique candidates pass ``chosen``."""
    if not queries.has_rows:
        return 0
    where, parameters = filter_sql(queries, chosen)
    return int(queries.scalar(f"SELECT count(*) FROM unique_candidates WHERE {where}", parameters))


def select_candidates(
    queries: CampaignQueries,
    chosen: CandidateFilter = CandidateFilter(),
    sort_by: str = "tc_kelvin",
    descending: bool = True,
    limit: int | None = 1000,
    per_element_system: int = 0,
) -> pd.DataFrame:
    """Unique candidates passing ``chosen``, sorted by any column (ties by formula), at
    most ``limit`` rows (None: all). With ``per_element_system`` > 0, only the first that many
    of each element system in that order, and a ``same_elements_in_run`` column counting the
    candidates passing ``chosen`` with exactly its elements (the shortlist's rule,
    :data:`superdiff_core.shortlist.MAX_PER_ELEMENT_SET`)."""
    if not queries.has_rows:
        return pd.DataFrame()
    column = queries.check_column(sort_by)
    where, parameters = filter_sql(queries, chosen)
    order = f"{column} {'DESC' if descending else 'ASC'} NULLS LAST, formula"
    sql = f"SELECT * FROM unique_candidates WHERE {where} ORDER BY {order}"
    if per_element_system:  # ranked on a narrow projection; only the kept rows are read whole
        limited = "" if limit is None else f" LIMIT {int(limit)}"
        narrow = "formula" if sort_by == "formula" else f"formula, {column}"
        sql = (f"WITH {system_keys_sql(queries, 'unique_candidates', where, narrow)}, "
               f"ranked AS (SELECT {narrow}, row_number() OVER (PARTITION BY element_system_key ORDER BY {order}) "
               f"AS place_in_system, count(*) OVER (PARTITION BY element_system_key) AS same_elements_in_run "
               f"FROM chosen JOIN systems USING (system_text)), "
               f"kept AS (SELECT formula, same_elements_in_run FROM ranked WHERE place_in_system <= {int(per_element_system)} "
               f"ORDER BY {order}{limited}) "
               f"SELECT unique_candidates.*, kept.same_elements_in_run FROM unique_candidates JOIN kept USING (formula) "
               f"ORDER BY {order}")
        return queries.frame(sql, parameters)
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    return queries.frame(sql, parameters)


def element_system_sql(text: str) -> str:
    """:func:`superdiff_core.composition.element_system` in DuckDB, of the SQL expression ``text``
    (a formula, or a stored element system). Applied to the stored column too: shards written
    before the key was alphabetical hold their elements in writing order (``Ba-Fe-As``), and
    sorting again leaves an alphabetical key as it is."""
    return f"array_to_string(list_sort(list_distinct(regexp_extract_all({text}, '[A-Z][a-z]?'))), '-')"


def system_keys_sql(queries: CampaignQueries, source: str, where: str = "TRUE", columns: str = "*") -> str:
    """Two SQL CTEs: ``chosen`` (``columns`` of the rows of ``source`` passing ``where``, with
    ``system_text``: the stored element system, or the formula where none is stored) and ``systems``
    (``system_text`` → ``element_system_key``, :func:`element_system_sql` computed once per distinct
    text, not once per row: millions of rows, few systems). Join them ``USING (system_text)``."""
    stored = ELEMENT_SYSTEM_COLUMN in queries.columns  # NULL in shards written before the column existed
    system_text = f"coalesce({ELEMENT_SYSTEM_COLUMN}, formula)" if stored else "formula"
    return (f"chosen AS (SELECT {columns}, {system_text} AS system_text FROM {source} WHERE {where}), "
            f"systems AS (SELECT system_text, {element_system_sql('system_text')} AS element_system_key "
            f"FROM (SELECT DISTINCT system_text FROM chosen))")


def campaign_families(queries: CampaignQueries, new_only: bool = True, limit: int = 100) -> pd.DataFrame:
    """Families across the whole campaign: unique candidates grouped by element system
    (and by the map's general formula when the campaign placed candidates on the map),
    largest first. Columns: element_system, [family_formula], candidates, references,
    scale_factors, best_formula, max/mean Tc (when scored)."""
    if not queries.has_rows:
        return pd.DataFrame()
    group = ["element_system_key"]
    if "family_formula" in queries.columns:
        group.append("family_formula")
    scored = "tc_kelvin" in queries.columns
    values = ["count(*) AS candidates", "count(DISTINCT reference) AS references",
              "string_agg(DISTINCT CAST(scale_factor AS VARCHAR), ' ' ORDER BY CAST(scale_factor AS VARCHAR)) AS scale_factors"]
    if scored:
        values += ["arg_max(formula, tc_kelvin) AS best_formula", "max(tc_kelvin) AS max_tc_kelvin", "avg(tc_kelvin) AS mean_tc_kelvin"]
    else:
        values.append("min(formula) AS best_formula")
    where = "NOT in_supercon" if new_only else "TRUE"
    families = queries.frame(
        f"WITH {system_keys_sql(queries, 'unique_candidates', where)} "
        f"SELECT {', '.join(group)}, {', '.join(values)} FROM chosen JOIN systems USING (system_text) "
        f"GROUP BY {', '.join(group)} ORDER BY candidates DESC, {', '.join(group)} LIMIT {int(limit)}"
    )
    return families.rename(columns={"element_system_key": "element_system"})


def source_comparison(queries: CampaignQueries, folder_records: list[dict[str, Any]] | None = None) -> pd.DataFrame:
    """Diffusion against the substitution baseline, per reference: one row per (reference,
    source), with the figures ``generate --baseline substitution`` shows for a run
    (:func:`superdiff_core.assessment.source_comparison`) over the whole campaign, each
    formula counted once per source, plus ``found_by_both`` (candidates the other source drew
    too). Empty when no shard drew a baseline.

    Columns: reference, source, drawn, candidates, candidates_per_100_drawn,
    new_element_systems (element systems no SuperCon compound has), found_by_both,
    plausible_extensions_percent, and with the property models predicted_superconductors_percent
    and median_tc_kelvin_of_those, with the known compounds median_distance_to_known.
    """
    records = shard_records(queries.folder) if folder_records is None else folder_records
    drawn = engine_stage_totals(records, ["reference", SOURCE_COLUMN])
    if not queries.has_rows or SUBSTITUTION_SOURCE not in set(drawn[SOURCE_COLUMN]):
        return pd.DataFrame()
    values = ["count(*) AS candidates",
              "count(DISTINCT element_system_key) FILTER (WHERE element_system_key NOT IN (SELECT element_system FROM known_systems)) "
              "AS new_element_systems",
              "count(*) FILTER (WHERE (reference, formula) IN (SELECT (reference, formula) FROM both_sources)) AS found_by_both"]
    if "plausible_substitution" in queries.columns:
        values.append("round(100 * avg(CAST(plausible_substitution AS DOUBLE)), 1) AS plausible_extensions_percent")
    if "is_superconductor" in queries.columns:
        values += ["round(100 * avg(CAST(coalesce(is_superconductor, FALSE) AS DOUBLE)), 1) AS predicted_superconductors_percent",
                   "round(median(tc_kelvin) FILTER (WHERE is_superconductor), 1) AS median_tc_kelvin_of_those"]
    if "distance_to_known" in queries.columns:
        values.append("round(median(distance_to_known), 4) AS median_distance_to_known")
    found = queries.frame(
        f"WITH known_systems AS (SELECT DISTINCT {element_system_sql('formula')} AS element_system FROM supercon), "
        f"{system_keys_sql(queries, 'unique_by_source')}, "
        f"both_sources AS (SELECT reference, formula FROM chosen GROUP BY reference, formula "
        f"HAVING count(DISTINCT {SOURCE_COLUMN}) > 1) "
        f"SELECT reference, {SOURCE_COLUMN}, {', '.join(values)} FROM chosen JOIN systems USING (system_text) "
        f"GROUP BY reference, {SOURCE_COLUMN}"
    )
    table = drawn[["reference", SOURCE_COLUMN, "raw"]].rename(columns={"raw": "drawn"}).astype({"reference": str})
    table = table.merge(found.astype({"reference": str}), on=["reference", SOURCE_COLUMN], how="left")
    for column in ("candidates", "new_element_systems", "found_by_both"):
        table[column] = pd.array(table[column].fillna(0), dtype="Int64")
    per_100 = 100.0 * table["candidates"].astype(float) / table["drawn"].where(table["drawn"] > 0)
    table.insert(table.columns.get_loc("candidates") + 1, "candidates_per_100_drawn", per_100.round(1))
    order = {source: rank for rank, source in enumerate((DIFFUSION_SOURCE, SUBSTITUTION_SOURCE))}
    table = table.sort_values(["reference", SOURCE_COLUMN], key=lambda c: c.map(order) if c.name == SOURCE_COLUMN else c)
    return table.reset_index(drop=True)


def export_candidates_csv(queries: CampaignQueries, path: str | os.PathLike, chosen: CandidateFilter = CandidateFilter()) -> int:
    """Write every unique candidate passing ``chosen`` to a CSV atomically, streamed by
    DuckDB in no particular order (no sort, no DataFrame: memory stays bounded); returns
    the number of rows."""
    if not queries.has_rows:
        write_text_atomically(path, "formula\n")
        return 0
    where, parameters = filter_sql(queries, chosen)
    with atomic_path(path) as temporary:
        queries.connection.execute(
            f"COPY (SELECT * FROM unique_candidates WHERE {where}) TO {_sql_string(str(temporary))} (HEADER, DELIMITER ',')",
            parameters,
        )
    return count_candidates(queries, chosen)


# ---------------------------------------------------------------------------------------
# The report
# ---------------------------------------------------------------------------------------


@dataclass
class CampaignReport:
    """What :func:`write_report` wrote and found.

    Attributes:
        files: name → path of each file written.
        totals: the whole-campaign funnel (one row).
        top: the top candidates.
        families: the largest families.
        seconds: time the queries took.
    """

    files: dict[str, Path]
    totals: pd.DataFrame
    top: pd.DataFrame
    families: pd.DataFrame
    seconds: float


def write_report(
    folder: str | os.PathLike,
    *,
    models_dir: str | os.PathLike = DEFAULT_MODELS_DIR,
    out: str | os.PathLike | None = None,
    top_by: str = "tc_kelvin",
    top: int = 50,
    ascending: bool = False,
    top_per_element_system: int | None = None,
    thresholds: Thresholds = Thresholds(),
    all_candidates: bool = False,
    memory_limit: str = DEFAULT_MEMORY_LIMIT,
) -> CampaignReport:
    """Write the report of a campaign folder to ``out`` (default ``<folder>/report/``):
    ``funnel.csv`` (whole campaign), ``funnel_by_reference.csv``, ``funnel_by_n.csv``,
    when the campaign drew the substitution baseline ``funnel_by_source.csv`` and
    ``diffusion_vs_substitution.csv`` (:func:`source_comparison`),
    ``top_candidates.csv`` (new unique candidates by ``top_by``, at most
    ``top_per_element_system`` of each element system: None for the shortlist's
    :data:`~superdiff_core.shortlist.MAX_PER_ELEMENT_SET`, 0 for no limit), ``families.csv``,
    ``summary.md`` and, with ``all_candidates``, ``candidates.csv`` (every new unique
    candidate, streamed)."""
    from ..shortlist import MAX_PER_ELEMENT_SET

    per_system = MAX_PER_ELEMENT_SET if top_per_element_system is None else top_per_element_system
    start = time.perf_counter()
    folder = Path(folder)
    out = Path(out) if out is not None else folder / REPORT_DIR
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise InputError(f"cannot write report folder {out}: {error.strerror or error}") from None
    queries = open_queries(folder, models_dir, memory_limit=memory_limit, materialize=True)
    try:
        if queries.has_rows:
            queries.check_column(top_by)
        records = shard_records(folder)
        totals = campaign_funnel(queries, None, thresholds, records)
        by_reference = campaign_funnel(queries, "reference", thresholds, records)
        by_n = campaign_funnel(queries, "scale_factor", thresholds, records)
        best = select_candidates(queries, CandidateFilter(new_only=True), top_by, not ascending, top, per_system)
        families = campaign_families(queries)
        comparison = source_comparison(queries, records)  # empty when no baseline was drawn
        by_source = campaign_funnel(queries, SOURCE_COLUMN, thresholds, records) if len(comparison) else None
        frames = [("funnel", totals), ("funnel_by_reference", by_reference), ("funnel_by_n", by_n)]
        if by_source is not None:
            frames += [("funnel_by_source", by_source), ("diffusion_vs_substitution", comparison)]
        files = {}
        for name, frame in [*frames, ("top_candidates", best), ("families", families)]:
            files[name] = write_text_atomically(out / f"{name}.csv", frame.to_csv(index=False))
        if all_candidates:
            files["candidates"] = out / "candidates.csv"
            export_candidates_csv(queries, files["candidates"], CandidateFilter(new_only=True))
        seconds = time.perf_counter() - start
        summary = summary_markdown(folder, totals, by_n, best, families, top_by, ascending, len(records), by_source, comparison,
                                   per_system)
        files["summary"] = write_text_atomically(out / "summary.md", summary)
    finally:
        queries.close()
    return CampaignReport(files, totals, best, families, seconds)


def _markdown_table(frame: pd.DataFrame, rows: int = 10) -> str:
    if frame.empty:
        return "(none)\n"
    frame = frame.head(rows)
    header = "| " + " | ".join(str(c) for c in frame.columns) + " |"
    rule = "|" + "---|" * len(frame.columns)
    lines = [header, rule]
    for values in frame.itertuples(index=False):
        lines.append("| " + " | ".join(f"{v:.3g}" if isinstance(v, float) else str(v) for v in values) + " |")
    return "\n".join(lines) + "\n"


def summary_markdown(folder: Path, totals: pd.DataFrame, by_n: pd.DataFrame, best: pd.DataFrame, families: pd.DataFrame,
                     top_by: str, ascending: bool, shards_done: int, by_source: pd.DataFrame | None = None,
                     comparison: pd.DataFrame | None = None, per_element_system: int = 0) -> str:
    """The short Markdown summary of a report."""
    manifest = read_manifest(folder)
    plan = manifest["plan"]
    total_shards = manifest.get("shard_count", "?")
    shown = [c for c in ("formula", "reference", "scale_factor", "found_by", top_by, "tc_kelvin", "formation_energy_ev_per_atom",
                         "same_elements_in_run", "shard_id") if c in best.columns]
    shown = list(dict.fromkeys(shown))
    per_system_note = (f"; at most {per_element_system} per element system, `same_elements_in_run` counting the rest"
                       if per_element_system else "")
    baseline = sources = ""
    if by_source is not None and comparison is not None:
        baseline = (
            f"- baseline: {plan.get('baseline')}, as many candidates per reference and seed as diffusion drew (samples × N), "
            "screened and scored the same way\n"
        )
        sources = (
            f"## Per source\n\n{_markdown_table(by_source)}\n"
            f"## Diffusion vs substitution, per reference\n\n"
            "Each formula counted once per source; `found_by_both`: drawn by the other source too; "
            "`new_element_systems`: element systems no SuperCon compound has.\n\n"
            f"{_markdown_table(comparison, rows=len(comparison))}\n"
        )
    return (
        f"# Campaign {folder.name}\n\n"
        f"- model: {plan['model_class']}; {len(plan['references'])} references × N {plan['scale_factors']} × "
        f"seeds {plan['seeds']} × {plan['samples']} samples, {plan['steps']} steps; validity check "
        f"{plan_validity_check(plan)} (the SMACT-valid stage)\n"
        f"{baseline}"
        f"- shards finished: {shards_done} / {total_shards}\n\n"
        f"## Funnel\n\n{_markdown_table(totals)}\n"
        f"## Per N\n\n{_markdown_table(by_n)}\n"
        f"{sources}"
        f"## Top candidates by {top_by} ({'ascending' if ascending else 'descending'}; new, unique{per_system_note})\n\n"
        f"{_markdown_table(best[shown] if shown else best)}\n"
        f"## Largest families (element systems)\n\n{_markdown_table(families)}"
    )
