"""Campaigns on Ray: throughput against the plain generate loop, Ray's overhead per shard,
``campaign report`` on 1 million rows, killed-worker and killed-driver resume, a 2-node
local cluster, and the scale-on-paper estimate from the measured per-shard figures.

    python benchmarks/bench_campaign.py                       # every part, default sizes
    python benchmarks/bench_campaign.py --part throughput --references 20 --samples 2000
    python benchmarks/bench_campaign.py --part report --rows 1000000

Parts: ``throughput`` (also the scale estimate), ``report``, ``fault``, ``cluster``.
Everything is measured in this run; the figures of a shared machine are noisy, so the
throughput part reports ratios against baselines measured in the same run.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pandas as pd  # noqa: E402

from superdiff_core import campaign  # noqa: E402
from superdiff_core.artifacts import DEFAULT_MODELS_DIR  # noqa: E402
from superdiff_core.campaign.shard import SHARD_METADATA_KEY  # noqa: E402
from superdiff_core.composition import element_system  # noqa: E402

REFERENCES = [
    "BaFe2As2", "LaFeAsO0.9F0.1", "FeSe", "Ba0.6K0.4Fe2As2", "SmFeAsO0.85", "LiFeAs", "NaFeAs", "CaFe2As2",
    "SrFe2As2", "FeTe0.5Se0.5", "NdFeAsO0.86F0.14", "CeFeAsO0.84F0.16", "PrFeAsO0.89F0.11", "GdFeAsO0.85",
    "Ba(Fe0.92Co0.08)2As2", "KFe2As2", "EuFe2As2", "LaFePO", "Sr0.6K0.4Fe2As2", "BaFe2(As0.7P0.3)2",
]
"""Pnictide references (the class samples fastest); the first --references of them are used."""

REPOSITORY = Path(__file__).resolve().parent.parent


def plan_for(args: argparse.Namespace) -> campaign.CampaignPlan:
    return campaign.plan_from_mapping({
        "model": "pnictides", "references": REFERENCES[: args.references], "scale_factors": [2, 3, 4],
        "samples": args.samples, "batch": args.batch, "steps": args.steps,
    })


def rows_of(folder: Path) -> pd.DataFrame:
    import pyarrow.parquet as pq

    files = campaign.finished_shard_files(folder)
    return pd.concat([pq.read_table(path).to_pandas() for path in files], ignore_index=True)


# ---------------------------------------------------------------------------------------
# Throughput and Ray overhead
# ---------------------------------------------------------------------------------------


def generate_loop(plan: campaign.CampaignPlan, threads: int) -> tuple[float, int]:
    """The plain generate loop: every (reference, N) in one process, ``samples`` each, as
    ``superdiff generate --no-map`` runs it. Returns (seconds without model loading, rows)."""
    import torch

    from superdiff_core.pipeline import load_engine
    from superdiff_core.run import load_run_models, run_generation
    from superdiff_core.screening import ScreeningOptions
    from superdiff_core.settings import GenerationSettings

    torch.set_num_threads(threads)
    engine = load_engine(plan.model_class)
    models = load_run_models(DEFAULT_MODELS_DIR, plan.model_class, with_map=False)
    settings = GenerationSettings(model_class=plan.model_class, references=plan.references, scale_factors=plan.scale_factors,
                                  samples=plan.samples, steps=plan.steps, seed=0, screening=ScreeningOptions())
    references = plan.parsed_references()
    start = time.perf_counter()
    record = run_generation(engine, settings, references, models, keep_partial=False)
    return time.perf_counter() - start, len(record.table)


def shards_in_one_process(plan: campaign.CampaignPlan) -> tuple[float, int]:
    from superdiff_core.campaign.runner import run_plan_here

    shards = campaign.expand_shards(plan)
    start = time.perf_counter()
    tables = run_plan_here(plan, shards)
    return time.perf_counter() - start, sum(t.num_rows for t in tables)


def ray_campaign(plan: campaign.CampaignPlan, folder: Path, num_cpus: int) -> dict:
    from superdiff_core.campaign.runner import run_campaign

    opened = campaign.open_campaign(folder, plan)
    start = time.perf_counter()
    summary = run_campaign(opened, num_cpus=num_cpus)
    wall = time.perf_counter() - start
    records = campaign.shard_records(folder)
    shard_seconds = sum(r["seconds"] for r in records)
    steady = wall - summary.startup_seconds
    return {
        "wall_s": wall, "startup_s": summary.startup_seconds, "workers": summary.workers, "shards": len(records),
        "rows": summary.candidates, "shard_compute_s": shard_seconds,
        "overhead_per_shard_s": (steady * summary.workers - shard_seconds) / max(len(records), 1),
        "samples": sum(r["samples"] for r in records),
    }


def part_throughput(args: argparse.Namespace, work: Path) -> dict:
    plan = plan_for(args)
    samples = len(plan.references) * len(plan.scale_factors) * plan.samples
    print(f"workload: {len(plan.references)} references × N 2,3,4 × {plan.samples} samples = {samples:,} samples, "
          f"{plan.steps} steps, shards of {plan.batch} ({len(campaign.expand_shards(plan))} shards)")
    cpus = os.cpu_count() or 1
    loop_s = loop_rows = float("nan")
    if args.loop_threads > 1:
        loop_s, loop_rows = generate_loop(plan, threads=args.loop_threads)
        print(f"generate loop, one process, {args.loop_threads} torch threads: {loop_s:.1f} s, "
              f"{samples / loop_s:.0f} samples/s, {loop_rows} rows")
    loop1_s, loop1_rows = generate_loop(plan, threads=1)
    print(f"generate loop, one process, 1 torch thread:  {loop1_s:.1f} s, {samples / loop1_s:.0f} samples/s, {loop1_rows} rows")
    here_s, here_rows = shards_in_one_process(plan)
    print(f"campaign shards, one process, 1 thread:       {here_s:.1f} s, {samples / here_s:.0f} samples/s, {here_rows} rows")
    folder = work / "throughput"
    result = ray_campaign(plan, folder, num_cpus=cpus)
    print(f"campaign on local Ray, {result['workers']} workers: {result['wall_s']:.1f} s wall "
          f"(start-up {result['startup_s']:.1f} s, then {result['wall_s'] - result['startup_s']:.1f} s), "
          f"{samples / result['wall_s']:.0f} samples/s, {result['rows']} rows")
    best_loop = min(loop_s, loop1_s) if loop_s == loop_s else loop1_s
    print(f"  ratio campaign wall / best generate loop: {result['wall_s'] / best_loop:.2f} "
          f"(steady state without start-up: {(result['wall_s'] - result['startup_s']) / best_loop:.2f})")
    print(f"  Ray overhead per shard: {result['overhead_per_shard_s'] * 1000:.0f} ms "
          f"(mean shard compute {result['shard_compute_s'] / result['shards']:.2f} s)")
    per_worker = result["samples"] / result["shard_compute_s"]
    print(f"  per-worker rate (shard compute only): {per_worker:.0f} samples/s")
    scale = scale_on_paper(per_worker, result["startup_s"], result["overhead_per_shard_s"], plan)
    for line in scale["lines"]:
        print("  " + line)
    return {"samples": samples, "generate_loop_s": loop_s, "generate_loop_1thread_s": loop1_s, "shards_one_process_s": here_s,
            "ray": result, "per_worker_samples_per_s": per_worker, "scale": scale["figures"], "folder": str(folder)}


def scale_on_paper(per_worker: float, startup_s: float, overhead_s: float, plan: campaign.CampaignPlan) -> dict:
    """What 500,000 samples per class cost, from the measured per-shard figures."""
    target = 500_000
    shards = -(-target // plan.batch)
    per_shard = plan.batch / per_worker + overhead_s
    figures, lines = {}, [f"scale on paper: {target:,} samples of one class at {plan.steps} steps, shards of {plan.batch}:"]
    for workers in (2, 16, 64, 256):
        seconds = startup_s + per_shard * -(-shards // workers)
        figures[f"{workers}_workers_s"] = seconds
        lines.append(f"  {workers:>3} CPU workers (1 thread each): {seconds / 60:.1f} min")
    return {"figures": figures, "lines": lines}


# ---------------------------------------------------------------------------------------
# campaign report on 1 million rows
# ---------------------------------------------------------------------------------------


def synthetic_campaign(folder: Path, rows: int, seed: int = 0) -> None:
    """A campaign folder of ``rows`` synthetic candidate rows: 20 references × N 2,3,4 ×
    4 batches = 240 shards, ~5 % of formulas repeated across shards and a few from SuperCon."""
    import numpy as np
    import pyarrow as pa

    from superdiff_core.campaign.queries import supercon_formulas

    plan = campaign.plan_from_mapping({"model": "pnictides", "references": REFERENCES, "scale_factors": [2, 3, 4],
                                       "samples": 4 * 5000, "batch": 5000, "steps": 50})
    opened = campaign.open_campaign(folder, plan)
    rng = np.random.default_rng(seed)
    elements = ["Ba", "K", "Fe", "As", "La", "O", "F", "Sr", "Ca", "Co", "Ni", "P", "Se", "Te", "Sm", "Nd", "Li", "Na"]
    known = list(supercon_formulas())
    per_shard = rows // len(opened.shards)
    shared = [f"Ba{a:.2f}Fe2As{b:.2f}" for a, b in rng.uniform(0.1, 2, size=(2000, 2))]
    for shard in opened.shards:
        picks = np.sort(np.argsort(rng.random((per_shard, len(elements))), axis=1)[:, :4], axis=1)  # one element order
        amounts = rng.uniform(0.05, 4, size=(per_shard, 4)).round(2)
        formulas = ["".join(f"{elements[e]}{a:g}" for e, a in zip(p, m)) for p, m in zip(picks, amounts)]
        for i in rng.choice(per_shard, size=per_shard // 20, replace=False):
            formulas[i] = shared[rng.integers(len(shared))]
        for i in rng.choice(per_shard, size=5, replace=False):
            formulas[i] = known[rng.integers(len(known))]
        formulas = list(dict.fromkeys(formulas))  # a shard holds each formula once, as screening leaves it
        n = len(formulas)
        tc = rng.gamma(2.0, 10.0, n)
        table = pa.table({
            "formula": formulas, "model_class": ["pnictides"] * n, "reference": [shard.reference] * n,
            "scale_factor": pa.array([shard.scale_factor] * n, pa.int64()), "n_elements": rng.integers(3, 6, n),
            "smact_valid": rng.random(n) < 0.6, "smact_valid_mixed_valence": rng.random(n) < 0.7, "novel": np.ones(n, bool),
            "sc_probability": rng.random(n), "is_superconductor": rng.random(n) < 0.8, "tc_kelvin": tc,
            "formation_energy_ev_per_atom": rng.normal(-1, 0.6, n), "nearest_known_formula": ["BaFe2As2"] * n,
            "distance_to_known": rng.random(n), "shard_id": [shard.shard_id] * n, "seed": pa.array([0] * n, pa.int64()),
            "batch": pa.array([shard.batch] * n, pa.int64()), "steps": pa.array([50] * n, pa.int64()),
            "checkpoint_sha256": ["0" * 64] * n, "element_system": [element_system(f) for f in formulas],
        })
        record = {**dataclasses.asdict(shard), "state": "done", "rows": n, "raw": shard.samples,
                  "stages": {"raw": shard.samples, "element count": n, "unique": n, "novel": n}, "seconds": 1.0,
                  "finished_at": time.time()}
        table = table.replace_schema_metadata({SHARD_METADATA_KEY: json.dumps(record).encode()})
        campaign.write_shard(folder, table)


def peak_rss_mb(command: list[str]) -> tuple[float, float, int]:
    """(seconds, peak resident memory in MB, exit status) of a child process."""
    script = (
        "import resource, subprocess, sys, time\n"
        "start = time.perf_counter()\n"
        f"status = subprocess.run({command!r}, stdout=subprocess.DEVNULL).returncode\n"
        "print(time.perf_counter() - start, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, status)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout.split()
    return float(out[0]), float(out[1]), int(out[2])


def part_report(args: argparse.Namespace, work: Path) -> dict:
    folder = work / "million"
    start = time.perf_counter()
    synthetic_campaign(folder, args.rows)
    files = campaign.finished_shard_files(folder)
    size_mb = sum(p.stat().st_size for p in files) / 1e6
    print(f"synthetic campaign: {args.rows:,} rows in {len(files)} Parquet files ({size_mb:.0f} MB), written in "
          f"{time.perf_counter() - start:.1f} s")
    cli = [sys.executable, "-m", "superdiff_core"]
    idle_s, idle_mb, _ = peak_rss_mb(cli + ["campaign", "status", str(folder)])
    seconds, peak_mb, status = peak_rss_mb(cli + ["campaign", "report", str(folder), "--top", "100"])
    all_s, all_mb, all_status = peak_rss_mb(cli + ["campaign", "report", str(folder), "--top", "100", "--all"])
    print(f"campaign report: {seconds:.1f} s wall (process start and imports included), peak RSS {peak_mb:.0f} MB "
          f"(exit {status}); `campaign status` alone: {idle_s:.1f} s, {idle_mb:.0f} MB")
    print(f"campaign report --all (also every new unique candidate to CSV): {all_s:.1f} s, peak RSS {all_mb:.0f} MB (exit {all_status})")
    low_s, low_mb, low_status = peak_rss_mb(cli + ["campaign", "report", str(folder), "--top", "100", "--memory-limit", "256MB"])
    print(f"campaign report --memory-limit 256MB: {low_s:.1f} s, peak RSS {low_mb:.0f} MB (exit {low_status})")
    from superdiff_core.campaign.queries import supercon_formulas, write_report

    supercon_formulas()  # loaded once per process, as in a long-lived app
    report = write_report(folder, top=100)
    print(f"the report's own queries (in this process, imports and SuperCon formulas already loaded): {report.seconds:.1f} s")
    totals = pd.read_csv(folder / "report" / "funnel.csv")
    print("  " + totals.to_string(index=False).replace("\n", "\n  "))
    return {"rows": args.rows, "files": len(files), "report_s": seconds, "report_peak_mb": peak_mb,
            "status_s": idle_s, "status_peak_mb": idle_mb, "report_all_s": all_s, "report_all_peak_mb": all_mb,
            "report_256mb_s": low_s, "report_256mb_peak_mb": low_mb, "report_in_process_s": report.seconds}


# ---------------------------------------------------------------------------------------
# Faults: a killed worker, a killed driver
# ---------------------------------------------------------------------------------------


def start_run(folder: Path, plan_file: Path, cpus: int) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "superdiff_core", "campaign", "run", "--plan", str(plan_file), "--out", str(folder), "--cpus", str(cpus)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=REPOSITORY, start_new_session=True,
    )


def wait_for_shards(folder: Path, count: int, timeout_s: float = 600) -> list[dict]:
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        if (folder / campaign.MANIFEST_FILE).is_file():
            try:
                records = campaign.shard_records(folder)
            except Exception:  # the manifest is being replaced: read again
                records = []
            if len(records) >= count:
                return records
        time.sleep(0.2)
    raise TimeoutError(f"{count} shards did not finish in {timeout_s} s")


def write_plan_file(plan: campaign.CampaignPlan, path: Path) -> Path:
    lines = []
    for key, value in plan.to_dict().items():
        lines.append(f"{'model' if key == 'model_class' else key} = {json.dumps(value)}")
    path.write_text("\n".join(lines) + "\n")
    return path


def part_fault(args: argparse.Namespace, work: Path, reference: Path | None) -> dict:
    import psutil

    plan = plan_for(args)
    cpus = os.cpu_count() or 1
    plan_file = write_plan_file(plan, work / "fault_plan.toml")
    total = len(campaign.expand_shards(plan))
    if reference is None:
        reference = work / "uninterrupted"
        subprocess.run([sys.executable, "-m", "superdiff_core", "campaign", "run", "--plan", str(plan_file), "--out", str(reference)],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=REPOSITORY)
    expected = rows_of(reference).drop(columns=["checkpoint_sha256"])
    out = {}

    # a worker killed in the middle: Ray restarts it and retries its shard
    folder = work / "killed_worker"
    process = start_run(folder, plan_file, cpus)
    records = wait_for_shards(folder, max(1, total // 3))
    victim = records[-1]["pid"]
    os.kill(victim, signal.SIGKILL)
    status = process.wait(timeout=900)
    rows = rows_of(folder).drop(columns=["checkpoint_sha256"])
    same = rows.equals(expected)
    print(f"killed worker pid {victim} after {len(records)}/{total} shards: run exit {status}, "
          f"{len(rows)} rows, identical to the uninterrupted run: {same}")
    out["killed_worker"] = {"exit": status, "identical": same, "rows": len(rows)}

    # the driver killed in the middle (SIGKILL: no clean-up at all), then a rerun
    folder = work / "killed_driver"
    process = start_run(folder, plan_file, cpus)
    records = wait_for_shards(folder, max(1, total // 3))
    children = psutil.Process(process.pid).children(recursive=True)
    process.send_signal(signal.SIGKILL)
    process.wait()
    time.sleep(3)
    leftovers = [c for c in children if c.is_running()]
    for child in leftovers:  # the Ray processes this run started, if Ray left any
        child.kill()
    done_at_kill = len(campaign.finished_shard_files(folder))
    temporaries = len(list((folder / campaign.SHARDS_DIR).glob(".*.tmp*")))
    rerun = subprocess.run([sys.executable, "-m", "superdiff_core", "campaign", "run", "--out", str(folder), "--cpus", str(cpus)],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=REPOSITORY)
    rows = rows_of(folder).drop(columns=["checkpoint_sha256"])
    same = rows.equals(expected)
    print(f"killed driver after {done_at_kill}/{total} shards ({temporaries} temporary files left, "
          f"{len(leftovers)} Ray processes still running and stopped); rerun exit {rerun.returncode}: "
          f"{rerun.stdout.splitlines()[0] if rerun.stdout else ''}; {len(rows)} rows, identical: {same}")
    out["killed_driver"] = {"done_at_kill": done_at_kill, "exit": rerun.returncode, "identical": same, "rows": len(rows),
                            "ray_leftovers": len(leftovers)}
    return out


# ---------------------------------------------------------------------------------------
# A 2-node local cluster
# ---------------------------------------------------------------------------------------


def part_cluster(args: argparse.Namespace, work: Path) -> dict:
    import ray
    from ray.cluster_utils import Cluster

    from superdiff_core.campaign.runner import run_campaign

    plan = campaign.plan_from_mapping({"model": "pnictides", "references": REFERENCES[:2], "scale_factors": [2, 3],
                                       "samples": 100, "batch": 50, "steps": 20})
    start = time.perf_counter()
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    cluster.add_node(num_cpus=1)
    ray.init(address=cluster.address)
    try:
        summary = run_campaign(campaign.open_campaign(work / "two_nodes", plan))
        nodes = {r["node"] for r in campaign.shard_records(work / "two_nodes")}
    finally:
        ray.shutdown()
        cluster.shutdown()
    print(f"2-node local cluster: {summary.shards_run} shards on {summary.workers} workers, ran on {len(nodes)} distinct nodes, "
          f"{time.perf_counter() - start:.1f} s including the cluster's start")
    return {"shards": summary.shards_run, "nodes": len(nodes), "workers": summary.workers}


def main() -> None:
    sys.stdout.reconfigure(line_buffering=True)
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--part", choices=("all", "throughput", "report", "fault", "cluster"), default="all")
    parser.add_argument("--references", type=int, default=5, help="references (issue: 20; default 5 on a shared 2-core machine)")
    parser.add_argument("--samples", type=int, default=400, help="samples per reference and N (issue: 2000)")
    parser.add_argument("--batch", type=int, default=200, help="samples per shard")
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--loop-threads", type=int, default=1,
                        help="also time the generate loop with this many torch threads (on a loaded 2-core machine "
                             "2 threads were 10-40x slower than 1, so the default measures 1 only)")
    parser.add_argument("--rows", type=int, default=1_000_000, help="synthetic rows for the report part")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    args = parser.parse_args()
    os.environ.setdefault("SUPERDIFF_DEVICE", "cpu")
    work = Path(tempfile.mkdtemp(prefix="bench_campaign_"))
    results: dict = {"cpus": os.cpu_count(), "load_average": os.getloadavg()}
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at start (a shared machine is slower and noisier)")
    try:
        reference = None
        if args.part in ("all", "throughput"):
            results["throughput"] = part_throughput(args, work)
            reference = Path(results["throughput"]["folder"])
        if args.part in ("all", "fault"):
            results["fault"] = part_fault(args, work, reference)
        if args.part in ("all", "cluster"):
            results["cluster"] = part_cluster(args, work)
        if args.part in ("all", "report"):
            results["report"] = part_report(args, work)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    results["peak_rss_mb_bench"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2, default=str))


if __name__ == "__main__":
    main()
