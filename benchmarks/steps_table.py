"""Markdown table of a sampler step sweep (benchmarks/README.md §2) from the JSON-line logs of
``bench_new_families.py --method ... --seed 0 1 2``: one row per reference × sampler × steps,
each figure the mean over seeds with its range.

    python benchmarks/steps_table.py LOG [LOG ...]
"""

from __future__ import annotations

import json
import statistics
import sys

PAPER_REFERENCE = "YBa1.4Sr0.6Cu3O6Se0.51"
COLUMNS = (
    ("basic %", "basic_yield_percent"),
    ("SMACT-valid (paper's check) %", "smact_valid_yield_percent"),
    ("keeps all reference elements %", "keep_all_reference_percent"),
    ("extensions %", "extension_percent"),
    ("new-element median amount", "new_element_median_amount"),
)
PAPER_COLUMNS = (("As share of extensions %", "Y-Ba-Sr-Cu-O-Se-As_of_extensions_percent"), ("TV to paper's output", "tv_valid_to_paper"))


def pooled_rows(paths: list[str]) -> dict[tuple, dict[int, dict]]:
    """(reference, method, steps) → {seed: pooled row}."""
    groups: dict[tuple, dict[int, dict]] = {}
    for path in paths:
        with open(path) as handle:
            for line in handle:
                if line.startswith("{"):
                    row = json.loads(line)
                    if row["N"] == "pooled":
                        method = row["method"] + (f" ({row['precision']})" if row.get("precision", "fp32") != "fp32" else "")
                        groups.setdefault((row["reference"], method, row["steps"]), {})[row["seed"]] = row
    return groups


def mean_and_range(rows: list[dict], key: str) -> str:
    values = [row[key] for row in rows if row.get(key) is not None and row[key] == row[key]]
    if not values:
        return "–"
    if len(values) == 1:
        return f"{values[0]:g}"
    return f"{statistics.mean(values):.3g} ({min(values):g}–{max(values):g})"


def main(paths: list[str]) -> None:
    headers = ["reference", "sampler : steps", "network calls", "seeds", *(name for name, _ in COLUMNS + PAPER_COLUMNS)]
    print("| " + " | ".join(headers) + " |")
    print("|" + "---|" * len(headers))
    for (reference, method, steps), by_seed in pooled_rows(paths).items():
        rows = list(by_seed.values())
        calls = rows[0]["steps"] + rows[0].get("resample_steps", 0) * (rows[0].get("resample_count", 1) - 1)
        cells = [reference, f"{method} : {steps}", str(calls), str(len(rows)), *(mean_and_range(rows, key) for _, key in COLUMNS)]
        cells += [mean_and_range(rows, key) if reference == PAPER_REFERENCE else "–" for _, key in PAPER_COLUMNS]
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main(sys.argv[1:])
