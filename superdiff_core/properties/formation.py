"""Formation energy per atom: an ElemNet-style deep fully connected network.

Jha et al. (Sci. Rep. 8, 17593, 2018) predict OQMD formation enthalpies from the 86
element fractions alone with a 17-layer fully connected network. Ours keeps that idea
(fractions in, a deep ReLU stack narrowing block by block) at a width that trains on a
CPU (see :data:`DEFAULT_HIDDEN_WIDTHS`), and averages a few such networks trained from
different seeds (:class:`ElemNetEnsemble`). Measured on the held-out split, strong
decoupled weight decay beats dropout here (dropout's train/inference variance shift
costs accuracy in a deep ReLU stack), so the default dropout is 0; if it is switched on,
it is active only while training. Compositions with an element outside the 86 get NaN
and a reason, never a guess.

Artifacts (``<models>/formation/``): ``elemnet.pt`` (the ensemble's ``state_dict``,
loaded with ``weights_only=True``), ``card.json`` and ``parity.png``.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from ..composition import N_ELEMENTS, FormulaError, parse_formula
from ..data import LoadReport, sha256_of_file, vector_keys
from ..errors import CheckpointError, InputError
from .artifacts import command_line, read_card, required_file, write_card
from .features import FORMATION_ELEMENTS, formation_inputs, uncovered_elements
from .metrics import regression_metrics

FORMATION_SUBDIR = "formation"
WEIGHTS_FILE = "elemnet.pt"
PARITY_FILE = "parity.png"
DEFAULT_OQMD_PATH = Path(__file__).resolve().parents[3] / "shared" / "data" / "oqmd" / "formation_enthalpy.csv"

DEFAULT_HIDDEN_WIDTHS: tuple[int, ...] = (512, 512, 512, 256, 256, 256, 128, 128, 128, 64, 64, 32)
"""ElemNet's 1024x4, 512x3, 256x3, 128x3, 64x2, 32 stack with the first block dropped and
the rest kept: 12 hidden layers, 0.9 M parameters (ElemNet: 4.6 M, 30 s/epoch here)."""

PUBLISHED = {
    "ElemNet (Jha et al. 2018), OQMD test MAE": "0.050 eV/atom (~275k OQMD compounds, 90/10 split)",
}


def rebuild_command(models_dir: str | os.PathLike) -> str:
    """The command that rebuilds the formation model inside ``models_dir``."""
    return command_line("superdiff", "train-formation", "--data", "PATH/formation_enthalpy.csv", "--out", Path(models_dir) / FORMATION_SUBDIR)


@dataclass(frozen=True)
class FormationConfig:
    """Hyperparameters of :func:`fit_formation_network` (all recorded in the card)."""

    hidden_widths: tuple[int, ...] = DEFAULT_HIDDEN_WIDTHS
    dropout: float = 0.0
    learning_rate: float = 2e-3
    weight_decay: float = 0.3
    batch_size: int = 256
    epochs: int = 40
    ensemble_size: int = 4
    validation_fraction: float = 0.1
    test_fraction: float = 0.1
    seed: int = 0
    max_minutes: float = 55.0
    loss: str = field(default="L1 (mean absolute error)")
    optimiser: str = field(default="AdamW (decoupled weight decay), cosine learning-rate decay over the epochs")


class ElemNet(nn.Module):
    """Deep fully connected regressor: (n, 86) element fractions -> (n,) eV/atom.

    A dropout layer follows the last layer of each block of equal width, as in ElemNet.
    """

    def __init__(self, hidden_widths: tuple[int, ...] = DEFAULT_HIDDEN_WIDTHS, dropout: float = 0.1):
        super().__init__()
        layers: list[nn.Module] = []
        width_in = len(FORMATION_ELEMENTS)
        for position, width in enumerate(hidden_widths):
            layers += [nn.Linear(width_in, width), nn.ReLU()]
            block_ends = position + 1 == len(hidden_widths) or hidden_widths[position + 1] != width
            if block_ends and dropout > 0:
                layers.append(nn.Dropout(dropout))
            width_in = width
        layers.append(nn.Linear(width_in, 1))
        self.layers = nn.Sequential(*layers)

    def forward(self, fractions: torch.Tensor) -> torch.Tensor:
        return self.layers(fractions).squeeze(-1)


class ElemNetEnsemble(nn.Module):
    """The mean of several :class:`ElemNet` members: (n, 86) fractions -> (n,) eV/atom."""

    def __init__(self, members: list[ElemNet]):
        super().__init__()
        self.members = nn.ModuleList(members)

    @classmethod
    def empty(cls, size: int, hidden_widths: tuple[int, ...], dropout: float) -> "ElemNetEnsemble":
        """``size`` untrained members of one shape (to load a state_dict into)."""
        return cls([ElemNet(hidden_widths, dropout) for _ in range(size)])

    def forward(self, fractions: torch.Tensor) -> torch.Tensor:
        return torch.stack([member(fractions) for member in self.members]).mean(dim=0)


@dataclass
class FormationData:
    """Parsed formation-energy data.

    Attributes:
        formulas: shape (n,).
        inputs: ElemNet fractions, shape (n, 86), float32.
        energies: eV/atom, shape (n,).
        sha256: checksum of the source file.
        report: rows skipped and why.
    """

    formulas: np.ndarray
    inputs: np.ndarray
    energies: np.ndarray
    sha256: str
    report: LoadReport


def load_formation_data(path: str | os.PathLike) -> FormationData:
    """Read a CSV with columns ``formula, formation_energy_per_atom`` (eV/atom).

    Rows that do not parse, or that contain an element outside the 86, are skipped and
    counted in the report.

    Raises:
        InputError: if the file is missing or lacks the columns.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"formation-energy file not found: {path}")
    table = pd.read_csv(path)
    if not {"formula", "formation_energy_per_atom"} <= set(table.columns):
        raise InputError(f"{path} needs the columns formula, formation_energy_per_atom")
    report = LoadReport()
    formulas, vectors, energies = [], [], []
    for formula, energy in zip(table["formula"].astype(str), table["formation_energy_per_atom"]):
        report.rows_read += 1
        try:
            vector = parse_formula(formula, max_elements=N_ELEMENTS)
        except FormulaError as error:
            report.note(report.skipped, str(error).split(": ", 1)[-1], formula)
            continue
        if not np.isfinite(energy):
            report.note(report.skipped, "energy is not a number", formula)
            continue
        formulas.append(formula)
        vectors.append(vector)
        energies.append(float(energy))
    inputs, covered = formation_inputs(np.array(vectors))
    for formula in np.array(formulas)[~covered]:
        report.note(report.skipped, "element outside the 86 covered", formula)
    return FormationData(np.array(formulas)[covered], inputs[covered], np.array(energies)[covered], sha256_of_file(path), report)


def split_by_composition(inputs: np.ndarray, fractions: tuple[float, float], seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Random train/validation/test row indices with no composition in two parts.

    Args:
        inputs: element fractions, shape (n, m); equal rows (to 2 decimals of percent)
            count as one composition.
        fractions: (validation, test) shares of the compositions.
        seed: fixes the split.
    """
    keys = vector_keys(inputs * 100.0)
    _, group = np.unique(np.array(keys, dtype=object), return_inverse=True)
    order = np.random.default_rng(seed).permutation(group.max() + 1)
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    share = rank[group] / len(order)
    validation_share, test_share = fractions
    test = share < test_share
    validation = (share >= test_share) & (share < test_share + validation_share)
    return np.flatnonzero(~test & ~validation), np.flatnonzero(validation), np.flatnonzero(test)


def _predict_network(network: nn.Module, inputs: np.ndarray, batch_size: int = 2048) -> np.ndarray:
    """Network outputs for (n, 86) inputs, in eval mode, as float64 (n,)."""
    outputs = []
    with torch.inference_mode():
        for start in range(0, len(inputs), batch_size):
            outputs.append(network(torch.from_numpy(np.ascontiguousarray(inputs[start : start + batch_size]))).numpy())
    return np.concatenate(outputs).astype(np.float64) if outputs else np.zeros(0)


@dataclass
class FormationFit:
    """Result of :func:`fit_formation_network`: the best-validation network and its history."""

    network: ElemNet
    seed: int
    best_epoch: int
    epochs_run: int
    stopped_because: str
    history: list[dict[str, float]]
    seconds: float

    def summary(self) -> dict[str, Any]:
        """The card entry of this network (history included)."""
        best = min((row["validation_mae"] for row in self.history), default=None)
        return {"seed": self.seed, "best_epoch": self.best_epoch, "best_validation_mae": best, "epochs_run": self.epochs_run,
                "stopped_because": self.stopped_because, "wall_time_s": round(self.seconds, 1), "history": self.history}


def fit_formation_network(
    train_inputs: np.ndarray,
    train_energies: np.ndarray,
    validation_inputs: np.ndarray,
    validation_energies: np.ndarray,
    config: FormationConfig = FormationConfig(),
    checkpoint_path: Path | None = None,
    progress: bool = True,
    seed: int | None = None,
    deadline: float | None = None,
) -> FormationFit:
    """Train one :class:`ElemNet` and keep the epoch with the lowest validation MAE.

    Args:
        train_inputs, validation_inputs: element fractions, shape (n, 86).
        train_energies, validation_energies: eV/atom, shape (n,).
        config: hyperparameters; training stops after ``config.epochs`` or
            ``config.max_minutes``, whichever comes first, or on Ctrl-C.
        checkpoint_path: if given, the best weights so far are written there (through a
            temporary file and a rename) after every improving epoch, so an interrupted
            run leaves a usable model.
        progress: show a tqdm bar.
        seed: initialisation and batch order (default ``config.seed``).
        deadline: ``time.perf_counter()`` value after which no new epoch starts
            (default: ``config.max_minutes`` from now).
    """
    from tqdm import tqdm

    seed = config.seed if seed is None else seed
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    network = ElemNet(config.hidden_widths, config.dropout)
    optimiser = torch.optim.AdamW(network.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=config.epochs)
    x = torch.from_numpy(np.asarray(train_inputs, dtype=np.float32))
    y = torch.from_numpy(np.asarray(train_energies, dtype=np.float32))
    validation_inputs = np.asarray(validation_inputs, dtype=np.float32)
    best_mae, best_epoch, best_state = np.inf, 0, None
    history: list[dict[str, float]] = []
    started = time.perf_counter()
    deadline = started + config.max_minutes * 60 if deadline is None else deadline
    stopped_because = "all epochs run"
    bar = tqdm(range(1, config.epochs + 1), desc=f"formation (seed {seed})", unit="epoch", disable=not progress)
    try:
        for epoch in bar:
            network.train()
            total = 0.0
            for batch in torch.randperm(len(x), generator=generator).split(config.batch_size):
                optimiser.zero_grad(set_to_none=True)
                loss = torch.nn.functional.l1_loss(network(x[batch]), y[batch])
                loss.backward()
                optimiser.step()
                total += loss.item() * len(batch)
            schedule.step()
            network.eval()
            validation_mae = float(np.mean(np.abs(_predict_network(network, validation_inputs) - validation_energies)))
            history.append({"epoch": epoch, "train_mae": total / len(x), "validation_mae": validation_mae})
            if validation_mae < best_mae:
                best_mae, best_epoch = validation_mae, epoch
                best_state = {name: tensor.detach().clone() for name, tensor in network.state_dict().items()}
                if checkpoint_path is not None:
                    save_state_atomically(best_state, checkpoint_path)
            bar.set_postfix(train=f"{total / len(x):.4f}", val=f"{validation_mae:.4f}", best=f"{best_mae:.4f}@{best_epoch}")
            if time.perf_counter() > deadline and epoch < config.epochs:
                stopped_because = "time limit"
                break
    except KeyboardInterrupt:
        stopped_because = "interrupted"
    finally:
        bar.close()
    if best_state is not None:
        network.load_state_dict(best_state)
    network.eval()
    return FormationFit(network, seed, best_epoch, len(history), stopped_because, history, time.perf_counter() - started)


@dataclass
class FormationEnsembleFit:
    """Result of :func:`fit_formation_ensemble`."""

    network: ElemNetEnsemble
    members: list[FormationFit]
    stopped_because: str
    seconds: float


def fit_formation_ensemble(
    train_inputs: np.ndarray,
    train_energies: np.ndarray,
    validation_inputs: np.ndarray,
    validation_energies: np.ndarray,
    config: FormationConfig = FormationConfig(),
    checkpoint_path: Path | None = None,
    progress: bool = True,
) -> FormationEnsembleFit:
    """Train ``config.ensemble_size`` networks (seeds ``config.seed``, ``+1``, ...) one after
    another on the same split and average them.

    ``config.max_minutes`` is the budget of the whole ensemble: each member gets an equal
    share of what is left when it starts. After every member the ensemble so far is
    written to ``checkpoint_path`` (temporary file and rename); Ctrl-C keeps the members
    already trained (and the interrupted member's best epoch).
    """
    started = time.perf_counter()
    budget_end = started + config.max_minutes * 60
    members: list[FormationFit] = []
    stopped_because = "all members trained"
    for index in range(config.ensemble_size):
        remaining_members = config.ensemble_size - index
        deadline = time.perf_counter() + (budget_end - time.perf_counter()) / remaining_members
        fit = fit_formation_network(train_inputs, train_energies, validation_inputs, validation_energies, config,
                                    progress=progress, seed=config.seed + index, deadline=deadline)
        if fit.history:
            members.append(fit)
        if checkpoint_path is not None and members:
            save_state_atomically(ElemNetEnsemble([member.network for member in members]).state_dict(), checkpoint_path)
        if fit.stopped_because == "interrupted":
            stopped_because = f"interrupted after {len(members)} of {config.ensemble_size} members"
            break
    if not members:  # interrupted before the first epoch ended: nothing to keep
        raise KeyboardInterrupt
    ensemble = ElemNetEnsemble([member.network for member in members]).eval()
    return FormationEnsembleFit(ensemble, members, stopped_because, time.perf_counter() - started)


def save_state_atomically(state: dict[str, torch.Tensor], path: Path) -> None:
    """``torch.save(state_dict)`` through a temporary file and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    torch.save(state, temporary)
    os.replace(temporary, path)


def write_parity_plot(predicted: np.ndarray, actual: np.ndarray, path: Path, title: str) -> str:
    """Scatter of predicted vs DFT formation energy as a PNG; returns a note on what was done.

    Uses matplotlib if it is installed (imported here only); otherwise writes nothing.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "parity plot not written: matplotlib is not installed"
    figure, axes = plt.subplots(figsize=(5, 5), dpi=110)
    axes.scatter(actual, predicted, s=2, alpha=0.3, color="#1f77b4", linewidths=0)
    low, high = np.percentile(np.concatenate([actual, predicted]), [0.05, 99.95])
    axes.plot([low, high], [low, high], color="black", linewidth=0.8)
    axes.set_xlim(low, high)
    axes.set_ylim(low, high)
    axes.set_xlabel("OQMD formation energy (eV/atom)")
    axes.set_ylabel("predicted (eV/atom)")
    axes.set_title(title, fontsize=9)
    figure.tight_layout()
    temporary = path.with_name(f".{path.stem}.tmp.png")
    figure.savefig(temporary)
    plt.close(figure)
    os.replace(temporary, path)
    return f"parity plot of the test split in {path.name}"


def parity_title(metrics: dict[str, Any]) -> str:
    """Title of the parity plot: the test figures with and without the DFT outliers."""
    test, typical = metrics["test"], metrics["test_without_dft_outliers"]
    return (f"ElemNet-style, test split (n={test['n']}): MAE {test['mae']:.3f} eV/atom, R² {test['r2']:.3f}\n"
            f"without {typical['rows_left_out']} |E|>5 eV/atom outliers: MAE {typical['mae']:.3f}, R² {typical['r2']:.3f}")


def train_formation(
    data_path: str | os.PathLike,
    out_dir: str | os.PathLike,
    config: FormationConfig = FormationConfig(),
    progress: bool = True,
) -> dict[str, Any]:
    """Fit the formation model on an OQMD-style CSV and write weights, card and parity plot.

    The compositions are split once (seed ``config.seed``) into train / validation /
    test; validation picks the epoch, test gives the reported metrics.

    Returns:
        The model card (also written to ``out_dir/card.json``).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    data = load_formation_data(data_path)
    train, validation, test = split_by_composition(data.inputs, (config.validation_fraction, config.test_fraction), config.seed)
    # Networks finished so far go to a side file: a killed run leaves the previous model
    # (weights and card) untouched and usable; a completed or Ctrl-C'd one replaces both.
    partial = out_dir / f"{WEIGHTS_FILE}.partial"
    fit = fit_formation_ensemble(
        data.inputs[train], data.energies[train], data.inputs[validation], data.energies[validation],
        config, checkpoint_path=partial, progress=progress,
    )
    validation_predicted = _predict_network(fit.network, data.inputs[validation])
    test_predicted = _predict_network(fit.network, data.inputs[test])
    test_metrics = regression_metrics(data.energies[test], test_predicted)
    member_test_mae = [regression_metrics(data.energies[test], _predict_network(member.network, data.inputs[test]))["mae"]
                       for member in fit.members]
    typical = np.abs(data.energies[test]) <= 5.0
    card = {
        "model": (f"ElemNet-style deep fully connected network on 86 element fractions (formation energy, eV/atom), "
                  f"mean of {len(fit.members)} members trained from different seeds"),
        "command": command_line("superdiff", "train-formation", "--data", data_path, "--out", out_dir,
                                "--epochs", config.epochs, "--ensemble", config.ensemble_size,
                                "--weight-decay", config.weight_decay, "--dropout", config.dropout,
                                "--max-minutes", config.max_minutes, "--seed", config.seed),
        "data": {"path": str(data_path), "sha256": data.sha256, "rows_used": len(data.energies),
                 "load_report": data.report.lines()},
        "elements": list(FORMATION_ELEMENTS),
        "hyperparameters": asdict(config),
        "parameters": sum(p.numel() for p in fit.network.parameters()),
        "split": {"train": len(train), "validation": len(validation), "test": len(test),
                  "by": "composition (element fractions), seeded random; validation picks the epoch, test is reported"},
        "training": {"members": len(fit.members), "best_epoch": [member.best_epoch for member in fit.members],
                     "stopped_because": fit.stopped_because, "wall_time_s": round(fit.seconds, 1),
                     "torch_threads": torch.get_num_threads(), "member_runs": [member.summary() for member in fit.members]},
        "metrics": {
            "validation_mae_ev_per_atom": regression_metrics(data.energies[validation], validation_predicted)["mae"],
            "test": test_metrics,
            "member_test_mae_ev_per_atom": member_test_mae,
            "test_without_dft_outliers": {
                "rows_left_out": int((~typical).sum()), "rule": "|E_f| > 5 eV/atom (failed DFT entries)",
                **regression_metrics(data.energies[test][typical], test_predicted[typical]),
            },
            "target_test_mae_ev_per_atom": 0.06,
        },
        "published": PUBLISHED,
        "artifacts": {"weights": WEIGHTS_FILE, "loading": "torch.load(weights_only=True) of a state_dict; no pickle"},
    }
    card["artifacts"]["parity_plot"] = write_parity_plot(
        test_predicted, data.energies[test], out_dir / PARITY_FILE, parity_title(card["metrics"]),
    )
    save_state_atomically(fit.network.state_dict(), out_dir / WEIGHTS_FILE)
    write_card(out_dir, card)
    partial.unlink(missing_ok=True)
    return card


class FormationModel:
    """The fitted formation-energy model, ready to predict (read-only after loading)."""

    def __init__(self, network: nn.Module, card: dict[str, Any]):
        self.network = network.eval()
        self.card = card

    @classmethod
    def load(cls, models_dir: str | os.PathLike) -> "FormationModel":
        """Load ``<models_dir>/formation/`` (weights and card).

        Raises:
            CheckpointError: if a file is missing or does not fit the network.
        """
        folder = Path(models_dir) / FORMATION_SUBDIR
        rebuild = rebuild_command(models_dir)
        card = read_card(folder, rebuild)
        weights = required_file(folder / WEIGHTS_FILE, rebuild)
        hyper = card.get("hyperparameters", {})
        members = card.get("training", {}).get("members", 1)
        network = ElemNetEnsemble.empty(int(members), tuple(hyper.get("hidden_widths", DEFAULT_HIDDEN_WIDTHS)), float(hyper.get("dropout", 0.0)))
        try:
            network.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
        except Exception as error:  # unpickling or shape errors
            raise CheckpointError(f"corrupt {weights} ({type(error).__name__}); rebuild it with: {rebuild}") from None
        return cls(network, card)

    def predict(self, vectors: np.ndarray) -> tuple[np.ndarray, list[str]]:
        """Formation energy per atom of amount vectors.

        Args:
            vectors: amounts, shape (n, 96).

        Returns:
            ``(energies, notes)``: eV/atom, shape (n,), NaN where a row has an element
            outside the 86 covered (or no amount at all); ``notes[i]`` is "" or the reason.
        """
        vectors = np.atleast_2d(np.asarray(vectors, dtype=np.float64))
        inputs, covered = formation_inputs(vectors)
        covered &= vectors.sum(axis=1) > 0
        energies = np.full(len(vectors), np.nan)
        if covered.any():
            energies[covered] = _predict_network(self.network, inputs[covered])
        notes = ["" if ok else _uncovered_note(vector) for ok, vector in zip(covered, vectors)]
        return energies, notes


def _uncovered_note(vector: np.ndarray) -> str:
    """Why one (96,) vector gets no formation energy."""
    outside = uncovered_elements(vector)
    if not outside:
        return "formation energy: empty composition"
    return f"formation energy: {', '.join(outside)} outside the model's 86 elements"
