"""The shipped classifier and Tc regressor under two cross-validation protocols (not a test).

Usage::

    python benchmarks/bench_fold_protocols.py [--folds 5] [--seed 0] [--models checkpoints]
    python benchmarks/bench_fold_protocols.py --lofo --out benchmarks/tc_fold_protocols.json

``--lofo`` measures the Tc regressor ``train-tc`` ships (``SHIPPED_REGRESSOR``, not the
committed card's setting) on superconductors only under three protocols in one run: random
row folds, folds grouped by composition, and leave-one-family-out
(:func:`superdiff_core.properties.superconductor_training.leave_one_family_out`, families by
the element rules of ``supercon_families.py``) beside 1-nearest-neighbour on the same
folds; it writes the figures as JSON (what ``train-tc`` puts in the card).

Roter & Dordevic (2020) report tp 0.9869 / fp 0.1694 and R² ≈ 0.93 from folds drawn
over rows. SuperCon lists many compositions more than once (repeated measurements,
several papers), so row folds put the same composition on both sides of a split. Our
model cards use folds grouped by composition, which is stricter. This script refits the
settings stored in ``checkpoints/tc/card.json`` under both protocols on the same data,
so the two sets of figures can be compared in one run.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from superdiff_core.artifacts import default_models_dir  # noqa: E402
from superdiff_core.data import vector_keys  # noqa: E402
from superdiff_core.properties.features import element_property_table  # noqa: E402
from superdiff_core.properties.neighbours import nearest_neighbours, scale_vectors  # noqa: E402
from superdiff_core.properties.supercon_data import (  # noqa: E402
    DEFAULT_OQMD,
    DEFAULT_SUPERCON_STANEV,
    DEFAULT_SUPERCON_TYPED,
    load_superconductor_data,
)
from superdiff_core.properties.supercon_families import supercon_families  # noqa: E402
from superdiff_core.properties.superconductor import ClassifierConfig, RegressorConfig  # noqa: E402
from superdiff_core.properties.superconductor_training import (  # noqa: E402
    SHIPPED_REGRESSOR,
    composition_folds,
    cross_validate_regression,
    fit_regressor,
    knn_out_of_fold,
    leave_one_family_out,
    regression_report,
    row_folds,
)


def classifier_rates(probability: np.ndarray, data, threshold: float) -> dict[str, float]:
    """tp and fp per negative source when ``probability >= threshold`` is called superconducting."""
    predicted = probability >= threshold
    rates = {"tp": float(predicted[data.is_superconductor].mean())}
    for index, name in ((1, "fp_supercon_tc0"), (2, "fp_oqmd")):
        rows = data.source == index
        if rows.any():
            rates[name] = float(predicted[rows].mean())
    return rates


def repeated_share(vectors: np.ndarray) -> float:
    """Share of rows whose composition (to 2 decimals) appears more than once."""
    _, inverse, counts = np.unique(np.array(vector_keys(vectors), dtype=object), return_inverse=True, return_counts=True)
    return float(np.mean(counts[inverse] > 1))


def regressor_protocols(n_folds: int, seed: int, out: Path | None) -> None:
    """The shipped Tc regressor under random, grouped and leave-one-family-out folds (one run, same rows)."""
    import time

    data = load_superconductor_data(DEFAULT_SUPERCON_TYPED, DEFAULT_SUPERCON_STANEV, None, 0, seed, cod_path=None)
    positives = data.is_superconductor
    vectors, tc, classes = data.vectors[positives], data.tc_kelvin[positives], data.class_codes[positives]
    table = element_property_table()

    def fit_predict(train_vectors, train_tc, test_vectors):
        return fit_regressor(train_vectors, train_tc, SHIPPED_REGRESSOR, table).predict(test_vectors)

    figures, started = {"regressor": str(SHIPPED_REGRESSOR), "superconductors": int(len(tc))}, time.perf_counter()
    grouped = composition_folds(vectors, n_folds, seed)
    figures["random_row_folds"] = regression_report(tc, cross_validate_regression(vectors, tc, row_folds(len(tc), n_folds, seed),
                                                                                  fit_predict), classes)
    figures["grouped_by_composition"] = regression_report(tc, cross_validate_regression(vectors, tc, grouped, fit_predict), classes)
    print(json.dumps({k: figures[k]["overall"] for k in ("random_row_folds", "grouped_by_composition")}), flush=True)
    figures["leave_one_family_out"] = leave_one_family_out(vectors, tc, supercon_families(vectors, classes), fit_predict, grouped)
    figures["seconds"] = round(time.perf_counter() - started, 1)
    text = json.dumps(figures, indent=1)
    print(text)
    if out is not None:
        out.write_text(text + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--models", type=Path, default=None)
    parser.add_argument("--lofo", action="store_true", help="regressor only: random, grouped and leave-one-family-out folds")
    parser.add_argument("--out", type=Path, default=None, help="with --lofo: write the figures here as JSON")
    args = parser.parse_args()
    if args.lofo:
        regressor_protocols(args.folds, args.seed, args.out)
        return
    card = json.loads(((args.models or default_models_dir()) / "tc" / "card.json").read_text())
    classifier_config = ClassifierConfig(**card["classifier"]["config"])
    regressor_config = RegressorConfig(**card["regressor"]["config"])
    oqmd_negatives = card["data"].get("oqmd_negatives", 0)
    data = load_superconductor_data(DEFAULT_SUPERCON_TYPED, DEFAULT_SUPERCON_STANEV,
                                    DEFAULT_OQMD if oqmd_negatives else None, oqmd_negatives, args.seed)
    positives = data.is_superconductor
    sc_vectors, sc_tc, sc_classes = data.vectors[positives], data.tc_kelvin[positives], data.class_codes[positives]
    print(f"classifier {classifier_config}; regressor {regressor_config.model} ({regressor_config.features})")
    print(f"rows: {len(data.vectors)} ({int(positives.sum())} superconductors); "
          f"superconductor rows whose composition appears more than once: {100 * repeated_share(sc_vectors):.1f} %")
    supercon_negatives = scale_vectors(data.vectors[data.source == 1], "fraction")
    gaps, _ = nearest_neighbours(scale_vectors(sc_vectors, "fraction"), supercon_negatives, 1)
    print("SuperCon Tc = 0 rows with a superconductor within (atomic fractions): "
          + ", ".join(f"{limit}: {100 * np.mean(gaps[:, 0] <= limit):.1f} %" for limit in (0.005, 0.01, 0.02)) + "\n")
    print("| folds | tp | fp (SuperCon Tc = 0) | fp (OQMD) | Tc R² | Tc MAE K | cuprate R² | pnictide R² | other R² |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    table = element_property_table()
    protocols = {
        "grouped by composition (ours)": (composition_folds(data.vectors, args.folds, args.seed),
                                          composition_folds(sc_vectors, args.folds, args.seed)),
        "random over rows (published)": (row_folds(len(data.vectors), args.folds, args.seed),
                                         row_folds(len(sc_vectors), args.folds, args.seed)),
    }
    tradeoffs = {}
    for name, (classifier_folds, regressor_folds) in protocols.items():
        probability = knn_out_of_fold(data, classifier_config, classifier_folds)
        rates = classifier_rates(probability, data, classifier_config.threshold)
        tradeoffs[name] = probability
        predicted = cross_validate_regression(
            sc_vectors, sc_tc, regressor_folds, lambda v, t, q: fit_regressor(v, t, regressor_config, table).predict(q)
        )
        report = regression_report(sc_tc, predicted, sc_classes)
        print(f"| {name} | {rates['tp']:.3f} | {rates.get('fp_supercon_tc0', float('nan')):.3f} | "
              f"{rates.get('fp_oqmd', float('nan')):.3f} | {report['overall']['r2']:.3f} | {report['overall']['mae']:.2f} | "
              f"{report['cuprate']['r2']:.3f} | {report['pnictide']['r2']:.3f} | {report['other']['r2']:.3f} |", flush=True)
    print("\nThe same held-out probabilities at other thresholds (the k-NN's whole trade-off):\n")
    print("| folds | threshold | tp | fp (SuperCon Tc = 0) | fp (OQMD) |")
    print("|---|---:|---:|---:|---:|")
    for name, probability in tradeoffs.items():
        for threshold in (0.5, 0.6, 0.7, 0.8, 0.9, 0.99):
            rates = classifier_rates(probability, data, threshold)
            print(f"| {name} | {threshold:g} | {rates['tp']:.3f} | {rates.get('fp_supercon_tc0', float('nan')):.3f} | "
                  f"{rates.get('fp_oqmd', float('nan')):.3f} |")


if __name__ == "__main__":
    main()
