"""Sampling speed: our network and sampler against a reference-style baseline, one run.

Prints candidates per second for unconditional and ILVR sampling at the default step
count and at 1,000 steps, the network's FLOPs per sample-step and achieved GFLOP/s next
to the machine's fp32 matrix-multiply rate, all measured in this run.

    python benchmarks/bench_sampling.py [--model pnictides] [--threads 2] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from superdiff_core.composition import parse_formula  # noqa: E402
from superdiff_core.model_classes import get_model_class  # noqa: E402
from superdiff_core.pipeline import load_engine  # noqa: E402
from superdiff_core.unet1d import count_parameters, flops_per_sample  # noqa: E402

REFERENCE_FORMULA = {"cuprates": "HgBa2Ca2Cu3O8.27", "pnictides": "BaFe2As2", "others": "MgB2", "everything": "MgB2"}


def timed(function) -> float:
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def matmul_gflops(size: int = 2048, repeats: int = 5) -> float:
    a = torch.randn(size, size)
    torch.mm(a, a)
    seconds = timed(lambda: [torch.mm(a, a) for _ in range(repeats)])
    return 2 * size**3 * repeats / seconds / 1e9


def machine() -> str:
    name = platform.processor() or platform.machine()
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{name}, {os.cpu_count()} cores, torch {torch.__version__}, {torch.get_num_threads()} threads"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="pnictides")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--samples", type=int, default=500, help="candidates per measurement at the default steps")
    parser.add_argument("--samples-1000", type=int, default=100, help="candidates per measurement at 1,000 steps")
    parser.add_argument("--baseline-samples", type=int, default=64, help="baseline batch (default: 64, a batch the paper's sampling uses)")
    parser.add_argument("--baseline-steps", type=int, default=20, help="steps the baseline is timed over")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    engine = load_engine(args.model)
    network = engine.checkpoint.model
    reference = parse_formula(REFERENCE_FORMULA[args.model])
    flops = flops_per_sample(network)
    results: dict = {"machine": machine(), "model": args.model, "parameters": count_parameters(network), "flops_per_sample_step": flops}
    results["matmul_gflops"] = round(matmul_gflops(), 1)
    engine.sampler.sample(16, 2, seed=0)  # warm-up

    default = get_model_class(args.model).recommended_steps
    for steps, n in ((default, args.samples), (1000, args.samples_1000)):
        unconditional = timed(lambda: engine.sampler.sample(n, steps, seed=0))
        ilvr = timed(lambda: engine.sampler.sample(n, steps, reference=reference, scale_factor=2, seed=0))
        results[f"steps_{steps}"] = {
            "candidates": n,
            "unconditional_per_s": round(n / unconditional, 2),
            "ilvr_per_s": round(n / ilvr, 2),
            "ilvr_overhead_percent": round(100 * (ilvr / unconditional - 1), 1),
            "seconds_for_500_ilvr": round(500 * ilvr / n, 2),
            "achieved_gflops": round(flops * n * steps / unconditional / 1e9, 1),
        }

    from reference_baseline import reference_network, reference_style_sample

    baseline = reference_network()
    results["baseline"] = {"parameters": count_parameters(baseline)}
    # The baseline's cost per step does not depend on the step count (one network call on the
    # batch, plus ILVR vector by vector), so it is timed over --baseline-steps steps at its
    # batch and its candidates/s at S steps is its sample-steps/s divided by S.
    n, probe = args.baseline_samples, args.baseline_steps
    unconditional = timed(lambda: reference_style_sample(baseline, n, probe, None, 2))
    ilvr = timed(lambda: reference_style_sample(baseline, n, probe, reference, 2))
    results["baseline"].update({
        "batch": n, "timed_steps": probe,
        "unconditional_sample_steps_per_s": round(n * probe / unconditional, 1),
        "ilvr_sample_steps_per_s": round(n * probe / ilvr, 1),
    })
    for steps in (default, 1000):
        ours = results[f"steps_{steps}"]
        base_unconditional, base_ilvr = n * probe / unconditional / steps, n * probe / ilvr / steps
        results["baseline"][f"steps_{steps}"] = {
            "unconditional_per_s": round(base_unconditional, 3),
            "ilvr_per_s": round(base_ilvr, 3),
            "speedup_unconditional": round(ours["unconditional_per_s"] / base_unconditional, 1),
            "speedup_ilvr": round(ours["ilvr_per_s"] / base_ilvr, 1),
        }
    print(json.dumps(results, indent=2))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
