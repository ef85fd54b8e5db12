"""Diffusion checkpoints and model cards: where they live, how they are saved and loaded.

Layout inside a models folder (default: ``checkpoints/`` in the repository)::

    diffusion/<class>/model.pt             weights + config + x0 clipping range (torch, weights_only)
    diffusion/<class>/card.json            the model card
    diffusion/<class>-<order>/...          the same for a network trained on the element axis
                                           in a chemical order (e.g. ``cuprates-pettifor``)
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .artifacts import DEFAULT_MODELS_DIR, atomic_path, read_card, write_card
from .chemical_order import check_filter_order
from .errors import CheckpointError
from .model_classes import MODEL_CLASSES, check_model_class, get_model_class
from .ordered_model import ElementOrderedModel
from .unet1d import UNet1D, UNetConfig


def diffusion_dir(models_dir: str | os.PathLike, model_class: str, element_order: str = "z") -> Path:
    """The folder of a class's checkpoint whose network reads the element axis in ``element_order``."""
    name = check_model_class(model_class)
    if check_filter_order(element_order) != "z":
        name = f"{name}-{element_order}"
    return Path(models_dir) / "diffusion" / name


@dataclass
class DiffusionCheckpoint:
    """A trained eps-model with what sampling needs.

    Attributes:
        model_class: cuprates, pnictides, others or everything.
        model: the Z-order eps-model (eval mode, CPU until moved); a network trained in a
            chemical order comes wrapped in :class:`ElementOrderedModel`.
        x0_lower, x0_upper: per-element clipping range of x0_hat in Z order, shape (96,).
        card: the model card (dict).
        element_order: the order of the element axis the network was trained on.
    """

    model_class: str
    model: torch.nn.Module
    x0_lower: np.ndarray
    x0_upper: np.ndarray
    card: dict
    element_order: str = "z"

    @property
    def network(self) -> UNet1D:
        """The trained network itself (in its own element order)."""
        return self.model.network if isinstance(self.model, ElementOrderedModel) else self.model


def save_diffusion(
    models_dir: str | os.PathLike,
    model_class: str,
    state_dict: dict,
    config: UNetConfig,
    x0_lower: np.ndarray,
    x0_upper: np.ndarray,
    card: dict,
    element_order: str = "z",
) -> Path:
    """Write ``model.pt`` and ``card.json`` atomically; returns the folder.

    ``x0_lower`` / ``x0_upper`` are in Z order; ``state_dict`` is the network's, trained on
    the element axis in ``element_order``.
    """
    folder = diffusion_dir(models_dir, model_class, element_order)
    folder.mkdir(parents=True, exist_ok=True)
    payload = {
        "state_dict": {k: v.detach().cpu().clone() for k, v in state_dict.items()},
        "config": config.to_dict(),
        "x0_lower": torch.as_tensor(np.asarray(x0_lower), dtype=torch.float32),
        "x0_upper": torch.as_tensor(np.asarray(x0_upper), dtype=torch.float32),
        "model_class": model_class,
        "element_order": element_order,
    }
    with atomic_path(folder / "model.pt") as temporary:
        torch.save(payload, temporary)
    write_card(folder, card)
    return folder


def read_diffusion_card(models_dir: str | os.PathLike, model_class: str, element_order: str = "z") -> dict:
    """The model card of a class, or {} if there is none."""
    return read_card(diffusion_dir(models_dir, model_class, element_order))


def load_diffusion(models_dir: str | os.PathLike, model_class: str, element_order: str = "z") -> DiffusionCheckpoint:
    """Load a class's checkpoint on the CPU, as a Z-order model whatever order it was trained in.

    Raises:
        CheckpointError: missing or corrupt file, naming it and the command that rebuilds it.
    """
    path = diffusion_dir(models_dir, model_class, element_order) / "model.pt"
    rebuild = get_model_class(model_class).train_command(models_dir, element_order)
    if not path.is_file():
        raise CheckpointError(f"no {model_class} checkpoint at {path}; build it with: {rebuild}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
        config = UNetConfig.from_dict(payload["config"])
        model = UNet1D(config)
        model.load_state_dict(payload["state_dict"])
        x0_lower = payload["x0_lower"].numpy().astype(np.float64)
        x0_upper = payload["x0_upper"].numpy().astype(np.float64)
        saved_order = str(payload.get("element_order", "z"))
    except Exception as error:  # any unreadable file is reported the same way
        raise CheckpointError(f"corrupt checkpoint {path} ({type(error).__name__}); rebuild it with: {rebuild}") from None
    if saved_order != element_order:
        raise CheckpointError(f"checkpoint {path} was trained in {saved_order} order, not {element_order}; rebuild it with: {rebuild}")
    wrapped: torch.nn.Module = model.eval() if element_order == "z" else ElementOrderedModel(model.eval(), element_order).eval()
    card = read_diffusion_card(models_dir, model_class, element_order)
    return DiffusionCheckpoint(model_class, wrapped, x0_lower, x0_upper, card, element_order)


def available_classes(models_dir: str | os.PathLike = DEFAULT_MODELS_DIR, element_order: str = "z") -> list[str]:
    """The model classes that have a checkpoint file in ``models_dir`` for ``element_order``."""
    return [c for c in MODEL_CLASSES if (diffusion_dir(models_dir, c, element_order) / "model.pt").is_file()]
