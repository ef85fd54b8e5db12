"""Data of the periodic-table heat map (Element heat map page)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from superdiff_core.composition import ELEMENT_SYMBOLS

_PERIOD_STARTS = (1, 3, 11, 19, 37, 55, 87, 119)


def periodic_position(z: int) -> tuple[int, int]:
    """(row, column) of element ``z`` in the usual 18-column table, 1-based.

    Lanthanides (La–Lu) go to row 9 and actinides (Ac–Lr) to row 10, columns 3–17.
    """
    if not 1 <= z <= 118:
        raise ValueError(f"no element with Z = {z}")
    if 57 <= z <= 71:
        return 9, 3 + (z - 57)
    if 89 <= z <= 103:
        return 10, 3 + (z - 89)
    period = next(p for p in range(7) if _PERIOD_STARTS[p] <= z < _PERIOD_STARTS[p + 1]) + 1
    offset = z - _PERIOD_STARTS[period - 1]
    if period == 1:
        return 1, 1 if z == 1 else 18
    if period in (2, 3):
        return period, offset + 1 if offset < 2 else offset + 11
    if period in (4, 5):
        return period, offset + 1
    # periods 6 and 7: s-block, then the f-block row apart, then groups 4-18
    if offset < 2:
        return period, offset + 1
    return period, offset - 14 + 1


def element_tc_probability(vectors: np.ndarray, tc_kelvin: np.ndarray, threshold_kelvin: float) -> pd.DataFrame:
    """Per element: how many compounds contain it and the share whose Tc is above the
    threshold (the heat map of Wines, Xie & Choudhary 2023).

    Args:
        vectors: amounts, shape (n, 96) (index Z - 1).
        tc_kelvin: Tc per compound (predicted or measured), shape (n,); NaN is left out.
        threshold_kelvin: Tc threshold.

    Returns:
        One row per element present: ``symbol``, ``z``, ``row``, ``column``, ``compounds``,
        ``above`` and ``probability`` (above / compounds), ordered by Z.
    """
    vectors = np.asarray(vectors, dtype=float).reshape(-1, len(ELEMENT_SYMBOLS))
    tc = np.asarray(tc_kelvin, dtype=float).reshape(-1)
    if len(tc) != len(vectors):
        raise ValueError(f"{len(vectors)} compounds but {len(tc)} Tc values")
    known = np.isfinite(tc)
    contains = vectors[known] > 0
    above = tc[known] > threshold_kelvin
    counts = contains.sum(axis=0)
    above_counts = (contains & above[:, None]).sum(axis=0)
    rows = []
    for index in np.flatnonzero(counts):
        z = int(index) + 1
        row, column = periodic_position(z)
        rows.append(
            {
                "symbol": ELEMENT_SYMBOLS[index],
                "z": z,
                "row": row,
                "column": column,
                "compounds": int(counts[index]),
                "above": int(above_counts[index]),
                "probability": float(above_counts[index] / counts[index]),
            }
        )
    return pd.DataFrame(rows, columns=["symbol", "z", "row", "column", "compounds", "above", "probability"])


def periodic_grid(data: pd.DataFrame, min_compounds: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """A 10 x 18 grid of probabilities (NaN where no data or fewer than ``min_compounds``)
    and the matching cell labels (every element up to Cm gets its symbol)."""
    values = np.full((10, 18), np.nan)
    labels = np.full((10, 18), "", dtype=object)
    for index, symbol in enumerate(ELEMENT_SYMBOLS):
        row, column = periodic_position(index + 1)
        labels[row - 1, column - 1] = symbol
    for record in data.itertuples(index=False):
        if record.compounds >= min_compounds:
            values[record.row - 1, record.column - 1] = record.probability
    return values, labels
