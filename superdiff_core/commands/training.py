"""``superdiff prepare-data`` and ``train``: build the diffusion checkpoints from SuperCon."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..artifacts import DEFAULT_MODELS_DIR
from ..chemical_order import FILTER_ORDERS
from ..data import DEFAULT_SUPERCON_PATH, load_supercon, write_training_set
from ..errors import InputError
from ..model_classes import MODEL_CLASSES
from .arguments import add_threads_argument, apply_threads, positive_int


def register(subparsers: argparse._SubParsersAction) -> None:
    prepare = subparsers.add_parser("prepare-data", help="encode SuperCon into the run-time training set (checkpoints/supercon/)")
    prepare.add_argument("--supercon", type=Path, default=DEFAULT_SUPERCON_PATH, help="SuperCon_with_types.dat")
    prepare.add_argument("--out", type=Path, default=DEFAULT_MODELS_DIR, help="models folder")
    prepare.set_defaults(handler=run_prepare_data)

    train = subparsers.add_parser("train", help="train the diffusion model of one class")
    train.add_argument("--model", required=True, choices=MODEL_CLASSES)
    train.add_argument("--data", type=Path, default=DEFAULT_SUPERCON_PATH, help="SuperCon_with_types.dat")
    train.add_argument("--out", type=Path, default=DEFAULT_MODELS_DIR, help="models folder")
    train.add_argument("--epochs", type=positive_int, default=None)
    train.add_argument("--batch-size", type=positive_int, default=None)
    train.add_argument("--learning-rate", type=float, default=None)
    train.add_argument("--max-minutes", type=float, default=None, help="wall-time budget")
    train.add_argument("--base-channels", type=positive_int, default=None)
    train.add_argument("--channel-multipliers", type=positive_int, nargs="+", default=None)
    train.add_argument("--blocks-per-level", type=positive_int, default=None)
    train.add_argument("--seed", type=int, default=0)
    train.add_argument(
        "--element-order", choices=FILTER_ORDERS, default="z",
        help="order of the element axis the network convolves along (z: the paper's; pettifor: chemical neighbours)",
    )
    train.add_argument("--resume", action="store_true", help="continue from the checkpoint in --out (kept unless validation improves)")
    add_threads_argument(train)
    train.set_defaults(handler=run_train)



def run_prepare_data(args: argparse.Namespace) -> int:
    dataset = load_supercon(args.supercon)
    for line in dataset.report.lines():
        print(line)
    print(f"wrote {write_training_set(dataset, args.out)}")
    return 0


def run_train(args: argparse.Namespace) -> int:
    import dataclasses

    from ..checkpoints import diffusion_dir
    from ..train import TrainingSettings, train_diffusion
    from ..unet1d import UNetConfig

    apply_threads(args.threads)
    if not args.out.is_dir():
        raise InputError(f"output folder {args.out} does not exist")
    dataset = load_supercon(args.data)
    for line in dataset.report.lines():
        print(line)
    write_training_set(dataset, args.out)
    config_changes = {
        "base_channels": args.base_channels,
        "channel_multipliers": tuple(args.channel_multipliers) if args.channel_multipliers else None,
        "blocks_per_level": args.blocks_per_level,
    }
    settings_changes = {
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "learning_rate": args.learning_rate,
        "max_minutes": args.max_minutes,
        "seed": args.seed,
    }
    config = dataclasses.replace(UNetConfig(), **{k: v for k, v in config_changes.items() if v is not None})
    settings = dataclasses.replace(TrainingSettings(), **{k: v for k, v in settings_changes.items() if v is not None})
    result = train_diffusion(dataset, args.model, args.out, config, settings, resume=args.resume, element_order=args.element_order)
    print(
        f"{args.model}: best epoch {result.best_epoch} (validation loss {result.best_validation_loss:.4f}), "
        f"{len(result.train_losses)} epochs in {result.wall_seconds / 60:.1f} min; "
        f"saved under {diffusion_dir(args.out, args.model, args.element_order)}/"
    )
    return 0
