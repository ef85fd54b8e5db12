"""Subcommands of the property models: ``train-tc``, ``train-formation`` and ``screen``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import InputError

SMACT_BATCH = 500
"""Formulas per SMACT/progress step in ``screen``."""


def _use_threads(threads: int | None) -> None:
    """Limit torch and BLAS threads for a training run (None keeps the defaults)."""
    if threads is None:
        return
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(threads)
    threadpool_limits(threads)


# --------------------------------------------------------------------------- training


def _train_tc(args: argparse.Namespace) -> int:
    from ..properties.superconductor import REGRESSOR_ALTERNATIVES, train_tc

    _use_threads(args.threads)
    card = train_tc(
        args.supercon, args.non_superconductors, args.out, oqmd_path=args.oqmd,
        oqmd_negatives=args.oqmd_negatives, seed=args.seed, progress=not args.quiet,
        compare_regressors=REGRESSOR_ALTERNATIVES if args.compare_regressors else (),
    )
    rates = card["classifier"]["rates_used_for_rho"]
    overall = card["regressor"]["cross_validated"]["overall"]
    knn = card["regressor"]["knn_baseline_best"]["overall"]
    print(
        f"tc models written to {args.out}: classifier tp {rates['true_positive_rate']:.3f}, fp {rates['false_positive_rate']:.3f}; "
        f"Tc R² {overall['r2']:.3f}, MAE {overall['mae']:.2f} K (k-NN: R² {knn['r2']:.3f}); {card['wall_time_s']:.0f} s"
    )
    missed = [name for name, met in card["targets_met"].items() if not met]
    if missed:
        print(f"targets not met: {', '.join(missed)} (see card.json)")
    return 0


def _train_formation(args: argparse.Namespace) -> int:
    from ..properties.formation import FormationConfig, train_formation

    _use_threads(args.threads)
    config = FormationConfig(epochs=args.epochs, ensemble_size=args.ensemble, weight_decay=args.weight_decay,
                             dropout=args.dropout, seed=args.seed, max_minutes=args.max_minutes)
    card = train_formation(args.data, args.out, config, progress=not args.quiet)
    test = card["metrics"]["test"]
    print(
        f"formation model written to {args.out}: test MAE {test['mae']:.4f} eV/atom, R² {test['r2']:.4f} "
        f"({card['training']['members']} networks, best epochs {card['training']['best_epoch']}, {card['training']['wall_time_s']:.0f} s)"
    )
    return 0


# --------------------------------------------------------------------------- screen


def read_formula_input(path: Path) -> pd.DataFrame:
    """The formulas to screen, in file order, as a table with a ``formula`` column.

    A ``.csv`` file must have a ``formula`` column (its other columns are kept); any
    other file has one formula per line (blank lines and lines starting with ``#`` are
    skipped).

    Raises:
        InputError: unreadable file, CSV without ``formula`` column, or no formula.
    """
    if not path.is_file():
        raise InputError(f"input file not found: {path}")
    try:
        if path.suffix.lower() == ".csv":
            table = pd.read_csv(path, dtype=str, keep_default_na=False)
            if "formula" not in table.columns:
                columns = ", ".join(map(str, table.columns)) or "none"
                raise InputError(f"{path} has no 'formula' column (columns: {columns})")
        else:
            lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
            table = pd.DataFrame({"formula": [line for line in lines if line and not line.startswith("#")]})
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise InputError(f"cannot read {path}: {str(error).splitlines()[0]}") from None
    if table.empty:
        raise InputError(f"{path} has no formula")
    return table


def smact_validity(vectors: np.ndarray, parsed: np.ndarray, mixed_valence: bool, timeout_s: float, progress: bool) -> tuple[list, list[str]]:
    """SMACT status of the parsed rows: (True/False/None per row, note per row)."""
    from tqdm import tqdm

    from ..smact_check import smact_check

    statuses: list[str | None] = [None] * len(vectors)
    rows = np.flatnonzero(parsed)
    for start in tqdm(range(0, len(rows), SMACT_BATCH), desc="SMACT", unit="batch", disable=not progress, file=sys.stderr):
        batch = rows[start : start + SMACT_BATCH]
        for row, status in zip(batch, smact_check(vectors[batch], mixed_valence=mixed_valence, timeout_s=timeout_s)):
            statuses[row] = status
    valid = [None if status in (None, "timeout") else status == "valid" for status in statuses]
    notes = [f"SMACT timeout (> {timeout_s:g} s)" if status == "timeout" else "" for status in statuses]
    return valid, notes


def _screen(args: argparse.Namespace) -> int:
    from ..properties import encode_formulas, join_notes, load_property_models
    from ..results import write_candidates_csv

    table = read_formula_input(args.input)
    models = load_property_models(args.models)
    vectors, parse_notes = encode_formulas(table["formula"].astype(str).tolist())
    parsed = np.array([not note for note in parse_notes], dtype=bool)
    scored = models.score(vectors)
    valid, smact_notes = smact_validity(vectors, parsed, args.mixed_valence, args.smact_timeout, not args.quiet)
    out = table.copy()
    out["smact_valid"] = pd.array(valid, dtype="boolean")
    for column in ("sc_probability", "is_superconductor", "tc_kelvin", "formation_energy_ev_per_atom"):
        out[column] = scored[column].array
    out["note"] = [
        parse_note or join_notes(model_note, smact_note)
        for parse_note, model_note, smact_note in zip(parse_notes, scored["note"], smact_notes)
    ]
    write_candidates_csv(out, args.out)
    _print_summary(out, parsed, args.out)
    return 0


def _print_summary(out: pd.DataFrame, parsed: np.ndarray, path: Path) -> None:
    notes = out["note"]
    counts = {
        "unparsable": int((~parsed).sum()),
        "element outside formation coverage": int(notes.str.contains("outside the model's 86").sum()),
        "SMACT timeout": int(notes.str.contains("SMACT timeout").sum()),
    }
    problems = ", ".join(f"{count} {reason}" for reason, count in counts.items() if count) or "no problems"
    print(
        f"screened {len(out)} formulas ({problems}): {int(out['smact_valid'].fillna(False).sum())} SMACT-valid, "
        f"{int(out['is_superconductor'].fillna(False).sum())} predicted superconductors; wrote {path}"
    )


# --------------------------------------------------------------------------- parsers


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``train-tc``, ``train-formation`` and ``screen``."""
    from ..properties.formation import DEFAULT_OQMD_PATH, FormationConfig
    from .engine import bounded_float, positive_int
    from ..properties.supercon_data import DEFAULT_SUPERCON_STANEV, DEFAULT_SUPERCON_TYPED
    from ..smact_check import DEFAULT_TIMEOUT_SECONDS

    tc = subparsers.add_parser(
        "train-tc",
        help="fit the superconductor classifier (k-NN) and the Tc regressor",
        description="Cross-validate (folds by composition), fit and write the classifier and Tc regressor with card.json.",
    )
    tc.add_argument("--supercon", type=Path, default=DEFAULT_SUPERCON_TYPED, help="SuperCon_with_types.dat (superconductors)")
    tc.add_argument("--non-superconductors", type=Path, default=DEFAULT_SUPERCON_STANEV, help="Supercon_data.csv (Tc = 0 rows are negatives)")
    tc.add_argument("--oqmd", type=Path, default=DEFAULT_OQMD_PATH, help="formation_enthalpy.csv: OQMD formulas not in SuperCon are added as negatives")
    tc.add_argument("--oqmd-negatives", type=int, default=10000, help="how many OQMD negatives to add (0: none, SuperCon negatives only)")
    tc.add_argument("--out", type=Path, default=Path("checkpoints") / "tc", help="output folder")
    tc.add_argument("--seed", type=int, default=0)
    tc.add_argument("--compare-regressors", action="store_true", help="also cross-validate the alternative regressors (slow) for the card")
    tc.add_argument("--threads", type=positive_int, default=None, help="CPU threads for torch and BLAS (default: all)")
    tc.add_argument("--quiet", action="store_true")
    tc.set_defaults(handler=_train_tc)

    formation = subparsers.add_parser(
        "train-formation",
        help="fit the ElemNet-style formation-energy model on OQMD formation enthalpies",
        description="Fit the ElemNet-style formation-energy network and write weights, card.json and parity.png.",
    )
    formation.add_argument("--data", type=Path, default=DEFAULT_OQMD_PATH, help="CSV with formula, formation_energy_per_atom")
    formation.add_argument("--out", type=Path, default=Path("checkpoints") / "formation", help="output folder")
    formation.add_argument("--epochs", type=positive_int, default=FormationConfig.epochs, help="epochs per network")
    formation.add_argument("--ensemble", type=positive_int, default=FormationConfig.ensemble_size, help="networks to train and average")
    formation.add_argument("--weight-decay", type=bounded_float(0, 100), default=FormationConfig.weight_decay, help="AdamW decoupled weight decay")
    formation.add_argument("--dropout", type=bounded_float(0, 1), default=FormationConfig.dropout, help="dropout after each block (training only)")
    formation.add_argument("--seed", type=int, default=FormationConfig.seed)
    formation.add_argument("--max-minutes", type=float, default=FormationConfig.max_minutes, help="time budget of the whole ensemble")
    formation.add_argument("--threads", type=positive_int, default=None, help="CPU threads for torch and BLAS (default: all)")
    formation.add_argument("--quiet", action="store_true", help="no progress bar")
    formation.set_defaults(handler=_train_formation)

    screen = subparsers.add_parser(
        "screen",
        help="score formulas: SMACT validity, superconductor probability, Tc, formation energy",
        description="Score a text file (one formula per line) or a CSV with a 'formula' column; output keeps input order.",
    )
    screen.add_argument("--in", dest="input", type=Path, required=True, help="formulas.txt or a CSV with a formula column")
    screen.add_argument("--out", type=Path, required=True, help="output CSV")
    screen.add_argument("--models", type=Path, default=None, help="models folder (default: the repository's checkpoints/)")
    screen.add_argument("--mixed-valence", action="store_true", help="SMACT variant letting an element mix two oxidation states")
    screen.add_argument("--smact-timeout", type=float, default=DEFAULT_TIMEOUT_SECONDS, help="seconds per formula for SMACT")
    screen.add_argument("--quiet", action="store_true", help="no progress bar")
    screen.set_defaults(handler=_screen)
