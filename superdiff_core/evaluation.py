"""The paper's Table-1 metrics for a set of unconditional samples, next to the published row."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from .model_classes import get_model_class
from .pipeline import GenerationResult
from .validity import VALID_COLUMN

if TYPE_CHECKING:
    from .properties import PropertyModels


def evaluation_metrics(result: GenerationResult, property_models: PropertyModels | None = None) -> dict:
    """Table-1 metrics of an unconditional run (SMACT-invalid rows must have been dropped,
    the default). Adds the superconductivity figures when the property models scored the
    candidates (``sc_probability`` present in the table) and are given (for rho)."""
    counts = {stage.stage: stage.remaining for stage in result.stages}
    valid = counts["SMACT-valid"]
    metrics = {
        "model_class": result.settings.model_class,
        "steps": result.settings.steps,
        "method": result.settings.method,
        "seed": result.settings.seed,
        "raw_samples": result.raw_samples,
        "passed_basic_filters": counts["element count"],
        "passed_basic_filters_percent": round(100.0 * counts["element count"] / result.raw_samples, 2),
        "unique_percent": _rounded(result.unique_percent),
        "novel_percent": _rounded(result.novel_percent),
        "smact_valid": valid,
        "valid_per_1000": round(1000.0 * valid / result.raw_samples, 1),
    }
    if "sc_probability" in result.table.columns and property_models is not None:
        from .properties import superconductivity_summary

        valid_rows = result.table[result.table[VALID_COLUMN].astype("boolean").fillna(False).to_numpy(dtype=bool)]
        metrics.update(superconductivity_summary(valid_rows, property_models))
    metrics["published"] = dict(get_model_class(result.settings.model_class).published_table_1)
    return metrics


def _rounded(value: float) -> float | None:
    return None if math.isnan(value) else round(value, 2)


def metrics_table(metrics: dict) -> str:
    """Ours next to the published row, as aligned text."""
    published = metrics.get("published", {})
    lines = [f"{'metric':<30} {'ours':>12} {'published':>12}"]
    for key, value in metrics.items():
        if key == "published" or isinstance(value, (dict, list)):
            continue
        reference = published.get(key, "")
        lines.append(f"{key:<30} {_cell(value):>12} {_cell(reference):>12}")
    return "\n".join(lines)


def _cell(value) -> str:
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)
