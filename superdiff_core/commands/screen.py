"""``superdiff screen``: score a list of formulas through the one engine
(:func:`superdiff_core.run.screen_formulas`), as the app's Screen page does."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import CheckpointError
from ..model_classes import MODEL_CLASSES
from .arguments import add_models_argument, add_validity_arguments, check_writable, positive_float


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``screen``."""
    from ..smact_check import DEFAULT_TIMEOUT_SECONDS
    from ..validity import DEFAULT_VALIDITY_CHECK

    screen = subparsers.add_parser(
        "screen",
        help="score formulas: validity (charge balance), superconductor probability, Tc, formation energy",
        description="Score a text file (one formula per line) or a CSV with a 'formula' column; output keeps input order.",
    )
    screen.add_argument("--in", dest="input", type=Path, required=True, help="formulas.txt or a CSV with a formula column")
    screen.add_argument("--out", type=Path, required=True, help="output CSV")
    add_models_argument(screen)
    screen.add_argument("--map", dest="map_class", choices=MODEL_CLASSES, default=None,
                        help="also place the formulas on this class's SuperCon map and find families (default: no map)")
    add_validity_arguments(screen, default=DEFAULT_VALIDITY_CHECK)
    screen.add_argument("--smact-timeout", type=positive_float, default=DEFAULT_TIMEOUT_SECONDS,
                        help=f"seconds per formula and validity check, > 0 (default: {DEFAULT_TIMEOUT_SECONDS:g})")
    screen.add_argument("--quiet", action="store_true", help="no progress bar")
    screen.set_defaults(handler=run_screen)


class StageBars:
    """One progress bar per stage of :func:`superdiff_core.run.screen_formulas` on standard
    error (``update`` is its ``progress(stage, done, total)``): each stage shows while it works,
    so a long list has no silent stretch between its bars."""

    def __init__(self, disable: bool = False) -> None:
        self.disable = disable
        self.stage: str | None = None
        self.bar = None

    def update(self, stage: str, done: int, total: int) -> None:
        from tqdm import tqdm

        if stage != self.stage:
            self.close()
            unit = "step" if stage == "map and families" else "formula"
            self.stage, self.bar = stage, tqdm(total=total, desc=stage, unit=unit, disable=self.disable, file=sys.stderr)
        self.bar.total, self.bar.n = total, done
        self.bar.refresh()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        self.stage, self.bar = None, None


def run_screen(args: argparse.Namespace) -> int:
    from ..formula_lists import read_formula_file
    from ..funnel import Thresholds, table_funnel, validity_stage_words
    from ..results import write_candidates_csv
    from ..run import load_run_models, screen_formulas
    from ..validity import VALID_COLUMN

    table = read_formula_file(args.input)
    check_writable(args.out)
    models = load_run_models(args.models, args.map_class, with_map=args.map_class is not None)
    if models.property_models is None:  # scoring is what screen is for: no silent half result

        raise CheckpointError(models.notes[0].removeprefix("no property scores: "))
    bars = StageBars(disable=args.quiet)
    try:
        record = screen_formulas(
            table["formula"].tolist(), models, map_class=args.map_class or "everything", validity_check=args.validity,
            smact_timeout_s=args.smact_timeout, extra_columns=table, progress=bars.update,
        )
    finally:
        bars.close()
    for note in record.notes:
        print(note)
    stages, _ = table_funnel(record.table, Thresholds(), record.validity_check)
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
    valid = int(out[VALID_COLUMN].fillna(False).sum())
    superconductors = int(out["is_superconductor"].fillna(False).sum()) if "is_superconductor" in out else 0
    label = validity_stage_words(record.validity_check)[0]
    print(
        f"screened {len(out)} formulas ({problems}): {valid} {label}, {superconductors} predicted superconductors "
        f"(of all rows); wrote {args.out}"
    )
    return 0
