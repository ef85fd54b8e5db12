"""Where generated candidates land on the SuperCon map (issue: map and families).

1. Unconditional samples of each class: the share of candidates (after the basic filters)
   inside a known SuperCon cluster.
2. ILVR runs on references that are not in SuperCon: the share outside known clusters, per N.
   Each class gets a "near" reference (a new variant of a known family, itself inside a
   known cluster) and a "far" one (new chemistry, itself outside every cluster), so the
   table shows whether the candidates follow the reference.

    python benchmarks/bench_map_coverage.py [--samples 2000] [--ilvr-samples 300]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from superdiff_core.composition import ParsedFormula, element_set, element_system, parse_formula  # noqa: E402
from superdiff_core.data import vector_keys  # noqa: E402
from superdiff_core.map_building import inside_radius, random_compositions  # noqa: E402
from superdiff_core.maps import assign_clusters, load_class_map  # noqa: E402
from superdiff_core.model_classes import FAMILY_CLASSES, MODEL_CLASSES  # noqa: E402
from superdiff_core.pipeline import generate, load_engine  # noqa: E402
from superdiff_core.screening import ScreeningOptions  # noqa: E402
from superdiff_core.settings import GenerationSettings  # noqa: E402

NEW_REFERENCES = {
    "cuprates": ("YBa1.4Sr0.6Cu3O6Se0.51", "KBa2Cu3O6Se"),
    "pnictides": ("Sr0.6Rb0.4Fe1.9Ni0.1As2", "BaFe2Sb2"),
}
"""ILVR references (near, far) per class, checked below not to be in SuperCon."""


def coverage_row(vectors: np.ndarray, class_map) -> str:
    """``inside % | outside % | median distance`` of candidates (amounts, (n, 96)) on a class map."""
    if not len(vectors):
        return "nan | nan | nan"
    assignment = assign_clusters(vectors, class_map)
    inside = 100 * float(np.mean(assignment.inside))
    return f"{inside:.1f} | {100 - inside:.1f} | {np.median(assignment.distance):.3f}"


def common_element_sets(vectors: np.ndarray, top: int = 4) -> str:
    """The ``top`` most frequent element sets among candidates (amounts, (n, 96)), with shares."""
    from collections import Counter

    sets = Counter(element_system(element_set(row)) for row in vectors)
    return ", ".join(f"{name} {100 * count / len(vectors):.0f} %" for name, count in sets.most_common(top))


def candidates(engine, settings, references) -> np.ndarray:
    """Vectors passing the basic filters (SMACT-invalid kept, known compounds kept)."""
    return generate(engine, settings, references).vectors


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--ilvr-samples", type=int, default=300)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--classes", nargs="+", default=list(MODEL_CLASSES))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    keep_all = ScreeningOptions(keep_invalid=True, keep_known=True)
    print("class | kind | N | candidates | inside known clusters % | outside % | median distance to nearest SuperCon")
    for model_class in args.classes:
        engine, class_map = load_engine(model_class), load_class_map(model_class=model_class)
        vectors = candidates(engine, GenerationSettings(model_class, samples=args.samples, screening=keep_all), [])
        print(f"{model_class} | unconditional | – | {len(vectors)} | {coverage_row(vectors, class_map)}", flush=True)
        null = random_compositions(args.samples, seed=2026)  # not the build's calibration draw (seed 0)
        print(f"{model_class} | random 2-4-element compositions | – | {len(null)} | {coverage_row(null, class_map)}", flush=True)
        radius = inside_radius(class_map.fractions) if model_class in FAMILY_CLASSES else None
        if radius is not None and radius.random_quantile < radius.member_quantile:  # the cap binds: what it costs
            for name, rows in (("unconditional", vectors), ("random 2-4-element compositions", null)):
                inside = 100 * np.mean(assign_clusters(rows, class_map).distance <= radius.member_quantile)
                print(f"{model_class} | {name}, uncapped radius {radius.member_quantile:.3f} | – | {len(rows)} | {inside:.1f} | "
                      f"{100 - inside:.1f} | –", flush=True)
        for formula in NEW_REFERENCES.get(model_class, ()):
            reference = ParsedFormula(formula, parse_formula(formula))
            assert vector_keys(reference.vector[None])[0] not in engine.training_keys, f"{formula} is in SuperCon"
            verdict = assign_clusters(reference.vector[None], class_map)
            where = "inside" if verdict.inside[0] else "outside"
            label = f"ILVR {formula} (reference {where}, {verdict.distance[0]:.3f} from SuperCon)"
            for n in (2, 3, 4):
                settings = GenerationSettings(model_class, (formula,), (n,), args.ilvr_samples, screening=keep_all)
                vectors = candidates(engine, settings, [reference])
                print(f"{model_class} | {label} | {n} | {len(vectors)} | {coverage_row(vectors, class_map)}", flush=True)
                print(f"    most common element sets: {common_element_sets(vectors)}", flush=True)


if __name__ == "__main__":
    main()
