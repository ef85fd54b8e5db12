"""Tc regressor: the label-noise ceiling and the smoothing-radius trade-off (not a test).

Usage::

    python benchmarks/bench_tc_regressor.py [--radius 0 0.003 0.005 0.01] [--set min_samples_leaf=1 ...]
    python benchmarks/bench_tc_regressor.py --blends [--attention-epochs 60]

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

``--blends`` instead scores, on the same folds, models of another kind beside the shipped trees
and their averages with them (a blend can beat both parts when their errors differ): the
Roter & Dordevic k-NN (k = 1, 3, 5), extra trees on √Tc, and (``--attention-epochs`` > 0, about
3 minutes per fold and 20 epochs on one core) the formation model's attention network trained on
Tc / 50 K with an L1 loss.
"""

from __future__ import annotations

import argparse
import functools
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
    parser.add_argument("--blends", action="store_true", help="score other model kinds and their blends with the trees")
    parser.add_argument("--attention-epochs", type=int, default=0, help="with --blends: also an attention network (epochs)")
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
    if args.blends:
        blends(vectors, tc, classes, folds, table, args.attention_epochs)
        return
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


def blends(vectors: np.ndarray, tc: np.ndarray, classes: np.ndarray, folds, table: np.ndarray, attention_epochs: int) -> None:
    """Held-out R² of the shipped trees, other model kinds, and their averages with the trees (one JSON line each)."""
    from sklearn.ensemble import ExtraTreesRegressor

    from superdiff_core.properties.superconductor import regression_features
    from superdiff_core.properties.superconductor_training import (
        SHIPPED_REGRESSOR,
        cross_validate_regression,
        fit_regressor,
        knn_regression,
        neighbourhood_median,
        regression_report,
    )

    def r2(predicted: np.ndarray) -> float:
        return round(regression_report(tc, predicted, classes)["overall"]["r2"], 4)

    def sqrt_trees(train: np.ndarray, train_tc: np.ndarray, queries: np.ndarray) -> np.ndarray:
        target = np.sqrt(np.maximum(neighbourhood_median(train, train_tc, SHIPPED_REGRESSOR.target_radius), 0.0))
        estimator = ExtraTreesRegressor(n_estimators=SHIPPED_REGRESSOR.n_estimators, max_features=SHIPPED_REGRESSOR.max_features,
                                        min_samples_leaf=SHIPPED_REGRESSOR.min_samples_leaf, random_state=0)
        estimator.fit(regression_features(train, SHIPPED_REGRESSOR.features, table), target)
        return estimator.predict(regression_features(queries, SHIPPED_REGRESSOR.features, table)) ** 2

    trees = cross_validate_regression(vectors, tc, folds, lambda v, t, q: fit_regressor(v, t, SHIPPED_REGRESSOR, table).predict(q))
    print(json.dumps({"model": "shipped trees", "r2": r2(trees)}), flush=True)
    others = {f"k-NN k={k}": (lambda v, t, q, k=k: knn_regression(v, t, q, k, "fraction", "distance")) for k in (1, 3, 5)}
    others["trees on sqrt(Tc)"] = sqrt_trees
    if attention_epochs > 0:
        others[f"attention network, {attention_epochs} epochs"] = functools.partial(attention_tc, epochs=attention_epochs)
    for name, fit_predict in others.items():
        predicted = cross_validate_regression(vectors, tc, folds, fit_predict)
        print(json.dumps({"model": name, "r2": r2(predicted), "r2_blended_with_trees": {
            f"{weight:g} trees": r2(weight * trees + (1 - weight) * predicted) for weight in (0.5, 0.6, 0.7, 0.8, 0.9)}}), flush=True)


def attention_tc(train: np.ndarray, train_tc: np.ndarray, queries: np.ndarray, epochs: int, seed: int = 0) -> np.ndarray:
    """Tc (n,) K of ``queries`` by the formation model's attention network (smaller: width 96, 2 layers)
    trained on ``train`` with L1 on Tc / 50 K, AdamW and a cosine learning rate."""
    import math

    import torch

    from superdiff_core.properties.formation import CompositionAttention, tokens_from_amounts
    from superdiff_core.properties.formation_training import load_element_table

    torch.manual_seed(seed)
    generator = np.random.default_rng(seed)
    element_table, _ = load_element_table(None)
    network = CompositionAttention(element_table, width=96, heads=4, layers=2, feedforward=192)
    optimiser = torch.optim.AdamW(network.parameters(), lr=1e-3, weight_decay=1e-4)
    tokens, fractions = (torch.from_numpy(a) for a in tokens_from_amounts(train))
    target = torch.from_numpy((train_tc / 50.0).astype(np.float32))
    batch, total = 128, epochs * math.ceil(len(train) / 128)
    for step in range(total):
        if step % math.ceil(len(train) / batch) == 0:
            order = generator.permutation(len(train))
        start = (step % math.ceil(len(train) / batch)) * batch
        rows = torch.from_numpy(order[start:start + batch])
        for group in optimiser.param_groups:
            group["lr"] = 1e-3 * 0.5 * (1 + math.cos(math.pi * step / total))
        loss = (network(tokens[rows], fractions[rows])[0] - target[rows]).abs().mean()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    network.eval()
    query_tokens, query_fractions = (torch.from_numpy(a) for a in tokens_from_amounts(queries))
    with torch.no_grad():
        return network(query_tokens, query_fractions)[0].double().numpy() * 50.0


if __name__ == "__main__":
    main()
