"""``superdiff generate`` and ``superdiff evaluate``: sampling runs through the one engine
(:func:`superdiff_core.run.run_generation`), the same steps the app's Generate and Explore
pages run."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from ..errors import InputError
from ..model_classes import MODEL_CLASSES
from .arguments import add_models_argument, add_threads_argument, apply_threads, check_writable, positive_int

SAMPLING_FLAGS = ("model", "samples", "steps", "seed", "method", "mixed_valence", "reference", "scale_factor",
                  "ilvr_stop", "filter_order", "resample_steps", "resample_count", "keep_invalid", "keep_known", "guide")
"""Flags that ``--settings FILE`` sets; giving one of them as well is an error."""


def add_sampling_arguments(parser: argparse.ArgumentParser, default_samples: int) -> None:
    from ..pipeline import MAX_SAMPLES_PER_RUN
    from ..sampler import DEFAULT_METHOD

    parser.add_argument("--model", choices=MODEL_CLASSES, default=None, help="model class (required unless --settings)")
    parser.add_argument("--samples", type=positive_int, default=None,
                        help=f"samples per reference and per N, at most {MAX_SAMPLES_PER_RUN:,} (default: {default_samples})")
    parser.add_argument("--steps", type=int, default=None,
                        help="reverse diffusion steps, 1..1000; fewer is faster (default: 50 for cuprates and pnictides, 100 for others and everything)")
    parser.add_argument("--seed", type=int, default=None,
                        help="random seed; run i of the (reference, N) runs uses seed + i, and the same seed gives the same candidates (default: 0)")
    parser.add_argument("--method", choices=("ancestral", "ddpm", "ddim"), default=None,
                        help=f"reverse update: ancestral (good at few steps), ddpm (the paper's sigma^2 = beta, use 1000 steps) or ddim (default: {DEFAULT_METHOD})")
    parser.add_argument("--mixed-valence", action="store_true", default=None, help="SMACT check lets an element mix two oxidation states")
    parser.add_argument("--guide", type=guide_argument, default=None, metavar="WEIGHTS",
                        help="steer sampling toward properties, e.g. tc=1.0,formation=0.5,superconductor=0.5: the "
                             "guidance network's Tc (per 50 K), its log-probability of superconductivity, minus the "
                             "formation energy (eV/atom); weights >= 0, 0 = off. Candidates are still scored by the "
                             "independent tree models, which the guide may fool (benchmarks/README.md) (default: off)")
    parser.add_argument("--cpu", action="store_true", help="run on the CPU even if a GPU is present")
    add_models_argument(parser)
    add_threads_argument(parser)
    parser.set_defaults(default_samples=default_samples)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``generate`` and ``evaluate``."""
    from ..sampler import DEFAULT_CONDITIONING_STOP, DEFAULT_RESAMPLE_COUNT, DEFAULT_RESAMPLE_STEPS

    generate = subparsers.add_parser(
        "generate", help="generate candidates, optionally conditioned on reference formulas (ILVR)",
        description="Sample, screen, score and place candidates; writes one CSV (and the run-settings JSON beside it).",
    )
    add_sampling_arguments(generate, default_samples=500)
    generate.add_argument("--reference", action="append", default=None,
                          help="reference formula (repeatable; commas or semicolons separate several); none: unconditional")
    generate.add_argument("--scale-factor", type=int, nargs="+", default=None,
                          help="ILVR scale factors N, 1..32; above 4 gives many invalid compounds (default: 2 3 4)")
    generate.add_argument("--ilvr-stop", type=int, default=None,
                          help=f"ILVR acts on timesteps >= this; 0 = every step, as in the paper (default: {DEFAULT_CONDITIONING_STOP})")
    generate.add_argument("--filter-order", type=filter_order_argument, default=None,
                          help="element order ILVR's low-pass filter smooths along: z = atomic number, as in the paper "
                               "(Se mixes with As and Br); pettifor = Pettifor's Mendeleev number (Se mixes with S and Te) "
                               "(default: z)")
    generate.add_argument("--resample-steps", type=int, default=None,
                          help="ILVR resampling: the last this many conditioned steps run --resample-count times each, "
                               f"so the spread of the filter onto neighbouring elements is cleaned up; 0 = the paper's loop "
                               f"(default: {DEFAULT_RESAMPLE_STEPS})")
    generate.add_argument("--resample-count", type=int, default=None,
                          help=f"runs of each resampled step, 1..20 (default: {DEFAULT_RESAMPLE_COUNT})")
    generate.add_argument("--keep-invalid", action="store_true", default=None, help="keep SMACT-invalid candidates (smact_valid=False)")
    generate.add_argument("--keep-known", action="store_true", default=None, help="keep candidates already in SuperCon (novel=False)")
    generate.add_argument("--settings", type=Path, default=None,
                          help="run the settings of a run-settings JSON (the app's download, or one written by generate)")
    generate.add_argument("--no-map", action="store_true", help="skip map placement and family discovery (faster)")
    generate.add_argument("--out", type=Path, default=Path("candidates.csv"), help="candidate CSV (default: candidates.csv)")
    generate.set_defaults(handler=run_generate)

    evaluate = subparsers.add_parser("evaluate", help="the paper's Table-1 metrics on unconditional samples")
    add_sampling_arguments(evaluate, default_samples=5000)
    evaluate.add_argument("--json", type=Path, default=None, help="write the metrics here as JSON")
    evaluate.add_argument("--update-card", action="store_true", help="record the metrics in the class's model card")
    evaluate.set_defaults(handler=run_evaluate)


def filter_order_argument(text: str) -> str:
    """argparse type of ``--filter-order``: ``z`` or ``pettifor`` (exit 2 with one line otherwise)."""
    from ..chemical_order import FILTER_ORDERS

    if text not in FILTER_ORDERS:
        raise argparse.ArgumentTypeError(f"choose {' or '.join(FILTER_ORDERS)}, not {text!r}")
    return text


def guide_argument(text: str):
    """argparse type of ``--guide``: :class:`~superdiff_core.guidance.GuidanceWeights` (exit 2 with one line otherwise)."""
    from ..guidance import parse_guide

    try:
        return parse_guide(text)
    except InputError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def settings_from_args(args: argparse.Namespace):
    """The :class:`GenerationSettings` of the command line (or of ``--settings FILE``)."""
    from ..composition import parse_formulas
    from ..pipeline import GenerationSettings
    from ..run_settings import settings_from_json
    from ..screening import ScreeningOptions

    settings_file = getattr(args, "settings", None)
    if settings_file is not None:
        given = [f"--{name.replace('_', '-')}" for name in SAMPLING_FLAGS if getattr(args, name, None) is not None]
        if given:
            raise InputError(f"--settings sets the run; leave out {', '.join(given)}")
        if not settings_file.is_file():
            raise InputError(f"settings file not found: {settings_file}")
        settings, _ = settings_from_json(settings_file.read_bytes())
    else:
        if args.model is None:
            raise InputError("give --model CLASS (one of " + ", ".join(MODEL_CLASSES) + ") or --settings FILE")
        references: list[str] = []
        for text in getattr(args, "reference", None) or []:
            parsed, errors = parse_formulas(text)
            if errors:
                raise InputError(f"bad reference: {errors[0]}")
            references.extend(p.text for p in parsed)
        screening = ScreeningOptions(
            mixed_valence=bool(args.mixed_valence),
            keep_invalid=bool(getattr(args, "keep_invalid", False)),
            keep_known=bool(getattr(args, "keep_known", False)),
        )
        values = {
            "model_class": args.model, "references": tuple(references), "samples": args.samples or args.default_samples,
            "steps": args.steps, "seed": args.seed, "method": args.method, "screening": screening,
            "scale_factors": tuple(args.scale_factor) if getattr(args, "scale_factor", None) else None,
            "conditioning_stop": getattr(args, "ilvr_stop", None) if references else 0,
            "filter_order": getattr(args, "filter_order", None),
            "resample_steps": getattr(args, "resample_steps", None),
            "resample_count": getattr(args, "resample_count", None),
            "guidance": getattr(args, "guide", None),
        }
        settings = GenerationSettings(**{key: value for key, value in values.items() if value is not None})
    settings.validate()
    return settings


def parsed_references(settings):
    """The settings' references as :class:`ParsedFormula` (one-line error for a bad one)."""
    from ..composition import parse_formulas

    references = []
    for text in settings.references:
        parsed, errors = parse_formulas(text)
        if errors:
            raise InputError(f"bad reference: {errors[0]}")
        references.extend(parsed)
    return references


def _load_engine(args: argparse.Namespace, model_class: str):
    from ..device import describe_device, select_device
    from ..pipeline import load_engine

    apply_threads(args.threads)
    device = select_device(force_cpu=args.cpu)
    engine = load_engine(model_class, args.models, device)
    print(f"{model_class} model on {describe_device(device)}")
    return engine


def _run(args: argparse.Namespace, settings, with_map: bool, evaluate: bool):
    import warnings

    from tqdm.auto import tqdm

    from ..run import load_run_models, run_generation

    references = parsed_references(settings)
    engine = _load_engine(args, settings.model_class)
    models = load_run_models(args.models, settings.model_class, with_map=with_map)
    with tqdm(total=1, unit="step", desc="sampling") as bar, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the N > 4 warning is printed once below instead

        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.n = done
            bar.refresh()

        record = run_generation(
            engine, settings, references, models, kind="explore" if evaluate else "generate", evaluate=evaluate,
            progress=progress, keep_partial=False,
        )
    if references and max(settings.scale_factors) > 4:
        print("warning: N > 4 gives many invalid compounds (negative amounts), as the paper found")
    for line in funnel_lines(record):
        print(line)
    for note in record.notes:
        print(note)
    return record


def funnel_lines(record) -> list[str]:
    """The per-stage counts of a run as printable lines."""
    lines = []
    for stage in record.engine_stages or []:
        removed = f"  (removed {stage.removed})" if stage.stage != "raw" else ""
        lines.append(f"{stage.stage:<14} {stage.remaining:>8}{removed}")
    if math.isnan(record.unique_percent):
        lines.append("unique –, novel – (no sample passed the basic filters)")
    else:
        lines.append(f"unique {record.unique_percent:.2f} %, novel {record.novel_percent:.2f} % (of samples passing the basic filters)")
    return lines


def settings_path_for(out: Path) -> Path:
    """Where the run-settings JSON of a candidate CSV goes: ``candidates.settings.json``."""
    return out.with_name(f"{out.stem}.settings.json")


def run_generate(args: argparse.Namespace) -> int:
    from ..artifacts import write_text_atomically
    from ..checkpoints import read_diffusion_card
    from ..results import write_candidates_csv
    from ..run_settings import run_settings_json

    settings = settings_from_args(args)
    check_writable(args.out)
    record = _run(args, settings, with_map=not args.no_map, evaluate=False)
    write_candidates_csv(record.table, args.out)
    settings_file = settings_path_for(args.out)
    write_text_atomically(settings_file, run_settings_json(settings, model_card=read_diffusion_card(args.models, settings.model_class)))
    print(f"wrote {len(record.table)} candidates to {args.out} (settings: {settings_file})")
    return 0


def run_evaluate(args: argparse.Namespace) -> int:
    from ..artifacts import write_card, write_json_atomically
    from ..checkpoints import diffusion_dir, read_diffusion_card
    from ..evaluation import metrics_table

    settings = settings_from_args(args)
    check_writable(args.json)
    record = _run(args, settings, with_map=False, evaluate=True)
    metrics = record.metrics
    print(metrics_table(metrics))
    if args.json is not None:
        write_json_atomically(args.json, metrics)
        print(f"wrote {args.json}")
    if args.update_card:
        card = read_diffusion_card(args.models, settings.model_class)
        card.setdefault("metrics", {})[f"unconditional_{settings.method}_{settings.steps}_steps"] = metrics
        write_card(diffusion_dir(args.models, settings.model_class), card)
        print(f"updated {diffusion_dir(args.models, settings.model_class) / 'card.json'}")
    return 0
