"""Subcommands that fit the property models: ``train-tc`` and ``train-formation``."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import InputError
from .arguments import apply_threads, bounded_float, positive_int

# --------------------------------------------------------------------------- training


def _train_tc(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from ..properties.supercon_data import DEFAULT_COD, DEFAULT_OQMD, DEFAULT_SUPERCON_STANEV, DEFAULT_SUPERCON_TYPED
    from ..properties.superconductor import GuidanceConfig
    from ..properties.superconductor_training import REGRESSOR_ALTERNATIVES, SHIPPED_CLASSIFIER, retrain_classifier, train_tc

    apply_threads(args.threads)
    args.supercon = args.supercon or DEFAULT_SUPERCON_TYPED
    args.non_superconductors = args.non_superconductors or DEFAULT_SUPERCON_STANEV
    args.cod = args.cod or DEFAULT_COD
    if args.oqmd_negatives and args.oqmd is None:
        args.oqmd = DEFAULT_OQMD
    for path in (args.supercon, args.non_superconductors, args.cod, args.oqmd):
        if path is not None and not Path(path).is_file():
            raise InputError(f"file not found: {path}")
    classifier_config = replace(SHIPPED_CLASSIFIER, features=args.classifier_features or SHIPPED_CLASSIFIER.features)
    data_options = dict(cod_path=args.cod, oqmd_path=args.oqmd, oqmd_negatives=args.oqmd_negatives, oqmd_selection=args.oqmd_selection,
                        classifier_config=classifier_config, seed=args.seed, progress=not args.quiet)
    if args.classifier_only:
        card = retrain_classifier(args.supercon, args.non_superconductors, args.out, **data_options)
        _print_classifier(card)
        return 0
    card = train_tc(
        args.supercon, args.non_superconductors, args.out, **data_options,
        compare_regressors=REGRESSOR_ALTERNATIVES if args.compare_regressors else (),
        guidance_config=None if args.no_guidance else GuidanceConfig(),
    )
    _print_classifier(card)
    overall = card["regressor"]["cross_validated"]["overall"]
    knn = card["regressor"]["knn_baseline"]["overall"]
    print(f"tc models written to {args.out}: Tc R² {overall['r2']:.3f}, MAE {overall['mae']:.2f} K (k-NN: R² {knn['r2']:.3f}); "
          f"{card['wall_time_s']:.0f} s")
    missed = [name for name, met in card["targets_met"].items() if not met]
    if missed:
        print(f"targets not met: {', '.join(missed)} (see card.json)")
    return 0


def _print_classifier(card: dict) -> None:
    """One line of the classifier's held-out and real-attempts figures from a ``train-tc`` card."""
    classifier = card["classifier"]["cross_validated"]
    honest = card["classifier"]["real_synthesis_attempts"]["not_in_training"]
    shipped = honest["at_shipped_threshold"]
    print(
        f"classifier: tp {classifier['true_positive_rate']:.3f}, fp {classifier['pooled']['false_positive_rate']:.3f} pooled "
        f"(ROC-AUC {classifier['pooled']['roc_auc']:.3f}); real synthesis attempts not seen in training: ROC-AUC "
        f"{honest['roc_auc']:.3f}, tp {shipped['true_positive_rate']:.3f}, precision {shipped['precision']:.3f}"
    )


FORMATION_FLAGS = ("architecture", "epochs", "seed", "max_minutes", "train_subsample", "learning_rate", "warmup_epochs",
                   "swa_epochs", "swa_learning_rate", "init_from")
"""Flags that set a :class:`FormationConfig` field of the same name; left out, the field keeps its default."""


def _train_formation(args: argparse.Namespace) -> int:
    from ..properties.formation import DEFAULT_OQMD_PATH, DEFAULT_TRAIN_PATH
    from ..properties.formation_training import FormationConfig, train_formation

    apply_threads(args.threads)
    given = {name: getattr(args, name) for name in FORMATION_FLAGS if getattr(args, name) is not None}
    if "init_from" in given:
        given["init_from"] = str(given["init_from"])
    config = FormationConfig(**given)
    card = train_formation(args.out, args.train or DEFAULT_TRAIN_PATH, args.data or DEFAULT_OQMD_PATH, config,
                           element_table_path=args.element_table, progress=not args.quiet,
                           ensemble=args.ensemble, resume=args.resume)
    typical = card["metrics"]["test_without_dft_outliers"]
    coverage = card["metrics"]["spread"]["test_coverage"]
    print(
        f"formation model written to {args.out}: test MAE {typical['mae']:.4f} eV/atom (|E| <= 5, n={typical['n']}), "
        f"R² {typical['r2']:.4f}; 1-std coverage {coverage['within_1_std']:.3f}; best epoch {card['training']['best_epoch']} "
        f"of {card['training']['epochs_run']} ({card['training']['stopped_because']}, {card['training']['wall_time_s']:.0f} s); "
        f"shipped: {card['training']['shipped_weights']}"
    )
    return 0


# --------------------------------------------------------------------------- parsers


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``train-tc`` and ``train-formation``."""
    # defaults are filled in by the handlers (the data paths from ../shared/data, the rest from
    # FormationConfig), so building the parser imports no torch
    tc = subparsers.add_parser(
        "train-tc",
        help="fit the superconductor classifier, the Tc regressor and the guidance network",
        description="Cross-validate (folds by composition), fit and write the classifier and Tc regressor with card.json.",
    )
    tc.add_argument("--supercon", type=Path, default=None,
                    help="SuperCon_with_types.dat (superconductors; default: ../shared/data/supercon/)")
    tc.add_argument("--non-superconductors", type=Path, default=None,
                    help="Supercon_data.csv (Tc = 0 rows are negatives; default: ../shared/data/supercon/)")
    tc.add_argument("--cod", type=Path, default=None,
                    help="cod_inorganic_formulas.csv: filtered COD formulas are the main negatives (default: ../shared/data/cod/)")
    tc.add_argument("--oqmd", type=Path, default=None,
                    help=("formation_enthalpy.csv: OQMD formulas not in SuperCon as extra negatives "
                          "(default with --oqmd-negatives: ../shared/data/oqmd/)"))
    tc.add_argument("--oqmd-negatives", type=int, default=0, help="how many OQMD negatives to add")
    tc.add_argument("--oqmd-selection", choices=["random", "similar"], default="random",
                    help="how the OQMD negatives are drawn: uniformly, or weighted by closeness to a superconductor")
    tc.add_argument("--classifier-features", choices=["amount+fraction+properties", "amount+fraction+magpie"], default=None,
                    help="the classifier's inputs (default: amount+fraction+properties, the regressor's)")
    tc.add_argument("--classifier-only", action="store_true",
                    help="replace only the classifier in --out, keeping the stored Tc regressor, interval and guidance network")
    tc.add_argument("--no-guidance", action="store_true", help="skip the differentiable guidance network")
    tc.add_argument("--out", type=Path, default=Path("checkpoints") / "tc", help="output folder")
    tc.add_argument("--seed", type=int, default=0)
    tc.add_argument("--compare-regressors", action="store_true", help="also cross-validate the alternative regressors (slow) for the card")
    tc.add_argument("--threads", type=positive_int, default=None, help="CPU threads for torch and BLAS (default: all)")
    tc.add_argument("--quiet", action="store_true")
    tc.set_defaults(handler=_train_tc)

    formation = subparsers.add_parser(
        "train-formation",
        help="fit the formation-energy model on OQMD formation enthalpies (resumable)",
        description=("Fit the formation-energy network on --train, pick the epoch and calibrate the spread on the validation "
                     "part of --data, report on its fixed test part; write formation.pt, card.json and parity.png. "
                     "A training state is saved after every epoch: --resume continues a stopped or interrupted run exactly."),
    )
    formation.add_argument("--train", type=Path, default=None,
                           help=("training CSV (formula, formation_energy_per_atom; "
                                 "default: ../shared/data/oqmd/formation_enthalpy_train.csv)"))
    formation.add_argument("--data", type=Path, default=None,
                           help=("evaluation CSV: split by composition into train/validation/test "
                                 "(default: ../shared/data/oqmd/formation_enthalpy.csv)"))
    formation.add_argument("--out", type=Path, default=Path("checkpoints") / "formation", help="output folder")
    formation.add_argument("--architecture", choices=["attention", "mlp"], default=None, help="default: attention")
    formation.add_argument("--element-table", type=Path, default=None,
                           help="mat2vec.csv from the crabnet wheel (default: the table stored in the committed weights)")
    formation.add_argument("--epochs", type=positive_int, default=None, help="epochs (cosine schedule length)")
    formation.add_argument("--train-subsample", type=positive_int, default=None, help="train on this many random rows (default: all)")
    formation.add_argument("--ensemble", type=positive_int, default=1, help="networks to train (seeds seed, seed+1, ...) and average")
    formation.add_argument("--seed", type=int, default=None)
    formation.add_argument("--learning-rate", type=bounded_float(0, 1), default=None, help="peak AdamW learning rate")
    formation.add_argument("--warmup-epochs", type=bounded_float(0, 1000), default=None, help="linear warm-up length")
    formation.add_argument("--swa-epochs", type=int, default=None,
                           help="average the weights of the last N epochs, run at --swa-learning-rate (stochastic weight averaging)")
    formation.add_argument("--swa-learning-rate", type=bounded_float(0, 1), default=None)
    formation.add_argument("--init-from", type=Path, default=None, help="start from the weights of this formation.pt (warm start)")
    formation.add_argument("--resume", action="store_true", help="continue the run whose training state is in --out")
    formation.add_argument("--max-minutes", type=bounded_float(0, 10000), default=None,
                           help="training time budget per network (summed over resumed runs)")
    formation.add_argument("--threads", type=positive_int, default=None, help="CPU threads for torch and BLAS (default: all)")
    formation.add_argument("--quiet", action="store_true", help="no per-epoch lines")
    formation.set_defaults(handler=_train_formation)
