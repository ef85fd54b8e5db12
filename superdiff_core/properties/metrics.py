"""Error measures reported in the model cards."""

from __future__ import annotations

import numpy as np


def regression_metrics(actual: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    """R², MAE and RMSE (in the unit of the inputs) and the count of rows.

    Args:
        actual, predicted: shape (n,).
    """
    actual = np.asarray(actual, dtype=np.float64)
    predicted = np.asarray(predicted, dtype=np.float64)
    errors = predicted - actual
    spread = np.sum((actual - actual.mean()) ** 2) if len(actual) else 0.0
    return {
        "n": int(len(actual)),
        "r2": float(1.0 - np.sum(errors**2) / spread) if spread > 0 else float("nan"),
        "mae": float(np.mean(np.abs(errors))) if len(actual) else float("nan"),
        "rmse": float(np.sqrt(np.mean(errors**2))) if len(actual) else float("nan"),
    }


def detection_rates(is_positive: np.ndarray, predicted_positive: np.ndarray) -> dict[str, float]:
    """True-positive rate (recall on positives) and false-positive rate (on negatives).

    Args:
        is_positive, predicted_positive: booleans, shape (n,).
    """
    is_positive = np.asarray(is_positive, dtype=bool)
    predicted_positive = np.asarray(predicted_positive, dtype=bool)
    return {
        "true_positive_rate": float(predicted_positive[is_positive].mean()),
        "false_positive_rate": float(predicted_positive[~is_positive].mean()),
        "positives": int(is_positive.sum()),
        "negatives": int((~is_positive).sum()),
    }


def threshold_for_tp(probability: np.ndarray, labels: np.ndarray, target_tp: float) -> float:
    """The largest threshold t with mean(probability[labels] >= t) >= target_tp.

    Args:
        probability: scores, shape (n,); labels: True for positives, shape (n,) (at least one).
        target_tp: the true-positive rate to reach, in (0, 1].
    """
    positives = np.sort(np.asarray(probability, dtype=np.float64)[np.asarray(labels, dtype=bool)])
    return float(positives[int(np.floor((1.0 - target_tp) * len(positives)))])
