"""Which SMACT check should the app apply by default? (issue 9, item 6.)

For candidate CSVs written by ``superdiff generate --keep-invalid`` (every candidate
that passed the basic filters, whatever its SMACT verdict), recomputes both verdicts
(the paper's integer-ratio check and the mixed-valence variant), then finds families
among the candidates each check keeps (as a run without ``--keep-invalid`` would) and
counts them: all, new (outside every SuperCon cluster), headline, extension.

Usage (from the repository root):

    superdiff generate --model cuprates --reference HgBa2Ca2Cu3O8.27 --keep-invalid --out hg.csv
    python benchmarks/bench_smact_checks.py --model cuprates hg.csv [more.csv ...]

Map placement uses the fast preview (cluster assignment, hence families, does not depend
on it).  Prints one Markdown table row per file and check.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from superdiff_core.artifacts import DEFAULT_MODELS_DIR  # noqa: E402
from superdiff_core.families import annotate_candidates, vectors_from_formulas  # noqa: E402
from superdiff_core.maps import load_class_map  # noqa: E402
from superdiff_core.smact_check import smact_check_both  # noqa: E402


def measure(path: Path, model_class: str) -> list[dict]:
    """Candidates and families kept by each check for one candidate CSV."""
    table = pd.read_csv(path)
    vectors = vectors_from_formulas(list(table["formula"]))
    paper, mixed = smact_check_both(vectors)
    verdicts = {"paper (integer ratio)": np.array(paper) == "valid", "mixed valence": np.array(mixed) == "valid"}
    class_map = load_class_map(DEFAULT_MODELS_DIR, model_class)
    rows = []
    for check, valid in verdicts.items():
        kept = table[valid].reset_index(drop=True)
        kept["smact_valid"] = True
        families = annotate_candidates(kept, vectors[valid], class_map, preview=True)[1] if len(kept) else pd.DataFrame()
        count = (lambda mask: int(mask.sum())) if len(families) else (lambda mask: 0)
        rows.append(
            {
                "file": path.name,
                "reference": "; ".join(sorted(set(table.get("reference", pd.Series([""])).fillna("").astype(str)))),
                "basic": len(table),
                "check": check,
                "valid": int(valid.sum()),
                "valid_percent": 100.0 * valid.mean() if len(table) else float("nan"),
                "families": len(families),
                "new": count(families["is_new_family"].astype(bool)) if len(families) else 0,
                "headline": count(families["headline"].astype(bool)) if len(families) else 0,
                "extension_headline": count(families["headline"].astype(bool) & (families["family_kind"] == "extension"))
                if len(families)
                else 0,
                "top": families["general_formula"].iloc[0] if len(families) and bool(families["headline"].iloc[0]) else "",
            }
        )
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", type=Path, help="candidate CSVs from generate --keep-invalid")
    parser.add_argument("--model", default="cuprates", help="model class whose map to use (default: %(default)s)")
    args = parser.parse_args()
    print("| reference | basic candidates | check | SMACT-valid | families (new / headline / extension headline) | top headline |")
    print("|---|---|---|---|---|---|")
    for path in args.files:
        for r in measure(path, args.model):
            print(
                f"| {r['reference']} | {r['basic']} | {r['check']} | {r['valid']} ({r['valid_percent']:.1f} %) | "
                f"{r['families']} ({r['new']} / {r['headline']} / {r['extension_headline']}) | {r['top']} |"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
