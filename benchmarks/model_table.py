"""Print the Table-1 comparison (ours next to the published row) from the model cards.

The metrics in the cards are written by ``superdiff evaluate --update-card``.

    python benchmarks/model_table.py
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from superdiff_core.artifacts import DEFAULT_MODELS_DIR  # noqa: E402
from superdiff_core.checkpoints import read_diffusion_card  # noqa: E402
from superdiff_core.model_classes import MODEL_CLASSES, get_model_class  # noqa: E402

COLUMNS = (
    ("samples", "raw_samples"),
    ("basic %", "passed_basic_filters_percent"),
    ("unique %", "unique_percent"),
    ("novel %", "novel_percent"),
    ("valid per 1,000", "valid_per_1000"),
    ("predicted SC %", "predicted_sc_percent"),
    ("rho %", "rho_percent"),
    ("mean Tc K", "tc_mean_kelvin"),
    ("max Tc K", "tc_max_kelvin"),
    ("mean E_f eV/atom", "formation_energy_mean_ev_per_atom"),
    ("E_f < 0", "formation_energy_below_zero_fraction"),
)


def cell(value) -> str:
    if value is None:
        return "–"
    return f"{value:.2f}" if isinstance(value, float) else str(value)


def main() -> None:
    print("| class | sampler | " + " | ".join(name for name, _ in COLUMNS) + " |")
    print("|---" * (len(COLUMNS) + 2) + "|")
    for model_class in MODEL_CLASSES:
        card = read_diffusion_card(DEFAULT_MODELS_DIR, model_class)
        for run, metrics in sorted(card.get("metrics", {}).items()):
            sampler = f"{metrics.get('method')} {metrics.get('steps')}"
            print(f"| {model_class} | {sampler} | " + " | ".join(cell(metrics.get(key)) for _, key in COLUMNS) + " |")
        published = get_model_class(model_class).published_table_1
        print(f"| {model_class} | published | 500000 | – | " + " | ".join(cell(published.get(key)) for _, key in COLUMNS[2:]) + " |")


if __name__ == "__main__":
    main()
