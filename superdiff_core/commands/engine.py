"""``superdiff prepare-data``, ``train``, ``generate`` and ``evaluate``."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..checkpoints import DEFAULT_MODELS_DIR
from ..data import DEFAULT_SUPERCON_PATH, MODEL_CLASSES
from ..errors import InputError


def positive_int(text: str) -> int:
    """argparse type: an integer ≥ 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def bounded_float(low: float, high: float):
    """argparse type: a number in [low, high)."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if not low <= value < high:
            raise argparse.ArgumentTypeError(f"must be at least {low:g} and below {high:g}, got {text}")
        return value

    return parse


def add_models_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--models", type=Path, default=DEFAULT_MODELS_DIR, help="models folder (default: the repository's checkpoints/)")


def add_threads_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--threads", type=positive_int, default=None, help="CPU threads for torch (default: torch's choice)")


def apply_threads(threads: int | None) -> None:
    if threads is not None:
        import torch

        torch.set_num_threads(threads)


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
    train.add_argument("--resume", action="store_true", help="continue from the checkpoint in --out (kept unless validation improves)")
    add_threads_argument(train)
    train.set_defaults(handler=run_train)

    register_generation(subparsers)


def run_prepare_data(args: argparse.Namespace) -> int:
    from ..data import load_supercon, write_training_set

    dataset = load_supercon(args.supercon)
    for line in dataset.report.lines():
        print(line)
    print(f"wrote {write_training_set(dataset, args.out)}")
    return 0


def run_train(args: argparse.Namespace) -> int:
    import dataclasses

    from ..data import load_supercon, write_training_set
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
    result = train_diffusion(dataset, args.model, args.out, config, settings, resume=args.resume)
    print(
        f"{args.model}: best epoch {result.best_epoch} (validation loss {result.best_validation_loss:.4f}), "
        f"{len(result.train_losses)} epochs in {result.wall_seconds / 60:.1f} min; saved under {args.out}/diffusion/{args.model}/"
    )
    return 0


def add_sampling_arguments(parser: argparse.ArgumentParser, default_samples: int) -> None:
    from ..sampler import DEFAULT_METHOD
    from ..pipeline import MAX_SAMPLES_PER_RUN

    parser.add_argument("--model", required=True, choices=MODEL_CLASSES, help="model class")
    parser.add_argument("--samples", type=positive_int, default=default_samples, help=f"samples per reference and per N (at most {MAX_SAMPLES_PER_RUN})")
    parser.add_argument("--steps", type=int, default=None, help="reverse diffusion steps, 1..1000 (default: 50 for cuprates and pnictides, 100 for others and everything; fewer is faster)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--method", choices=("ancestral", "ddpm", "ddim"), default=DEFAULT_METHOD, help="reverse update: ancestral (default, good at few steps), ddpm (the paper's sigma^2 = beta, use 1000 steps) or ddim")
    parser.add_argument("--mixed-valence", action="store_true", help="SMACT check lets an element mix two oxidation states")
    parser.add_argument("--cpu", action="store_true", help="run on the CPU even if a GPU is present")
    add_models_argument(parser)
    add_threads_argument(parser)


def register_generation(subparsers: argparse._SubParsersAction) -> None:
    from ..sampler import DEFAULT_CONDITIONING_STOP

    generate = subparsers.add_parser("generate", help="generate candidates, optionally conditioned on reference formulas (ILVR)")
    add_sampling_arguments(generate, default_samples=500)
    generate.add_argument("--reference", action="append", default=[], help="reference formula (repeatable; commas or semicolons separate several)")
    generate.add_argument("--scale-factor", type=int, nargs="+", default=[2, 3, 4], help="ILVR scale factors N (1..32; above 4 gives many invalid compounds)")
    generate.add_argument("--ilvr-stop", type=int, default=DEFAULT_CONDITIONING_STOP, help="ILVR acts on timesteps >= this (0 = every step, as in the paper)")
    generate.add_argument("--out", type=Path, default=Path("candidates.csv"), help="candidate CSV")
    generate.add_argument("--keep-invalid", action="store_true", help="keep SMACT-invalid candidates (smact_valid=False)")
    generate.add_argument("--keep-known", action="store_true", help="keep candidates already in SuperCon (novel=False)")
    generate.add_argument("--no-map", action="store_true", help="skip map placement and family discovery (faster)")
    generate.set_defaults(handler=run_generate)

    evaluate = subparsers.add_parser("evaluate", help="the paper's Table-1 metrics on unconditional samples")
    add_sampling_arguments(evaluate, default_samples=5000)
    evaluate.add_argument("--json", type=Path, default=None, help="write the metrics here as JSON")
    evaluate.add_argument("--update-card", action="store_true", help="record the metrics in the class's model card")
    evaluate.set_defaults(handler=run_evaluate)


def _settings_from_args(args: argparse.Namespace, references: tuple[str, ...], scale_factors: tuple[int, ...]):
    from ..pipeline import GenerationSettings
    from ..screening import ScreeningOptions

    screening = ScreeningOptions(
        mixed_valence=args.mixed_valence,
        keep_invalid=getattr(args, "keep_invalid", False),
        keep_known=getattr(args, "keep_known", False),
    )
    settings = GenerationSettings(
        model_class=args.model,
        references=references,
        scale_factors=scale_factors,
        samples=args.samples,
        steps=args.steps,
        seed=args.seed,
        method=args.method,
        conditioning_stop=getattr(args, "ilvr_stop", 0),
        screening=screening,
    )
    settings.validate()
    return settings


def _check_writable(path: Path | None) -> None:
    """Fail before a long run, not after it, if the output cannot be written."""
    import os

    if path is None:
        return
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise InputError(f"cannot write {path}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise InputError(f"cannot write {path}: permission denied")
    if path.is_dir():
        raise InputError(f"cannot write {path}: it is a folder")


def _load_engine(args: argparse.Namespace):
    from ..device import describe_device, select_device
    from ..pipeline import load_engine

    apply_threads(args.threads)
    device = select_device(force_cpu=args.cpu)
    engine = load_engine(args.model, args.models, device)
    print(f"{args.model} model on {describe_device(device)}")
    return engine


def _run_with_progress(engine, settings, references):
    from tqdm.auto import tqdm

    from ..pipeline import generate

    with tqdm(total=1, unit="step", desc="sampling") as bar:
        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.n = done
            bar.refresh()

        return generate(engine, settings, references, progress=progress)


def run_generate(args: argparse.Namespace) -> int:
    import warnings

    from ..composition import parse_formulas
    from ..pipeline import funnel_lines
    from ..results import write_candidates_csv
    from ..enrich import enrich_candidates

    references = []
    for text in args.reference:
        parsed, errors = parse_formulas(text)
        if errors:
            raise InputError(f"bad reference: {errors[0]}")
        references.extend(parsed)
    settings = _settings_from_args(args, tuple(r.text for r in references), tuple(args.scale_factor))
    _check_writable(args.out)
    engine = _load_engine(args)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the N > 4 warning is printed once below instead
        result = _run_with_progress(engine, settings, references)
    if references and max(settings.scale_factors) > 4:
        print("warning: N > 4 gives many invalid compounds (negative amounts), as the paper found")
    for line in funnel_lines(result):
        print(line)
    for line in enrich_candidates(result, args.models, with_map=not args.no_map):
        print(line)
    write_candidates_csv(result.table, args.out)
    print(f"wrote {len(result.table)} candidates to {args.out}")
    return 0


def run_evaluate(args: argparse.Namespace) -> int:
    import json

    from ..checkpoints import diffusion_dir, read_card, write_json_atomically
    from ..evaluation import evaluation_metrics, metrics_table
    from ..enrich import enrich_candidates

    settings = _settings_from_args(args, (), ())
    _check_writable(args.json)
    engine = _load_engine(args)
    result = _run_with_progress(engine, settings, [])
    enrich_candidates(result, args.models, with_map=False)
    metrics = evaluation_metrics(result, args.models)
    print(metrics_table(metrics))
    if args.json is not None:
        from ..results import write_text_atomically

        write_text_atomically(args.json, json.dumps(metrics, indent=2) + "\n")
        print(f"wrote {args.json}")
    if args.update_card:
        card = read_card(args.models, args.model)
        card.setdefault("metrics", {})[f"unconditional_{settings.method}_{settings.steps}_steps"] = metrics
        write_json_atomically(diffusion_dir(args.models, args.model) / "card.json", card)
        print(f"updated {diffusion_dir(args.models, args.model) / 'card.json'}")
    return 0
