"""Property models of candidate compositions: superconductor or not, Tc, formation energy.

Public API (used by the CLI, ``generate``/``evaluate`` and the app)::

    models = load_property_models("checkpoints")     # once; read-only afterwards
    table = models.score(vectors)                     # (n, 96) amounts -> DataFrame
    table = models.score_formulas(["YBa2Cu3O7", "??"])  # never raises for one bad formula
    models.rho(0.68)                                  # estimated true SC fraction
    superconductivity_summary(table, models)          # the paper's Table-1 figures

Columns of :meth:`PropertyModels.score` (:data:`SCORE_COLUMNS`):

- ``sc_probability``: calibrated probability of superconductivity (boosted trees, isotonic), in [0, 1];
- ``is_superconductor``: ``sc_probability >= threshold`` (chosen for a held-out tp of 0.95; see the tc card);
- ``tc_kelvin``: predicted Tc in K (extra-trees regressor) for compounds classified as
  superconductors, 0.0 for the others (SuperCon's convention for "no superconductivity":
  the regressor is never shown for a compound the classifier rejects);
- ``tc_kelvin_low``, ``tc_kelvin_high``: split-conformal 90 % interval of Tc in K
  (coverage measured on held-out folds: ``regressor.interval`` in ``tc/card.json``);
  0.0 where ``tc_kelvin`` is 0.0, NaN when the artifact has no interval;
- ``formation_energy_ev_per_atom``: attention-model prediction in eV/atom, NaN when an
  element is outside the model's 86;
- ``formation_energy_std_ev_per_atom``: its calibrated 1-sigma spread in eV/atom
  (68.3 % of validation errors within it; test coverage in ``formation/card.json``);
- ``note``: "" or why a value is missing ("; "-separated).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..artifacts import default_models_dir
from ..composition import N_ELEMENTS, FormulaError, parse_formula
from ..errors import InputError
from ..results import PROPERTY_COLUMNS, join_notes
from .formation import FormationModel
from .superconductor import SuperconductorModels, estimate_true_fraction

SCORE_COLUMNS: tuple[str, ...] = PROPERTY_COLUMNS + ("note",)
"""Columns of :meth:`PropertyModels.score`, in order."""


@dataclass
class PropertyModels:
    """The three property models, loaded once and only read while predicting.

    Attributes:
        superconductor: classifier, Tc regressor and the classifier's held-out rates.
        formation: the formation-energy network.
        models_dir: where they were loaded from.
    """

    superconductor: SuperconductorModels
    formation: FormationModel
    models_dir: Path

    @property
    def true_positive_rate(self) -> float:
        """Held-out share of known superconductors the classifier calls superconducting."""
        return self.superconductor.true_positive_rate

    @property
    def false_positive_rate(self) -> float:
        """Held-out share of SuperCon non-superconductors the classifier calls superconducting."""
        return self.superconductor.false_positive_rate

    def rho(self, sc_fraction: float) -> float:
        """(p_sc - fp) / (tp - fp) clipped to [0, 1]: the estimated true superconducting
        fraction of a set of which ``sc_fraction`` is predicted superconducting."""
        return self.superconductor.rho(sc_fraction)

    def score(self, vectors: np.ndarray) -> pd.DataFrame:
        """Predict every property for a batch of compositions.

        Args:
            vectors: amounts per element, shape (n, 96) (index Z - 1), non-negative.

        Returns:
            DataFrame with :data:`SCORE_COLUMNS`, index 0..n-1. Rows that are empty
            (no positive amount) or contain negative amounts get NaN and a note.
        """
        vectors = np.asarray(vectors, dtype=np.float64)
        if vectors.ndim != 2 or vectors.shape[1] != N_ELEMENTS:
            raise InputError(f"composition vectors must have shape (n, {N_ELEMENTS}), got {vectors.shape}")
        usable = np.isfinite(vectors).all(axis=1) & (vectors >= 0).all(axis=1) & (vectors.sum(axis=1) > 0)
        n = len(vectors)
        columns = {name: np.full(n, np.nan) for name in PROPERTY_COLUMNS if name != "is_superconductor"}
        is_superconductor = np.zeros(n, dtype=bool)
        notes = ["" if ok else "not a composition (negative, missing or no amounts)" for ok in usable]
        if usable.any():
            good = vectors[usable]
            predicted = self.superconductor.predict(good)
            for name in ("sc_probability", "tc_kelvin", "tc_kelvin_low", "tc_kelvin_high"):
                columns[name][usable] = predicted[name]
            is_superconductor[usable] = predicted["is_superconductor"]
            energy, spread, formation_notes = self.formation.predict_with_spread(good)
            columns["formation_energy_ev_per_atom"][usable] = energy
            columns["formation_energy_std_ev_per_atom"][usable] = spread
            for row, note in zip(np.flatnonzero(usable), formation_notes):
                notes[row] = note
        columns["is_superconductor"] = pd.array(np.where(usable, is_superconductor, pd.NA), dtype="boolean")
        return pd.DataFrame({name: columns[name] for name in PROPERTY_COLUMNS} | {"note": notes})

    def score_formulas(self, formulas: list[str]) -> pd.DataFrame:
        """:meth:`score` for formula strings; a formula that does not parse gets NaN and its reason.

        Returns:
            DataFrame with ``formula`` (as given) then :data:`SCORE_COLUMNS`, index 0..n-1.
        """
        vectors, parse_notes = encode_formulas(formulas)
        table = self.score(vectors)
        table["note"] = [parse_note or note for parse_note, note in zip(parse_notes, table["note"])]
        table.insert(0, "formula", list(formulas))
        return table


UNPARSABLE = "unparsable formula"
"""Start of the note of a formula that could not be encoded."""


def encode_formulas(formulas: list[str]) -> tuple[np.ndarray, list[str]]:
    """Amount vectors of formulas, never raising for a bad one.

    Returns:
        ``(vectors, notes)``: shape (n, 96), all-zero rows for formulas that do not parse;
        ``notes[i]`` is "" or ``"unparsable formula: <reason>"``.
    """
    vectors = np.zeros((len(formulas), N_ELEMENTS))
    notes = [""] * len(formulas)
    for row, formula in enumerate(formulas):
        try:
            vectors[row] = parse_formula(str(formula))
        except FormulaError as error:
            notes[row] = f"{UNPARSABLE}: {error}"
    return vectors, notes


def load_property_models(models_dir: str | os.PathLike | None = None) -> PropertyModels:
    """Load the classifier, Tc regressor and formation model from ``models_dir``
    (default: the repository's ``checkpoints/``).

    Raises:
        CheckpointError: naming the missing file and the command that rebuilds it.
    """
    folder = Path(models_dir) if models_dir is not None else default_models_dir()
    return PropertyModels(SuperconductorModels.load(folder), FormationModel.load(folder), folder)


def superconductivity_summary(scored: pd.DataFrame, models: PropertyModels) -> dict[str, float]:
    """The paper's Table-1 figures over a set of (valid) candidates.

    Args:
        scored: a table with the columns of :meth:`PropertyModels.score`; rows without a
            prediction (NaN ``sc_probability``) are left out.
        models: gives tp and fp for rho.

    Returns:
        ``candidates`` (rows with predictions), ``predicted_sc_percent``,
        ``rho_percent`` (estimated true superconducting %), ``tc_mean_kelvin``,
        ``tc_sd_kelvin``, ``tc_max_kelvin`` (over predicted superconductors),
        ``formation_energy_mean_ev_per_atom`` and ``formation_energy_below_zero_fraction``
        (over rows with a formation energy). Figures over no rows are NaN.
    """
    predicted = scored[scored["sc_probability"].notna()]
    n = len(predicted)
    is_sc = predicted["is_superconductor"].astype(bool).to_numpy() if n else np.zeros(0, bool)
    sc_fraction = float(is_sc.mean()) if n else float("nan")
    tc = predicted["tc_kelvin"].to_numpy(dtype=np.float64)[is_sc]
    energy = predicted["formation_energy_ev_per_atom"].to_numpy(dtype=np.float64)
    energy = energy[np.isfinite(energy)]
    return {
        "candidates": n,
        "predicted_sc_percent": 100.0 * sc_fraction if n else float("nan"),
        "rho_percent": 100.0 * models.rho(sc_fraction) if n else float("nan"),
        "tc_mean_kelvin": float(tc.mean()) if len(tc) else float("nan"),
        "tc_sd_kelvin": float(tc.std(ddof=1)) if len(tc) > 1 else float("nan"),
        "tc_max_kelvin": float(tc.max()) if len(tc) else float("nan"),
        "formation_energy_mean_ev_per_atom": float(energy.mean()) if len(energy) else float("nan"),
        "formation_energy_below_zero_fraction": float((energy < 0).mean()) if len(energy) else float("nan"),
    }


__all__ = [
    "PropertyModels", "SCORE_COLUMNS", "UNPARSABLE", "encode_formulas", "estimate_true_fraction",
    "join_notes", "load_property_models", "superconductivity_summary",
]
