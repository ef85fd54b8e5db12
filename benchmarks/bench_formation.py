"""Formation-energy model choice and learning curve (results in benchmarks/formation.md).

Pilot mode trains one architecture on a random subsample of the training rows (the
split of :mod:`superdiff_core.properties.formation_training`) for a fixed number of
epochs and appends one JSON line to ``--results``: validation MAE (evaluation-file
validation rows, |E| <= 5 eV/atom), training seconds, parameters and inference
formulas/s (this process's torch threads, batch 4096, tokenising excluded).

    OMP_NUM_THREADS=1 python benchmarks/bench_formation.py pilot --architecture attention \
        --subsample 40000 --epochs 12 --results benchmarks/formation_pilot.jsonl
    python benchmarks/bench_formation.py table --results benchmarks/formation_pilot.jsonl

``table`` prints the markdown comparison; ``curve`` prints a shipped card's per-epoch
history. ``check`` measures a trained model folder against the issue-19 targets, beside a
baseline model folder in the same run:

    OMP_NUM_THREADS=2 python benchmarks/bench_formation.py check --model /tmp/formation_run \
        --baseline checkpoints/formation --out benchmarks/formation_check.json

test MAE on the fixed held-out rows (|E| <= 5 eV/atom), MgB2 / NaCl / Al2O3 / MgO, the
OQMD rows whose composition is a SuperCon superconductor (error > 0.2 eV/atom, training
rows and held-out rows apart) and scoring throughput (``FormationModel.predict`` on
amount vectors, tokenising included, 1 and 2 torch threads). Timings are on the shared
2-core machine, which other developers load: noisy.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from superdiff_core.artifacts import read_card  # noqa: E402
from superdiff_core.composition import parse_formula  # noqa: E402
from superdiff_core.properties.formation import (  # noqa: E402
    DEFAULT_OQMD_PATH,
    DEFAULT_TRAIN_PATH,
    WEIGHTS_FILE,
    FormationModel,
    load_formation_weights,
    predict_tokens,
    tokens_from_amounts,
)
from superdiff_core.properties.formation_training import (  # noqa: E402
    OUTLIER_EV,
    FormationConfig,
    composition_keys,
    config_from_args,
    fit_formation,
    load_element_table,
    load_formation_data,
    make_split,
)
from superdiff_core.properties.supercon_data import DEFAULT_SUPERCON_TYPED  # noqa: E402

TEXTBOOK = ("MgB2", "NaCl", "Al2O3", "MgO")
"""Compounds whose formation energy must come out negative (issue 19)."""
SUPERCON_ERROR_EV = 0.2


def pilot(args: argparse.Namespace) -> None:
    torch.set_num_threads(args.threads)
    overrides = {"architecture": args.architecture, "train_subsample": args.subsample, "epochs": args.epochs, "seed": args.seed}
    if args.architecture == "mlp":
        overrides["use_table"] = not args.no_table
    if args.width:
        overrides["width"] = args.width
    config = FormationConfig(**overrides)
    table, _ = load_element_table(args.element_table)
    split = make_split(load_formation_data(DEFAULT_TRAIN_PATH), load_formation_data(DEFAULT_OQMD_PATH), config)
    started = time.perf_counter()
    fit = fit_formation(split.train, split.validation, table, config, progress=False)
    seconds = time.perf_counter() - started
    tokens, fractions = tokens_from_amounts(split.test.vectors)
    predict_tokens(fit.network, tokens[:512], fractions[:512])
    started = time.perf_counter()
    predict_tokens(fit.network, tokens, fractions)
    rate = len(tokens) / (time.perf_counter() - started)
    row = {"architecture": args.architecture, "use_table": config.use_table if args.architecture == "mlp" else True,
           "width": config.width if args.architecture == "attention" else None,
           "train_rows": len(split.train.energies), "epochs": config.epochs, "best_epoch": fit.best_epoch,
           "validation_mae": round(fit.best_validation_mae, 4), "train_seconds": round(seconds, 1),
           "parameters": int(sum(p.numel() for p in fit.network.parameters())), "formulas_per_s": round(rate),
           "threads": args.threads, "machine": platform.processor() or platform.machine()}
    with open(args.results, "a") as handle:
        handle.write(json.dumps(row) + "\n")
    print(json.dumps(row))


def table(args: argparse.Namespace) -> None:
    rows = [json.loads(line) for line in Path(args.results).read_text().splitlines() if line.strip()]
    print("| model | training rows | epochs (best) | validation MAE (eV/atom) | train s | parameters | formulas/s (1 thread) |")
    print("|---|---|---|---|---|---|---|")
    for row in sorted(rows, key=lambda r: (r["architecture"], r.get("use_table", True), r["train_rows"])):
        name = row["architecture"] + ("" if row["architecture"] == "attention"
                                      else (" + mat2vec mean" if row["use_table"] else " (fractions only)"))
        print(f"| {name} | {row['train_rows']:,} | {row['epochs']} ({row['best_epoch']}) | {row['validation_mae']:.4f} | "
              f"{row['train_seconds']:.0f} | {row['parameters']:,} | {row['formulas_per_s']:,} |")


def curve(args: argparse.Namespace) -> None:
    card = json.loads(Path(args.card).read_text())
    print("| epoch | train MAE | validation MAE | seconds |")
    print("|---|---|---|---|")
    for row in card["training"]["history"]:
        print(f"| {row['epoch']} | {row['train_mae']:.4f} | {row['validation_mae']:.4f} | {row['seconds']:.0f} |")


def _throughput(model: FormationModel, vectors: np.ndarray, threads: int) -> float:
    """Formulas per second of ``model.predict`` (amount vectors in, tokenising included) with ``threads`` torch threads."""
    torch.set_num_threads(threads)
    model.predict(vectors[:512])
    started = time.perf_counter()
    model.predict(vectors)
    return len(vectors) / (time.perf_counter() - started)


def supercon_vectors(path: Path = DEFAULT_SUPERCON_TYPED) -> np.ndarray:
    """Amount vectors (n, 96) of the SuperCon superconductors (tab-separated: id, formula, Tc, class)."""
    vectors = []
    for line in Path(path).read_text().splitlines():
        parts = line.split("\t")
        if len(parts) >= 3:
            try:
                vectors.append(parse_formula(parts[1]))
            except ValueError:
                continue
    return np.array(vectors)


def model_figures(model: FormationModel, split, supercon_keys: set, scoring_vectors: np.ndarray) -> dict:
    """The issue-19 figures of one model on the fixed split."""
    test_typical = np.abs(split.test.energies) <= OUTLIER_EV
    predicted, _ = model.predict(split.test.vectors[test_typical])
    figures = {"test_mae_without_dft_outliers": float(np.mean(np.abs(predicted - split.test.energies[test_typical]))),
               "test_rows": int(test_typical.sum())}
    energies, _ = model.predict(np.array([parse_formula(formula) for formula in TEXTBOOK]))
    figures["textbook_ev_per_atom"] = {formula: round(float(value), 4) for formula, value in zip(TEXTBOOK, energies)}
    figures["textbook_all_negative"] = bool(np.all(energies < 0))
    for name, part in (("training", split.train), ("validation_and_test", None)):
        if part is None:
            vectors = np.concatenate([split.validation.vectors, split.test.vectors])
            actual = np.concatenate([split.validation.energies, split.test.energies])
        else:
            vectors, actual = part.vectors, part.energies
        rows = np.array([key in supercon_keys for key in composition_keys(vectors)], dtype=bool)
        rows &= np.abs(actual) <= OUTLIER_EV
        predicted, _ = model.predict(vectors[rows])
        errors = np.abs(predicted - actual[rows])
        figures[f"supercon_compounds_in_{name}_rows"] = {"n": int(rows.sum()), "mae": float(errors.mean()),
                                                         f"off_by_more_than_{SUPERCON_ERROR_EV}": int((errors > SUPERCON_ERROR_EV).sum())}
    figures["formulas_per_s"] = {f"{threads}_threads": round(_throughput(model, scoring_vectors, threads)) for threads in (1, 2)}
    return figures


def check(args: argparse.Namespace) -> None:
    models = {"model": _load_folder(Path(args.model)), "baseline": _load_folder(Path(args.baseline))}
    stored = {k: v for k, v in models["model"].config.items() if k != "members"}
    stored["hidden_widths"] = tuple(stored["hidden_widths"])
    split = make_split(load_formation_data(DEFAULT_TRAIN_PATH), load_formation_data(DEFAULT_OQMD_PATH), config_from_args(**stored))
    supercon_keys = set(composition_keys(supercon_vectors()))
    scoring = np.tile(split.test.vectors, (3, 1))
    out = {name: model_figures(model, split, supercon_keys, scoring) for name, model in models.items()}
    out["throughput_ratio_model_over_baseline_2_threads"] = round(
        out["model"]["formulas_per_s"]["2_threads"] / out["baseline"]["formulas_per_s"]["2_threads"], 3)
    out["machine"] = f"{platform.processor() or platform.machine()}, shared 2-core machine (loaded by other jobs)"
    text = json.dumps(out, indent=1)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")


def _load_folder(folder: Path) -> FormationModel:
    """A :class:`FormationModel` from a folder holding ``formation.pt`` and ``card.json`` directly."""
    network, config, calibration = load_formation_weights(folder / WEIGHTS_FILE)
    return FormationModel(network, config, calibration, read_card(folder))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="mode", required=True)
    p = sub.add_parser("pilot")
    p.add_argument("--architecture", choices=["attention", "mlp"], required=True)
    p.add_argument("--subsample", type=int, default=40000)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--width", type=int, default=0)
    p.add_argument("--no-table", action="store_true")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--element-table", default=None)
    p.add_argument("--results", default="benchmarks/formation_pilot.jsonl")
    p.set_defaults(handler=pilot)
    t = sub.add_parser("table")
    t.add_argument("--results", default="benchmarks/formation_pilot.jsonl")
    t.set_defaults(handler=table)
    c = sub.add_parser("curve")
    c.add_argument("--card", default="checkpoints/formation/card.json")
    c.set_defaults(handler=curve)
    k = sub.add_parser("check")
    k.add_argument("--model", required=True, help="folder with formation.pt and card.json")
    k.add_argument("--baseline", default="checkpoints/formation")
    k.add_argument("--out", default=None)
    k.set_defaults(handler=check)
    args = parser.parse_args()
    args.handler(args)


if __name__ == "__main__":
    main()
