"""``superdiff build-phases``: reduce OQMD to the known phases of the hull (checkpoints/phases)."""

from __future__ import annotations

import argparse

from ..artifacts import DEFAULT_MODELS_DIR
from ..phase_building import DEFAULT_OQMD_FILES, PHASES_FOLDER, build_phases


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``build-phases`` subcommand."""
    build = subparsers.add_parser(
        "build-phases",
        help="reduce OQMD formation energies to the stable known phases (checkpoints/phases)",
        description="Read OQMD formation-enthalpy CSVs (formula, formation_energy_per_atom), drop failed DFT rows "
        "(|E| > 5 eV/atom), put elements at 0, keep the phases on the hull of their own chemical system and write "
        "phases.npz plus card.json.",
    )
    build.add_argument("files", nargs="*", default=[str(p) for p in DEFAULT_OQMD_FILES],
                       help="OQMD CSVs (default: both files of ../shared/data/oqmd)")
    build.add_argument("--out", default=str(DEFAULT_MODELS_DIR / PHASES_FOLDER), help="output folder (default: %(default)s)")
    build.set_defaults(handler=run_build_phases)


def run_build_phases(args: argparse.Namespace) -> int:
    """Build the artifact; prints what was kept and dropped."""
    card = build_phases(args.files, args.out)
    reduction = card["reduction"]
    print(f"{reduction['rows_read']} rows read, {reduction['failed_dft_dropped']} failed DFT rows dropped, "
          f"{reduction['compositions']} compositions, {reduction['stable_phases_kept']} stable phases kept in {args.out}")
    return 0
