"""The regularisation trials behind the formation model's settings (not a test).

Usage::

    python benchmarks/bench_formation_trials.py [--only LABEL ...] [--threads 1]

Each trial trains one network for 40 epochs with ``FormationConfig()`` changed as listed,
on the split of ``superdiff train-formation`` (seed 0), and prints its test MAE. About
4–5 minutes per trial on one thread of this machine.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_formation_data import fit_and_test, load_and_split  # noqa: E402
from superdiff_core.properties.formation import DEFAULT_OQMD_PATH, FormationConfig  # noqa: E402

TRIALS: dict[str, dict] = {
    "dropout 0.1, wd 1e-5, lr 1e-3 (the first model's settings)": {"dropout": 0.1, "weight_decay": 1e-5, "learning_rate": 1e-3},
    "dropout 0.3, wd 1e-4, lr 1e-3": {"dropout": 0.3, "weight_decay": 1e-4, "learning_rate": 1e-3},
    "no dropout, wd 0.05, lr 1e-3": {"dropout": 0.0, "weight_decay": 0.05, "learning_rate": 1e-3},
    "no dropout, wd 0.3, lr 1e-3": {"dropout": 0.0, "weight_decay": 0.3, "learning_rate": 1e-3},
    "no dropout, wd 1.0, lr 1e-3": {"dropout": 0.0, "weight_decay": 1.0, "learning_rate": 1e-3},
    "no dropout, wd 0.1, lr 2e-3": {"dropout": 0.0, "weight_decay": 0.1, "learning_rate": 2e-3},
    "no dropout, wd 0.3, lr 2e-3 (shipped)": {"dropout": 0.0, "weight_decay": 0.3, "learning_rate": 2e-3},
    "no dropout, wd 0.3, lr 4e-3": {"dropout": 0.0, "weight_decay": 0.3, "learning_rate": 4e-3},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_OQMD_PATH)
    parser.add_argument("--only", nargs="+", default=None, help="labels (or unique beginnings) of the trials to run")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    base = replace(FormationConfig(), ensemble_size=1, epochs=40)
    data, train, validation, test = load_and_split(args.data, base)
    chosen = {label: changes for label, changes in TRIALS.items()
              if args.only is None or any(label.startswith(prefix) for prefix in args.only)}
    print("| trial | validation MAE | test MAE eV/atom | best epoch | seconds |")
    print("|---|---:|---:|---:|---:|")
    for label, changes in chosen.items():
        fit, mae = fit_and_test(data, train, validation, test, replace(base, **changes))
        best = min(row["validation_mae"] for row in fit.history)
        print(f"| {label} | {best:.4f} | {mae:.4f} | {fit.best_epoch} | {fit.seconds:.0f} |", flush=True)


if __name__ == "__main__":
    main()
