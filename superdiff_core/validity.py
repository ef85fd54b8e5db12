"""The validity checks a run can apply, in one registry, and their verdicts for a batch.

Each check is a charge-balance test of :mod:`superdiff_core.smact_check` with its own
oxidation-state table and tolerance; each writes its own boolean column, and the chosen
(default) check's verdict also goes to :data:`VALID_COLUMN` (``smact_valid``, the column every
filter, funnel and query reads). The figures in each check's
help text are measured by ``benchmarks/bench_validity.py`` (``benchmarks/validity.md``):
share of real SuperCon superconductors kept, share of random-cation oxides made from them
kept, and COD transition-metal oxides.

Batches are cached by composition (the same formula is checked once per process), bounded
per formula (``timeout_s``) and per run (``run_budget_s``: formulas still unchecked when it
is spent are ``"timeout"``), and spread over processes when a batch has many distinct
compositions.
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .errors import InputError
from .smact_check import (
    DEFAULT_TIMEOUT_SECONDS,
    ICSD24_COMMONALITY_PERCENT,
    OxidationTable,
    SmactStatus,
    charge_balance_status,
    rows_as_amounts,
)

VALID_COLUMN = "smact_valid"
"""Column holding the verdict of the run's chosen check (the default unless the user picks another).
Tables written before the registry held the paper's (integer) verdict here."""

STATUS_COLUMN = "smact_status"
"""Column holding the chosen check's status: valid, invalid or timeout."""

DEFAULT_RUN_BUDGET_S = 120.0
"""Wall-clock bound on the validity checks of one run (seconds)."""

PARALLEL_MIN_FORMULAS = 20000
"""Distinct uncached compositions from which a batch is spread over processes: at about 0.5 ms per
formula and check, below this the start of the worker processes (seconds) costs more than it saves."""

_CHUNK = 500  # compositions per worker task


@dataclass(frozen=True)
class ValidityCheck:
    """One validity check: how it is computed and how it is shown.

    Attributes:
        name: registry key (settings JSON, CLI ``--validity``).
        column: boolean column it writes.
        label: short name for tables and menus ("valid (<label>)" in a funnel).
        help: one paragraph for a chemist, with the measured figures.
        table, mixed_valence, deviation, min_share_percent, intermetallic: the arguments of
            :func:`~superdiff_core.smact_check.charge_balance_status`.
    """

    name: str
    column: str
    label: str
    help: str
    table: OxidationTable
    mixed_valence: bool = False
    deviation: float = 0.0
    min_share_percent: float = ICSD24_COMMONALITY_PERCENT
    intermetallic: bool = False

    def status(self, amounts: dict[str, float], timeout_s: float, deadline: float | None = None) -> SmactStatus:
        """This check's verdict on one ``{symbol: amount}`` composition."""
        return charge_balance_status(amounts, table=self.table, mixed_valence=self.mixed_valence, deviation=self.deviation,
                                     min_share_percent=self.min_share_percent, intermetallic=self.intermetallic, timeout_s=timeout_s,
                                     deadline=deadline)


VALIDITY_CHECKS: dict[str, ValidityCheck] = {
    check.name: check
    for check in (
        ValidityCheck(
            "integer", "smact_valid_integer", "paper's SMACT",
            "The paper's check: the amounts as a whole-number ratio, one oxidation state per element from SMACT's "
            "2014 table (smact14), exact charge neutrality, cations less electronegative than anions. Keeps "
            "46 % of SuperCon cuprates (61 % of pnictides, 67 % of others) but also 53 % of random-cation cuprate oxides: "
            "it rejects real cuprates as often as random ones (their oxygen amounts are rarely a whole-number balance).",
            "smact14",
        ),
        ValidityCheck(
            "mixed_valence", "smact_valid_mixed_valence", "mixed-valence SMACT",
            "The paper's check, but an element such as Cu or Fe may split its atoms between two oxidation states "
            "(Cu2+/Cu3+), which is what doping does. Keeps 99 % of SuperCon cuprates but also 88 % of random-cation "
            "cuprate oxides (84 % of random-cation transition-metal oxides from COD): it hardly tells real from random.",
            "smact14", mixed_valence=True,
        ),
        ValidityCheck(
            "bounded", "smact_valid_bounded", "bounded charge balance",
            "One common oxidation state per element (those an element shows in at least 10 % of its ICSD-2024 "
            "reports), cations less electronegative than anions, the charge allowed to miss neutrality by at most "
            "0.5 per atom of a mixed-valence cation (Cu, Fe, Mn, ...: a Cu2.3+ average); compounds without N, O, P, S, "
            "As, Se, Te or a halogen (alloys, borides, carbides, silicides) are not judged by charge balance. Keeps "
            "83 % of SuperCon superconductors (88 % of cuprates, 66 % of pnictides, 80 % of others) and 86 % of COD "
            "transition-metal oxides, against 29 % of random-cation cuprate oxides and 33 % of random-cation COD ones.",
            "icsd24_common", deviation=0.5, intermetallic=True,
        ),
    )
}
"""The checks by name, in display order."""

DEFAULT_VALIDITY_CHECK = "bounded"
"""The check a run applies unless told otherwise: the largest real-vs-random margin among the checks
that keep >= 80 % of real superconductors (benchmarks/validity.md)."""

PAPER_VALIDITY_CHECK = "integer"
"""The paper's check (Table 1 reports it beside the default)."""

MIXED_VALENCE_FLAG_CHECKS: dict[bool, str] = {True: "mixed_valence", False: PAPER_VALIDITY_CHECK}
"""The check the old boolean ``mixed_valence`` setting meant (settings files and campaign plans
written before this registry; ``--mixed-valence``)."""


def get_validity_check(name: str) -> ValidityCheck:
    """The registered check ``name``; InputError (one line) for an unknown name."""
    try:
        return VALIDITY_CHECKS[name]
    except KeyError:
        raise InputError(f"unknown validity check {name!r}: choose one of {', '.join(VALIDITY_CHECKS)}") from None


def validity_names(checks: Iterable[str]) -> list[str]:
    """The named checks in registry order (names not registered are left out)."""
    wanted = set(checks)
    return [name for name in VALIDITY_CHECKS if name in wanted]


def validity_columns_for(checks: Iterable[str]) -> list[str]:
    """The boolean columns the named checks write (in registry order)."""
    return [VALIDITY_CHECKS[name].column for name in validity_names(checks)]


CHECK_COLUMNS: tuple[str, ...] = tuple(validity_columns_for(VALIDITY_CHECKS))
"""Every check's own boolean column, in registry order."""


# ---------------------------------------------------------------------------------------
# Batches: cache by composition, time bounds, processes
# ---------------------------------------------------------------------------------------

_CACHE: dict[tuple[ValidityCheck, tuple[tuple[str, float], ...]], SmactStatus] = {}
_CACHE_LIMIT = 1 << 20


def _key(amounts: dict[str, float]) -> tuple[tuple[str, float], ...]:
    return tuple(sorted(amounts.items()))


def _statuses_here(check: ValidityCheck, compositions: list[tuple[tuple[str, float], ...]], timeout_s: float,
                   wall_deadline: float) -> list[SmactStatus]:
    """Verdicts in this process; ``wall_deadline`` is a ``time.time()`` value (shared across processes)."""
    deadline = time.monotonic() + (wall_deadline - time.time())
    return [check.status(dict(composition), timeout_s, deadline) if time.monotonic() < deadline else "timeout"
            for composition in compositions]


def _statuses_parallel(check: ValidityCheck, compositions: list, timeout_s: float, wall_deadline: float, workers: int) -> list[SmactStatus]:
    chunks = [compositions[i:i + _CHUNK] for i in range(0, len(compositions), _CHUNK)]
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        futures = [pool.submit(_statuses_here, check, chunk, timeout_s, wall_deadline) for chunk in chunks]
        return [status for future in futures for status in future.result()]


def default_workers() -> int:
    """Processes for big batches: all cores but one (at least 1)."""
    return max(1, (os.cpu_count() or 1) - 1)


def validity_statuses(
    vectors: np.ndarray,
    checks: Sequence[str | ValidityCheck] = (DEFAULT_VALIDITY_CHECK,),
    *,
    timeout_s: float = DEFAULT_TIMEOUT_SECONDS,
    run_budget_s: float = DEFAULT_RUN_BUDGET_S,
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, np.ndarray]:
    """Status (``"valid"``, ``"invalid"``, ``"timeout"``) of every row for each named check.

    Args:
        vectors: amounts, shape (n, 96); rows with no positive amount are ``"invalid"``.
        checks: names from :data:`VALIDITY_CHECKS` (or checks themselves, e.g. variants measured
            by a benchmark); only these are computed.
        timeout_s: bound per formula and check (seconds).
        run_budget_s: bound on the whole call (seconds); rows not reached are ``"timeout"``.
        workers: processes for batches of >= :data:`PARALLEL_MIN_FORMULAS` uncached
            compositions (None: :func:`default_workers`; 1: this process only).
        progress: ``progress(done, total)`` over the checks.

    Returns:
        ``{check name: object array of shape (n,)}``.
    """
    resolved = {check.name: check for check in (c if isinstance(c, ValidityCheck) else get_validity_check(c) for c in checks)}
    wall_deadline = time.time() + run_budget_s
    keys = [_key(amounts) for amounts in rows_as_amounts(vectors)]
    workers = default_workers() if workers is None else max(1, workers)
    result: dict[str, np.ndarray] = {}
    for done, (name, check) in enumerate(resolved.items()):
        todo = list(dict.fromkeys(k for k in keys if (check, k) not in _CACHE and k))
        if workers > 1 and len(todo) >= PARALLEL_MIN_FORMULAS:
            statuses = _statuses_parallel(check, todo, timeout_s, wall_deadline, workers)
        else:
            statuses = _statuses_here(check, todo, timeout_s, wall_deadline)
        fresh = dict(zip(todo, statuses))
        if len(_CACHE) > _CACHE_LIMIT:
            _CACHE.clear()
        _CACHE.update({(check, k): s for k, s in fresh.items() if s != "timeout"})
        result[name] = np.array([fresh.get(k) or _CACHE.get((check, k), "invalid") for k in keys], dtype=object)
        if progress is not None:
            progress(done + 1, len(resolved))
    return result


def validity_columns(
    vectors: np.ndarray,
    checks: Sequence[str] = (DEFAULT_VALIDITY_CHECK,),
    chosen: str = DEFAULT_VALIDITY_CHECK,
    **bounds,
) -> pd.DataFrame:
    """The validity columns of a run, one row per vector.

    Args:
        vectors: amounts, shape (n, 96).
        checks: the checks whose own columns the run shows (``chosen`` is always computed).
        chosen: the check the run applies: its verdict also goes to :data:`VALID_COLUMN` and
            its status to :data:`STATUS_COLUMN`.
        bounds: ``timeout_s``, ``run_budget_s``, ``workers``, ``progress`` of :func:`validity_statuses`.

    Returns:
        :func:`validity_frame` of the statuses.
    """
    names = list(dict.fromkeys([chosen, *checks]))
    return validity_frame(validity_statuses(vectors, names, **bounds), chosen, checks)


def validity_frame(statuses: Mapping[str, np.ndarray], chosen: str, checks: Iterable[str]) -> pd.DataFrame:
    """The validity columns from statuses already computed (:func:`validity_statuses`'
    result, holding ``chosen`` and every name of ``checks``).

    Returns:
        Columns :data:`VALID_COLUMN` (nullable boolean: NA for a timeout), :data:`STATUS_COLUMN`
        and the boolean column of each check in ``checks`` (False for a timeout), in registry order.
    """
    chosen_status = np.asarray(statuses[chosen], dtype=object)
    columns = {
        VALID_COLUMN: pd.array([None if s == "timeout" else s == "valid" for s in chosen_status], dtype="boolean"),
        STATUS_COLUMN: chosen_status.astype(str),
    }
    for name in validity_names(checks):
        columns[VALIDITY_CHECKS[name].column] = np.asarray(statuses[name], dtype=object) == "valid"
    return pd.DataFrame(columns, index=pd.RangeIndex(len(chosen_status)))
