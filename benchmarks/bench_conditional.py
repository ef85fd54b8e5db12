"""Conditional generation quality: how close ILVR candidates stay to the reference, per N.

For each (class, reference) pair and N in 2, 3, 4: raw samples, basic-filter yield,
SMACT-valid count, the share of valid candidates that contain every element of the
reference, the share made only of the reference's elements, and the mean composition
distance (L1 between element fractions, 0 = same composition, 2 = nothing shared).

    python benchmarks/bench_conditional.py [--samples 500] [--steps 50] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from superdiff_core.composition import ParsedFormula, parse_formula  # noqa: E402
from superdiff_core.pipeline import generate, load_engine, reference_distance  # noqa: E402
from superdiff_core.sampler import DEFAULT_CONDITIONING_STOP  # noqa: E402
from superdiff_core.screening import ScreeningOptions  # noqa: E402
from superdiff_core.settings import GenerationSettings  # noqa: E402

CASES = (("cuprates", "HgBa2Ca2Cu3O8.27"), ("pnictides", "BaFe2As2"))


def conditional_metrics(model_class: str, formula: str, samples: int, steps: int | None, conditioning_stop: int,
                        mixed_valence: bool) -> list[dict]:
    engine = load_engine(model_class)
    reference = ParsedFormula(formula, parse_formula(formula))
    reference_elements = set(np.flatnonzero(reference.vector))
    rows = []
    for n in (2, 3, 4):
        settings = GenerationSettings(
            model_class, (formula,), (n,), samples, steps, seed=0, conditioning_stop=conditioning_stop,
            screening=ScreeningOptions(validity_check="mixed_valence" if mixed_valence else "integer"),
        )
        result = generate(engine, settings, [reference])
        counts = {s.stage: s.remaining for s in result.stages}
        vectors = result.vectors
        elements = [set(np.flatnonzero(v)) for v in vectors]
        rows.append({
            "model_class": model_class,
            "reference": formula,
            "scale_factor": n,
            "raw": result.raw_samples,
            "basic_filters": counts["element count"],
            "smact_valid": counts["SMACT-valid"],
            "valid_with_all_reference_elements_percent": (round(100 * np.mean([reference_elements <= e for e in elements]), 1)
                                                          if elements else None),
            "valid_only_reference_elements_percent": (round(100 * np.mean([e <= reference_elements for e in elements]), 1)
                                                      if elements else None),
            "mean_distance_valid": round(float(reference_distance(vectors, reference.vector).mean()), 3) if len(vectors) else None,
        })
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=int, default=500)
    parser.add_argument("--steps", type=int, default=None, help="default: the class's recommended steps")
    parser.add_argument("--ilvr-stop", type=int, default=DEFAULT_CONDITIONING_STOP)
    parser.add_argument("--mixed-valence", action="store_true")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rows = [row for model_class, formula in CASES
            for row in conditional_metrics(model_class, formula, args.samples, args.steps, args.ilvr_stop, args.mixed_valence)]
    header = list(rows[0])
    print(" | ".join(header))
    for row in rows:
        print(" | ".join(str(row[h]) for h in header))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
