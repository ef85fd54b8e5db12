"""Start-up and threads of the ``superdiff`` command, as whole processes (medians of repeats).

    python benchmarks/bench_startup.py                      # every part, writes benchmarks/startup.md
    python benchmarks/bench_startup.py --part startup --repeats 3
    python benchmarks/bench_startup.py --part threads --samples 100 --repeats 3

Parts:

- ``startup``: ``superdiff --help``, an 8-sample ``generate``, and ``campaign status`` /
  ``campaign report`` on a synthetic campaign of ``--rows`` rows (built here with
  ``bench_campaign.synthetic_campaign``), each against ``python -c pass`` and
  ``python -c "import torch"`` measured in the same run (the ratios say what the imports cost).
- ``threads``: ``superdiff generate`` with ``--threads 1``, with every core (``--threads N``,
  OpenMP spinning as torch does by default, and with ``OMP_WAIT_POLICY=PASSIVE``) and with the
  default (no ``--threads``), on the machine as it is and with one more CPU-bound process
  (``python -c 'while True: pass'``, started and killed here) beside it. The background load
  (1-minute load average) is recorded with every run: the machine is shared.

Results go to ``--out`` (Markdown, default benchmarks/startup.md) and to stdout.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parent
REPOSITORY = BENCHMARKS.parent
sys.path.insert(0, str(REPOSITORY))
sys.path.insert(0, str(BENCHMARKS))

CLI = [sys.executable, "-m", "superdiff_core"]


def timed(command: list[str], env: dict[str, str] | None = None, cwd: Path | None = None) -> tuple[float, float, int]:
    """(wall seconds, 1-minute load average at the start, exit status) of one child process."""
    load = os.getloadavg()[0]
    start = time.perf_counter()
    status = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd=cwd).returncode
    return time.perf_counter() - start, load, status


def median_of(command: list[str], repeats: int, env: dict[str, str] | None = None, cwd: Path | None = None) -> dict:
    """Median, min and max wall seconds of ``repeats`` runs, with the load seen and the exit statuses."""
    runs = [timed(command, env, cwd) for _ in range(repeats)]
    seconds = [run[0] for run in runs]
    return {"median_s": statistics.median(seconds), "min_s": min(seconds), "max_s": max(seconds),
            "load": statistics.mean(run[1] for run in runs), "status": sorted({run[2] for run in runs})}


def machine() -> str:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    import torch

    return (f"{platform.processor() or platform.machine()}, {cores} cores available, Python {platform.python_version()}, "
            f"torch {torch.__version__}, {platform.system()} {platform.release()}")


def part_startup(args: argparse.Namespace, work: Path) -> list[str]:
    from bench_campaign import synthetic_campaign

    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    rows = []

    def row(label: str, command: list[str], baseline: float | None = None) -> float:
        result = median_of(command, args.repeats, env, cwd=work)
        ratio = f"{result['median_s'] / baseline:.1f}×" if baseline else "1.0×"
        rows.append(f"| {label} | {result['median_s']:.2f} | {result['min_s']:.2f}–{result['max_s']:.2f} | {ratio} | "
                    f"{result['load']:.1f} | {result['status']} |")
        print(rows[-1], flush=True)
        return result["median_s"]

    python = row("`python -c pass` (baseline)", [sys.executable, "-c", "pass"])
    row("`python -c 'import torch'` (what --help cost before)", [sys.executable, "-c", "import torch"], python)
    row("`superdiff --help`", CLI + ["--help"], python)
    row("`superdiff campaign --help`", CLI + ["campaign", "--help"], python)
    row("`superdiff generate --model cuprates --samples 8 --no-map --threads 1`",
        CLI + ["generate", "--model", "cuprates", "--samples", "8", "--no-map", "--threads", "1", "--out", str(work / "c8.csv")],
        python)
    folder = work / "million"
    start = time.perf_counter()
    synthetic_campaign(folder, args.rows)
    print(f"synthetic campaign of {args.rows:,} rows written in {time.perf_counter() - start:.1f} s", flush=True)
    row(f"`superdiff campaign status` ({args.rows:,} rows)", CLI + ["campaign", "status", str(folder)], python)
    row(f"`superdiff campaign report` ({args.rows:,} rows, --top 100)", CLI + ["campaign", "report", str(folder), "--top", "100"],
        python)
    return ["| command | median s | min–max s | × python | load | exit |", "|---|---|---|---|---|---|", *rows]


def busy_process() -> subprocess.Popen:
    """A second CPU-bound process (the "loaded machine" of issue 20.6); the caller kills it."""
    return subprocess.Popen([sys.executable, "-c", "while True: pass"])


def part_threads(args: argparse.Namespace, work: Path) -> list[str]:
    from superdiff_core.device import available_cores

    cores = available_cores()
    command = CLI + ["generate", "--model", "cuprates", "--samples", str(args.samples), "--no-map", "--out", str(work / "t.csv")]
    if args.reference:
        command += ["--reference", args.reference, "--scale-factor", "2"]
    spin = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "OMP_NUM_THREADS")}
    configurations = [
        ("--threads 1", ["--threads", "1"], spin),
        (f"--threads {cores} (OpenMP spins: torch's default wait)", ["--threads", str(cores)], {**spin, "OMP_WAIT_POLICY": "ACTIVE"}),
        (f"--threads {cores}, OMP_WAIT_POLICY=PASSIVE", ["--threads", str(cores)], {**spin, "OMP_WAIT_POLICY": "PASSIVE"}),
        ("default (no --threads: free cores, passive wait)", [], spin),
    ]
    rows = []
    for load_label in ("as it is", "+1 busy process"):
        extra = busy_process() if load_label != "as it is" else None
        try:
            if extra is not None:
                time.sleep(5)  # let the load average see it
            baseline = None
            for label, flags, env in configurations:
                result = median_of(command + flags, args.repeats, env, cwd=work)
                baseline = baseline or result["median_s"]
                rows.append(f"| {load_label} | {label} | {result['median_s']:.1f} | {result['min_s']:.1f}–{result['max_s']:.1f} | "
                            f"{result['median_s'] / baseline:.2f}× | {result['load']:.1f} | {result['status']} |")
                print(rows[-1], flush=True)
        finally:
            if extra is not None:
                extra.kill()
                extra.wait()
    what = f"{args.samples} " + (f"ILVR samples of {args.reference} (N = 2)" if args.reference else "unconditional samples")
    return [f"`superdiff generate --model cuprates --samples {args.samples} --no-map` ({what}), whole process:", "",
            "| machine | threads | median s | min–max s | × --threads 1 | load | exit |", "|---|---|---|---|---|---|---|", *rows]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=("startup", "threads", "all"), default="all")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows of the synthetic campaign (default: 1,000,000)")
    parser.add_argument("--samples", type=int, default=100, help="samples of the threads part (default: 100)")
    parser.add_argument("--reference", default=None, help="ILVR reference of the threads part (default: unconditional)")
    parser.add_argument("--out", type=Path, default=BENCHMARKS / "startup.md")
    args = parser.parse_args()
    lines = [f"Machine: {machine()}. Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; "
             f"`python benchmarks/bench_startup.py --part {args.part} --repeats {args.repeats}`.", ""]
    with tempfile.TemporaryDirectory(prefix="bench_startup_") as temporary:
        work = Path(temporary)
        if args.part in ("startup", "all"):
            lines += ["## Start-up", "", *part_startup(args, work), ""]
        if args.part in ("threads", "all"):
            lines += ["## Threads", "", *part_threads(args, work), ""]
    text = "\n".join(lines)
    print(text)
    args.out.write_text(text + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
