"""The paper's Table-1 metrics for a set of unconditional samples, next to the published row."""

from __future__ import annotations

import math
import os

from .pipeline import GenerationResult

PUBLISHED_TABLE_1: dict[str, dict[str, float]] = {
    "everything": {"novel_percent": 100.00, "unique_percent": 99.32, "valid_per_1000": 160.0, "predicted_sc_percent": 67.81, "tc_mean_kelvin": 8.51, "tc_max_kelvin": 97.0},
    "cuprates": {"novel_percent": 100.00, "unique_percent": 99.92, "valid_per_1000": 22.0, "predicted_sc_percent": 64.53, "tc_mean_kelvin": 64.68, "tc_max_kelvin": 110.5},
    "pnictides": {"novel_percent": 100.00, "unique_percent": 99.98, "valid_per_1000": 4.4, "predicted_sc_percent": 95.74, "tc_mean_kelvin": 22.00, "tc_max_kelvin": 29.5},
    "others": {"novel_percent": 100.00, "unique_percent": 99.39, "valid_per_1000": 345.0, "predicted_sc_percent": 55.82, "tc_mean_kelvin": 6.33, "tc_max_kelvin": 30.5},
}
"""Yuan & Dordevic 2024, Table 1 (500,000 unconditional samples per class)."""


def evaluation_metrics(result: GenerationResult, models_dir: str | os.PathLike | None = None) -> dict:
    """Table-1 metrics of an unconditional run (SMACT-invalid rows must have been dropped,
    the default). Adds the superconductivity columns when the property models scored the
    candidates (``sc_probability`` present in the table)."""
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
    if "sc_probability" in result.table.columns and models_dir is not None:
        from .properties import load_property_models, superconductivity_summary

        valid_rows = result.table[result.table["smact_valid"].astype(bool)]
        metrics.update(superconductivity_summary(valid_rows, load_property_models(models_dir)))
    metrics["published"] = PUBLISHED_TABLE_1[result.settings.model_class]
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
