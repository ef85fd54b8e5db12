"""Superconductor-classifier variants on the grouped folds and on real synthesis attempts (not a test).

Usage::

    python benchmarks/bench_classifier_variants.py [--oqmd-negatives N] [--oqmd-selection random|similar]
        [--features amount+fraction+properties|amount+fraction+magpie] [--set NAME=VALUE ...] [--no-cv]

Each run reads the ``train-tc`` data (SuperCon positives; SuperCon Tc = 0 rows and COD as
negatives, plus ``--oqmd-negatives`` OQMD compositions chosen as ``--oqmd-selection`` says,
see :mod:`superdiff_core.properties.supercon_data`), then:

1. unless ``--no-cv``: ``train-tc``'s classifier cross-validation
   (:func:`~superdiff_core.properties.superconductor_training.cross_validate_classifier`:
   5-fold GroupKFold by composition, seed 0, isotonic calibration on the out-of-fold
   logits, the threshold for held-out tp 0.95), tp / fp / precision / ROC-AUC pooled and
   against each negative source;
2. fits on all rows (calibration and threshold from step 1; with ``--no-cv`` the raw
   sigmoid at 0.5, for screening by ROC-AUC only) and scores the real
   synthesis attempts (:func:`~superdiff_core.properties.real_attempts.evaluate_real_attempts`),
   on every usable row and on the rows not within 0.01 of this variant's training rows
   (the probability of every usable row is printed too, to compare variants on one subset).

One line of JSON per run. A full run costs about six boosted fits (about 2-3 minutes each on
one idle core for the shipped settings).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from config_override import override_parser  # noqa: E402

from superdiff_core.properties.superconductor import BoostedClassifierConfig  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--oqmd-negatives", type=int, default=0)
    parser.add_argument("--oqmd-selection", default="random")
    parser.add_argument("--features", default=None)
    parser.add_argument("--set", dest="overrides", type=override_parser(BoostedClassifierConfig), nargs="*", default=[],
                        help="NAME=VALUE classifier settings")
    parser.add_argument("--no-cv", action="store_true")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    from superdiff_core.properties.features import element_property_table
    from superdiff_core.properties.real_attempts import evaluate_real_attempts, load_real_attempts
    from superdiff_core.properties.supercon_data import (
        DEFAULT_COD,
        DEFAULT_OQMD,
        DEFAULT_SUPERCON_STANEV,
        DEFAULT_SUPERCON_TYPED,
        load_superconductor_data,
    )
    from superdiff_core.properties.superconductor_training import (
        SHIPPED_CLASSIFIER,
        composition_folds,
        cross_validate_classifier,
        fit_boosted_logit,
    )

    started = time.perf_counter()
    data = load_superconductor_data(DEFAULT_SUPERCON_TYPED, DEFAULT_SUPERCON_STANEV,
                                    DEFAULT_OQMD if args.oqmd_negatives else None, args.oqmd_negatives, 0,
                                    cod_path=DEFAULT_COD, oqmd_selection=args.oqmd_selection)
    labels = data.is_superconductor
    config = replace(SHIPPED_CLASSIFIER, **dict(args.overrides))
    if args.features:
        config = replace(config, features=args.features)
    table = element_property_table()
    result: dict = {"config": asdict(config), "oqmd_negatives": args.oqmd_negatives, "oqmd_selection": args.oqmd_selection,
                    "rows": int(len(labels))}
    if args.no_cv:  # no held-out logits to calibrate on: the raw sigmoid at 0.5 (screening by ROC-AUC and the list's own threshold)
        config = replace(config, threshold=0.5)
        result["config"] = asdict(config)
        model = fit_boosted_logit(data.vectors, labels, config, table)
    else:
        cross_validation = cross_validate_classifier(data, composition_folds(data.vectors), config, table, progress=False)
        config = cross_validation.config
        result["config"] = asdict(config)
        result["cross_validated"] = cross_validation.section["cross_validated"]
        model = cross_validation.fit(data, table)
    attempts = evaluate_real_attempts(model, data.vectors)
    result["real_attempts"] = {key: attempts[key] for key in ("leakage", "all_usable", "not_in_training")}
    result["real_attempts"]["probability"] = [round(float(p), 5) for p in model.probability(load_real_attempts().vectors)]
    result["seconds"] = round(time.perf_counter() - started, 1)
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
