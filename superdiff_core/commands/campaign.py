"""``superdiff campaign run | status | report``: many generation runs as one resumable
campaign on Ray (:mod:`superdiff_core.campaign`: its plan, store, runner and queries)."""

from __future__ import annotations

import argparse
import math
import signal
import time
from pathlib import Path

from ..durations import format_seconds
from ..errors import InputError
from ..model_classes import MODEL_CLASSES
from ..settings import BASELINES
from .arguments import add_models_argument, add_validity_arguments, non_negative_int, positive_int


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``campaign`` with its ``run``, ``status`` and ``report`` subcommands."""
    campaign = subparsers.add_parser(
        "campaign", help="many references × N × seeds as one resumable campaign on Ray (Parquet results)",
        description="Run a campaign of generation shards on Ray (this machine by default, or a cluster), "
                    "see its progress, and report on its Parquet results with DuckDB.",
    )
    commands = campaign.add_subparsers(dest="campaign_command", metavar="ACTION")

    run = commands.add_parser(
        "run", help="start or resume a campaign",
        description="Start a campaign in --out, or resume the one there (finished shards are skipped). "
                    "Give a TOML plan, or the flags for a simple one.",
    )
    run.add_argument("--out", type=Path, required=True, help="campaign folder (created; an existing campaign resumes)")
    run.add_argument("--plan", type=Path, default=None, help="TOML plan (keys: model, references or references_file, "
                     "scale_factors, samples, seeds, batch, steps, method, resample_steps, resample_count, keep_invalid, keep_known, "
                     "validity_check, properties, map, baseline)")
    run.add_argument("--model", choices=MODEL_CLASSES, default=None, help="model class (without --plan)")
    run.add_argument("--references", type=Path, default=None,
                     help="file of reference formulas, one per line or a CSV with a formula column (without --plan)")
    run.add_argument("--reference", action="append", default=None, help="a reference formula (repeatable; without --plan)")
    run.add_argument("--scale-factor", type=int, nargs="+", default=None, help="ILVR N values, 1..32 (default: 2 3 4)")
    run.add_argument("--samples", type=positive_int, default=None, help="samples per reference, per N and per seed (default: 2000)")
    run.add_argument("--seeds", type=int, nargs="+", default=None,
                     help="base seeds; one number k alone means seeds 0..k-1 (default: 0)")
    run.add_argument("--batch", type=positive_int, default=None, help="samples per shard (default: 500)")
    run.add_argument("--steps", type=positive_int, default=None, help="reverse diffusion steps (default: the class's)")
    run.add_argument("--map", action="store_true", default=None, help="place candidates on the class map and find families (slower)")
    run.add_argument("--keep-invalid", action="store_true", default=None, help="keep invalid candidates")
    run.add_argument("--baseline", choices=BASELINES, type=str.lower, default=None,
                     help="also draw, per reference and seed, as many candidates by plain ion substitution as diffusion draws "
                          "(samples × N), screened and scored the same way; the report compares the two")
    add_validity_arguments(run)
    run.add_argument("--address", default=None,
                     help="join this Ray cluster (host:port, ray://host:port or auto); default: start Ray on this machine")
    run.add_argument("--workers", type=positive_int, default=None, help="at most this many workers (default: one per CPU or GPU)")
    run.add_argument("--cpus", type=positive_int, default=None, help="CPUs of the local Ray (default: all)")
    add_models_argument(run)
    run.set_defaults(handler=run_campaign_command)

    status = commands.add_parser("status", help="progress of a campaign (works while it runs)")
    status.add_argument("folder", type=Path, help="campaign folder")
    status.set_defaults(handler=status_command)

    report = commands.add_parser("report", help="funnels, top candidates and families (CSV + Markdown) with DuckDB")
    report.add_argument("folder", type=Path, help="campaign folder")
    report.add_argument("--out", type=Path, default=None, help="report folder (default: FOLDER/report)")
    report.add_argument("--top-by", default="tc_kelvin", help="column to rank the top candidates by (default: tc_kelvin)")
    report.add_argument("--top", type=positive_int, default=50, help="how many top candidates (default: 50)")
    report.add_argument("--ascending", action="store_true", help="smallest first (e.g. --top-by formation_energy_ev_per_atom)")
    report.add_argument("--top-per-elements", type=non_negative_int, default=None, metavar="K",
                        help="at most K top candidates with the same elements, the first ones by --top-by "
                             "(default 1, as the shortlist; 0: no limit)")
    report.add_argument("--all", action="store_true", help="also write candidates.csv: every new unique candidate")
    report.add_argument("--memory-limit", default="1GB", help="DuckDB memory cap (default: 1GB)")
    add_models_argument(report)
    report.set_defaults(handler=report_command)
    campaign.set_defaults(handler=lambda args: _missing_action(campaign))


def _missing_action(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


PLAN_FLAGS = ("model", "references", "reference", "scale_factor", "samples", "seeds", "batch", "steps", "map", "keep_invalid",
              "validity", "baseline")


def plan_from_args(args: argparse.Namespace):
    """The :class:`~superdiff_core.campaign.CampaignPlan` of ``--plan`` or of the flags
    (None when neither is given: resume the folder's own plan)."""
    from ..campaign.plan import plan_from_mapping, read_plan, references_from_file

    given = [name for name in PLAN_FLAGS if getattr(args, name, None) is not None]
    if args.plan is not None:
        if given:
            raise InputError(f"--plan sets the campaign; leave out {', '.join('--' + n.replace('_', '-') for n in given)}")
        return read_plan(args.plan)
    if not given:
        return None
    if args.model is None:
        raise InputError("give --model CLASS (one of " + ", ".join(MODEL_CLASSES) + ") or --plan FILE")
    references = list(args.reference or [])
    if args.references is not None:
        references.extend(references_from_file(args.references))
    values = {"model": args.model, "references": references, "scale_factors": args.scale_factor, "samples": args.samples,
              "batch": args.batch, "steps": args.steps, "map": args.map, "keep_invalid": args.keep_invalid, "validity_check": args.validity,
              "baseline": args.baseline}
    if args.seeds is not None:
        values["seeds"] = args.seeds[0] if len(args.seeds) == 1 else list(args.seeds)
    return plan_from_mapping({key: value for key, value in values.items() if value is not None})


def run_campaign_command(args: argparse.Namespace) -> int:
    from tqdm.auto import tqdm

    from ..campaign.runner import StopRequested, check_address, run_campaign
    from ..campaign.store import open_campaign

    plan = plan_from_args(args)
    if plan is None and not (args.out / "campaign.json").is_file():
        raise InputError("give --plan FILE or --model with references to start a campaign")
    if args.address:
        check_address(args.address)  # before creating anything
    campaign = open_campaign(args.out, plan)
    pending = campaign.pending()
    done_before = len(campaign.shards) - len(pending)
    print(f"campaign {args.out}: {len(campaign.shards)} shards, {done_before} already finished, {len(pending)} to run")
    if not pending:
        print(f"nothing to run; see: superdiff campaign report {args.out}")
        return 0
    start = time.perf_counter()
    rows = 0
    with tqdm(total=len(campaign.shards), initial=done_before, unit="shard", desc="shards") as bar:
        def on_shard(record: dict) -> None:
            nonlocal rows
            rows += record["rows"]
            bar.update(1)
            bar.set_postfix_str(f"{rows} candidates, {rows / max(time.perf_counter() - start, 1e-9):.1f} candidates/s")

        try:
            summary = run_campaign(campaign, models_dir=args.models, address=args.address, workers=args.workers,
                                   num_cpus=args.cpus, on_shard=on_shard)
        except KeyboardInterrupt as stop:  # Ctrl-C, or SIGTERM (StopRequested): one clean line, no traceback
            bar.close()
            print(f"stopped: {len(campaign.done_ids())} of {len(campaign.shards)} shards are finished and kept; "
                  f"rerun the same command to resume", flush=True)
            return 128 + (stop.signal_number if isinstance(stop, StopRequested) else signal.SIGINT)
    print(f"ran {summary.shards_run} shards on {summary.workers} workers ({summary.nodes} node(s)) in {summary.seconds:.1f} s "
          f"(start-up {summary.startup_seconds:.1f} s): {summary.candidates} candidates")
    print(f"next: superdiff campaign report {args.out}")
    return 0


def status_command(args: argparse.Namespace) -> int:
    from ..campaign.store import campaign_progress

    progress = campaign_progress(args.folder)
    rate = "–" if math.isnan(progress.candidates_per_second) else f"{progress.candidates_per_second:.1f} candidates/s"
    state = "running" if progress.running else ("finished" if progress.shards_done == progress.shards_total else "not running")
    print(f"{args.folder}: {state}")
    print(f"shards      {progress.shards_done} / {progress.shards_total} ({100 * progress.fraction:.1f} %)")
    print(f"candidates  {progress.candidates} (from {progress.raw_samples} samples)")
    print(f"rate        {rate}")
    if progress.running:  # a stopped campaign has no time left, only shards left (rerun to resume)
        print(f"time left   {format_seconds(progress.seconds_left)}")
    elif progress.shards_done < progress.shards_total:
        print(f"to resume   superdiff campaign run --out {args.folder}")
    return 0


def report_command(args: argparse.Namespace) -> int:
    from ..campaign.queries import write_report

    report = write_report(args.folder, models_dir=args.models, out=args.out, top_by=args.top_by, top=args.top,
                          ascending=args.ascending, top_per_element_system=args.top_per_elements, all_candidates=args.all,
                          memory_limit=args.memory_limit)
    print(report.totals.to_string(index=False))
    for name, path in report.files.items():
        print(f"wrote {name}: {path}")
    return 0
