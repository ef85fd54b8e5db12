"""``superdiff build-map`` and ``superdiff families``: the SuperCon family map from the command line."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from ..artifacts import DEFAULT_MODELS_DIR, write_text_atomically
from ..data import DEFAULT_SUPERCON_PATH
from ..errors import CheckpointError, InputError
from ..families import annotate_candidates
from ..maps import MAPS_FOLDER, load_class_map
from ..model_classes import MODEL_CLASSES, check_model_class
from ..results import write_candidates_csv


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``build-map`` and ``families`` subcommands."""
    build = subparsers.add_parser(
        "build-map",
        help="fit the SuperCon t-SNE maps and family clusters (checkpoints/maps)",
        description="Fit one openTSNE map per model class on SuperCon's atomic fractions, cluster SuperCon "
        "into named families and write compact artifacts plus card.json.",
    )
    build.add_argument("--supercon", default=str(DEFAULT_SUPERCON_PATH), help="SuperCon_with_types.dat (default: %(default)s)")
    build.add_argument("--out", default=str(DEFAULT_MODELS_DIR / MAPS_FOLDER), help="maps folder (default: %(default)s)")
    build.add_argument("--classes", nargs="+", default=list(MODEL_CLASSES), metavar="CLASS",
                       help=f"model classes to build (default: all of {', '.join(MODEL_CLASSES)})")
    build.add_argument("--seed", type=int, default=0, help="seed of clustering and t-SNE (default: 0)")
    build.set_defaults(handler=run_build_map)

    families = subparsers.add_parser(
        "families",
        help="place candidates on the SuperCon map and list their families with general formulas",
        description="Read a candidate CSV (needs a 'formula' column; 'tc_kelvin' is used if present), place it "
        "on the map of one model class, and write one row per family: id, general formula, variable ranges, "
        "members, predicted Tc, nearest SuperCon family and its distance.",
    )
    families.add_argument("--in", dest="input", required=True, help="candidate CSV with a 'formula' column")
    families.add_argument("--model", required=True, help=f"model class: {', '.join(MODEL_CLASSES)}")
    families.add_argument("--out", required=True, help="families CSV to write")
    families.add_argument("--models", default=str(DEFAULT_MODELS_DIR), help="models folder with maps/ (default: %(default)s)")
    families.add_argument("--annotated", help="also write the candidates with the map columns to this CSV")
    families.add_argument("--preview", action="store_true", help="fast median-of-neighbours placement instead of t-SNE optimisation")
    families.set_defaults(handler=run_families)


def run_build_map(args: argparse.Namespace) -> int:
    """Build the maps; prints the chosen clustering per class and the artifact sizes."""
    for model_class in args.classes:
        check_model_class(model_class)
    from ..map_building import build_maps

    card = build_maps(args.supercon, args.out, classes=args.classes, seed=args.seed)
    for name, entry in card["classes"].items():
        print(
            f"{name}: {entry['n_compositions']} compositions, {entry['n_clusters']} clusters "
            f"({entry['method']}), silhouette {entry['silhouette']}, {entry['bytes'] / 1e6:.2f} MB"
        )
    print(f"wrote {Path(args.out) / 'card.json'}; all maps {card['total_bytes'] / 1e6:.2f} MB")
    return 0


def predicted_tc(vectors: np.ndarray, models_dir: str | Path) -> np.ndarray | None:
    """Predicted Tc (K) per composition from the property models, or None if they are not built."""
    try:
        from ..properties import load_property_models

        return load_property_models(models_dir).score(vectors)["tc_kelvin"].to_numpy(dtype=float)
    except (ImportError, CheckpointError) as error:
        print(f"superdiff families: no predicted Tc ({str(error).splitlines()[0]})", file=sys.stderr)
        return None


def run_families(args: argparse.Namespace) -> int:
    """Annotate a candidate file and write its families table."""
    check_model_class(args.model)
    from ..formula_lists import read_formula_file
    from ..properties import encode_formulas

    table = read_formula_file(args.input)
    class_map = load_class_map(args.models, args.model)
    vectors, notes = encode_formulas(table["formula"].astype(str).tolist())
    parsed = np.array([not note for note in notes], dtype=bool)
    if not parsed.any():
        raise InputError(f"{args.input}: no row has a formula that parses (first: {notes[0]})")
    if not parsed.all():
        first = notes[int(np.flatnonzero(~parsed)[0])]
        print(f"skipped {int((~parsed).sum())} rows whose formula does not parse (first: {first})")
        table, vectors = table[parsed].reset_index(drop=True), vectors[parsed]
    if "tc_kelvin" not in table.columns:
        tc = predicted_tc(vectors, args.models)
        if tc is not None:
            table = table.assign(tc_kelvin=tc)
    annotated, families = annotate_candidates(table, vectors, class_map, preview=args.preview)
    write_text_atomically(args.out, families.to_csv(index=False))
    if args.annotated:
        write_candidates_csv(annotated, args.annotated)
    n_new = int(families["is_new_family"].sum()) if len(families) else 0
    inside = int((annotated["cluster"] >= 0).sum())
    print(
        f"{len(annotated)} candidates: {inside} inside SuperCon clusters; {len(families)} "
        f"{'family' if len(families) == 1 else 'families'} ({n_new} new); wrote {args.out}"
    )
    return 0
