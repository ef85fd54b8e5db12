"""Guidance that stays near the reference (issue 18 item 5), judged by a model that did not guide.

For La1.85Sr0.15CuO4 (cuprates) and BaFe2As2 (pnictides), N = 2, 3, 4, the app's path
(:func:`superdiff_core.run.run_generation`) runs unguided and with ``--guide tc=W`` (stay-near on,
the default: only candidates that keep every reference element and stay in the training domain).
Both are compared on the valid candidates that keep every reference element and are in domain:

- their yield per raw sample, guided over unguided (target ≥ 0.80);
- their mean Tc by an independent judge, a distance-weighted 5-nearest-neighbour regressor on
  SuperCon's atomic fractions fitted here (target: guided ≥ 1.20 × unguided), beside the shipped
  trees' mean Tc (which the guide never sees either, but was trained on the same data).

    python benchmarks/bench_stay_near.py [--samples 300] [--weight 1.0] [--seed 0] [--threads 1] [--gradient kept]

``--gradient`` tries where the guide's gradient may act (the question of the weak pnictide
gradient, see ``bench_guide_gradient.py``): ``kept`` (the engine's: only the elements the
decoded x0_hat holds), ``all`` (passed straight through the decoding to every element) or
``substitutes`` (straight through on the reference's elements and their plausible substitutes
by Hautier's table, so the guide can propose a dopant such as K for Ba).
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
from pathlib import Path

import numpy as np
import torch
from sklearn.neighbors import KNeighborsRegressor

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import superdiff_core.guidance as guidance  # noqa: E402
from superdiff_core.artifacts import DEFAULT_MODELS_DIR  # noqa: E402
from superdiff_core.assessment import stays_near_reference  # noqa: E402
from superdiff_core.data import load_training_set  # noqa: E402
from superdiff_core.novelty import atomic_fractions  # noqa: E402
from superdiff_core.pipeline import load_engine  # noqa: E402
from superdiff_core.run import load_run_models, run_generation  # noqa: E402
from superdiff_core.settings import GenerationSettings  # noqa: E402
from superdiff_core.substitution import load_table, reference_scores  # noqa: E402

CASES = (("La1.85Sr0.15CuO4", "cuprates"), ("BaFe2As2", "pnictides"))


def knn_judge() -> KNeighborsRegressor:
    """Tc (K) from atomic fractions, fitted on SuperCon's superconductors."""
    supercon = load_training_set(DEFAULT_MODELS_DIR)
    return KNeighborsRegressor(n_neighbors=5, weights="distance").fit(atomic_fractions(supercon.vectors), supercon.tc_kelvin)


def near_valid(record) -> tuple[np.ndarray, np.ndarray]:
    """Mask of the valid candidates that keep every reference element and are in domain, and the table's vectors."""
    table = record.table
    keep = stays_near_reference(table, record.vectors, list(record.settings.references))
    valid = table["smact_valid"].astype("boolean").fillna(False).to_numpy(dtype=bool)
    return keep & valid, record.vectors


def open_elements(reference: np.ndarray, gradient: str) -> torch.Tensor | None:
    """Bool mask (96,) of the elements the guide's gradient reaches through the decoding; None: the engine's own."""
    if gradient == "kept":
        return None
    if gradient == "all":
        return torch.ones(len(reference), dtype=torch.bool)
    plausible = reference_scores(reference, "hautier").scores.max(axis=1) >= load_table("hautier").threshold
    return torch.as_tensor(plausible | (reference > 0))


def use_gradient_through(mask: torch.Tensor | None) -> None:
    """Make the guide's decoding pass its gradient straight through on ``mask`` (an experiment of this
    benchmark only: the engine's guide has no such option, so this process's ``guidance.decoded_amounts``
    is replaced by the same function with ``gradient_through=mask``)."""
    guidance.decoded_amounts = functools.partial(ENGINE_DECODING, gradient_through=mask)


ENGINE_DECODING = guidance.decoded_amounts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=300)
    parser.add_argument("--weight", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--gradient", choices=("kept", "all", "substitutes"), default="kept")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    judge = knn_judge()
    report = {}
    for reference, model_class in CASES:
        engine = load_engine(model_class)
        models = load_run_models(DEFAULT_MODELS_DIR, model_class, with_map=False, with_hull=False)
        rows = {}
        for label, weights in (("unguided", {}), (f"tc={args.weight:g}, stay near", {"tc": args.weight})):
            settings = GenerationSettings(model_class=model_class, references=(reference,), samples=args.samples,
                                          seed=args.seed, guidance=weights)
            use_gradient_through(open_elements(settings.resolved().references[0].vector, args.gradient))
            record = run_generation(engine, settings, models)
            mask, vectors = near_valid(record)
            knn = judge.predict(atomic_fractions(vectors[mask])) if mask.any() else np.array([np.nan])
            rows[label] = {"raw": record.raw_samples, "near_valid": int(mask.sum()),
                           "near_valid_per_100_raw": round(100.0 * mask.sum() / record.raw_samples, 2),
                           "mean_tc_knn": round(float(np.mean(knn)), 2),
                           "mean_tc_trees": round(float(record.table.loc[mask, "tc_kelvin"].mean()), 2) if mask.any() else None}
            print(reference, label, json.dumps(rows[label]), flush=True)
        guided, plain = rows[f"tc={args.weight:g}, stay near"], rows["unguided"]
        rows["yield_ratio"] = round(guided["near_valid_per_100_raw"] / plain["near_valid_per_100_raw"], 3) if plain["near_valid"] else None
        rows["knn_tc_ratio"] = round(guided["mean_tc_knn"] / plain["mean_tc_knn"], 3) if plain["mean_tc_knn"] else None
        report[reference] = rows
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
