"""Cost of one U-Net call, the sampler's unit of work, in the ways PyTorch can run it on a CPU.

Each variant runs the shipped cuprate checkpoint's ``UNet1D`` forward on a fixed batch at
timestep 500, and reports sample-steps per second (batch × calls / seconds, best of
``--repeats`` rounds of ``--calls`` calls, after a warm-up) and its mean absolute difference
from the float32 output (the network predicts unit-variance noise, so 0.004 is 0.4 % of it):

- ``fp32``: eager float32, the engine with ``--precision fp32``;
- ``bf16-autocast``: eager under ``torch.autocast`` to bfloat16, the engine's ``bf16`` path
  (:meth:`superdiff_core.sampler.Sampler._step`);
- ``bf16-weights``: the weights and input cast to bfloat16 once (no per-call casts);
- ``script-fp32`` / ``script-bf16``: TorchScript trace, then ``torch.jit.freeze``;
- ``compile-bf16`` (``--compile``): ``torch.compile`` (inductor, static shapes) under autocast;
  its first call's seconds are reported too. Inductor needs a C++ compiler and writes a cache
  under ``/tmp/torchinductor_$USER``: a second process finds it warm.

Usage: ``python benchmarks/bench_network_call.py [--threads 1 2] [--batch 150 500] [--compile]``.
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from superdiff_core.checkpoints import load_diffusion  # noqa: E402

TIMESTEP = 500


def sample_steps_per_second(call, batch: int, calls: int, repeats: int) -> float:
    """batch × calls / the best of ``repeats`` timed rounds, after three warm-up calls."""
    with torch.inference_mode():
        for _ in range(3):
            call()
        best = float("inf")
        for _ in range(repeats):
            started = time.perf_counter()
            for _ in range(calls):
                call()
            best = min(best, time.perf_counter() - started)
    return batch * calls / best


def variants(network: torch.nn.Module, x: torch.Tensor, t: torch.Tensor, with_compile: bool) -> dict:
    """name → a zero-argument callable returning the float32 output, shape (batch, 96)."""
    def autocast(model):
        def call():
            with torch.autocast("cpu", dtype=torch.bfloat16):
                return model(x, t).float()
        return call

    bf16 = copy.deepcopy(network).to(torch.bfloat16)
    bf16.time_mlp.register_forward_pre_hook(lambda module, args: (args[0].to(torch.bfloat16),))
    x16 = x.to(torch.bfloat16)
    with torch.inference_mode():
        script32 = torch.jit.freeze(torch.jit.trace(network, (x, t)))
        script16 = torch.jit.freeze(torch.jit.trace(bf16, (x16, t)))
    calls = {
        "fp32": lambda: network(x, t),
        "bf16-autocast": autocast(network),
        "bf16-weights": lambda: bf16(x16, t).float(),
        "script-fp32": lambda: script32(x, t),
        "script-bf16": lambda: script16(x16, t).float(),
    }
    if with_compile:
        calls["compile-bf16"] = autocast(torch.compile(network, dynamic=False))
    return calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--batch", type=int, nargs="+", default=[150, 500])
    parser.add_argument("--calls", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--compile", action="store_true", help="also torch.compile (tens of seconds per shape when cold)")
    args = parser.parse_args()
    network = load_diffusion(Path(__file__).resolve().parent.parent / "checkpoints", "cuprates").model.eval()
    print("| threads | batch | variant | sample-steps/s | × fp32 | mean abs. difference from fp32 | first call s |")
    print("|---|---|---|---|---|---|---|")
    for threads in args.threads:
        torch.set_num_threads(threads)
        for batch in args.batch:
            generator = torch.Generator().manual_seed(0)
            x = torch.randn(batch, network.config.length, generator=generator)
            t = torch.full((batch,), TIMESTEP, dtype=torch.long)
            with torch.inference_mode():
                reference = network(x, t)
            baseline = None
            for name, call in variants(network, x, t, args.compile).items():
                started = time.perf_counter()
                with torch.inference_mode():
                    difference = float((call() - reference).abs().mean())
                first = time.perf_counter() - started
                rate = sample_steps_per_second(call, batch, args.calls, args.repeats)
                baseline = baseline or rate
                print(f"| {threads} | {batch} | {name} | {rate:,.0f} | {rate / baseline:.2f} | {difference:.4f} | {first:.2f} |",
                      flush=True)


if __name__ == "__main__":
    main()
