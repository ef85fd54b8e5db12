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
history. Timings are on the shared 2-core machine, which other developers load: noisy.
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

from superdiff_core.properties.formation import DEFAULT_OQMD_PATH, DEFAULT_TRAIN_PATH, predict_tokens, tokens_from_amounts  # noqa: E402
from superdiff_core.properties.formation_training import (  # noqa: E402
    FormationConfig,
    fit_formation,
    load_element_table,
    load_formation_data,
    make_split,
)


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
        name = row["architecture"] + ("" if row["architecture"] == "attention" else (" + mat2vec mean" if row["use_table"] else " (fractions only)"))
        print(f"| {name} | {row['train_rows']:,} | {row['epochs']} ({row['best_epoch']}) | {row['validation_mae']:.4f} | "
              f"{row['train_seconds']:.0f} | {row['parameters']:,} | {row['formulas_per_s']:,} |")


def curve(args: argparse.Namespace) -> None:
    card = json.loads(Path(args.card).read_text())
    print("| epoch | train MAE | validation MAE | seconds |")
    print("|---|---|---|---|")
    for row in card["training"]["history"]:
        print(f"| {row['epoch']} | {row['train_mae']:.4f} | {row['validation_mae']:.4f} | {row['seconds']:.0f} |")


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
    args = parser.parse_args()
    args.handler(args)


if __name__ == "__main__":
    main()
