"""``superdiff screen``: score a list of formulas through the one engine
(:func:`superdiff_core.run.screen_formulas`), as the app's Screen page does."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..model_classes import MODEL_CLASSES
from .arguments import add_models_argument, check_writable, positive_float


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``screen``."""
    from ..smact_check import DEFAULT_TIMEOUT_SECONDS

    screen = subparsers.add_parser(
        "screen",
        help="score formulas: SMACT validity, superconductor probability, Tc, formation energy",
        description="Score a text file (one formula per line) or a CSV with a 'formula' column; output keeps input order.",
    )
    screen.add_argument("--in", dest="input", type=Path, required=True, help="formulas.txt or a CSV with a formula column")
    screen.add_argument("--out", type=Path, required=True, help="output CSV")
    add_models_argument(screen)
    screen.add_argument("--map", dest="map_class", choices=MODEL_CLASSES, default=None,
                        help="also place the formulas on this class's SuperCon map and find families (default: no map)")
    screen.add_argument("--mixed-valence", action="store_true", help="SMACT variant letting an element mix two oxidation states")
    screen.add_argument("--smact-timeout", type=positive_float, default=DEFAULT_TIMEOUT_SECONDS,
                        help=f"seconds per formula for SMACT, > 0 (default: {DEFAULT_TIMEOUT_SECONDS:g})")
    screen.add_argument("--quiet", action="store_true", help="no progress bar")
    screen.set_defaults(handler=run_screen)


def run_screen(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from ..formula_lists import read_formula_file
    from ..funnel import Thresholds, table_funnel
    from ..results import write_candidates_csv
    from ..run import load_run_models, screen_formulas

    table = read_formula_file(args.input)
    check_writable(args.out)
    models = load_run_models(args.models, args.map_class, with_map=args.map_class is not None)
    if models.property_models is None:  # scoring is what screen is for: no silent half result
        from ..errors import CheckpointError

        raise CheckpointError(models.notes[0].removeprefix("no property scores: "))
    with tqdm(total=len(table), desc="SMACT", unit="formula", disable=args.quiet, file=sys.stderr) as bar:
        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.n = done
            bar.refresh()

        record = screen_formulas(
            table["formula"].tolist(), models, map_class=args.map_class or "everything", mixed_valence=args.mixed_valence,
            smact_timeout_s=args.smact_timeout, extra_columns=table, progress=progress,
        )
    for note in record.notes:
        print(note)
    stages, _ = table_funnel(record.table, Thresholds(), record.mixed_valence)
    print("funnel:")
    for stage in [*record.leading_stages, *stages]:
        print(f"  {stage.label:<36} {'n/a' if stage.count is None else stage.count:>8}")
    out = record.table
    notes = out["note"].astype(str)
    counts = {
        "unparsable": int(notes.str.startswith("unparsable").sum()),
        "element outside formation coverage": int(notes.str.contains("outside the model's").sum()),
        "SMACT timeout": int(notes.str.contains("SMACT timeout").sum()),
    }
    problems = ", ".join(f"{count} {reason}" for reason, count in counts.items() if count) or "no problems"
    write_candidates_csv(out, args.out)
    valid = int(out["smact_valid"].fillna(False).sum())
    superconductors = int(out["is_superconductor"].fillna(False).sum()) if "is_superconductor" in out else 0
    print(
        f"screened {len(out)} formulas ({problems}): {valid} SMACT-valid, {superconductors} predicted superconductors "
        f"(of all rows); wrote {args.out}"
    )
    return 0
