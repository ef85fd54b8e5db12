"""A page's run: the time estimate and confirmation before Start, the run in a worker
process (:mod:`superdiff_core.run_worker`) with its live progress and Stop, and storing its
record once it is done.

What the page estimates is what runs: the plan (:mod:`superdiff_core.run_plan`) gives the
network calls of the settings the worker will run, times the cost of one call measured on
this machine for the same class and guide.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence

import streamlit as st

from superdiff_core import run_plan
from superdiff_core.composition import ParsedFormula
from superdiff_core.errors import SuperDiffError
from superdiff_core.run_worker import RunRequest
from superdiff_core.sampler import SamplingCancelled
from superdiff_core.settings import GenerationSettings

from . import formatting, resources, state
from .runs import ActiveRun, RunProgress

LOGGER = logging.getLogger(__name__)

POLL_SECONDS = 1.0
"""How often the progress line is redrawn while a run works. The sampling runs in a worker
process, so a redraw no longer takes the interpreter from it (in a thread of the server, a
0.25 s redraw made a default run 5× slower); once a second is enough to watch it move."""

CONFIRM_SECONDS = 180.0
"""Estimated runs longer than this ask for a confirmation before they start."""

MEASURE_TIMEOUT_S = 120.0
"""Longest the page waits for a worker to load a class and time one tiny call (the first
estimate of a class in a server's life)."""


def show_unexpected(error: BaseException, what: str) -> None:
    """One line for the user, the traceback for the server log."""
    LOGGER.error("unexpected error while %s", what, exc_info=error)
    st.error(f"Something went wrong while {what} ({type(error).__name__}: {error}). Details are in the server log.")


# ---------------------------------------------------------------------------------------
# Before Start: the estimate
# ---------------------------------------------------------------------------------------


def _as_list(settings: GenerationSettings | Sequence[GenerationSettings]) -> list[GenerationSettings]:
    return [settings] if isinstance(settings, GenerationSettings) else list(settings)


def call_cost(settings: GenerationSettings) -> run_plan.CallCost | None:
    """The measured cost of a network call for ``settings``'s class and guide (a worker loads
    the class and times two tiny calls the first time, and again every few minutes)."""
    pool = resources.run_pool()
    folder = str(resources.models_dir())
    cost = pool.call_cost(folder, settings)
    if cost is None:
        with st.spinner("Measuring the sampling speed of this machine…", show_time=True):
            cost = pool.call_cost(folder, settings, timeout=MEASURE_TIMEOUT_S)
    return cost


def estimated_seconds(settings: GenerationSettings | Sequence[GenerationSettings]) -> float | None:
    """Sampling seconds of ``settings`` (one, or one per class it runs), or None when the
    cost could not be measured (a model is missing or the settings are out of range)."""
    try:
        resolved = [one.resolved() for one in _as_list(settings)]
    except SuperDiffError:
        return None
    return run_plan.estimated_seconds(resolved, call_cost)


def cost_and_confirm(settings: GenerationSettings | Sequence[GenerationSettings], key: str) -> bool:
    """Show the estimated time before Start; above :data:`CONFIRM_SECONDS` ask for a
    confirmation. Returns whether the run may start."""
    seconds = estimated_seconds(settings)
    if seconds is None:
        return True
    calls = sum(run_plan.network_calls(one.resolved()) for one in _as_list(settings))
    st.caption(
        f"Estimated time: **about {formatting.format_seconds(seconds)}** of sampling and screening "
        f"({calls:,} sample-steps, priced batch by batch at the speed measured on this machine for this model "
        "and guidance; "
        "scoring and the map add a little)."
    )
    if seconds <= CONFIRM_SECONDS:
        return True
    return st.checkbox(
        f"Yes, run for about {formatting.format_seconds(seconds)}", key=f"{key}_confirm",
        help="Long runs ask first: fewer samples, steps, N values or references make it shorter.",
    )


def clear_confirmation(key: str) -> None:
    """Callback of the Start button: a confirmation holds for one run only (the next long
    run asks again, with its own estimate); :func:`confirmed_by_click` says whether this
    click was confirmed."""
    st.session_state[f"{key}_confirmed_click"] = bool(st.session_state.pop(f"{key}_confirm", False))


def confirmed_by_click(key: str) -> bool:
    """Whether the last click of Start came with the confirmation ticked (read once)."""
    return state.flag(f"{key}_confirmed_click")


# ---------------------------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------------------------


def start_run(kind: str, settings: GenerationSettings, groups: Mapping[str, Sequence[ParsedFormula]] | None = None) -> bool:
    """Start a generation in a worker process (it keeps going while the user looks at other
    pages); :func:`show_active_run` shows its progress and stores its record once finished.
    With ``groups`` of several classes (:func:`superdiff_core.run.references_by_class`) each
    class's references run on that class's own model, one record per class. Returns False
    (after a message) when it cannot start."""
    groups = dict(groups) if groups and len(groups) > 1 else {}
    planned = run_plan.per_class_settings(settings, groups)
    try:
        resolved = [one.resolved() for one in planned]
    except SuperDiffError as error:
        st.error(str(error))
        return False
    missing = [one.model_class for one in resolved if one.model_class not in resources.trained_classes()]
    if missing:
        st.error(f"The {', '.join(missing)} model is not trained yet: there is no checkpoint under {resources.models_dir()}.")
        return False
    progress, cancel = RunProgress(), threading.Event()
    progress.estimate = estimated_seconds(resolved)
    request = RunRequest(str(resources.models_dir()), settings, groups, kind)
    handle = resources.run_pool().submit(request, progress.update, cancel)
    state.set_active(kind, ActiveRun(kind, settings, sum(run_plan.plan_size(one) for one in resolved), handle, progress, cancel, planned))
    return True


def run_in_progress(kind: str) -> bool:
    """Whether the page's run is still working."""
    active = state.get_active(kind)
    return active is not None and not active.background.finished


def show_active_run(kind: str, key: str) -> None:
    """Progress of the page's run (redrawn every :data:`POLL_SECONDS`), with a Stop button;
    once finished, store its record (and add it to the history)."""
    active = state.get_active(kind)
    if active is None:
        return
    if active.background.finished:
        _collect(kind, active)
        return
    _progress_fragment(kind, key)


@st.fragment(run_every=POLL_SECONDS)
def _progress_fragment(kind: str, key: str) -> None:
    active = state.get_active(kind)
    if active is None or active.background.finished:
        st.rerun(scope="app")
        return
    with st.container(border=True):
        stopping = active.cancel.is_set()
        text = "Stopping after the current step…" if stopping else progress_line(active)
        st.progress(_fraction(active.progress), text=text)
        st.caption(
            f"{active.runs} sampling run(s). The run keeps going while you look at other pages; its results "
            "appear here when it is done."
        )
        st.button(
            "Stop", key=f"{key}_stop", icon=":material/stop_circle:", on_click=active.stop, disabled=stopping,
            help="Stops the run at its next step and keeps the candidates of the batches already finished.",
        )


NOTHING_KEPT = "The run was stopped before its first batch of samples finished; nothing of it was kept."


def _collect(kind: str, active: ActiveRun) -> None:
    state.clear_active(kind)
    previous = " The results below are those of the previous run." if state.get_run(kind) is not None else ""
    try:
        result = active.background.result()
    except SamplingCancelled:
        st.warning(NOTHING_KEPT + previous)
        return
    except SuperDiffError as error:
        st.error(str(error))
        return
    except Exception as error:  # anything else: one line for the user, traceback in the log
        show_unexpected(error, "generating")
        return
    records = list(result) if isinstance(result, list) else [result]
    if not any(record.raw_samples for record in records):  # stopped before any batch finished
        st.warning(NOTHING_KEPT + previous)
        return
    ran = {record.model_class for record in records}
    for skipped in (one for one in active.planned if one.model_class not in ran):
        records[-1].notes.append(
            f"The run was stopped before the {skipped.model_class} model ran ({', '.join(skipped.reference_texts)}): "
            "nothing of it was kept."
        )
    state.save_run_group(kind, records)
    state.add_to_history(records[0], records)


def _fraction(progress: RunProgress) -> float:
    return min(1.0, progress.done / progress.total) if progress.total else 0.0


def progress_line(active: ActiveRun) -> str:
    """The live progress line: waiting for a worker, or the steps with the time left (from
    the speed since the first step, else the estimate)."""
    progress = active.progress
    if getattr(active.background, "waiting", False) and not progress.total:
        return f"Starting: loading the model, or waiting for a free worker… {formatting.format_seconds(progress.elapsed)} elapsed"
    return formatting.progress_text(progress.done, progress.total, progress.elapsed, progress.seconds_left())
