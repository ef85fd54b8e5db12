"""Session state of the app: one place for its keys and the stored runs.

Each page keeps its last run in ``st.session_state`` under its own key, so results stay
when the user moves to another page and back, and never leak between sessions (session
state is per browser tab; only the loaded models are shared, see :mod:`ui.resources`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import streamlit as st

from .runs import RunRecord

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


def clear_run(kind: str) -> None:
    st.session_state.pop(_run_key(kind), None)


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
