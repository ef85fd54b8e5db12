"""Formation energy per atom from the composition alone: what the app loads.

Two architectures share one interface (element tokens and their fractions in, eV/atom
and a spread out) and one weight-file format; the training code, the data loading and
the split live in :mod:`.formation_training`.

- :class:`CompositionAttention` (shipped, chosen by measurement: ``benchmarks/formation.md``):
  a small Roost / CrabNet-style model. Each element present is a token: a learned
  embedding plus a projection of its mat2vec vector (Tshitoyan et al., Nature 571, 95,
  2019; the 200-number table as shipped by CrabNet, Wang et al., npj Comput. Mater. 7,
  77, 2021) plus an encoding of its fraction. A few pre-norm self-attention blocks mix
  the tokens; the attention weights are Roost's *fraction-weighted* softmax
  (``a_ij ∝ f_j exp(q_i·k_j)``, Goodall & Lee, Nat. Commun. 11, 6280, 2020) and the
  pooling is the fraction-weighted mean, so an element with fraction 0 contributes
  exactly nothing and the prediction is a smooth function of all 96 fractions (the
  fraction encoding uses no logarithm). The head gives the energy and a log scale.
- :class:`FractionMLP`: the ElemNet-style comparator (Jha et al., Sci. Rep. 8, 17593,
  2018): the element fractions, optionally with the fraction-weighted mean of the
  element table, through a deep ReLU stack.

The spread (``formation_energy_std_ev_per_atom``) is the head's scale multiplied by a
factor fitted on the validation rows so that ``|error| <= std`` holds for 68.3 % of them
(normalised split-conformal); the coverage on the held-out test rows is in the card.

Artifact (``<models>/formation/formation.pt``): one ``torch.save`` dict of tensors and
plain values, ``{"format", "config", "state_dict", "calibration"}``, read with
``torch.load(weights_only=True)``; the element table is a buffer of the state_dict, so
the app needs nothing outside the repository. ``card.json`` and ``parity.png`` beside it.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..artifacts import atomic_path, command_line, read_card, required_file
from ..composition import ELEMENT_SYMBOLS, N_ELEMENTS
from ..errors import CheckpointError
from .features import FORMATION_ELEMENTS

FORMATION_SUBDIR = "formation"
WEIGHTS_FILE = "formation.pt"
PARITY_FILE = "parity.png"
WEIGHTS_FORMAT = "superdiff-formation-v2"
_OQMD_DIR = Path(__file__).resolve().parents[3] / "shared" / "data" / "oqmd"
DEFAULT_TRAIN_PATH = _OQMD_DIR / "formation_enthalpy_train.csv"
"""CrabNet's OQMD training split (239,190 rows): the training rows."""
DEFAULT_OQMD_PATH = _OQMD_DIR / "formation_enthalpy.csv"
"""The older 76,929-row OQMD file: its seeded composition split gives validation and the fixed test rows."""

STD_COLUMN = "formation_energy_std_ev_per_atom"
"""Name of the spread column (eV/atom, calibrated to 68.3 % coverage on validation)."""

COVERED_INDICES = np.array([ELEMENT_SYMBOLS.index(symbol) for symbol in FORMATION_ELEMENTS])
"""Positions (Z - 1) in the 96-vector of the elements the model covers (ElemNet's 86)."""
_COVERED_MASK = np.zeros(N_ELEMENTS, dtype=bool)
_COVERED_MASK[COVERED_INDICES] = True

PUBLISHED = {
    "split": "CrabNet's OQMD benchmark (Wang et al. 2021): 239k training rows, test MAE in eV/atom",
    "CrabNet (Wang et al. 2021)": 0.031,
    "Roost (Goodall & Lee 2020)": 0.032,
    "ElemNet (Jha et al. 2018)": 0.049,
    "random forest on Magpie features": 0.083,
    "source": "computed from CrabNet's publication_predictions/ (issue 10)",
    "ElemNet's published predictions on rows comparable to our test rows": 0.046,
}


def rebuild_command(models_dir: str | os.PathLike) -> str:
    """The command that rebuilds the formation model inside ``models_dir``."""
    return command_line("superdiff", "train-formation", "--out", Path(models_dir) / FORMATION_SUBDIR)


# --------------------------------------------------------------------------- networks

def fraction_features(fractions: torch.Tensor) -> torch.Tensor:
    """Smooth encoding of element fractions: (..., ) in [0, 1] -> (..., 23).

    ``f``, ``f / (f + c)`` for c in (0.01, 0.03, 0.1, 0.3, 1) (a soft logarithm that
    resolves dopant-level fractions) and ``sin, cos(pi k f)`` for k = 1..8 (sin is 0 at
    f = 0, so a zero fraction is encoded as all zeros except the cosines, which the
    weighting removes anyway). Differentiable everywhere on [0, 1].
    """
    f = fractions.unsqueeze(-1)
    soft = [f / (f + c) for c in (0.01, 0.03, 0.1, 0.3, 1.0)]
    k = torch.arange(1, 9, dtype=fractions.dtype, device=fractions.device) * math.pi
    return torch.cat([f, *soft, torch.sin(f * k), torch.cos(f * k)], dim=-1)


N_FRACTION_FEATURES = 1 + 5 + 16


class FractionWeightedAttention(nn.Module):
    """Multi-head self-attention whose softmax is weighted by the key's fraction."""

    def __init__(self, width: int, heads: int):
        super().__init__()
        if width % heads:
            raise ValueError(f"width {width} is not a multiple of heads {heads}")
        self.heads = heads
        self.qkv = nn.Linear(width, 3 * width)
        self.out = nn.Linear(width, width)

    def forward(self, x: torch.Tensor, fractions: torch.Tensor) -> torch.Tensor:
        """x: (B, T, width); fractions: (B, T), rows summing to 1 (0 for padding)."""
        batch, tokens, width = x.shape
        q, k, v = self.qkv(x).view(batch, tokens, 3, self.heads, width // self.heads).permute(2, 0, 3, 1, 4)
        scores = q @ k.transpose(-1, -2) / math.sqrt(width // self.heads)  # (B, H, T, T)
        # the softmax's shift over the present elements only: an absent (0-fraction) token with a far larger
        # score would otherwise push every present weight under the 1e-12 guard (guidance passes all 96)
        absent = (fractions <= 0)[:, None, None, :]
        peak = scores.masked_fill(absent, float("-inf")).amax(dim=-1, keepdim=True).detach()
        shifted = (scores - peak).masked_fill(absent, float("-inf"))
        weights = torch.exp(shifted) * fractions[:, None, None, :]
        weights = weights / (weights.sum(dim=-1, keepdim=True) + 1e-12)
        mixed = (weights @ v).transpose(1, 2).reshape(batch, tokens, width)
        return self.out(mixed)


class _Block(nn.Module):
    """Pre-norm transformer block: fraction-weighted attention, then a feed-forward layer."""

    def __init__(self, width: int, heads: int, feedforward: int):
        super().__init__()
        self.norm_attention = nn.LayerNorm(width)
        self.attention = FractionWeightedAttention(width, heads)
        self.norm_feedforward = nn.LayerNorm(width)
        self.feedforward = nn.Sequential(nn.Linear(width, feedforward), nn.GELU(), nn.Linear(feedforward, width))

    def forward(self, x: torch.Tensor, fractions: torch.Tensor) -> torch.Tensor:
        x = x + self.attention(self.norm_attention(x), fractions)
        return x + self.feedforward(self.norm_feedforward(x))


class CompositionAttention(nn.Module):
    """Element tokens -> (energy eV/atom, log scale), both (B,).

    Args:
        element_table: (96, F) element descriptors (mat2vec), kept as a buffer.
        width, heads, layers, feedforward: transformer size.
    """

    def __init__(self, element_table: torch.Tensor, width: int = 128, heads: int = 4, layers: int = 3, feedforward: int = 256):
        super().__init__()
        self.register_buffer("element_table", torch.as_tensor(element_table, dtype=torch.float32).clone())
        self.embedding = nn.Embedding(N_ELEMENTS, width)
        nn.init.normal_(self.embedding.weight, std=0.02)
        self.table_projection = nn.Linear(self.element_table.shape[1], width)
        self.fraction_projection = nn.Sequential(nn.Linear(N_FRACTION_FEATURES, width), nn.GELU(), nn.Linear(width, width))
        self.blocks = nn.ModuleList([_Block(width, heads, feedforward) for _ in range(layers)])
        self.norm = nn.LayerNorm(width)
        self.head = nn.Sequential(nn.Linear(width, 2 * width), nn.GELU(), nn.Linear(2 * width, width), nn.GELU(), nn.Linear(width, 2))

    def forward(self, tokens: torch.Tensor, fractions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """tokens: (B, T) element positions (Z - 1); fractions: (B, T), rows summing to 1."""
        x = (self.embedding(tokens) + self.table_projection(self.element_table[tokens])
             + self.fraction_projection(fraction_features(fractions)))
        for block in self.blocks:
            x = block(x, fractions)
        pooled = self.norm((x * fractions.unsqueeze(-1)).sum(dim=1))
        out = self.head(pooled)
        return out[:, 0], out[:, 1]


class FractionMLP(nn.Module):
    """ElemNet-style comparator: dense fractions (and optionally the fraction-weighted mean
    of the element table) through a ReLU stack -> (energy, log scale), both (B,)."""

    def __init__(self, element_table: torch.Tensor, hidden_widths: tuple[int, ...] = (1024, 512, 512, 256, 256, 128, 64),
                 use_table: bool = True):
        super().__init__()
        self.register_buffer("element_table", torch.as_tensor(element_table, dtype=torch.float32).clone())
        self.use_table = use_table
        width_in = N_ELEMENTS + (self.element_table.shape[1] if use_table else 0)
        layers: list[nn.Module] = []
        for width in hidden_widths:
            layers += [nn.Linear(width_in, width), nn.ReLU()]
            width_in = width
        layers.append(nn.Linear(width_in, 2))
        self.layers = nn.Sequential(*layers)

    def forward(self, tokens: torch.Tensor, fractions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        dense = torch.zeros(len(tokens), N_ELEMENTS, dtype=fractions.dtype, device=fractions.device).scatter_add(1, tokens, fractions)
        inputs = [dense]
        if self.use_table:
            inputs.append(dense @ self.element_table)
        out = self.layers(torch.cat(inputs, dim=1))
        return out[:, 0], out[:, 1]


class FormationEnsemble(nn.Module):
    """Several networks trained from different seeds: (energy mean, log of a combined scale).

    The combined scale is the members' mean scale plus the standard deviation of their
    energies (disagreement), before the calibration factor of the weight file.
    """

    def __init__(self, members: list[nn.Module]):
        super().__init__()
        self.members = nn.ModuleList(members)

    @property
    def element_table(self) -> torch.Tensor:
        return self.members[0].element_table

    def forward(self, tokens: torch.Tensor, fractions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        outputs = [member(tokens, fractions) for member in self.members]
        energies = torch.stack([energy for energy, _ in outputs])
        scales = torch.stack([torch.exp(log_scale) for _, log_scale in outputs])
        return energies.mean(dim=0), torch.log(scales.mean(dim=0) + energies.std(dim=0, unbiased=False))


def build_network(config: dict[str, Any], element_table: torch.Tensor) -> nn.Module:
    """The network described by a weight file's ``config`` (see :func:`.formation_training.FormationConfig`);
    ``config["members"] > 1`` makes a :class:`FormationEnsemble` of that many."""
    members = int(config.get("members", 1))
    if members > 1:
        return FormationEnsemble([build_network({**config, "members": 1}, element_table) for _ in range(members)])
    if config["architecture"] == "attention":
        return CompositionAttention(element_table, int(config["width"]), int(config["heads"]), int(config["layers"]),
                                    int(config["feedforward"]))
    if config["architecture"] == "mlp":
        return FractionMLP(element_table, tuple(int(w) for w in config["hidden_widths"]), bool(config["use_table"]))
    raise CheckpointError(f"unknown formation architecture {config['architecture']!r}")


# --------------------------------------------------------------------------- tokens

def tokens_from_amounts(amounts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Element tokens of amount vectors, padded to the row with most elements.

    Args:
        amounts: non-negative, shape (n, 96).

    Returns:
        ``(tokens, fractions)``: int64 (n, T) positions Z - 1 (padding 0) and float32
        (n, T) fractions summing to 1 per non-empty row (padding 0).
    """
    amounts = np.atleast_2d(np.asarray(amounts, dtype=np.float64))
    present = amounts > 0
    counts = present.sum(axis=1)
    width = max(int(counts.max()) if len(counts) else 0, 1)
    order = np.argsort(~present, axis=1, kind="stable")[:, :width]
    taken = np.take_along_axis(amounts, order, axis=1)
    valid = np.arange(width)[None, :] < counts[:, None]
    taken = np.where(valid, taken, 0.0)
    total = taken.sum(axis=1, keepdims=True)
    fractions = np.divide(taken, total, out=np.zeros_like(taken), where=total > 0)
    return np.where(valid, order, 0).astype(np.int64), fractions.astype(np.float32)


def predict_tokens(network: nn.Module, tokens: np.ndarray, fractions: np.ndarray, batch_size: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    """Network outputs (energy, log scale) as float64 (n,) arrays, in eval mode without gradients."""
    network.eval()
    energies, scales = [], []
    with torch.inference_mode():
        for start in range(0, len(tokens), batch_size):
            t = torch.from_numpy(tokens[start:start + batch_size])
            f = torch.from_numpy(fractions[start:start + batch_size])
            keep = int((f > 0).sum(dim=1).max()) if len(f) else 1
            energy, scale = network(t[:, :max(keep, 1)], f[:, :max(keep, 1)])
            energies.append(energy.double().numpy())
            scales.append(scale.double().numpy())
    if not energies:
        return np.zeros(0), np.zeros(0)
    return np.concatenate(energies), np.concatenate(scales)


# --------------------------------------------------------------------------- artifact

def save_formation_weights(path: Path, network: nn.Module, config: dict[str, Any], calibration: dict[str, float]) -> None:
    """Write the weight file (config, state_dict, calibration) through a temporary file and a rename."""
    payload = {"format": WEIGHTS_FORMAT, "config": dict(config), "state_dict": network.state_dict(), "calibration": dict(calibration)}
    with atomic_path(path) as temporary:
        torch.save(payload, temporary)


def load_formation_weights(path: Path, rebuild: str = "superdiff train-formation") -> tuple[nn.Module, dict[str, Any], dict[str, float]]:
    """Read a weight file with ``weights_only=True``: ``(network in eval mode, config, calibration)``.

    Raises:
        CheckpointError: if the file is not a formation weight file or does not fit.
    """
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(payload, dict) or payload.get("format") != WEIGHTS_FORMAT:
            raise ValueError("not a formation weight file")
        config, state = payload["config"], payload["state_dict"]
        table = state["element_table"] if "element_table" in state else state["members.0.element_table"]
        network = build_network(config, table)
        network.load_state_dict(state)
    except CheckpointError:
        raise
    except Exception as error:  # unpickling refused, shape or key errors
        raise CheckpointError(f"corrupt {path} ({type(error).__name__}: {error}); rebuild it with: {rebuild}") from None
    return network.eval(), config, dict(payload.get("calibration", {}))


class FormationModel:
    """The fitted formation-energy model, ready to predict (read-only after loading).

    Attributes:
        network: the torch module (eval mode).
        config: architecture and training settings stored in the weight file.
        std_scale: factor from the head's scale to a 68.3 %-coverage standard deviation.
        card: the model card (may be empty when built from weights alone).
    """

    def __init__(self, network: nn.Module, config: dict[str, Any], calibration: dict[str, float], card: dict[str, Any] | None = None):
        self.network = network.eval()
        self.config = config
        self.std_scale = float(calibration.get("std_scale", 1.0))
        self.card = card or {}

    @classmethod
    def load(cls, models_dir: str | os.PathLike) -> "FormationModel":
        """Load ``<models_dir>/formation/`` (weights and card).

        Raises:
            CheckpointError: if a file is missing or does not fit the network.
        """
        folder = Path(models_dir) / FORMATION_SUBDIR
        rebuild = rebuild_command(models_dir)
        card = read_card(folder, rebuild)
        network, config, calibration = load_formation_weights(required_file(folder / WEIGHTS_FILE, rebuild), rebuild)
        return cls(network, config, calibration, card)

    def predict_with_spread(self, vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[str]]:
        """Formation energy per atom and its spread.

        Args:
            vectors: amounts, shape (n, 96).

        Returns:
            ``(energies, stds, notes)``: eV/atom, each shape (n,), NaN where a row has an
            element outside the 86 covered (or no amount); ``stds`` is the calibrated
            1-sigma spread (68.3 % of validation errors lie within it); ``notes[i]`` is
            "" or the reason for NaN.
        """
        vectors = np.atleast_2d(np.asarray(vectors, dtype=np.float64))
        covered = ~np.any(vectors[:, ~_COVERED_MASK] > 0, axis=1) & (vectors.sum(axis=1) > 0)
        energies = np.full(len(vectors), np.nan)
        stds = np.full(len(vectors), np.nan)
        if covered.any():
            tokens, fractions = tokens_from_amounts(vectors[covered])
            energy, log_scale = predict_tokens(self.network, tokens, fractions)
            energies[covered] = energy
            stds[covered] = np.exp(log_scale) * self.std_scale
        notes = ["" if ok else _uncovered_note(vector) for ok, vector in zip(covered, vectors)]
        return energies, stds, notes

    def predict(self, vectors: np.ndarray) -> tuple[np.ndarray, list[str]]:
        """Formation energy per atom, ``(energies (n,) eV/atom, notes)``: see :meth:`predict_with_spread`."""
        energies, _, notes = self.predict_with_spread(vectors)
        return energies, notes

    def energy_of_amounts(self, amounts: torch.Tensor, all_elements: bool = False) -> torch.Tensor:
        """Formation energy as a differentiable torch function of amount vectors (for guidance).

        Args:
            amounts: non-negative amounts, shape (B, 96), any float dtype; rows must not be
                empty. Elements outside the 86 covered are not masked here: the caller
                decides (the model never saw them).
            all_elements: use all 96 elements as tokens (gradients also for elements that
                are absent, i.e. the one-sided derivative of adding a little of them);
                by default only the elements present somewhere in the batch (same values;
                an absent element's amount then acts only through the normalisation).

        Returns:
            eV/atom, shape (B,), in the network's dtype (float32 as loaded), with a graph
            back to ``amounts``.
        """
        amounts = amounts.to(next(self.network.parameters()).dtype)
        fractions96 = amounts / amounts.sum(dim=1, keepdim=True).clamp_min(1e-12)
        if all_elements:
            columns = torch.arange(N_ELEMENTS)
        else:
            columns = torch.nonzero((amounts.detach() > 0).any(dim=0)).squeeze(1)
        tokens = columns.unsqueeze(0).expand(len(amounts), -1)
        energy, _ = self.network(tokens, fractions96[:, columns])
        return energy


def _uncovered_note(vector: np.ndarray) -> str:
    """Why one (96,) vector gets no formation energy."""
    outside = [ELEMENT_SYMBOLS[i] for i in np.flatnonzero((vector > 0) & ~_COVERED_MASK)]
    if not outside:
        return "formation energy: empty composition"
    return f"formation energy: {', '.join(outside)} outside the model's 86 elements"
