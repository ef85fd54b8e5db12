"""Superconductor classifier, critical-temperature regressor and the differentiable guidance
network, as the app loads them (training: :mod:`.superconductor_training`).

- :class:`BoostedClassifier`: gradient-boosted trees on composition features (element
  fractions, amounts and Magpie-style element-property statistics), trained with COD
  "garbage-in" negatives (Konno et al. 2021) and OQMD compositions besides SuperCon's
  Tc = 0 rows; its raw score is calibrated by isotonic regression on out-of-fold
  predictions, so ``sc_probability`` is a calibrated probability. Its figures on real
  synthesis attempts are in the card (:mod:`.real_attempts`).
- :class:`KNNClassifier`: Roter & Dordevic's (Physica C 575, 2020) k nearest neighbours,
  the paper's baseline, still measured by ``train-tc`` on the same folds.
- :class:`TcRegressor`: a tree ensemble for Tc in kelvin, trained on a per-composition-
  neighbourhood median of SuperCon's Tc (label noise; see the training module);
  :class:`TcInterval` gives a split-conformal interval per prediction.
- :class:`GuidanceNetwork`: a small torch network with a superconductor logit and a Tc
  head, differentiable in the (B, 96) amount vector (for gradient guidance).

The true superconducting fraction of a set is estimated as
``rho = (p_sc - fp) / (tp - fp)`` (method eq. 7) with the classifier's held-out rates.
Everything is stored in ``<models>/tc/tc_models.npz`` and ``card.json``; nothing is unpickled.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..artifacts import command_line, read_card, required_file, save_npz_atomically
from ..composition import N_ELEMENTS
from ..errors import CheckpointError
from .features import composition_property_features, element_fractions, magpie_features
from .neighbours import NeighbourIndex, scale_vectors, vote_weights
from .tree_ensemble import TreeEnsemble

TC_SUBDIR = "tc"
MODEL_FILE = "tc_models.npz"

PUBLISHED = {
    "Roter & Dordevic 2020 classifier": {"true_positive_rate": 0.9869, "false_positive_rate": 0.1694},
    "Roter & Dordevic 2020 Tc regression": {"r2": 0.93},
    "Stanev et al. 2018 Tc regression": {"r2": 0.88},
    "note": "published figures are not from composition-grouped folds; ours are (no composition in two folds)",
}
TARGETS = {"true_positive_rate": ">= 0.95", "false_positive_rate": "<= 0.17", "regressor_r2": ">= 0.93",
           "textbook_tc": "within 30 % of the measured Tc",
           "real_attempts_precision": (">= 0.70 at tp >= 0.80 at the shipped threshold on the real synthesis attempts not within "
                                       "0.01 of a training composition (Konno et al. 2021: 0.62)"),
           "leave_one_family_out_beats_one_nn": "mean per-family R² above the 1-nearest-neighbour baseline's on the same folds"}

PROBE_FORMULAS: tuple[str, ...] = ("NaCl", "KCl", "MgO", "Al2O3", "SiO2", "CaF2", "YBa2Cu3O7", "MgB2", "Nb3Sn", "LaFeAsO0.9F0.1")
"""Compositions whose predictions are recorded in the model card as a sanity check."""


def rebuild_command(models_dir: str | os.PathLike) -> str:
    """The command that rebuilds the classifier and regressor inside ``models_dir``."""
    return command_line(
        "superdiff", "train-tc", "--supercon", "PATH/SuperCon_with_types.dat",
        "--non-superconductors", "PATH/Supercon_data.csv", "--cod", "PATH/cod_inorganic_formulas.csv",
        "--out", Path(models_dir) / TC_SUBDIR,
    )


def estimate_true_fraction(sc_fraction: float, true_positive_rate: float, false_positive_rate: float) -> float:
    """rho = (p_sc - fp) / (tp - fp), clipped to [0, 1] (method eq. 7).

    Args:
        sc_fraction: share of a set predicted superconducting, in [0, 1].
        true_positive_rate, false_positive_rate: the classifier's held-out rates.

    Raises:
        ValueError: if tp <= fp (the classifier would carry no information).
    """
    if true_positive_rate <= false_positive_rate:
        raise ValueError("true-positive rate must exceed false-positive rate")
    rho = (float(sc_fraction) - false_positive_rate) / (true_positive_rate - false_positive_rate)
    return float(min(1.0, max(0.0, rho)))


# --------------------------------------------------------------------------- classifier


@dataclass(frozen=True)
class ClassifierConfig:
    """k-NN classifier settings.

    Attributes:
        n_neighbors: k.
        scaling: one of :data:`~superdiff_core.properties.neighbours.SCALINGS`.
        weighting: ``"uniform"`` or ``"distance"`` votes.
        balanced: weight each class's votes by the inverse of its share of the training
            rows, so that both classes count equally (else the majority class wins more).
        threshold: a compound is a superconductor when p_sc >= threshold.
    """

    n_neighbors: int = 5
    scaling: str = "amount"
    weighting: str = "distance"
    balanced: bool = True
    threshold: float = 0.5




def class_vote_weights(labels: np.ndarray, balanced: bool) -> np.ndarray:
    """Vote weight of a negative and of a positive neighbour, shape (2,)."""
    if not balanced:
        return np.ones(2)
    share_positive = float(np.mean(labels))
    return np.array([0.5 / (1.0 - share_positive), 0.5 / share_positive])


def knn_probability(neighbour_labels: np.ndarray, distances: np.ndarray, weighting: str, class_weights: np.ndarray) -> np.ndarray:
    """Weighted share of superconducting neighbours, shape (n,), from (n, k) labels and distances."""
    weights = vote_weights(distances, weighting) * class_weights[neighbour_labels.astype(np.int64)]
    return (weights * neighbour_labels).sum(axis=1) / weights.sum(axis=1)


class KNNClassifier:
    """Superconductor or not, by k nearest SuperCon (and OQMD) neighbours.

    The training rows are kept as plain arrays; predicting needs nothing else.
    """

    def __init__(self, vectors: np.ndarray, labels: np.ndarray, config: ClassifierConfig = ClassifierConfig()):
        """
        Args:
            vectors: training amounts, shape (m, 96).
            labels: True for superconductors, shape (m,).
            config: k, scaling, weighting, balancing and threshold.
        """
        self.vectors = np.asarray(vectors, dtype=np.float64)
        self.labels = np.asarray(labels, dtype=bool)
        if self.labels.all() or not self.labels.any():
            raise ValueError("the classifier needs both superconductors and non-superconductors")
        self.config = config
        self._index = NeighbourIndex(scale_vectors(self.vectors, config.scaling))
        self._class_weights = class_vote_weights(self.labels, config.balanced)

    def probability(self, vectors: np.ndarray) -> np.ndarray:
        """p_sc for amounts of shape (n, 96): weighted share of superconducting neighbours, (n,)."""
        vectors = np.atleast_2d(np.asarray(vectors, dtype=np.float64))
        if len(vectors) == 0:
            return np.zeros(0)
        distances, indices = self._index.query(scale_vectors(vectors, self.config.scaling), self.config.n_neighbors)
        return knn_probability(self.labels[indices], distances, self.config.weighting, self._class_weights)

    def predict(self, vectors: np.ndarray) -> np.ndarray:
        """True where p_sc >= threshold, shape (n,)."""
        return self.probability(vectors) >= self.config.threshold


# --------------------------------------------------------------------------- regressor

REGRESSOR_FEATURE_SETS: tuple[str, ...] = ("fraction", "fraction+properties", "amount+fraction+properties", "amount+fraction+magpie")
"""Inputs of the Tc regressor and the classifier: element fractions, plus composition-weighted
element properties (see :func:`~superdiff_core.properties.features.composition_property_features`),
plus the amounts as written; or amounts and fractions with the fuller Magpie set
(:func:`~superdiff_core.properties.features.magpie_features`, from the same property table)."""


@dataclass(frozen=True)
class RegressorConfig:
    """Tc regressor settings (a tree ensemble from scikit-learn, stored as arrays).

    Attributes:
        model: ``"random_forest"``, ``"extra_trees"`` or ``"hist_gradient_boosting"``.
        features: one of :data:`REGRESSOR_FEATURE_SETS`.
        n_estimators: trees (forests) or boosting iterations.
        max_features: share of features tried per split (forests).
        min_samples_leaf: smallest leaf; larger keeps the stored trees small.
        learning_rate, max_leaf_nodes: boosting only.
        seed: random state.
        target_radius: label-noise handling: each training row's target is the median Tc
            of the training rows within this Euclidean distance in element-fraction space
            (itself included; 0: the Tc as listed). YBa2Cu3O6.8-7 lie within 0.01 of each other.
    """

    model: str = "extra_trees"
    features: str = "amount+fraction+properties"
    n_estimators: int = 50
    max_features: float = 0.5
    min_samples_leaf: int = 2
    learning_rate: float = 0.1
    max_leaf_nodes: int = 63
    seed: int = 0
    target_radius: float = 0.0



def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


@dataclass(frozen=True)
class BoostedClassifierConfig:
    """Gradient-boosted superconductor classifier settings (scikit-learn's histogram
    gradient boosting with log loss, stored as arrays).

    Attributes:
        features: one of :data:`REGRESSOR_FEATURE_SETS`.
        n_estimators: boosting iterations.
        max_leaf_nodes, min_samples_leaf, learning_rate, l2_regularization: of each tree.
        threshold: a compound is a superconductor when the calibrated probability is at
            least this (chosen by ``train-tc`` for a held-out tp of ``target_tp``).
        target_tp: the held-out true-positive rate the threshold is chosen for.
        seed: random state.
    """

    features: str = "amount+fraction+properties"
    n_estimators: int = 400
    max_leaf_nodes: int = 31
    min_samples_leaf: int = 20
    learning_rate: float = 0.1
    l2_regularization: float = 0.0
    threshold: float = 0.5
    target_tp: float = 0.95
    seed: int = 0


class BoostedClassifier:
    """Superconductor or not: boosted trees' logit, calibrated by isotonic regression.

    Attributes:
        ensemble: the trees (their sum is the logit).
        config: settings, including the decision threshold on the calibrated probability.
        property_table: element properties (96, p) for the features.
        calibration_logit, calibration_probability: the isotonic map, increasing knots
            (interpolated linearly, constant outside).
    """

    def __init__(self, ensemble: TreeEnsemble, config: BoostedClassifierConfig, property_table: np.ndarray,
                 calibration_logit: np.ndarray, calibration_probability: np.ndarray):
        self.ensemble = ensemble
        self.config = config
        self.property_table = np.asarray(property_table, dtype=np.float64)
        self.calibration_logit = np.asarray(calibration_logit, dtype=np.float64)
        self.calibration_probability = np.asarray(calibration_probability, dtype=np.float64)

    def logit(self, vectors: np.ndarray) -> np.ndarray:
        """Uncalibrated log-odds for amounts of shape (n, 96): (n,)."""
        vectors = np.atleast_2d(np.asarray(vectors, dtype=np.float64))
        if len(vectors) == 0:
            return np.zeros(0)
        return self.ensemble.predict(regression_features(vectors, self.config.features, self.property_table))

    def calibrate(self, logit: np.ndarray) -> np.ndarray:
        """Calibrated probability of raw logits (n,) -> (n,) in [0, 1]."""
        if len(self.calibration_logit) == 0:
            return _sigmoid(np.asarray(logit, dtype=np.float64))
        return np.interp(logit, self.calibration_logit, self.calibration_probability)

    def probability(self, vectors: np.ndarray) -> np.ndarray:
        """Calibrated p_sc for amounts of shape (n, 96): (n,)."""
        return self.calibrate(self.logit(vectors))

    def predict(self, vectors: np.ndarray) -> np.ndarray:
        """True where the calibrated p_sc >= threshold, shape (n,)."""
        return self.probability(vectors) >= self.config.threshold


def regression_features(vectors: np.ndarray, feature_set: str, property_table: np.ndarray) -> np.ndarray:
    """The Tc regressor's and the classifier's input for amounts of shape (n, 96): (n, f) float64."""
    vectors = np.atleast_2d(np.asarray(vectors, dtype=np.float64))
    fractions = element_fractions(vectors)
    if feature_set == "fraction":
        return fractions
    if feature_set == "amount+fraction+magpie":
        return np.hstack([vectors, fractions, magpie_features(vectors, property_table)])
    properties = composition_property_features(vectors, property_table)
    if feature_set == "fraction+properties":
        return np.hstack([fractions, properties])
    if feature_set == "amount+fraction+properties":
        return np.hstack([vectors, fractions, properties])
    raise ValueError(f"unknown feature set {feature_set!r}; choose one of {', '.join(REGRESSOR_FEATURE_SETS)}")


@dataclass(frozen=True)
class TcInterval:
    """Split-conformal Tc interval: prediction ± a half-width that depends on the predicted Tc.

    Attributes:
        edges: predicted-Tc bin edges in kelvin, increasing, shape (b - 1,) (bins are
            ``(-inf, e0], (e0, e1], ..., (e_last, inf)``).
        half_widths: the ``level`` quantile of |held-out error| in each bin, kelvin, (b,).
        level: nominal coverage (e.g. 0.9).
    """

    edges: np.ndarray
    half_widths: np.ndarray
    level: float

    def bounds(self, predicted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(low, high) kelvin for predicted Tc (n,); low is clipped at 0."""
        predicted = np.asarray(predicted, dtype=np.float64)
        width = np.asarray(self.half_widths)[np.searchsorted(self.edges, predicted, side="left")]
        return np.clip(predicted - width, 0.0, None), predicted + width


class TcRegressor:
    """Tc (kelvin) from composition: a tree ensemble on :func:`regression_features`."""

    def __init__(self, ensemble: TreeEnsemble, config: RegressorConfig, property_table: np.ndarray):
        self.ensemble = ensemble
        self.config = config
        self.property_table = np.asarray(property_table, dtype=np.float64)

    def predict(self, vectors: np.ndarray) -> np.ndarray:
        """Tc in kelvin for amounts of shape (n, 96), clipped at 0; shape (n,)."""
        features = regression_features(vectors, self.config.features, self.property_table)
        return np.clip(self.ensemble.predict(features), 0.0, None)


# --------------------------------------------------------------------------- storage


# --------------------------------------------------------------------------- guidance network


@dataclass(frozen=True)
class GuidanceConfig:
    """The differentiable guidance network's settings (see :class:`GuidanceNetwork`).

    Attributes:
        hidden: width of the two hidden layers.
        epochs, batch_size, learning_rate, weight_decay: Adam training.
        tc_scale: Tc is learned as Tc / tc_scale (kelvin).
        tc_weight: weight of the Tc loss (on superconductors) beside the classification loss.
        seed: torch seed.
    """

    hidden: int = 256
    epochs: int = 40
    batch_size: int = 256
    learning_rate: float = 2e-3
    weight_decay: float = 1e-5
    tc_scale: float = 50.0
    tc_weight: float = 1.0
    seed: int = 0


class GuidanceNetwork(torch.nn.Module):
    """Superconductor logit and Tc (kelvin) from amounts (B, 96), differentiable in the amounts.

    Input features: element fractions (96) and the fraction-weighted mean and mean absolute
    deviation of the standardised element properties (2 p), all smooth (the deviation
    almost everywhere) functions of the amounts; then two SiLU layers and two outputs.
    """

    def __init__(self, property_table: np.ndarray, hidden: int = 256, tc_scale: float = 50.0):
        super().__init__()
        table = np.asarray(property_table, dtype=np.float64)
        standardised = (table - table.mean(axis=0)) / np.where(table.std(axis=0) > 0, table.std(axis=0), 1.0)
        self.register_buffer("property_table", torch.tensor(standardised, dtype=torch.float32))
        self.register_buffer("tc_scale", torch.tensor(float(tc_scale)))
        width = N_ELEMENTS + 2 * table.shape[1]
        self.body = torch.nn.Sequential(
            torch.nn.Linear(width, hidden), torch.nn.SiLU(), torch.nn.Linear(hidden, hidden), torch.nn.SiLU(),
        )
        self.head = torch.nn.Linear(hidden, 2)

    def features(self, amounts: torch.Tensor) -> torch.Tensor:
        """(B, 96 + 2 p) inputs from amounts (B, 96)."""
        fractions = amounts / amounts.sum(dim=1, keepdim=True).clamp_min(1e-12)
        mean = fractions @ self.property_table
        deviation = torch.einsum("be,bep->bp", fractions, (self.property_table[None] - mean[:, None, :]).abs())
        return torch.cat([fractions, mean, deviation], dim=1)

    def forward(self, amounts: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(logit (B,), Tc in kelvin (B,)) for amounts (B, 96); Tc is not clipped (smooth)."""
        out = self.head(self.body(self.features(amounts)))
        return out[:, 0], out[:, 1] * self.tc_scale

    def predict(self, vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """numpy (sigmoid probability (n,), Tc kelvin clipped at 0 (n,)) without gradients."""
        with torch.no_grad():
            logit, tc = self(torch.as_tensor(np.atleast_2d(vectors), dtype=torch.float32))
        return torch.sigmoid(logit).numpy().astype(np.float64), np.clip(tc.numpy().astype(np.float64), 0.0, None)



# --------------------------------------------------------------------------- storage


def pack_vectors(vectors: np.ndarray) -> dict[str, np.ndarray]:
    """Sparse copy of (n, 96) amounts: row index, element index and amount of each non-zero."""
    rows, columns = np.nonzero(vectors)
    return {"rows": rows.astype(np.int32), "elements": columns.astype(np.int8), "amounts": vectors[rows, columns]}


def unpack_vectors(rows: np.ndarray, elements: np.ndarray, amounts: np.ndarray, n_rows: int) -> np.ndarray:
    """Inverse of :func:`pack_vectors`: (n_rows, 96) float64."""
    vectors = np.zeros((n_rows, N_ELEMENTS))
    vectors[rows.astype(np.int64), elements.astype(np.int64)] = amounts
    return vectors


@dataclass
class SuperconductorModels:
    """Classifier, regressor, Tc interval, guidance network and the classifier's held-out
    rates (used by :meth:`rho`).

    Attributes:
        classifier: the calibrated boosted classifier (or a :class:`KNNClassifier` baseline).
        regressor: the Tc regressor.
        true_positive_rate: held-out share of superconductors classified as such.
        false_positive_rate: held-out share of SuperCon non-superconductors classified
            as superconductors (the negatives most like generated candidates).
        card: the model card.
        interval: split-conformal Tc interval (None: no interval columns).
        guidance: differentiable network for gradient guidance (None if not trained).
    """

    classifier: Any
    regressor: TcRegressor
    true_positive_rate: float
    false_positive_rate: float
    card: dict[str, Any]
    interval: TcInterval | None = None
    guidance: GuidanceNetwork | None = None

    def rho(self, sc_fraction: float) -> float:
        """Estimated true superconducting fraction of a set whose predicted fraction is ``sc_fraction``."""
        return estimate_true_fraction(sc_fraction, self.true_positive_rate, self.false_positive_rate)

    def predict(self, vectors: np.ndarray) -> dict[str, np.ndarray]:
        """Every superconductor column for valid amounts (n, 96).

        Returns:
            ``sc_probability`` (calibrated), ``is_superconductor``, ``tc_kelvin``,
            ``tc_kelvin_low`` and ``tc_kelvin_high`` (the conformal interval at
            ``interval.level``; NaN without an interval); Tc and its bounds are 0.0 for
            compounds not classified as superconductors. Each (n,).
        """
        vectors = np.atleast_2d(np.asarray(vectors, dtype=np.float64))
        probability = self.classifier.probability(vectors)
        is_sc = probability >= self.classifier.config.threshold
        tc, low, high = np.zeros(len(vectors)), np.zeros(len(vectors)), np.zeros(len(vectors))
        if is_sc.any():
            tc[is_sc] = self.regressor.predict(vectors[is_sc])
            if self.interval is not None:
                low[is_sc], high[is_sc] = self.interval.bounds(tc[is_sc])
        if self.interval is None:
            low[:], high[:] = np.nan, np.nan
        return {"sc_probability": probability, "is_superconductor": is_sc, "tc_kelvin": tc,
                "tc_kelvin_low": low, "tc_kelvin_high": high}

    def save(self, folder: Path) -> Path:
        """Write ``tc_models.npz`` (arrays only) into ``folder``; configs go in the card."""
        arrays: dict[str, np.ndarray] = {"property_table": self.regressor.property_table,
                                         **self.regressor.ensemble.to_arrays("regressor_")}
        if isinstance(self.classifier, BoostedClassifier):
            arrays.update(self.classifier.ensemble.to_arrays("classifier_"))
            arrays["classifier_calibration_logit"] = self.classifier.calibration_logit
            arrays["classifier_calibration_probability"] = self.classifier.calibration_probability
        else:
            packed = pack_vectors(self.classifier.vectors)
            arrays.update(classifier_rows=packed["rows"], classifier_elements=packed["elements"],
                          classifier_amounts=packed["amounts"], classifier_labels=self.classifier.labels.astype(np.int8))
        if self.interval is not None:
            arrays.update(interval_edges=self.interval.edges, interval_half_widths=self.interval.half_widths,
                          interval_level=np.array([self.interval.level]))
        if self.guidance is not None:
            arrays.update({f"guidance_{name}": value.detach().numpy() for name, value in self.guidance.state_dict().items()})
        return save_npz_atomically(folder / MODEL_FILE, **arrays)

    @classmethod
    def load(cls, models_dir: str | os.PathLike) -> "SuperconductorModels":
        """Load ``<models_dir>/tc/`` (configs from ``card.json``, arrays from the ``.npz``).

        Raises:
            CheckpointError: naming the missing or corrupt file and the rebuild command.
        """
        return cls.load_folder(Path(models_dir) / TC_SUBDIR, rebuild_command(models_dir))

    @classmethod
    def load_folder(cls, folder: str | os.PathLike, rebuild: str | None = None) -> "SuperconductorModels":
        """Load the models written into ``folder`` (a ``train-tc --out`` folder); :meth:`load` otherwise.

        Raises:
            CheckpointError: naming the missing or corrupt file and ``rebuild`` (default: the
                ``train-tc`` command for ``folder``).
        """
        folder = Path(folder)
        rebuild = rebuild or rebuild_command(folder.parent)
        card = read_card(folder, rebuild)
        path = required_file(folder / MODEL_FILE, rebuild)
        try:
            with np.load(path, allow_pickle=False) as stored:
                table = stored["property_table"]
                config = card["classifier"]["config"]
                if card["classifier"].get("kind", "knn") == "boosted":
                    classifier = BoostedClassifier(
                        TreeEnsemble.from_arrays(stored, "classifier_"), _config(BoostedClassifierConfig, config), table,
                        stored["classifier_calibration_logit"], stored["classifier_calibration_probability"],
                    )
                else:
                    labels = stored["classifier_labels"].astype(bool)
                    vectors = unpack_vectors(stored["classifier_rows"], stored["classifier_elements"], stored["classifier_amounts"],
                                             len(labels))
                    classifier = KNNClassifier(vectors, labels, _config(ClassifierConfig, config))
                regressor = TcRegressor(TreeEnsemble.from_arrays(stored, "regressor_"),
                                        _config(RegressorConfig, card["regressor"]["config"]), table)
                interval = None
                if "interval_edges" in stored:
                    interval = TcInterval(stored["interval_edges"], stored["interval_half_widths"], float(stored["interval_level"][0]))
                guidance = None
                names = [name for name in stored.files if name.startswith("guidance_")]
                if names and "guidance" in card:
                    settings = card["guidance"]["config"]
                    guidance = GuidanceNetwork(table, int(settings["hidden"]), float(settings["tc_scale"]))
                    state = {name[len("guidance_"):]: torch.from_numpy(stored[name]) for name in names}
                    guidance.load_state_dict({k: state[k] for k in guidance.state_dict()}, strict=True)
                    guidance.eval()
            rates = card["classifier"]["rates_used_for_rho"]
            return cls(classifier, regressor, float(rates["true_positive_rate"]), float(rates["false_positive_rate"]), card,
                       interval, guidance)
        except (OSError, ValueError, KeyError, TypeError, RuntimeError) as error:
            raise CheckpointError(f"corrupt {path} ({type(error).__name__}: {error}); rebuild it with: {rebuild}") from None


def _config(kind, stored: dict[str, Any]):
    """A config dataclass from a card entry, ignoring keys it does not have."""
    names = {field.name for field in fields(kind)}
    return kind(**{key: value for key, value in stored.items() if key in names})
