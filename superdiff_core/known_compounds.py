"""Known next to predicted: the measured SuperCon compounds nearest to each composition.

For every candidate (or screened formula) the nearest SuperCon compositions of a map, by
the distance the maps use (Euclidean distance between atomic-fraction vectors): the
nearest one's formula (as chemists spell it: ``MgB2``, not SuperCon's ``B2Mg1``) and
measured Tc, how many known compounds are *close* (within the
map's tight-family distance, e.g. YBa2Cu3O6.9–O7 around YBa2Cu3O7) with the median and
maximum of their measured Tc, and whether the composition lies outside the domain the
models were trained on (farther from every known superconductor than the map's inside
radius of the nearest one's cluster: held-out members of known families are that close
99 % of the time), with the reason in a note; and, when a known compound has exactly the
composition's elements and lies within :data:`DOPING_VARIANT_DISTANCE`, that compound: the
composition is a doping variant of it (fluorinated Hg-1223 next to HgBa2Ca2Cu3FO8), not a new
family.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .results import KNOWN_COLUMNS  # noqa: F401  (the columns this module fills, in order)

if TYPE_CHECKING:
    from .maps import ClassMap

CLOSE_NEIGHBOURS = 32
"""Most known compounds looked at per composition for the close-compound figures."""

DOPING_VARIANT_DISTANCE = 0.05
"""Largest atomic-fraction distance at which a known compound of the same elements makes a
composition its doping variant: about one atom moved in a 20-atom formula unit (HgBa2Ca2Cu3O8.27
is 0.016 from HgBa2Ca2Cu3O8, fluorinated Hg-1223 0.01-0.04 from HgBa2Ca2Cu3FO8)."""

CHUNK_ROWS = 1024
"""Rows compared at once with the known compounds of their element set (bounds the memory)."""


def nearest_known(vectors: np.ndarray, class_map: ClassMap) -> tuple[pd.DataFrame, list[str]]:
    """The known-compound columns of compositions, and a note per row.

    Args:
        vectors: amounts, shape (n, 96); all-zero rows (unparsed formulas) get empty values.
        class_map: the SuperCon map whose compounds count as known.

    Returns:
        ``(table, notes)``: :data:`KNOWN_COLUMNS` (n rows; Tc in K, distance in atomic
        fractions) and "" or why a row is flagged outside the training domain.
    """
    from .maps import to_fractions

    vectors = np.asarray(vectors, dtype=float)
    n = len(vectors)
    usable = np.isfinite(vectors).all(axis=1) & (vectors >= 0).all(axis=1) & (vectors.sum(axis=1) > 0)
    formula = np.full(n, "", dtype=object)
    tc, distance = np.full(n, np.nan), np.full(n, np.nan)
    close_count = np.zeros(n, dtype=np.int64)
    close_median, close_max = np.full(n, np.nan), np.full(n, np.nan)
    outside = np.zeros(n, dtype=bool)
    variant_of = np.full(n, "", dtype=object)
    notes = [""] * n
    if usable.any() and class_map.n_points:
        rows = np.flatnonzero(usable)
        fractions = to_fractions(vectors[rows])
        distances, indices = class_map.neighbours(fractions, min(CLOSE_NEIGHBOURS, class_map.n_points))
        nearest = indices[:, 0]
        formula[rows] = class_map.written_formulas[nearest]
        tc[rows] = class_map.tc_kelvin[nearest]
        distance[rows] = distances[:, 0]
        close = distances <= class_map.link_distance
        close_count[rows] = close.sum(axis=1)
        close_tc = np.where(close, class_map.tc_kelvin[indices], np.nan)
        has_close = close.any(axis=1)
        close_median[rows[has_close]] = np.nanmedian(close_tc[has_close], axis=1)
        close_max[rows[has_close]] = np.nanmax(close_tc[has_close], axis=1)
        variant_of[rows] = _doping_variants(fractions, class_map)
        radius = class_map.cluster_radii[class_map.labels[nearest]]
        far = distances[:, 0] > radius
        outside[rows] = far
        for row, gap, limit in zip(rows[far], distances[far, 0], radius[far]):
            notes[row] = (
                f"outside the training domain: {gap:.2f} from the nearest known superconductor "
                f"(known families reach {limit:.2f}), predictions are extrapolations"
            )
    table = pd.DataFrame({
        "nearest_known_formula": formula,
        "nearest_known_tc_kelvin": tc,
        "distance_to_known": distance,
        "known_close_count": close_count,
        "known_close_tc_median_kelvin": close_median,
        "known_close_tc_max_kelvin": close_max,
        "doping_variant_of": variant_of,
        "outside_training_domain": pd.array(np.where(usable, outside, pd.NA), dtype="boolean"),
    })
    return table, notes


def _doping_variants(fractions: np.ndarray, class_map: ClassMap) -> np.ndarray:
    """Per row of ``fractions`` (atomic fractions, (m, 96)), the written formula of the nearest known
    compound with exactly the row's elements within :data:`DOPING_VARIANT_DISTANCE`, or "".

    Compared with every known compound of the same element set (not only the nearest few: around
    Hg-1223 the nearest 32 are all oxygen variants, and the fluorinated ones lie beyond them)."""
    from .maps import rows_by_element_set

    out = np.full(len(fractions), "", dtype=object)
    for key, rows in rows_by_element_set(fractions).items():
        known = class_map.rows_by_element_set.get(key)
        if known is None:
            continue
        for start in range(0, len(rows), CHUNK_ROWS):
            chunk = rows[start:start + CHUNK_ROWS]
            gaps = np.linalg.norm(fractions[chunk, None, :] - class_map.fractions[None, known, :], axis=2)
            nearest = gaps.argmin(axis=1)
            near = gaps[np.arange(len(chunk)), nearest] <= DOPING_VARIANT_DISTANCE
            out[chunk[near]] = class_map.written_formulas[known[nearest[near]]]
    return out
