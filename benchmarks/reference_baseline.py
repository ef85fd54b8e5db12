"""The reference-style baseline for the sampling benchmark (not part of the product).

The paper's network is lucidrains' ``Unet1D`` (denoising-diffusion-pytorch) with
attention at every level, and its ILVR loop resizes each vector separately inside the
step loop. This module loads that ``Unet1D`` from the installed package without the
package's ``__init__`` (which needs torchvision and accelerate, neither needed for the
network), installing ``denoising-diffusion-pytorch`` and ``einops`` with pip if absent.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import types

import numpy as np
import torch

from superdiff_core.ilvr import resize_matrix


def _install(packages: list[str]) -> None:
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", *packages], check=True)


def load_reference_unet_class():
    """lucidrains' ``Unet1D`` class, installing the package if needed."""
    spec = importlib.util.find_spec("denoising_diffusion_pytorch")
    if spec is None or importlib.util.find_spec("einops") is None:
        _install(["denoising-diffusion-pytorch", "einops"])
        spec = importlib.util.find_spec("denoising_diffusion_pytorch")
    folder = spec.submodule_search_locations[0]
    for name in ("accelerate", "ema_pytorch"):  # only used by its Trainer, not by the network
        if importlib.util.find_spec(name) is None and name not in sys.modules:
            stub = types.ModuleType(name)
            stub.Accelerator = stub.EMA = object
            sys.modules[name] = stub
    package = types.ModuleType("denoising_diffusion_pytorch")
    package.__path__ = [folder]
    sys.modules.setdefault("denoising_diffusion_pytorch", package)
    version = types.ModuleType("denoising_diffusion_pytorch.version")
    version.__version__ = "benchmark"
    sys.modules.setdefault("denoising_diffusion_pytorch.version", version)
    module_spec = importlib.util.spec_from_file_location("ddp_1d", f"{folder}/denoising_diffusion_pytorch_1d.py")
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module.Unet1D


PAPER_CONFIGURATION = {"dim": 48, "dim_mults": (1, 2, 3, 6), "channels": 1}
"""The network of the paper's notebooks: ``Unet1D(dim=48, dim_mults=(1, 2, 3, 6), channels=1)``,
5,561,281 parameters (attention at every level)."""

PAPER_BATCH = 64
"""Batch size for timing the baseline: one the paper's sampling would use (its notebooks draw
samples in batches of tens; the per-sample cost falls with the batch, so timing at batch 4,
as this benchmark once did, overstates our speed-up)."""


def reference_network() -> torch.nn.Module:
    """lucidrains' Unet1D in the paper's exact configuration (:data:`PAPER_CONFIGURATION`)."""
    return load_reference_unet_class()(**PAPER_CONFIGURATION).eval()


def per_vector_low_pass(vector: np.ndarray, scale_factor: int) -> np.ndarray:
    """phi_N of one vector, resizing down and up separately (as the reference loop does)."""
    reduced = resize_matrix(len(vector), len(vector) // scale_factor) @ vector
    return resize_matrix(len(reduced), len(vector)) @ reduced


def reference_style_sample(
    network: torch.nn.Module, num_samples: int, num_steps: int, reference: np.ndarray | None, scale_factor: int, seed: int = 0
) -> np.ndarray:
    """DDPM ancestral sampling (eps form, sigma² = beta) with ILVR applied vector by vector."""
    from superdiff_core.sampler import step_schedule

    steps = step_schedule(num_steps)
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(num_samples, 1, 96, generator=generator)
    with torch.inference_mode():
        for k in reversed(range(len(steps.timesteps))):
            t = torch.full((num_samples,), int(steps.timesteps[k]), dtype=torch.long)
            eps = network(x, t)
            beta, abar = float(steps.betas[k]), float(steps.alphas_cumprod[k])
            mean = (x - beta / np.sqrt(1 - abar) * eps) / np.sqrt(1 - beta)
            x = mean + (float(steps.sigmas[k]) * torch.randn(x.shape, generator=generator) if k > 0 else 0)
            if reference is not None:
                previous = float(steps.alphas_cumprod_prev[k])
                rows = []
                for row in x[:, 0].numpy():
                    noisy = np.sqrt(previous) * reference + np.sqrt(1 - previous) * np.random.default_rng(seed + k).normal(size=96)
                    rows.append(row + per_vector_low_pass(noisy - row, scale_factor))
                x = torch.tensor(np.array(rows), dtype=torch.float32)[:, None]
    return x[:, 0].numpy()
