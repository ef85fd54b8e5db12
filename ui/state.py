"""Session state of the app: one place for its keys and the stored runs.

Each page keeps its last run in ``st.session_state`` under its own key, so results stay
when the user moves to another page and back, and never leak between sessions (session
state is per browser tab; only the loaded models are shared, see :mod:`ui.resources`).
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
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

    @property
    def label(self) -> str:
        """e.g. ``#3 14:05 generate pnictides BaFe2As2 N 2–4, 150 samples, 41 candidates (partial)``."""
        settings = self.record.settings
        what = self.record.model_class
        if settings is not None:
            if settings.references:
                n = settings.scale_factors
                what += f" {', '.join(settings.references)} N {n[0]}–{n[-1]}" if len(n) > 1 else f" {', '.join(settings.references)} N {n[0]}"
            what += f", {settings.samples:,} samples × {settings.steps} steps"
        partial = " (partial)" if self.record.partial else ""
        return (
            f"#{self.number} {self.finished_at:%H:%M:%S} {RUN_KINDS.get(self.record.kind, self.record.kind)}: {what}, "
            f"{len(self.record.table):,} candidates{partial}"
        )


def history() -> list[HistoryEntry]:
    """The session's finished runs, oldest first (at most :data:`HISTORY_LIMIT`)."""
    return st.session_state.setdefault(HISTORY_KEY, [])


def add_to_history(record: RunRecord) -> HistoryEntry:
    """Append ``record`` to the history (dropping the oldest beyond the limit)."""
    entries = history()
    number = entries[-1].number + 1 if entries else 1
    entry = HistoryEntry(number, record, datetime.datetime.now(datetime.timezone.utc))
    entries.append(entry)
    del entries[:-HISTORY_LIMIT]
    return entry
