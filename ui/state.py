"""Session state of the app: one place for its keys and the stored runs.

Each page keeps its last run in ``st.session_state`` under its own key, so results stay
when the user moves to another page and back, and never leak between sessions (session
state is per browser tab; only the loaded models are shared, see :mod:`ui.resources`).
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import streamlit as st

from superdiff_core.run import RunRecord

RUN_KINDS: dict[str, str] = {"generate": "Generate", "explore": "Explore the model", "screen": "Screen formulas"}
"""Pages that keep a run, and how they are named to the user."""


def _run_key(kind: str) -> str:
    if kind not in RUN_KINDS:
        raise KeyError(f"unknown run kind {kind!r}")
    return f"run:{kind}"


def save_run(record: RunRecord) -> None:
    """Keep ``record`` as its page's latest run (replacing the previous one)."""
    st.session_state[_run_key(record.kind)] = record


def get_run(kind: str) -> RunRecord | None:
    """The page's latest run, or None."""
    return st.session_state.get(_run_key(kind))


def save_run_group(kind: str, records: Sequence[RunRecord]) -> None:
    """Keep the records of one run as the page's latest: several when its references
    ran each on their own class model (the first becomes :func:`get_run`'s record)."""
    save_run(records[0])
    st.session_state[f"run_group:{kind}"] = tuple(records)


def get_run_group(kind: str) -> tuple[RunRecord, ...]:
    """Every record of the page's latest run (one per model class it ran on); empty
    when the page has no run."""
    record = get_run(kind)
    if record is None:
        return ()
    group = st.session_state.get(f"run_group:{kind}", ())
    return group if group and group[0] is record else (record,)


def stored_runs() -> dict[str, RunRecord]:
    """Every page's latest run, by kind (only those that exist)."""
    runs = {kind: get_run(kind) for kind in RUN_KINDS}
    return {kind: run for kind, run in runs.items() if run is not None}


def init_defaults(defaults: Mapping[str, Any]) -> None:
    """Give widget keys their first value once per session (widgets are then created
    with ``key`` only, so the Session State API and the widget never disagree)."""
    for key, value in defaults.items():
        st.session_state.setdefault(key, value)


def flag(key: str) -> bool:
    """Read and clear a one-shot flag set by a callback (e.g. "the run was stopped")."""
    return bool(st.session_state.pop(key, False))


def set_flag(key: str, value: Any = True) -> None:
    st.session_state[key] = value


# ---------------------------------------------------------------------------------------
# Runs in progress and the history of finished runs
# ---------------------------------------------------------------------------------------

HISTORY_KEY = "run_history"
HISTORY_LIMIT = 10
"""Finished runs the session keeps to reopen and compare (oldest dropped first)."""


def get_active(kind: str):
    """The page's run in progress (a :class:`ui.runs.ActiveRun`), or None."""
    return st.session_state.get(f"active:{kind}")


def set_active(kind: str, active) -> None:
    st.session_state[f"active:{kind}"] = active


def clear_active(kind: str) -> None:
    st.session_state.pop(f"active:{kind}", None)


@dataclass
class HistoryEntry:
    """One finished run of the session: its record and when it finished (UTC)."""

    number: int
    record: RunRecord
    finished_at: datetime.datetime
    group: tuple[RunRecord, ...] = ()

    @property
    def records(self) -> tuple[RunRecord, ...]:
        """Every record of the run: one per model class when its references ran each on
        their own class model (the first is :attr:`record`), else just :attr:`record`."""
        return self.group or (self.record,)

    @property
    def label(self) -> str:
        """e.g. ``#3 14:05:10 Generate: pnictides BaFe2As2 N 2–4, 150 samples × 50 steps, unguided,
        resampling 5×2, 41 candidates (partial)``."""
        records = self.records
        what = " + ".join(_what_ran(record) for record in records)
        settings = self.record.settings
        if settings is not None:
            what += f", {settings.samples:,} samples × {settings.steps} steps{_how_steered(settings)}"
        partial = " (partial)" if any(record.partial for record in records) else ""
        return (
            f"#{self.number} {self.finished_at:%H:%M:%S} {RUN_KINDS.get(self.record.kind, self.record.kind)}: {what}, "
            f"{sum(len(record.table) for record in records):,} candidates{partial}"
        )


def _how_steered(settings) -> str:
    """``, guided tc=1`` and, with references, ``, resampling 5×2`` or ``, no resampling``:
    what tells a guided run from an unguided one of the same references."""
    text = f", guided {settings.guidance.to_text()}" if settings.guidance.active else ", unguided"
    if settings.references and settings.resample_steps is not None:
        text += f", resampling {settings.resample_steps}×{settings.resample_count}" if settings.resample_steps else ", no resampling"
    return text


def _what_ran(record: RunRecord) -> str:
    """``pnictides BaFe2As2 N 2–4``: a record's class, references and scale factors."""
    settings, what = record.settings, record.model_class
    if settings is not None and settings.references:
        n = settings.scale_factors
        references = ", ".join(settings.reference_texts)
        what += f" {references} N {n[0]}–{n[-1]}" if len(n) > 1 else f" {references} N {n[0]}"
    return what


def history() -> list[HistoryEntry]:
    """The session's finished runs, oldest first (at most :data:`HISTORY_LIMIT`)."""
    return st.session_state.setdefault(HISTORY_KEY, [])


def add_to_history(record: RunRecord, group: Sequence[RunRecord] = ()) -> HistoryEntry:
    """Append ``record`` (with the other records of its run, ``group``, when it ran one
    model per class) to the history, dropping the oldest beyond the limit."""
    entries = history()
    number = entries[-1].number + 1 if entries else 1
    entry = HistoryEntry(number, record, datetime.datetime.now(datetime.timezone.utc), tuple(group) if len(group) > 1 else ())
    entries.append(entry)
    del entries[:-HISTORY_LIMIT]
    return entry
