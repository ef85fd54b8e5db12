"""The committed superconductor classifier on real synthesis attempts (not a test).

Usage::

    python benchmarks/bench_real_attempts.py [--models checkpoints] [--json out.json] [--rows rows.csv]

Loads the classifier as the app does (``SuperconductorModels.load``), cleans and scores
Hosono et al.'s list of compounds that were made and tested (Konno et al. 2021's external
test, ``benchmarks/data/konno_real_attempts_2009.csv``;
:mod:`superdiff_core.properties.real_attempts`), and prints a Markdown table: ROC-AUC,
tp, fp and precision at the shipped threshold and at the threshold reaching tp 0.80 on the
list (optimistic), on every usable row and on the rows not within 0.01 (L1, atomic
fractions) of a composition the classifier was trained on (the honest headline), beside
Konno et al.'s published precision. The training compositions are re-read as the card's
``command`` read them. Then the classifier's scoring speed in formulas per CPU-second
(one thread). ``--json`` writes everything :func:`evaluate_real_attempts` returns;
``--rows`` writes one row per listed compound.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def markdown_table(result: dict, name: str = "shipped") -> str:
    """The figures of :func:`evaluate_real_attempts` as Markdown rows (one per subset and operating point)."""
    lines = ["| model | rows | n (sc / not) | ROC-AUC | operating point | threshold | tp | fp | precision |",
             "|---|---|---|---:|---|---:|---:|---:|---:|"]
    for subset, words in (("all_usable", "all usable"), ("not_in_training", "not within 0.01 of training")):
        report = result[subset]
        for key, point in (("at_shipped_threshold", "shipped threshold"),
                           ("at_threshold_for_tp_on_list", "tp 0.80 on the list (optimistic)")):
            figures = report[key]
            lines.append(f"| {name} | {words} | {report['n']} ({report['superconductors']} / {report['non_superconductors']}) | "
                         f"{report['roc_auc']:.3f} | {point} | {figures['threshold']:.3f} | {figures['true_positive_rate']:.3f} | "
                         f"{figures['false_positive_rate']:.3f} | {figures['precision']:.3f} |")
    lines.append(f"| Konno et al. 2021 (published) | their cleaning | | | their threshold | | | | {result['published']['precision']:.2f} |")
    return "\n".join(lines)


def scoring_speed(classifier, n: int = 20_000, seed: int = 0) -> dict[str, float]:
    """Formulas per CPU-second of ``classifier.probability`` on ``n`` random SuperCon-like vectors (median of 3)."""
    from superdiff_core.artifacts import DEFAULT_MODELS_DIR
    from superdiff_core.data import load_training_set

    rows = load_training_set(DEFAULT_MODELS_DIR).vectors
    rng = np.random.default_rng(seed)
    vectors = np.round(rows[rng.integers(0, len(rows), size=n)] * rng.uniform(0.9, 1.1, size=(n, rows.shape[1])), 2)
    seconds = []
    for _ in range(3):
        started = time.process_time()
        classifier.probability(vectors)
        seconds.append(time.process_time() - started)
    return {"formulas": n, "cpu_seconds": float(np.median(seconds)), "formulas_per_cpu_second": float(n / np.median(seconds))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=Path, default=None, help="models folder (default: the committed checkpoints/)")
    parser.add_argument("--json", type=Path, default=None, help="write the full result here")
    parser.add_argument("--rows", type=Path, default=None, help="write one CSV row per listed compound here")
    parser.add_argument("--no-speed", action="store_true", help="skip the scoring-speed measurement")
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    from superdiff_core.artifacts import DEFAULT_MODELS_DIR, write_json_atomically
    from superdiff_core.properties.real_attempts import evaluate_real_attempts, load_real_attempts
    from superdiff_core.properties.superconductor import SuperconductorModels
    from superdiff_core.properties.superconductor_training import training_data_of_card

    models = SuperconductorModels.load(args.models or DEFAULT_MODELS_DIR)
    attempts = load_real_attempts()
    result = evaluate_real_attempts(models.classifier, training_data_of_card(models.card).vectors, attempts)
    if not args.no_speed:
        result["scoring_speed_one_thread"] = scoring_speed(models.classifier)
    print(markdown_table(result))
    print(json.dumps({key: result[key] for key in ("cleaning", "leakage")}, indent=1))
    if "scoring_speed_one_thread" in result:
        print(f"classifier scoring: {result['scoring_speed_one_thread']['formulas_per_cpu_second']:.0f} formulas per CPU-second")
    if args.json:
        write_json_atomically(args.json, result)
    if args.rows:
        import pandas as pd

        from superdiff_core.novelty import KnownCompositions
        from superdiff_core.properties.real_attempts import LEAKAGE_TOLERANCE

        known = KnownCompositions(training_data_of_card(models.card).vectors, LEAKAGE_TOLERANCE)
        pd.DataFrame({"formula": attempts.formulas, "tc_kelvin": attempts.tc_kelvin,
                      "sc_probability": models.classifier.probability(attempts.vectors),
                      "within_0.01_of_training": known.contains(attempts.vectors)}).to_csv(args.rows, index=False)


if __name__ == "__main__":
    main()
