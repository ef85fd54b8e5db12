"""Training of the formation-energy model (:mod:`.formation` holds what the app loads).

Data: CrabNet's OQMD training split (``formation_enthalpy_train.csv``, 239,190 rows) is
the training set, minus the rows with |E| > 5 eV/atom (failed DFT runs, counted in the
card). The older OQMD file (``formation_enthalpy.csv``) is split once by composition with
the seeded rule the first model card used (:func:`split_by_composition`, seed 0, 10 % /
10 %): its test part is the fixed held-out test set, its validation part picks the epoch
and calibrates the spread, and its training part is added to the training rows (it is
disjoint from both). Training rows whose composition also occurs in validation or test
are dropped.

Training is resumable: after every epoch the whole state (weights, optimiser, learning-rate
schedule, stochastic-weight-averaging sums, best weights, history, torch RNG state, summed
wall time and the sittings) goes to ``<out>/formation.resume.pt`` (tensors and plain
containers only, loadable with ``weights_only=True``; temporary file and rename);
``train-formation --resume`` continues from there and ends with the weights an
uninterrupted run gives (batches are drawn from a generator seeded by (seed, epoch)). A run
stopped by its time budget or by Ctrl-C still writes a consistent model and keeps the state
file, so a later ``--resume`` (with a larger ``--max-minutes``) carries on.

Recipe (anchored on CrabNet, Wang et al. 2021, and Roost): mat2vec element vectors and a
fraction encoding as token inputs (:mod:`.formation`), AdamW (CrabNet uses Lamb + Lookahead,
which torch does not ship: not taken), linear warm-up then cosine decay of the learning
rate, and optionally stochastic weight averaging (Izmailov et al. 2018; CrabNet averages
the last epochs too): the last ``swa_epochs`` epochs run at the constant
``swa_learning_rate`` and the weights at their ends are averaged; the average is shipped
when it beats the best single epoch on validation. ``init_from`` warm-starts the weights
from an earlier weight file (the optimiser starts afresh), to continue a model that
stopped while still improving.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import time
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from ..artifacts import atomic_path, command_line, write_card, write_json_atomically
from ..composition import ELEMENT_SYMBOLS, N_ELEMENTS, FormulaError, parse_formula
from ..data import LoadReport, sha256_of_file, vector_keys
from ..errors import InputError
from .features import FORMATION_ELEMENTS, formation_inputs
from .formation import (
    DEFAULT_OQMD_PATH,
    DEFAULT_TRAIN_PATH,
    FORMATION_SUBDIR,
    PARITY_FILE,
    PUBLISHED,
    STD_COLUMN,
    WEIGHTS_FILE,
    FormationEnsemble,
    build_network,
    load_formation_weights,
    predict_tokens,
    save_formation_weights,
    tokens_from_amounts,
)
from .metrics import regression_metrics

RESUME_FILE = "formation.resume.pt"
OUTLIER_EV = 5.0
"""|E| above this (eV/atom) marks a failed DFT entry: dropped from training, reported apart in tests."""
COMMITTED_WEIGHTS = Path(__file__).resolve().parents[2] / "checkpoints" / FORMATION_SUBDIR / WEIGHTS_FILE
MAT2VEC_SOURCE = ("mat2vec element embeddings (Tshitoyan et al., Nature 571, 95, 2019), the 200-number table "
                  "crabnet/data/element_properties/mat2vec.csv of the crabnet 2.0.8 wheel (MIT; "
                  "`pip download --no-deps crabnet==2.0.8`); stored inside the weight file")


@dataclass(frozen=True)
class FormationConfig:
    """Architecture and training settings (all stored in the weight file and the card)."""

    architecture: str = "attention"
    width: int = 128
    heads: int = 4
    layers: int = 3
    feedforward: int = 256
    hidden_widths: tuple[int, ...] = (1024, 512, 512, 256, 256, 128, 64)
    use_table: bool = True
    learning_rate: float = 1e-3
    weight_decay: float = 1e-4
    batch_size: int = 256
    epochs: int = 30
    warmup_epochs: float = 1.0
    seed: int = 0
    max_minutes: float = 85.0
    validation_fraction: float = 0.1
    test_fraction: float = 0.1
    split_seed: int = 0
    train_subsample: int = 0
    use_eval_file_train_part: bool = True
    swa_epochs: int = 0
    swa_learning_rate: float = 1e-4
    init_from: str = ""
    loss: str = field(default="L1 on the energy + Laplace negative log-likelihood of the scale head (energy detached)")
    optimiser: str = field(default="AdamW, linear warm-up then cosine decay per step (to swa_learning_rate, then constant, "
                                   "when swa_epochs > 0)")

    def network_config(self) -> dict[str, Any]:
        """The plain-value dict stored in the weight file (what :func:`.formation.build_network` reads)."""
        out = asdict(self)
        out["hidden_widths"] = list(self.hidden_widths)
        return out


def _resume_key(config: FormationConfig) -> dict[str, Any]:
    """Settings that must match for a resume (the time budget may change)."""
    key = config.network_config()
    key.pop("max_minutes")
    return key


def _check_resume_key(saved: dict[str, Any], config: FormationConfig, path: Path) -> None:
    """Raise :class:`InputError` naming the settings in which a saved state differs from ``config``."""
    wanted = _resume_key(config)
    stored = saved.get("key", {})
    differing = sorted(name for name in set(wanted) | set(stored) if stored.get(name) != wanted.get(name))
    if differing:
        shown = ", ".join(f"{name} (saved {stored.get(name)!r}, now {wanted.get(name)!r})" for name in differing)
        raise InputError(f"the training state {path} was saved with other settings: {shown}; rerun with those settings or delete it")


# --------------------------------------------------------------------------- data

@dataclass
class FormationData:
    """Parsed formation-energy rows.

    Attributes:
        formulas: shape (n,).
        vectors: amounts, shape (n, 96), float64.
        energies: eV/atom, shape (n,).
        sha256: checksum of the source file.
        report: rows skipped and why.
    """

    formulas: np.ndarray
    vectors: np.ndarray
    energies: np.ndarray
    sha256: str
    report: LoadReport

    def subset(self, rows: np.ndarray) -> "FormationData":
        """The rows ``rows`` (same checksum and report)."""
        return FormationData(self.formulas[rows], self.vectors[rows], self.energies[rows], self.sha256, self.report)


def load_formation_data(path: str | os.PathLike) -> FormationData:
    """Read a CSV with columns ``formula, formation_energy_per_atom`` (eV/atom).

    Rows that do not parse, have no finite energy, or contain an element outside the 86
    covered are skipped and counted in the report (row order is kept: the split depends on it).

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
    vectors_array = np.array(vectors, dtype=np.float64).reshape(-1, N_ELEMENTS)
    _, covered = formation_inputs(vectors_array)
    for formula in np.array(formulas)[~covered]:
        report.note(report.skipped, "element outside the 86 covered", formula)
    return FormationData(np.array(formulas)[covered], vectors_array[covered], np.array(energies)[covered], sha256_of_file(path), report)


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


def composition_keys(vectors: np.ndarray) -> np.ndarray:
    """One hashable key per (n, 96) amount row: its fractions rounded (as in the split)."""
    fractions, _ = formation_inputs(vectors)
    return np.array(vector_keys(fractions * 100.0), dtype=object)


@dataclass
class FormationSplit:
    """Training, validation and test rows, and how they were made (for the card)."""

    train: FormationData
    validation: FormationData
    test: FormationData
    counts: dict[str, Any]


def make_split(train_file: FormationData, eval_file: FormationData, config: FormationConfig) -> FormationSplit:
    """Build the split described in the module docstring."""
    eval_train, validation, test = split_by_composition(
        formation_inputs(eval_file.vectors)[0], (config.validation_fraction, config.test_fraction), config.split_seed)
    typical = np.abs(train_file.energies) <= OUTLIER_EV
    parts = [train_file.subset(np.flatnonzero(typical))]
    counts: dict[str, Any] = {"training_file_rows": len(train_file.energies),
                              "training_file_outliers_dropped": int((~typical).sum()),
                              "outlier_rule": f"|E_f| > {OUTLIER_EV} eV/atom (failed DFT entries)"}
    if config.use_eval_file_train_part:
        eval_typical = eval_train[np.abs(eval_file.energies[eval_train]) <= OUTLIER_EV]
        counts["evaluation_file_train_part_rows"] = len(eval_train)
        counts["evaluation_file_train_part_outliers_dropped"] = int(len(eval_train) - len(eval_typical))
        parts.append(eval_file.subset(eval_typical))
    train = FormationData(np.concatenate([p.formulas for p in parts]), np.concatenate([p.vectors for p in parts]),
                          np.concatenate([p.energies for p in parts]), train_file.sha256, train_file.report)
    held_out = set(composition_keys(eval_file.vectors[np.concatenate([validation, test])]))
    clash = np.array([key in held_out for key in composition_keys(train.vectors)], dtype=bool)
    counts["training_rows_dropped_as_composition_in_validation_or_test"] = int(clash.sum())
    train = train.subset(np.flatnonzero(~clash))
    if config.train_subsample and config.train_subsample < len(train.energies):
        rows = np.sort(np.random.default_rng(config.seed).choice(len(train.energies), config.train_subsample, replace=False))
        train = train.subset(rows)
        counts["train_subsample"] = config.train_subsample
    counts.update({"train": len(train.energies), "validation": len(validation), "test": len(test)})
    return FormationSplit(train, eval_file.subset(validation), eval_file.subset(test), counts)


def load_element_table(path: str | os.PathLike | None) -> tuple[torch.Tensor, dict[str, Any]]:
    """The (96, F) element table and where it came from.

    Args:
        path: a CrabNet-style CSV (``element`` column, then F numbers); None takes the
            table stored in the committed weight file.

    Raises:
        InputError: if the file is missing, has no ``element`` column, or lacks one of the
            86 covered elements.
    """
    if path is None:
        if not COMMITTED_WEIGHTS.is_file():
            raise InputError(f"no element table: pass --element-table (mat2vec.csv) or commit {COMMITTED_WEIGHTS}")
        network, _, _ = load_formation_weights(COMMITTED_WEIGHTS)
        return network.element_table.clone(), {"source": f"element_table buffer of {COMMITTED_WEIGHTS.name}", "citation": MAT2VEC_SOURCE}
    path = Path(path)
    if not path.is_file():
        raise InputError(f"element table not found: {path}")
    table = pd.read_csv(path)
    if "element" not in table.columns:
        raise InputError(f"{path} needs an 'element' column")
    table = table.set_index("element")
    missing = [symbol for symbol in FORMATION_ELEMENTS if symbol not in table.index]
    if missing:
        raise InputError(f"{path} lacks the elements {', '.join(missing)}")
    out = np.zeros((N_ELEMENTS, table.shape[1]), dtype=np.float32)
    for index, symbol in enumerate(ELEMENT_SYMBOLS):
        if symbol in table.index:
            out[index] = table.loc[symbol].to_numpy(dtype=np.float32)
    return torch.from_numpy(out), {"source": str(path), "sha256": sha256_of_file(path), "citation": MAT2VEC_SOURCE}


# --------------------------------------------------------------------------- fitting

@dataclass
class FormationFit:
    """Result of :func:`fit_formation`: the network at its best validation epoch."""

    network: torch.nn.Module
    best_epoch: int
    best_validation_mae: float
    epochs_run: int
    stopped_because: str
    history: list[dict[str, float]]
    seconds: float
    chosen: str = ""
    sittings: list[dict[str, float]] = field(default_factory=list)


def _batches(counts: np.ndarray, batch_size: int, generator: np.random.Generator) -> list[np.ndarray]:
    """Shuffled batches of row indices, each of rows with the same number of elements (no padding)."""
    batches = []
    for count in np.unique(counts):
        rows = np.flatnonzero(counts == count)
        rows = rows[generator.permutation(len(rows))]
        batches += [rows[start:start + batch_size] for start in range(0, len(rows), batch_size)]
    return [batches[i] for i in generator.permutation(len(batches))]


def learning_rate_factor(step: int, warmup_steps: int, decay_steps: int, floor: float) -> float:
    """Multiplier of the base learning rate at optimiser step ``step``.

    Linear warm-up over ``warmup_steps``, then a cosine from 1 down to ``floor`` over the
    remaining ``decay_steps - warmup_steps`` steps, then ``floor`` (the SWA phase).
    """
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    progress = min(1.0, (step - warmup_steps) / max(decay_steps - warmup_steps, 1))
    return floor + (1.0 - floor) * 0.5 * (1 + math.cos(math.pi * progress))


def running_average(average: dict[str, torch.Tensor] | None, state: dict[str, torch.Tensor], count: int) -> dict[str, torch.Tensor]:
    """The mean of ``count`` state dicts given the mean of the first ``count - 1`` (floating tensors averaged, others copied)."""
    if average is None or count == 1:
        return {name: tensor.detach().clone() for name, tensor in state.items()}
    return {name: (average[name] + (tensor.detach() - average[name]) / count) if tensor.is_floating_point() else tensor.detach().clone()
            for name, tensor in state.items()}


def _validation_mae(network: torch.nn.Module, tokens: np.ndarray, fractions: np.ndarray, energies: np.ndarray,
                    typical: np.ndarray) -> float:
    predicted, _ = predict_tokens(network, tokens, fractions)
    return float(np.mean(np.abs(predicted - energies)[typical]))


def _loss(energy: torch.Tensor, log_scale: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """L1 on the energy plus the Laplace NLL of the scale given the (detached) error."""
    error = (energy.detach() - target).abs()
    return (energy - target).abs().mean() + (error * torch.exp(-log_scale) + log_scale).mean()


def fit_formation(
    train: FormationData,
    validation: FormationData,
    element_table: torch.Tensor,
    config: FormationConfig = FormationConfig(),
    resume_path: Path | None = None,
    progress: bool = True,
    stop_after_epoch: int | None = None,
) -> FormationFit:
    """Train one network; keep the best validation epoch or the SWA average, whichever is lower (rows |E| <= 5).

    Args:
        train, validation: the rows (amount vectors and eV/atom energies).
        element_table: (96, F) element descriptors.
        config: settings; training stops after ``config.epochs`` or ``config.max_minutes``
            of training (summed over resumed runs), whichever comes first, or on Ctrl-C.
        resume_path: if given, the full state is written there after every epoch and a
            state found there is continued from (it must have been saved with the same
            settings except ``max_minutes``).
        progress: print one line per epoch.
        stop_after_epoch: end this sitting after that epoch (as a kill after the state
            write would; for tests and split sittings).

    Raises:
        InputError: if the state at ``resume_path`` was saved with other settings, or
            ``config.init_from`` is not a formation weight file of this architecture.
    """
    torch.manual_seed(config.seed)
    network = build_network(config.network_config(), element_table)
    if config.init_from:
        if not Path(config.init_from).is_file():
            raise InputError(f"--init-from: weight file not found: {config.init_from}")
        initial, _, _ = load_formation_weights(Path(config.init_from))
        try:
            network.load_state_dict(initial.state_dict())
        except RuntimeError as error:
            raise InputError(f"--init-from {config.init_from} does not fit this architecture: {str(error).splitlines()[0]}") from None
    optimiser = torch.optim.AdamW(network.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    tokens, fractions = tokens_from_amounts(train.vectors)
    counts = (fractions > 0).sum(axis=1)
    steps_per_epoch = sum(math.ceil((counts == c).sum() / config.batch_size) for c in np.unique(counts))
    swa_epochs = min(max(config.swa_epochs, 0), config.epochs - 1)
    decay_steps = max((config.epochs - swa_epochs) * steps_per_epoch, 1)
    warmup = max(int(config.warmup_epochs * steps_per_epoch), 1)
    floor = config.swa_learning_rate / config.learning_rate if swa_epochs else 0.0
    schedule = torch.optim.lr_scheduler.LambdaLR(optimiser, lambda step: learning_rate_factor(step, warmup, decay_steps, floor))
    validation_tokens, validation_fractions = tokens_from_amounts(validation.vectors)
    validation_typical = np.abs(validation.energies) <= OUTLIER_EV
    state: dict[str, Any] = {"epoch": 0, "best_mae": float("inf"), "best_epoch": 0, "best_state": None, "history": [], "seconds": 0.0,
                             "swa_state": None, "swa_count": 0, "swa_mae": float("inf"), "sittings": []}
    if resume_path is not None and resume_path.is_file():
        saved = torch.load(resume_path, map_location="cpu", weights_only=True)
        _check_resume_key(saved, config, resume_path)
        network.load_state_dict(saved["model"])
        optimiser.load_state_dict(saved["optimiser"])
        schedule.load_state_dict(saved["schedule"])
        torch.set_rng_state(saved["torch_rng"])
        state = saved["state"]
        if progress:
            print(f"resuming after epoch {state['epoch']} ({state['seconds']:.0f} s trained, best {state['best_mae']:.4f})", flush=True)
    x_tokens, x_fractions = torch.from_numpy(tokens), torch.from_numpy(fractions)
    y = torch.from_numpy(train.energies.astype(np.float32))
    stopped_because = "all epochs run"
    session_start = time.perf_counter()
    seconds_before = float(state["seconds"])
    state["sittings"].append({"from_epoch": int(state["epoch"]), "to_epoch": int(state["epoch"]), "seconds": 0.0})
    averaged = build_network(config.network_config(), element_table)
    try:
        while state["epoch"] < config.epochs:
            if state["epoch"] > 0 and seconds_before + time.perf_counter() - session_start > config.max_minutes * 60:
                stopped_because = "time limit"
                break
            if stop_after_epoch is not None and state["epoch"] >= stop_after_epoch:
                stopped_because = "stopped after epoch"
                break
            epoch = state["epoch"] + 1
            generator = np.random.default_rng([config.seed, epoch])
            network.train()
            total, seen = 0.0, 0
            for rows in _batches(counts, config.batch_size, generator):
                width = int(counts[rows[0]])
                index = torch.from_numpy(rows)
                energy, log_scale = network(x_tokens[index, :width], x_fractions[index, :width])
                loss = _loss(energy, log_scale, y[index])
                optimiser.zero_grad(set_to_none=True)
                loss.backward()
                optimiser.step()
                schedule.step()
                total += float((energy.detach() - y[index]).abs().sum())
                seen += len(rows)
            validation_mae = _validation_mae(network, validation_tokens, validation_fractions, validation.energies, validation_typical)
            row = {"epoch": epoch, "train_mae": total / seen, "validation_mae": validation_mae,
                   "learning_rate": float(schedule.get_last_lr()[0])}
            if epoch > config.epochs - swa_epochs:
                state["swa_count"] += 1
                state["swa_state"] = running_average(state["swa_state"], network.state_dict(), state["swa_count"])
                averaged.load_state_dict(state["swa_state"])
                state["swa_mae"] = _validation_mae(averaged, validation_tokens, validation_fractions, validation.energies,
                                                   validation_typical)
                row["swa_validation_mae"] = state["swa_mae"]
            state["epoch"] = epoch
            state["seconds"] = seconds_before + time.perf_counter() - session_start
            state["sittings"][-1].update({"to_epoch": epoch, "seconds": round(time.perf_counter() - session_start, 1)})
            row["seconds"] = round(state["seconds"], 1)
            state["history"].append(row)
            if validation_mae < state["best_mae"]:
                state["best_mae"], state["best_epoch"] = validation_mae, epoch
                state["best_state"] = {name: tensor.detach().clone() for name, tensor in network.state_dict().items()}
            if resume_path is not None:
                with atomic_path(resume_path) as temporary:
                    torch.save({"key": _resume_key(config), "model": network.state_dict(), "optimiser": optimiser.state_dict(),
                                "schedule": schedule.state_dict(), "torch_rng": torch.get_rng_state(), "state": state}, temporary)
            if progress:
                swa = f", SWA of {state['swa_count']}: {state['swa_mae']:.4f}" if state["swa_count"] else ""
                print(f"epoch {epoch}/{config.epochs}: train MAE {total / seen:.4f}, validation MAE {validation_mae:.4f} "
                      f"(best {state['best_mae']:.4f} at {state['best_epoch']}{swa}), {state['seconds']:.0f} s", flush=True)
    except KeyboardInterrupt:
        stopped_because = "interrupted"
    if state["best_state"] is None:
        raise KeyboardInterrupt
    use_average = state["swa_count"] > 0 and state["swa_mae"] < state["best_mae"]
    if use_average:
        first = state["epoch"] - state["swa_count"] + 1
        network.load_state_dict(state["swa_state"])
        chosen, best_mae = f"average of the weights after epochs {first}-{state['epoch']} (SWA)", state["swa_mae"]
    else:
        network.load_state_dict(state["best_state"])
        chosen, best_mae = f"epoch {state['best_epoch']} (lowest validation MAE)", state["best_mae"]
    network.eval()
    return FormationFit(network, int(state["best_epoch"]), float(best_mae), int(state["epoch"]), stopped_because,
                        list(state["history"]), float(state["seconds"]), chosen, list(state["sittings"]))


def calibrate_spread(energy: np.ndarray, log_scale: np.ndarray, actual: np.ndarray) -> dict[str, float]:
    """Factors from the head's scale to intervals covering 68.3 % and 95 % of these rows' errors."""
    ratio = np.abs(energy - actual) / np.exp(log_scale)
    return {"std_scale": float(np.quantile(ratio, 0.6827)), "scale_95": float(np.quantile(ratio, 0.95))}


def spread_coverage(energy: np.ndarray, log_scale: np.ndarray, actual: np.ndarray, calibration: dict[str, float]) -> dict[str, float]:
    """Share of rows whose error lies within 1 std and within the 95 % interval."""
    error = np.abs(energy - actual)
    scale = np.exp(log_scale)
    return {"within_1_std": float(np.mean(error <= calibration["std_scale"] * scale)),
            "within_95_interval": float(np.mean(error <= calibration["scale_95"] * scale)),
            "median_std_ev_per_atom": float(np.median(calibration["std_scale"] * scale)), "n": int(len(actual))}


def write_parity_plot(predicted: np.ndarray, actual: np.ndarray, path: Path, title: str) -> str:
    """Scatter of predicted vs DFT formation energy as a PNG; returns a note on what was done."""
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
    with atomic_path(path) as temporary:
        figure.savefig(temporary, format="png")
    plt.close(figure)
    return f"parity plot of the test split in {path.name}"


def evaluate(network: torch.nn.Module, data: FormationData) -> tuple[np.ndarray, np.ndarray]:
    """(energy, log scale) predictions for the rows of ``data``."""
    tokens, fractions = tokens_from_amounts(data.vectors)
    return predict_tokens(network, tokens, fractions)


def train_formation(
    out_dir: str | os.PathLike,
    train_path: str | os.PathLike = DEFAULT_TRAIN_PATH,
    eval_path: str | os.PathLike = DEFAULT_OQMD_PATH,
    config: FormationConfig = FormationConfig(),
    element_table_path: str | os.PathLike | None = None,
    progress: bool = True,
    ensemble: int = 1,
    resume: bool = False,
) -> dict[str, Any]:
    """Fit the formation model and write ``formation.pt``, ``card.json`` and ``parity.png``.

    With ``ensemble`` > 1, members with seeds ``config.seed``, ``+1``, ... are trained one
    after another (``config.max_minutes`` is per member); each finished member is kept in
    ``<out_dir>/members/`` until all are done (a member stopped by the time budget counts
    as done). ``resume`` continues from the state files
    of an earlier run with the same settings (a finished member is reused); without it an
    existing state file is an error, so no run is overwritten or continued by accident.
    State and member files are removed once all epochs have run; a run stopped by its
    time budget or interrupted keeps them for the next ``resume``.

    Raises:
        InputError: if a state exists and ``resume`` is False, or ``resume`` is True and
            there is nothing to continue, or the state was saved with other settings.

    Returns:
        The model card (also written to ``out_dir/card.json``).
    """
    out_dir = Path(out_dir)
    state_file, members_dir = out_dir / RESUME_FILE, out_dir / "members"
    earlier = [path for path in (state_file, members_dir) if path.exists()]
    if earlier and not resume:
        raise InputError(f"{earlier[0]} holds an earlier run: pass --resume to continue it, or delete it to start over")
    if resume and not earlier:
        raise InputError(f"--resume: no training state in {out_dir} ({RESUME_FILE} or members/)")
    out_dir.mkdir(parents=True, exist_ok=True)
    element_table, table_source = load_element_table(element_table_path)
    train_file, eval_file = load_formation_data(train_path), load_formation_data(eval_path)
    split = make_split(train_file, eval_file, config)
    fits = []
    for index in range(ensemble):
        member_config = replace(config, seed=config.seed + index)
        if ensemble == 1:
            fits.append(fit_formation(split.train, split.validation, element_table, member_config, resume_path=state_file,
                                      progress=progress))
            continue
        member_file = members_dir / f"seed{member_config.seed}.pt"
        summary_file = member_file.with_suffix(".json")
        if member_file.is_file() and summary_file.is_file():
            network, stored, _ = load_formation_weights(member_file)
            if {k: v for k, v in stored.items() if k not in ("max_minutes", "members")} == _resume_key(member_config):
                fits.append(FormationFit(network, **json.loads(summary_file.read_text())))
                if progress:
                    print(f"member seed {member_config.seed}: finished earlier, reused", flush=True)
                continue
        fit = fit_formation(split.train, split.validation, element_table, member_config,
                            resume_path=member_file.with_suffix(".resume.pt"), progress=progress)
        save_formation_weights(member_file, fit.network, member_config.network_config(), {})
        write_json_atomically(summary_file, {key: value for key, value in asdict(fit).items() if key != "network"})
        member_file.with_suffix(".resume.pt").unlink(missing_ok=True)
        fits.append(fit)
    fit = fits[0] if ensemble == 1 else _ensemble_fit(fits)
    validation_energy, validation_scale = evaluate(fit.network, split.validation)
    test_energy, test_scale = evaluate(fit.network, split.test)
    validation_typical = np.abs(split.validation.energies) <= OUTLIER_EV
    test_typical = np.abs(split.test.energies) <= OUTLIER_EV
    calibration = calibrate_spread(validation_energy[validation_typical], validation_scale[validation_typical],
                                   split.validation.energies[validation_typical])
    card: dict[str, Any] = {
        "model": (("Roost/CrabNet-style fraction-weighted attention over element tokens" if config.architecture == "attention"
                   else "ElemNet-style MLP on element fractions")
                  + f" (formation energy, eV/atom), mean of {ensemble} network(s) from different seeds, "
                  f"with a calibrated spread ({STD_COLUMN})"),
        "command": command_line("superdiff", "train-formation", "--train", train_path, "--data", eval_path, "--out", out_dir,
                                "--architecture", config.architecture, "--epochs", config.epochs, "--max-minutes", config.max_minutes,
                                "--learning-rate", config.learning_rate, "--warmup-epochs", config.warmup_epochs,
                                "--swa-epochs", config.swa_epochs, "--swa-learning-rate", config.swa_learning_rate,
                                "--seed", config.seed, "--ensemble", ensemble,
                                *(["--init-from", config.init_from] if config.init_from else []),
                                *(["--element-table", element_table_path] if element_table_path else []),
                                "--threads", torch.get_num_threads()),
        "data": {
            "training": {"path": str(train_path), "sha256": train_file.sha256, "load_report": train_file.report.lines()},
            "evaluation": {"path": str(eval_path), "sha256": eval_file.sha256, "load_report": eval_file.report.lines()},
            "element_table": table_source,
        },
        "elements": list(FORMATION_ELEMENTS),
        "hyperparameters": config.network_config(),
        "parameters": int(sum(p.numel() for p in fit.network.parameters())),
        "split": {**split.counts, "by": ("test and validation: the seeded composition split (seed "
                                         f"{config.split_seed}) of the evaluation file, the same test rows as the first card; "
                                         "validation picks the epoch and calibrates the spread")},
        "training": {"shipped_weights": fit.chosen, "best_epoch": fit.best_epoch, "epochs_run": fit.epochs_run,
                     "stopped_because": fit.stopped_because, "wall_time_s": round(fit.seconds, 1), "sittings": fit.sittings,
                     "torch_threads": torch.get_num_threads(), **initial_model_summary(config.init_from, fit), "history": fit.history},
        "metrics": {
            "validation_mae_ev_per_atom": regression_metrics(split.validation.energies[validation_typical],
                                                             validation_energy[validation_typical])["mae"],
            "test": regression_metrics(split.test.energies, test_energy),
            "test_without_dft_outliers": {"rows_left_out": int((~test_typical).sum()), "rule": f"|E_f| > {OUTLIER_EV} eV/atom",
                                          **regression_metrics(split.test.energies[test_typical], test_energy[test_typical])},
            "spread": {"column": STD_COLUMN, "calibration_on_validation": calibration,
                       "test_coverage": spread_coverage(test_energy[test_typical], test_scale[test_typical],
                                                        split.test.energies[test_typical], calibration)},
            "target_test_mae_ev_per_atom": 0.040,
            "previous_model_test_mae_ev_per_atom": {"all": 0.0851, "without_dft_outliers": 0.0760,
                                                    "model": "ElemNet-style 4-network ensemble trained on the evaluation file's "
                                                             "train part only"},
        },
        "published": PUBLISHED,
        "artifacts": {"weights": WEIGHTS_FILE,
                      "loading": "torch.load(weights_only=True) of {format, config, state_dict, calibration}; no pickle"},
    }
    typical = card["metrics"]["test_without_dft_outliers"]
    title = f"{config.architecture}, test rows (n={typical['n']}, |E|<=5): MAE {typical['mae']:.3f} eV/atom, R² {typical['r2']:.3f}"
    card["artifacts"]["parity_plot"] = write_parity_plot(test_energy[test_typical], split.test.energies[test_typical],
                                                         out_dir / PARITY_FILE, title)
    if ensemble > 1:
        card["metrics"]["member_test_mae_without_dft_outliers"] = [
            regression_metrics(split.test.energies[test_typical], evaluate(member.network, split.test)[0][test_typical])["mae"]
            for member in fits]
        card["training"]["members"] = [{k: v for k, v in asdict(member).items() if k not in ("network", "history")} for member in fits]
        card["training"]["member_histories"] = [member.history for member in fits]
    stored = {**config.network_config(), "members": ensemble}
    card["hyperparameters"] = stored
    save_formation_weights(out_dir / WEIGHTS_FILE, fit.network, stored, calibration)
    write_card(out_dir, card)
    if fit.stopped_because == "all epochs run":
        state_file.unlink(missing_ok=True)
    if ensemble > 1 and fit.stopped_because != "interrupted":
        for member in range(ensemble):
            for suffix in (".pt", ".json"):
                (members_dir / f"seed{config.seed + member}{suffix}").unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            members_dir.rmdir()
    return card


def initial_model_summary(init_from: str, fit: FormationFit) -> dict[str, Any]:
    """Card fields for a warm start: the initial weight file (sha256, its card's epochs and
    wall time when a card lies beside it) and the epochs and seconds summed over both."""
    if not init_from:
        return {}
    path = Path(init_from)
    card_path = path.parent / "card.json"
    earlier = json.loads(card_path.read_text()).get("training", {}) if card_path.is_file() else {}
    summary: dict[str, Any] = {"initial_model": {"path": init_from, "sha256": sha256_of_file(path),
                                                 "epochs_run": earlier.get("epochs_run"), "wall_time_s": earlier.get("wall_time_s"),
                                                 "torch_threads": earlier.get("torch_threads")}}
    if earlier.get("epochs_run") is not None:
        summary["epochs_including_initial_model"] = int(earlier["epochs_run"]) + fit.epochs_run
        summary["wall_time_including_initial_model_s"] = round(float(earlier["wall_time_s"]) + fit.seconds, 1)
    return summary


def _ensemble_fit(fits: list[FormationFit]) -> FormationFit:
    """One :class:`FormationFit` for several members (history of the first; seconds summed)."""
    stopped = [fit.stopped_because for fit in fits]
    return FormationFit(FormationEnsemble([fit.network for fit in fits]).eval(), fits[0].best_epoch,
                        float(np.mean([fit.best_validation_mae for fit in fits])), sum(fit.epochs_run for fit in fits),
                        "interrupted" if "interrupted" in stopped else ", ".join(sorted(set(stopped))),
                        fits[0].history, sum(fit.seconds for fit in fits), "mean of the members' shipped weights",
                        [sitting for fit in fits for sitting in fit.sittings])


def config_from_args(**overrides: Any) -> FormationConfig:
    """A :class:`FormationConfig` with the given fields replaced (unknown names raise TypeError)."""
    known = {f.name for f in fields(FormationConfig)}
    unknown = set(overrides) - known
    if unknown:
        raise TypeError(f"unknown formation settings: {', '.join(sorted(unknown))}")
    return FormationConfig(**overrides)
