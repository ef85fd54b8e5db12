"""What the Models page shows of a model card: Table-1 rows and facts by dotted path."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import pandas as pd

TABLE_1_ROWS: tuple[tuple[str, str, str, str], ...] = (
    ("novel %", "novel_percent", "novel_percent", "%"),
    ("unique %", "unique_percent", "unique_percent", "%"),
    ("valid (SMACT) per 1,000 samples", "valid_per_1000", "valid_per_1000", ""),
    ("predicted superconductors %", "predicted_sc_percent", "predicted_sc_percent", "%"),
    ("mean predicted Tc (K)", "tc_mean_kelvin", "tc_mean_kelvin", "K"),
    ("max predicted Tc (K)", "tc_max_kelvin", "tc_max_kelvin", "K"),
)
"""(label, key in our metrics, key in the published row, unit)."""


def table_1_frame(metrics: Mapping) -> pd.DataFrame:
    """Our Table-1 metrics next to the published row (missing values blank)."""
    published = metrics.get("published", {})
    rows = []
    for label, ours_key, published_key, _unit in TABLE_1_ROWS:
        ours = metrics.get(ours_key)
        ours = None if ours is None or (isinstance(ours, float) and math.isnan(ours)) else round(float(ours), 2)
        reference = published.get(published_key)
        rows.append({"metric": label, "this run": ours, "published (500,000 samples)": reference})
    return pd.DataFrame(rows, columns=["metric", "this run", "published (500,000 samples)"])


def card_value(card: Mapping, path: str, default=None):
    """A nested value of a model card by dotted path (``"training.best_epoch"``), or
    ``default`` when any part is missing."""
    value = card
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return default
        value = value[part]
    return value


def facts_frame(card: Mapping, rows: Sequence[tuple[str, str]]) -> pd.DataFrame:
    """A two-column table (what, value) of the card values at the given dotted paths;
    missing values are left out. Numbers keep up to 4 significant decimals."""
    records = []
    for label, path in rows:
        value = card_value(card, path)
        if value is None or value == "":
            continue
        if isinstance(value, float):
            value = f"{value:.4g}"
        elif isinstance(value, (list, tuple)):
            value = ", ".join(map(str, value))
        elif isinstance(value, Mapping):
            value = "; ".join(f"{key}: {item}" for key, item in value.items())
        elif isinstance(value, bool):
            value = "yes" if value else "no"
        records.append({"what": label, "value": str(value)})
    return pd.DataFrame(records, columns=["what", "value"])
