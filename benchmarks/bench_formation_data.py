"""Formation-energy learning curve: held-out MAE against the amount of training data (not a test).

Usage::

    python benchmarks/bench_formation_data.py [--shares 0.125 0.25 0.5 1] [--threads 1]

Trains one network of the shipped configuration (``FormationConfig()``, one member,
seed 0) on a seeded share of the training split of ``superdiff train-formation`` and
reports its MAE on the same test split. ElemNet's 0.05 eV/atom came from ~275k OQMD
compounds, about 4.5x our 61.5k training rows; the slope of this curve says how much
of the gap the amount of data explains. It then prints the test MAE of the mean of the
first 1, 2, ... networks of the shipped model (``checkpoints/formation``).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from superdiff_core.properties.artifacts import default_models_dir  # noqa: E402
from superdiff_core.properties.formation import (  # noqa: E402
    DEFAULT_OQMD_PATH, FormationConfig, FormationData, FormationFit, FormationModel, _predict_network,
    fit_formation_network, load_formation_data, split_by_composition,
)
from superdiff_core.properties.metrics import regression_metrics  # noqa: E402


def load_and_split(path: Path, config: FormationConfig) -> tuple[FormationData, np.ndarray, np.ndarray, np.ndarray]:
    """The data and the (train, validation, test) rows of ``superdiff train-formation``."""
    data = load_formation_data(path)
    return (data, *split_by_composition(data.inputs, (config.validation_fraction, config.test_fraction), config.seed))


def fit_and_test(data: FormationData, rows: np.ndarray, validation: np.ndarray, test: np.ndarray,
                 config: FormationConfig) -> tuple[FormationFit, float]:
    """One network trained on ``rows`` (validation picks its epoch) and its test MAE (eV/atom)."""
    fit = fit_formation_network(data.inputs[rows], data.energies[rows], data.inputs[validation], data.energies[validation],
                                config, progress=False)
    return fit, regression_metrics(data.energies[test], _predict_network(fit.network, data.inputs[test]))["mae"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_OQMD_PATH)
    parser.add_argument("--shares", type=float, nargs="*", default=[0.125, 0.25, 0.5, 1.0], help="shares to train on (none: only the member table)")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    config = replace(FormationConfig(), ensemble_size=1)
    data, train, validation, test = load_and_split(args.data, config)
    shuffled = np.random.default_rng(config.seed).permutation(train)
    print(f"config: {config}\n")
    print("| training rows | share | test MAE eV/atom | best epoch | seconds |")
    print("|---:|---:|---:|---:|---:|")
    for share in args.shares:
        rows = shuffled[: int(round(share * len(shuffled)))]
        fit, mae = fit_and_test(data, rows, validation, test, config)
        print(f"| {len(rows):,} | {share:g} | {mae:.4f} | {fit.best_epoch} | {fit.seconds:.0f} |", flush=True)
    members = FormationModel.load(default_models_dir()).network.members
    predictions = np.array([_predict_network(member, data.inputs[test]) for member in members])
    print("\n| networks averaged (shipped model) | test MAE eV/atom |\n|---:|---:|")
    for count in range(1, len(members) + 1):
        print(f"| {count} | {regression_metrics(data.energies[test], predictions[:count].mean(axis=0))['mae']:.4f} |")


if __name__ == "__main__":
    main()
