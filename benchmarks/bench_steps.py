"""Quality per sampler and step count: basic-filter yield and SMACT-valid per 1,000 samples.

    python benchmarks/bench_steps.py --model others --runs ancestral:50 ancestral:100 ddim:50 ddim:200 ddpm:1000 [--samples 300]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from superdiff_core.evaluation import evaluation_metrics  # noqa: E402
from superdiff_core.pipeline import generate, load_engine  # noqa: E402
from superdiff_core.settings import GenerationSettings  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True)
    parser.add_argument("--runs", nargs="+", default=["ancestral:50", "ddim:50", "ancestral:100"], help="method:steps")
    parser.add_argument("--samples", type=int, default=300)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    engine = load_engine(args.model)
    print("model | method | steps | samples | passed basic filters % | SMACT-valid per 1,000")
    for run in args.runs:
        method, steps = run.split(":")
        result = generate(engine, GenerationSettings(args.model, samples=args.samples, steps=int(steps), method=method), [])
        metrics = evaluation_metrics(result)
        print(f"{args.model} | {method} | {steps} | {args.samples} | {metrics['passed_basic_filters_percent']} | "
              f"{metrics['valid_per_1000']}", flush=True)


if __name__ == "__main__":
    main()
