"""Training of the eps-model on one SuperCon class (method section 2's protocol).

Fixed-seed 95 % / 5 % train/validation split, NAdam, MSE on the noise for
t ~ Uniform{0..T-1}, and the epoch with the lowest validation loss is kept. Validation
uses fixed timesteps and noise (seeded) so that epochs are compared on the same draw,
and is computed with an exponential moving average (EMA) of the weights, which is
also what is saved. Progress is shown with tqdm; the checkpoint is written through a
temporary file, so an interrupted run leaves the previous checkpoint intact.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from . import schedule
from .checkpoints import load_diffusion, save_diffusion
from .chemical_order import order_permutation
from .data import SuperConSet
from .device import select_device
from .model_classes import check_model_class, get_model_class
from .unet1d import UNet1D, UNetConfig, count_parameters, flops_per_sample


@dataclass(frozen=True)
class TrainingSettings:
    """Hyper-parameters of one training run.

    Attributes:
        epochs: passes over the training split.
        batch_size: vectors per optimiser step.
        learning_rate: NAdam's peak learning rate (cosine decay to 1 % of it).
        ema_decay: decay of the weight average that is validated and saved (warmed up
            as (1 + step) / (10 + step) so that short runs are not dominated by the initial weights).
        validation_fraction: share of compounds held out (fixed-seed split).
        validation_repeats: noise draws per validation vector.
        seed: seed of the split, the noise and the initial weights.
        max_minutes: wall-time budget; training stops after the epoch that exceeds it.
    """

    epochs: int = 60
    batch_size: int = 64
    learning_rate: float = 1e-3
    ema_decay: float = 0.999
    validation_fraction: float = 0.05
    validation_repeats: int = 8
    seed: int = 0
    max_minutes: float = 40.0


@dataclass
class TrainingResult:
    best_epoch: int
    best_validation_loss: float
    train_losses: list[float] = field(default_factory=list)
    validation_losses: list[float] = field(default_factory=list)
    wall_seconds: float = 0.0
    stopped_by_time: bool = False


def split_indices(n: int, validation_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Fixed-seed random split of ``range(n)`` into (train, validation) index arrays."""
    order = np.random.default_rng(seed).permutation(n)
    n_validation = max(1, int(round(n * validation_fraction)))
    return np.sort(order[n_validation:]), np.sort(order[:n_validation])


def clipping_range(vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-element range of the training amounts, shape (96,) each: x0_hat is clipped to it."""
    return np.minimum(vectors.min(axis=0), 0.0), vectors.max(axis=0)


def diffusion_loss(
    model: UNet1D, x0: torch.Tensor, timesteps: torch.Tensor, noise: torch.Tensor, alphas_cumprod: torch.Tensor
) -> torch.Tensor:
    """MSE between the noise and eps_theta(sqrt(abar_t) x0 + sqrt(1 − abar_t) noise, t)."""
    abar = alphas_cumprod[timesteps][:, None]
    x_t = abar.sqrt() * x0 + (1.0 - abar).sqrt() * noise
    return F.mse_loss(model(x_t, timesteps), noise)


def train_diffusion(
    dataset: SuperConSet,
    model_class: str,
    out_dir: str | Path,
    config: UNetConfig = UNetConfig(),
    settings: TrainingSettings = TrainingSettings(),
    device: torch.device | None = None,
    progress: bool = True,
    on_epoch: Callable[[int, float, float], None] | None = None,
    resume: bool = False,
    element_order: str = "z",
) -> TrainingResult:
    """Train one class and save the best-validation checkpoint with its model card.

    Args:
        dataset: SuperCon compounds (all classes; the class subset is taken here).
        model_class: cuprates, pnictides, others or everything.
        out_dir: models folder; the checkpoint goes to ``out_dir/diffusion/<class>/``.
        config: network architecture.
        settings: hyper-parameters.
        device: where to train (default: CUDA if available).
        progress: show a tqdm bar.
        on_epoch: called as ``on_epoch(epoch, train_loss, validation_loss)``.
        resume: continue from the checkpoint already in ``out_dir`` (its architecture and
            weights; a fresh optimiser and learning-rate schedule). The checkpoint is only
            replaced by an epoch whose validation loss beats the saved one, on the same
            fixed validation draw, and the card keeps the earlier run's record.
        element_order: the order of the element axis the network reads ("z", or a
            chemical order of :mod:`superdiff_core.chemical_order`); the checkpoint goes to
            ``diffusion/<class>-<order>/`` and loads as a Z-order model.
    """
    check_model_class(model_class)
    device = device or select_device()
    subset = dataset.subset(model_class)
    train_index, validation_index = split_indices(len(subset.vectors), settings.validation_fraction, settings.seed)
    x0_lower, x0_upper = clipping_range(subset.vectors[train_index])
    network_vectors = subset.vectors[:, order_permutation(element_order)]

    previous_training: dict | None = None
    initial_state: dict | None = None
    if resume:

        previous = load_diffusion(out_dir, model_class, element_order)
        config, initial_state = previous.network.config, previous.network.state_dict()
        previous_training = previous.card.get("training", {})

    torch.manual_seed(settings.seed)
    model = UNet1D(config).to(device)
    if initial_state is not None:
        model.load_state_dict(initial_state)
    ema_model = copy.deepcopy(model).eval()
    optimiser = torch.optim.NAdam(model.parameters(), lr=settings.learning_rate)
    steps_per_epoch = math.ceil(len(train_index) / settings.batch_size)
    total_steps = settings.epochs * steps_per_epoch
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda step: 0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * min(step / total_steps, 1.0)))
    )
    alphas_cumprod = torch.tensor(
        schedule.alphas_cumprod_from_betas(schedule.cosine_betas()), dtype=torch.float32, device=device
    )
    train_vectors = torch.tensor(network_vectors[train_index], dtype=torch.float32, device=device)
    validation_batch = _fixed_validation_batch(network_vectors[validation_index], settings, device)

    generator = torch.Generator(device="cpu").manual_seed(settings.seed)
    result = TrainingResult(best_epoch=-1, best_validation_loss=float("inf"))
    if previous_training:
        result.best_validation_loss = previous_training.get("best_validation_loss", float("inf"))
    best_state: dict | None = None
    def save(state: dict) -> None:
        card = _model_card(
            model_class, dataset, subset, config, settings, result, model, len(train_index), len(validation_index), out_dir,
            device, element_order,
        )
        if previous_training:
            card["training"]["resumed_from"] = previous_training
        save_diffusion(out_dir, model_class, state, config, x0_lower, x0_upper, card, element_order)

    optimiser_steps = 0
    started = time.monotonic()
    bar = tqdm(range(1, settings.epochs + 1), desc=f"train {model_class}", unit="epoch", disable=not progress)
    for epoch in bar:
        model.train()
        order = torch.randperm(len(train_vectors), generator=generator).to(device)
        epoch_loss = 0.0
        for start in range(0, len(order), settings.batch_size):
            x0 = train_vectors[order[start : start + settings.batch_size]]
            timesteps = torch.randint(0, schedule.NUM_TRAIN_TIMESTEPS, (len(x0),), generator=generator).to(device)
            noise = torch.randn(x0.shape, generator=generator).to(device)
            loss = diffusion_loss(model, x0, timesteps, noise, alphas_cumprod)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            scheduler.step()
            optimiser_steps += 1
            _update_ema(ema_model, model, min(settings.ema_decay, (1 + optimiser_steps) / (10 + optimiser_steps)))
            epoch_loss += loss.item() * len(x0)
        train_loss = epoch_loss / len(order)
        with torch.inference_mode():
            validation_loss = diffusion_loss(ema_model, *validation_batch, alphas_cumprod).item()
        result.train_losses.append(train_loss)
        result.validation_losses.append(validation_loss)
        if validation_loss < result.best_validation_loss:
            result.best_epoch, result.best_validation_loss = epoch, validation_loss
            best_state = copy.deepcopy(ema_model.state_dict())
            result.wall_seconds = time.monotonic() - started
            save(best_state)  # an interrupted run keeps the best epoch so far
        bar.set_postfix(train=f"{train_loss:.4f}", val=f"{validation_loss:.4f}", best=result.best_epoch)
        if on_epoch is not None:
            on_epoch(epoch, train_loss, validation_loss)
        if time.monotonic() - started > settings.max_minutes * 60:
            result.stopped_by_time = True
            break
    result.wall_seconds = time.monotonic() - started
    if best_state is not None:
        save(best_state)
    return result


def _fixed_validation_batch(
    vectors: np.ndarray, settings: TrainingSettings, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(x0, timesteps, noise) drawn once with a fixed seed, ``validation_repeats`` per vector."""
    generator = torch.Generator().manual_seed(settings.seed + 1)
    x0 = torch.tensor(np.repeat(vectors, settings.validation_repeats, axis=0), dtype=torch.float32)
    timesteps = torch.randint(0, schedule.NUM_TRAIN_TIMESTEPS, (len(x0),), generator=generator)
    noise = torch.randn(x0.shape, generator=generator)
    return x0.to(device), timesteps.to(device), noise.to(device)


@torch.no_grad()
def _update_ema(ema_model: torch.nn.Module, model: torch.nn.Module, decay: float) -> None:
    for ema_parameter, parameter in zip(ema_model.parameters(), model.parameters()):
        ema_parameter.lerp_(parameter, 1.0 - decay)


def _model_card(
    model_class, dataset, subset, config, settings, result, model, n_train, n_validation, out_dir, device, element_order
) -> dict:
    return {
        "model": "superdiff diffusion (DDPM, cosine schedule, T = 1000, eps prediction)",
        "model_class": model_class,
        "element_order": element_order,
        "data": {
            "file": "SuperCon_with_types.dat",
            "sha256": dataset.sha256,
            "compounds": int(len(subset.vectors)),
            "train": n_train,
            "validation": n_validation,
            "loader_report": dataset.report.lines(),
        },
        "architecture": {
            "name": "UNet1D",
            **config.to_dict(),
            "parameters": count_parameters(model),
            "flops_per_sample_step": flops_per_sample(model),
        },
        "hyperparameters": {**asdict(settings), "optimizer": "NAdam", "lr_schedule": "cosine to 1 %"},
        "training": {
            "best_epoch": result.best_epoch,
            "best_validation_loss": result.best_validation_loss,
            "epochs_run": len(result.train_losses),
            "train_loss": [round(v, 5) for v in result.train_losses],
            "validation_loss": [round(v, 5) for v in result.validation_losses],
            "wall_seconds": round(result.wall_seconds, 1),
            "stopped_by_time_budget": result.stopped_by_time,
            "device": str(device),
            "threads": torch.get_num_threads(),
        },
        "rebuild_command": get_model_class(model_class).train_command("checkpoints/", element_order),
        "metrics": {},
    }
