"""Small formatting helpers of the pages: progress lines, slider values (durations:
:func:`superdiff_core.durations.format_seconds`, re-exported here)."""

from __future__ import annotations

from collections.abc import Sequence

from superdiff_core.durations import format_seconds


def progress_text(done: int, total: int, elapsed: float, left: float | None = None) -> str:
    """The live progress line: steps done, elapsed time and the time left (``left`` seconds
    when the caller knows it, else extrapolated from the elapsed time)."""
    if total <= 0:
        return f"Starting… {format_seconds(elapsed)} elapsed"
    text = f"Sampling: step {done:,} of {total:,} · {format_seconds(elapsed)} elapsed"
    if 0 < done < total:
        text += f" · about {format_seconds(elapsed * (total - done) / done if left is None else left)} left"
    return text


def scale_factor_tuple(bounds: Sequence[int]) -> tuple[int, ...]:
    """The N values of a range slider's (low, high) bounds, inclusive."""
    low, high = int(min(bounds)), int(max(bounds))
    return tuple(range(low, high + 1))
