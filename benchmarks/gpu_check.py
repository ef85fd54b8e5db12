"""GPU check (issue 20 item 7): sampling speed on a CUDA device and agreement with the CPU.

Samples ``--samples`` unconditional and ``--samples`` ILVR cuprate candidates (reference
HgBa2Ca2Cu3O8.27, N = 2, the class's default sampler and steps) on ``--device``, and prints
candidates per second, the batch size and the peak GPU memory. Then checks that the device
agrees with the CPU on what is deterministic:

- the network's eps on one fixed batch (256 noisy inputs, five timesteps): max |Δ| must stay
  below ``EPS_TOLERANCE`` (TF32 is switched off for this check);
- the basic yield (rounding, negatives, element counts) of ``--agreement-samples`` ILVR
  samples on each device: within ``YIELD_TOLERANCE_POINTS``. The random streams of CUDA and
  CPU generators differ, so samples are compared as distributions, not one by one.

    python benchmarks/gpu_check.py --device cuda --samples 100000 --batch-size 20000
    python benchmarks/gpu_check.py --device cpu --samples 200 --agreement-samples 100   # CPU smoke test

Exit status 1 when an agreement check fails. Results also go to ``--json``.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from superdiff_core.composition import parse_formula  # noqa: E402
from superdiff_core.model_classes import get_model_class  # noqa: E402
from superdiff_core.pipeline import load_engine  # noqa: E402
from superdiff_core.screening import round_and_threshold  # noqa: E402

REFERENCE = "HgBa2Ca2Cu3O8.27"
EPS_TOLERANCE = 1e-3
YIELD_TOLERANCE_POINTS = 5.0


def basic_yield(samples: np.ndarray, max_elements: int) -> float:
    """Percent of samples passing rounding, non-negativity and the element-count limits."""
    rounded = round_and_threshold(samples)
    count = (rounded > 0).sum(axis=1)
    ok = ~(rounded < 0).any(axis=1) & (count >= 2) & (count <= max_elements)
    return 100.0 * float(ok.mean()) if len(ok) else float("nan")


def timed_sampling(engine, samples: int, steps: int, batch_size: int, reference: np.ndarray | None) -> tuple[np.ndarray, float]:
    if engine.sampler.device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    out = engine.sampler.sample(samples, steps, reference=reference, scale_factor=2 if reference is not None else None,
                                seed=0, batch_size=batch_size)
    if engine.sampler.device.type == "cuda":
        torch.cuda.synchronize()
    return out, time.perf_counter() - start


def eps_difference(device: torch.device) -> float:
    """Max |eps_device − eps_cpu| of the cuprate network on one fixed batch."""
    cpu = load_engine("cuprates", device=torch.device("cpu")).checkpoint.model.eval()
    other = load_engine("cuprates", device=device).checkpoint.model.to(device).eval()
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(256, 96, generator=generator)
    worst = 0.0
    with torch.inference_mode():
        for t in (999, 700, 400, 100, 1):
            timesteps = torch.full((256,), t, dtype=torch.long)
            a = cpu(x, timesteps)
            b = other(x.to(device), timesteps.to(device)).cpu()
            worst = max(worst, float((a - b).abs().max()))
    return worst


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda", help="cuda or cpu")
    parser.add_argument("--samples", type=int, default=100_000, help="unconditional and ILVR candidates each")
    parser.add_argument("--batch-size", type=int, default=20_000)
    parser.add_argument("--agreement-samples", type=int, default=2_000)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        print("no CUDA device: run with --device cpu for the smoke test", file=sys.stderr)
        return 2
    device = torch.device(args.device)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        torch.cuda.reset_peak_memory_stats()
    model_class = get_model_class("cuprates")
    steps = model_class.recommended_steps
    engine = load_engine("cuprates", device=device)
    reference = parse_formula(REFERENCE)
    report: dict = {"device": torch.cuda.get_device_name(0) if device.type == "cuda" else platform.processor() or "cpu",
                    "torch": torch.__version__, "batch_size": args.batch_size, "steps": steps}
    timed_sampling(engine, min(args.batch_size, 1000), steps, args.batch_size, reference)  # warm-up
    for name, ref in (("unconditional", None), ("ilvr", reference)):
        samples, seconds = timed_sampling(engine, args.samples, steps, args.batch_size, ref)
        report[name] = {"samples": args.samples, "seconds": round(seconds, 2), "candidates_per_s": round(args.samples / seconds, 1),
                        "basic_yield_percent": round(basic_yield(samples, model_class.max_elements), 2)}
        print(name, json.dumps(report[name]), flush=True)
    if device.type == "cuda":
        report["peak_gpu_memory_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
    report["eps_max_abs_difference_vs_cpu"] = eps_difference(device)
    cpu_engine = load_engine("cuprates", device=torch.device("cpu"))
    yields = {}
    for name, eng in (("device", engine), ("cpu", cpu_engine)):
        samples, _ = timed_sampling(eng, args.agreement_samples, steps, min(args.batch_size, 1000), reference)
        yields[name] = basic_yield(samples, model_class.max_elements)
    report["ilvr_basic_yield_device_vs_cpu"] = {k: round(v, 2) for k, v in yields.items()}
    report["agree"] = bool(report["eps_max_abs_difference_vs_cpu"] < EPS_TOLERANCE
                           and abs(yields["device"] - yields["cpu"]) <= YIELD_TOLERANCE_POINTS)
    print(json.dumps(report, indent=1))
    if args.json:
        args.json.write_text(json.dumps(report, indent=1) + "\n")
    return 0 if report["agree"] else 1


if __name__ == "__main__":
    sys.exit(main())
