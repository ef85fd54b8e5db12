"""Durations as people read them, shared by the CLI and the app."""

from __future__ import annotations

import math


def format_seconds(seconds: float) -> str:
    """``"4.2 s"``, ``"1 min 05 s"``, ``"2 h 05 min"`` (from one hour on); ``"–"`` when unknown."""
    if not math.isfinite(seconds) or seconds < 0:
        return "–"
    if seconds < 60:
        return f"{seconds:.1f} s"
    if seconds >= 3600:
        hours, minutes = divmod(int(round(seconds / 60)), 60)
        return f"{hours} h {minutes:02d} min"
    minutes, rest = divmod(int(round(seconds)), 60)
    return f"{minutes} min {rest:02d} s"
