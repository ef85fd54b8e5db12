"""Small formatting helpers of the pages: durations, progress lines, slider values."""

from __future__ import annotations

import math
from collections.abc import Sequence


def format_seconds(seconds: float) -> str:
    """``"4.2 s"``, ``"1 min 05 s"``, ``"2 h 05 min"`` (from one hour on)."""
    if not math.isfinite(seconds) or seconds < 0:
        return "–"
    if seconds < 60:
        return f"{seconds:.1f} s"
    if seconds >= 3600:
        hours, minutes = divmod(int(round(seconds / 60)), 60)
        return f"{hours} h {minutes:02d} min"
    minutes, rest = divmod(int(round(seconds)), 60)
    return f"{minutes} min {rest:02d} s"


def progress_text(done: int, total: int, elapsed: float) -> str:
    """The live progress line: steps done, elapsed time and a rough time left."""
    if total <= 0:
        return f"Starting… {format_seconds(elapsed)} elapsed"
    text = f"Sampling: step {done:,} of {total:,} · {format_seconds(elapsed)} elapsed"
    if 0 < done < total:
        text += f" · about {format_seconds(elapsed * (total - done) / done)} left"
    return text


def scale_factor_tuple(bounds: Sequence[int]) -> tuple[int, ...]:
    """The N values of a range slider's (low, high) bounds, inclusive."""
    low, high = int(min(bounds)), int(max(bounds))
    return tuple(range(low, high + 1))
