"""Tc regressor: the label-noise ceiling and the smoothing-radius trade-off (not a test).

Usage::

    python benchmarks/bench_tc_regressor.py [--radius 0 0.003 0.005 0.01] [--set min_samples_leaf=1 ...]

Loads the ``train-tc`` data (SuperCon superconductors; the negatives only matter for the
folds, which are the classifier's 5 composition-grouped folds restricted to the
superconductors, as in the card), then prints:

1. :func:`~superdiff_core.properties.superconductor_training.label_noise_ceiling`: how
   much SuperCon's repeated and near-identical compositions disagree about Tc;
2. for every ``--radius`` (the shipped regressor's ``target_radius`` replaced; ``--set``
   overrides other :class:`RegressorConfig` fields): held-out R² and MAE against the Tc
   as listed, overall and per class, and the textbook compounds' predictions of a model
   fitted on all superconductors. One line of JSON per setting.

Each setting costs about one minute of an idle core (five fits plus one).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from config_override import override_parser  # noqa: E402

from superdiff_core.properties.superconductor import RegressorConfig  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--radius", type=float, nargs="+", default=[0.0, 0.003, 0.005, 0.01], help="target radii to compare")
    parser.add_argument("--set", dest="overrides", type=override_parser(RegressorConfig), nargs="*", default=[],
                        help="NAME=VALUE regressor settings")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    from superdiff_core.composition import parse_formula
    from superdiff_core.properties.features import element_property_table
    from superdiff_core.properties.supercon_data import (
        DEFAULT_COD,
        DEFAULT_SUPERCON_STANEV,
        DEFAULT_SUPERCON_TYPED,
        load_superconductor_data,
    )
    from superdiff_core.properties.superconductor_training import (
        SHIPPED_REGRESSOR,
        TEXTBOOK_TC,
        composition_folds,
        cross_validate_regression,
        fit_regressor,
        label_noise_ceiling,
        regression_report,
    )

    data = load_superconductor_data(DEFAULT_SUPERCON_TYPED, DEFAULT_SUPERCON_STANEV, None, 0, 0, cod_path=DEFAULT_COD)
    positives = data.is_superconductor
    vectors, tc, classes = data.vectors[positives], data.tc_kelvin[positives], data.class_codes[positives]
    position = np.cumsum(positives) - 1
    folds = [(position[train[positives[train]]], position[test[positives[test]]]) for train, test in composition_folds(data.vectors)]
    print(json.dumps({"label_noise_ceiling": label_noise_ceiling(vectors, tc)}), flush=True)
    table = element_property_table()
    textbook = np.array([parse_formula(formula) for formula in TEXTBOOK_TC])
    for radius in args.radius:
        config = replace(SHIPPED_REGRESSOR, target_radius=radius, **dict(args.overrides))
        started = time.perf_counter()
        predicted = cross_validate_regression(vectors, tc, folds, lambda v, t, q: fit_regressor(v, t, config, table).predict(q))
        report = regression_report(tc, predicted, classes)
        fitted = fit_regressor(vectors, tc, config, table).predict(textbook)
        print(json.dumps({
            "config": asdict(config), "r2": round(report["overall"]["r2"], 4), "mae_kelvin": round(report["overall"]["mae"], 3),
            "r2_per_class": {name: round(part["r2"], 4) for name, part in report.items() if name != "overall"},
            "textbook_kelvin": {formula: round(float(value), 1) for formula, value in zip(TEXTBOOK_TC, fitted)},
            "seconds": round(time.perf_counter() - started, 1),
        }), flush=True)


if __name__ == "__main__":
    main()
