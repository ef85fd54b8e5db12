"""``superdiff generate`` and ``superdiff evaluate``: sampling runs through the one engine
(:func:`superdiff_core.run.run_generation`), the same steps the app's Generate and Explore
pages run."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from ..device import describe_device, select_device
from ..errors import InputError
from ..guidance_weights import parse_guide
from ..model_classes import MODEL_CLASSES
from .arguments import (
    add_models_argument,
    add_threads_argument,
    add_validity_arguments,
    apply_threads,
    check_writable,
    non_negative_int,
    positive_int,
    print_warnings,
    settings_warnings,
)

SAMPLING_FLAGS = ("model", "order", "samples", "steps", "seed", "method", "validity", "reference", "scale_factor",
                  "ilvr_stop", "filter_order", "resample_steps", "resample_count", "clip", "keep_invalid", "keep_known", "guide",
                  "guide_anywhere", "baseline", "precision")
"""Flags that ``--settings FILE`` sets; giving one of them as well is an error."""


def _shortlist_weights(text: str):
    from ..shortlist import ShortlistWeights

    try:
        return ShortlistWeights.parse(text)
    except InputError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def add_sampling_arguments(parser: argparse.ArgumentParser, default_samples: int) -> None:
    from ..settings import DEFAULT_ELEMENT_ORDER, MAX_SAMPLES_PER_RUN, SAMPLING_METHODS
    from ..timetable import DEFAULT_METHOD, PRECISIONS

    parser.add_argument("--model", choices=MODEL_CLASSES, default=None, help="model class (required unless --settings)")
    parser.add_argument("--order", type=filter_order_argument, default=None,
                        help="which network: the one trained with its element axis in atomic-number order (z, the "
                             "paper's) or in Pettifor's chemical order (pettifor: its convolutions and ILVR's filter "
                             f"mix chemically similar elements) (default: {DEFAULT_ELEMENT_ORDER})")
    parser.add_argument("--samples", type=positive_int, default=None,
                        help=f"samples per reference and per N, at most {MAX_SAMPLES_PER_RUN:,} (default: {default_samples})")
    parser.add_argument("--steps", type=int, default=None,
                        help="reverse diffusion steps, 1..1000; fewer is faster "
                             "(default: 50 for cuprates and pnictides, 100 for others and everything)")
    parser.add_argument("--seed", type=int, default=None,
                        help="random seed; run i of the (reference, N) runs uses seed + i, "
                             "and the same seed gives the same candidates (default: 0)")
    parser.add_argument("--method", type=str.lower, choices=SAMPLING_METHODS, default=None,
                        help="reverse update: ancestral (good at few steps), ddpm (the paper's sigma^2 = beta, use 1000 steps) "
                             f"or ddim (default: {DEFAULT_METHOD})")
    parser.add_argument("--precision", type=str.lower, choices=PRECISIONS, default=None,
                        help="the network's number format: bf16 runs its convolutions in bfloat16 (1.3-2.2x faster where "
                             "the CPU has AVX-512 BF16 or AMX, the same candidates' quality; slower where it does not), "
                             "fp32 as every run before it (default: bf16 where this machine runs it natively, else fp32)")
    add_validity_arguments(parser)
    parser.add_argument("--guide", type=guide_argument, default=None, metavar="WEIGHTS",
                        help="steer sampling toward properties, e.g. tc=1.0,formation=0.5,superconductor=0.5: the "
                             "guidance network's Tc (per 50 K), its log-probability of superconductivity, minus the "
                             "formation energy (eV/atom); weights >= 0, 0 = off. Candidates are still scored by the "
                             "independent tree models, which the guide may fool (benchmarks/README.md) (default: off)")
    parser.add_argument("--guide-anywhere", action="store_true", default=None,
                        help="with --guide, also keep candidates that lost a reference element or left the training "
                             "domain (default: a guided run keeps only those that stay near the reference)")
    parser.add_argument("--cpu", action="store_true", help="run on the CPU even if a GPU is present")
    add_models_argument(parser)
    add_threads_argument(parser)
    parser.set_defaults(default_samples=default_samples)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``generate`` and ``evaluate``."""
    from ..settings import BASELINES
    from ..timetable import CLIP_MODES, DEFAULT_CLIP, DEFAULT_CONDITIONING_STOP, DEFAULT_RESAMPLE_COUNT, DEFAULT_RESAMPLE_STEPS

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
                               "(default: the network's order, --order)")
    generate.add_argument("--resample-steps", type=int, default=None,
                          help="ILVR resampling: the last this many conditioned steps run --resample-count times each, "
                               f"so the spread of the filter onto neighbouring elements is cleaned up; 0 = the paper's loop "
                               f"(default: {DEFAULT_RESAMPLE_STEPS})")
    generate.add_argument("--resample-count", type=int, default=None,
                          help=f"runs of each resampled step, 1..20 (default: {DEFAULT_RESAMPLE_COUNT})")
    generate.add_argument("--clip", type=str.lower, choices=CLIP_MODES, default=None,
                          help=f"how ILVR clips the predicted amounts (default: {DEFAULT_CLIP}): plausible opens the range "
                               "on the reference's elements and their plausible substitutes (Hautier's data-mined "
                               "probabilities) and closes it on every other element; widened (the paper's families) "
                               "opens it on the reference's elements and their neighbours in the filter's order, so "
                               "atomic-number neighbours such as As and Br beside Se come in")
    generate.add_argument("--shortlist", type=non_negative_int, default=20, metavar="N",
                          help="also write the top N candidates with their reasons to OUT.shortlist.csv (0: none; default 20)")
    generate.add_argument("--shortlist-weights", type=_shortlist_weights, default=None, metavar="WEIGHTS",
                          help="criterion=weight for the shortlist, criteria hull, superconductor, tc, plausibility, novelty "
                               "(default: hull=1,superconductor=1,tc=1,plausibility=1,novelty=0.5)")
    generate.add_argument("--shortlist-new-only", action=argparse.BooleanOptionalAction, default=None,
                          help="leave doping variants of known compounds (the doping_variant_of column) out of the shortlist "
                               "(default); --no-shortlist-new-only keeps them")
    generate.add_argument("--shortlist-in-domain-first", action=argparse.BooleanOptionalAction, default=None,
                          help="rank candidates inside the training domain before those outside it, whose predictions "
                               "are extrapolations (default); --no-shortlist-in-domain-first ranks by score alone")
    generate.add_argument("--shortlist-per-elements", type=non_negative_int, default=None, metavar="K",
                          help="at most K candidates of the shortlist with the same elements, the best-scoring ones "
                               "(default 1: one row per substitution idea; 0: no limit)")
    generate.add_argument("--baseline", type=str.lower, choices=BASELINES, default=None,
                          help="also draw as many candidates by data-mined ion substitution into each reference, "
                               "screened and scored the same way (source column); default: none")
    generate.add_argument("--keep-invalid", action="store_true", default=None, help="keep invalid candidates (smact_valid=False)")
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

    order = text.strip().lower()  # "Z" and "Pettifor" too
    if order not in FILTER_ORDERS:
        raise argparse.ArgumentTypeError(f"choose {' or '.join(FILTER_ORDERS)}, not {text!r}")
    return order


def guide_argument(text: str):
    """argparse type of ``--guide``: :class:`~superdiff_core.guidance.GuidanceWeights` (exit 2 with one line otherwise)."""
    try:
        return parse_guide(text.lower())  # "TC=1" too
    except InputError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def settings_from_args(args: argparse.Namespace):
    """The resolved :class:`~superdiff_core.settings.GenerationSettings` of the command line
    (or of ``--settings FILE``): flags go through the same
    :meth:`~superdiff_core.settings.GenerationSettings.from_mapping` as a settings JSON."""
    from ..composition import parse_formulas
    from ..run_settings import settings_from_json
    from ..settings import GenerationSettings

    settings_file = getattr(args, "settings", None)
    if settings_file is not None:
        given = [f"--{name.replace('_', '-')}" for name in SAMPLING_FLAGS if getattr(args, name, None) is not None]
        if given:
            raise InputError(f"--settings sets the run; leave out {', '.join(given)}")
        if not settings_file.is_file():
            raise InputError(f"settings file not found: {settings_file}")
        settings, _ = settings_from_json(settings_file.read_bytes())
        return settings.resolved()
    if args.model is None:
        raise InputError("give --model CLASS (one of " + ", ".join(MODEL_CLASSES) + ") or --settings FILE")
    references = []
    for text in getattr(args, "reference", None) or []:
        parsed, errors = parse_formulas(text)
        if errors:
            raise InputError(f"bad reference: {errors[0]}")
        references.extend(parsed)
    screening = {
        "validity_check": args.validity,
        "keep_invalid": bool(getattr(args, "keep_invalid", False)),
        "keep_known": bool(getattr(args, "keep_known", False)),
    }
    values = {
        "model_class": args.model, "references": references, "samples": args.samples or args.default_samples,
        "steps": args.steps, "seed": args.seed, "method": args.method, "screening": screening,
        "element_order": getattr(args, "order", None),
        "scale_factors": getattr(args, "scale_factor", None),
        "conditioning_stop": getattr(args, "ilvr_stop", None),
        "filter_order": getattr(args, "filter_order", None),
        "resample_steps": getattr(args, "resample_steps", None),
        "resample_count": getattr(args, "resample_count", None),
        "clip": getattr(args, "clip", None),
        "baseline": getattr(args, "baseline", None),
        "guidance": getattr(args, "guide", None),
        "guided_stay_near": False if getattr(args, "guide_anywhere", None) else None,
        "precision": args.precision,
    }
    return GenerationSettings.from_mapping(values).resolved()


def _load_engine(args: argparse.Namespace, model_class: str, element_order: str, precision: str):
    from ..pipeline import load_engine

    apply_threads(args.threads)
    device = select_device(force_cpu=args.cpu)
    engine = load_engine(model_class, args.models, device, element_order)
    print(f"{model_class} model ({element_order} order, {precision}) on {describe_device(device)}")
    return engine


def _run(args: argparse.Namespace, settings, with_map: bool, evaluate: bool):
    import warnings

    from tqdm.auto import tqdm

    from ..run import load_run_models, run_generation

    print_warnings(settings_warnings(settings), args.command)
    engine = _load_engine(args, settings.model_class, settings.element_order, settings.precision)
    models = load_run_models(args.models, settings.model_class, with_map=with_map)
    with tqdm(total=1, unit="step", desc="sampling") as bar, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the N > 4 warning is printed once below instead

        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.n = done
            bar.refresh()

        record = run_generation(
            engine, settings, models, kind="explore" if evaluate else "generate", evaluate=evaluate,
            progress=progress, keep_partial=False,
        )
    if settings.references and max(settings.scale_factors) > 4:
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
    for line in assessment_lines(record):
        print(line)
    print(record.timing_line())
    write_candidates_csv(record.table, args.out)
    settings_file = settings_path_for(args.out)
    card = read_diffusion_card(args.models, settings.model_class, settings.element_order)
    write_text_atomically(settings_file, run_settings_json(settings, model_card=card))
    print(f"wrote {len(record.table)} candidates to {args.out} (settings: {settings_file})")
    if args.shortlist and record.has_properties and len(record.table):
        from ..assessment import doping_variant_count
        from ..shortlist import IN_DOMAIN_FIRST, LEAVE_OUT_DOPING_VARIANTS, MAX_PER_ELEMENT_SET, ShortlistWeights, shortlist

        weights = args.shortlist_weights or ShortlistWeights()
        new_only = LEAVE_OUT_DOPING_VARIANTS if args.shortlist_new_only is None else args.shortlist_new_only
        per_elements = MAX_PER_ELEMENT_SET if args.shortlist_per_elements is None else args.shortlist_per_elements
        in_domain_first = IN_DOMAIN_FIRST if args.shortlist_in_domain_first is None else args.shortlist_in_domain_first
        chosen = shortlist(record.table, weights, args.shortlist, new_only=new_only, max_per_element_set=per_elements,
                           in_domain_first=in_domain_first)
        path = args.out.with_name(f"{args.out.stem}.shortlist.csv")
        write_candidates_csv(chosen, path)
        variants = doping_variant_count(record.table) or 0
        leaving_out = (f", {variants:,} doping variants of known compounds left out (--no-shortlist-new-only keeps them)"
                       if new_only and variants else "")
        per_idea = f", at most {per_elements} per element set" if per_elements else ""
        domain = ", inside the training domain first" if in_domain_first else ""
        print(f"wrote the top {len(chosen)} by {weights.to_text()}{domain}{per_idea}{leaving_out} to {path}")
    return 0


def assessment_lines(record) -> list[str]:
    """What the run's numbers are worth: plausible substitutions, doping variants of known compounds,
    whether each prediction tells the candidates apart, and diffusion against the substitution
    baseline (when drawn)."""
    from ..assessment import doping_variant_count

    lines = []
    variants = doping_variant_count(record.table)
    if variants is not None and len(record.table):
        lines.append(f"doping variants of known compounds: {variants} of {len(record.table)} candidates "
                     "(exactly the elements of a SuperCon compound, within 0.05 in atomic fractions)")
    if not math.isnan(record.plausible_share):
        lines.append(f"plausible substitutions: {100 * record.plausible_share:.0f} % of the candidates that add an element "
                     "(Hautier et al. 2011 substitution probabilities)")
    if record.prediction_spread is not None:
        for row in record.prediction_spread.itertuples():
            verdict = "tells candidates apart" if row.distinguishable else "the order is inside the model's error"
            lines.append(f"{row.prediction}: spread (p10-p90) {row.spread_p10_p90:.3g} vs median error width "
                         f"{row.median_error_width:.3g} over {row.candidates} candidates: {verdict}")
    lines.extend(family_lines(record.families))
    if record.comparison is not None:
        lines.append("diffusion vs substitution baseline:")
        lines.extend("  " + line for line in record.comparison.to_string(index=False).splitlines())
    return lines


HEADLINE_FAMILIES_PRINTED = 5
"""Headline families a run prints (all of them are in the CSV's family columns)."""


def family_lines(families) -> list[str]:
    """The run's new families as printable lines: the headline ones (general formula, ranges, members,
    mean predicted Tc) and how many new element systems are not headlined; none without a map."""
    from ..families import unwritten_new_families

    if families is None or families.empty:
        return []
    headline = families[families["headline"].astype(bool)]
    unwritten = unwritten_new_families(families)
    more = f"; {unwritten} more new element systems not headlined (family_formula 'around …')" if unwritten else ""
    lines = [f"new families: {len(headline)} headline{more}"]
    for row in headline.head(HEADLINE_FAMILIES_PRINTED).itertuples():
        tc = f", mean Tc {row.mean_tc_kelvin:.0f} K" if isinstance(row.mean_tc_kelvin, float) and math.isfinite(row.mean_tc_kelvin) else ""
        ranges = f" ({row.variable_ranges})" if isinstance(row.variable_ranges, str) and row.variable_ranges else ""
        lines.append(f"  {row.family_id} {row.general_formula}{ranges}: {row.n_members} members{tc}")
    return lines


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
        card = read_diffusion_card(args.models, settings.model_class, settings.element_order)
        card.setdefault("metrics", {})[f"unconditional_{settings.method}_{settings.steps}_steps"] = metrics
        folder = diffusion_dir(args.models, settings.model_class, settings.element_order)
        write_card(folder, card)
        print(f"updated {folder / 'card.json'}")
    return 0
