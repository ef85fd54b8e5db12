"""Diffusion checkpoints and model cards: where they live, how they are saved and loaded.

Layout inside a models folder (default: ``checkpoints/`` in the repository)::

    diffusion/<class>/model.pt    weights + config + x0 clipping range (torch, weights_only)
    diffusion/<class>/card.json   the model card
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .artifacts import DEFAULT_MODELS_DIR, atomic_path, read_card, write_card
from .errors import CheckpointError
from .model_classes import MODEL_CLASSES, check_model_class, get_model_class
from .unet1d import UNet1D, UNetConfig


def diffusion_dir(models_dir: str | os.PathLike, model_class: str) -> Path:
    return Path(models_dir) / "diffusion" / check_model_class(model_class)


@dataclass
class DiffusionCheckpoint:
    """A trained eps-model with what sampling needs.

    Attributes:
        model_class: cuprates, pnictides, others or everything.
        model: the network (eval mode, CPU until moved).
        x0_lower, x0_upper: per-element clipping range of x0_hat, shape (96,).
        card: the model card (dict).
    """

    model_class: str
    model: UNet1D
    x0_lower: np.ndarray
    x0_upper: np.ndarray
    card: dict


def save_diffusion(
    models_dir: str | os.PathLike,
    model_class: str,
    state_dict: dict,
    config: UNetConfig,
    x0_lower: np.ndarray,
    x0_upper: np.ndarray,
    card: dict,
) -> Path:
    """Write ``model.pt`` and ``card.json`` atomically; returns the folder."""
    folder = diffusion_dir(models_dir, model_class)
    folder.mkdir(parents=True, exist_ok=True)
    payload = {
        "state_dict": {k: v.detach().cpu().clone() for k, v in state_dict.items()},
        "config": config.to_dict(),
        "x0_lower": torch.as_tensor(np.asarray(x0_lower), dtype=torch.float32),
        "x0_upper": torch.as_tensor(np.asarray(x0_upper), dtype=torch.float32),
        "model_class": model_class,
    }
    with atomic_path(folder / "model.pt") as temporary:
        torch.save(payload, temporary)
    write_card(folder, card)
    return folder


def read_diffusion_card(models_dir: str | os.PathLike, model_class: str) -> dict:
    """The model card of a class, or {} if there is none."""
    return read_card(diffusion_dir(models_dir, model_class))


def load_diffusion(models_dir: str | os.PathLike, model_class: str) -> DiffusionCheckpoint:
    """Load a class's checkpoint on the CPU.

    Raises:
        CheckpointError: missing or corrupt file, naming it and the command that rebuilds it.
    """
    path = diffusion_dir(models_dir, model_class) / "model.pt"
    rebuild = get_model_class(model_class).train_command(models_dir)
    if not path.is_file():
        raise CheckpointError(f"no {model_class} checkpoint at {path}; build it with: {rebuild}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
        config = UNetConfig.from_dict(payload["config"])
        model = UNet1D(config)
        model.load_state_dict(payload["state_dict"])
        x0_lower = payload["x0_lower"].numpy().astype(np.float64)
        x0_upper = payload["x0_upper"].numpy().astype(np.float64)
    except Exception as error:  # any unreadable file is reported the same way
        raise CheckpointError(f"corrupt checkpoint {path} ({type(error).__name__}); rebuild it with: {rebuild}") from None
    return DiffusionCheckpoint(model_class, model.eval(), x0_lower, x0_upper, read_diffusion_card(models_dir, model_class))


def available_classes(models_dir: str | os.PathLike = DEFAULT_MODELS_DIR) -> list[str]:
    """The model classes that have a checkpoint file in ``models_dir``."""
    return [c for c in MODEL_CLASSES if (diffusion_dir(models_dir, c) / "model.pt").is_file()]
