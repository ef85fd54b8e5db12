"""Novelty and uniqueness of compositions: the one home of "is this compound already there?".

Two compositions are *the same compound* when their normalised compositions (atomic
fractions, each row divided by its total) lie within :data:`NOVELTY_TOLERANCE` of each
other in L1 distance.  So a rescaled copy (``Mg0.97B1.94`` is ``MgB2``: distance 0) or a
copy shifted by a rounding step (``Mg0.99B2``: 0.0045) of a SuperCon compound is *not*
novel, and the same composition drawn twice (at two ILVR scale factors N, or written with
two formula units) is one candidate.

* :class:`KnownCompositions` — a set of known compositions (a class's SuperCon training
  set) indexed once by a KD-tree on atomic fractions (L1 metric);
  :meth:`~KnownCompositions.contains` and :meth:`~KnownCompositions.distance` answer for
  candidate rows;
* :func:`first_of_duplicates` — which rows of a candidate array are the first of their
  composition (uniqueness within a run);
* :func:`merge_duplicate_candidates` — one row per composition across the (reference, N)
  runs of a generation, with every N that drew it in ``scale_factors``.

Amount vectors have shape ``(n, 96)``, index ``Z - 1``, in atoms per formula unit.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from .composition import N_ELEMENTS

NOVELTY_TOLERANCE = 0.005
"""Largest L1 distance between atomic-fraction vectors at which two compositions are one
compound.  Why 0.005: it is above what 2-decimal amounts and rescaling leave (one 0.01 step
in one amount of a 13-atom cuprate moves the fractions by 0.0015; ``HgBa2Ca2Cu3O8.27`` vs
``O8.3``: 0.0018; ``La1.85Sr0.15CuO4`` vs ``La1.84Sr0.16CuO4``: 0.0029), and below the
smallest steps SuperCon records as different compounds (``YBa2Cu3O6.9`` vs ``O7``: 0.0072;
``Ba0.97K0.03Fe2As2`` vs ``BaFe2As2``: 0.012).  31 % of SuperCon's own entries have another
entry within it (the same compound measured twice), 43 % within 0.01."""

SCALE_FACTORS_COLUMN = "scale_factors"
"""Candidate-table column listing every ILVR N that drew a composition (``"2,3"``), after
:func:`merge_duplicate_candidates`; ``scale_factor`` keeps the first (smallest) N."""

_EXACT_DECIMALS = 9  # atomic fractions equal to this many decimals are the same row before the tree is asked


def atomic_fractions(vectors: np.ndarray) -> np.ndarray:
    """Rows of an ``(n, 96)`` amount array divided by their totals (all-zero rows stay 0).

    Unlike :func:`superdiff_core.maps.to_fractions` this accepts empty rows (an unparsed
    formula), which then match nothing but another empty row."""
    vectors = np.asarray(vectors, dtype=np.float64).reshape(-1, N_ELEMENTS)
    totals = vectors.sum(axis=1, keepdims=True)
    return np.divide(vectors, totals, out=np.zeros_like(vectors), where=totals > 0)


class KnownCompositions:
    """Compositions that count as known, indexed once for fast novelty checks.

    Args:
        vectors: known amounts, shape (m, 96) (e.g. a class's SuperCon training set);
            rescaled and repeated rows are fine.
        tolerance: L1 distance in atomic fractions at or below which a candidate is known.
    """

    def __init__(self, vectors: np.ndarray, tolerance: float = NOVELTY_TOLERANCE) -> None:
        from scipy.spatial import cKDTree

        fractions = atomic_fractions(vectors)
        self.tolerance = float(tolerance)
        self.fractions = fractions
        self._tree = cKDTree(self.fractions) if len(self.fractions) else None

    @classmethod
    def from_keys(cls, keys: Iterable[bytes], tolerance: float = NOVELTY_TOLERANCE) -> "KnownCompositions":
        """From :func:`superdiff_core.data.vector_keys` keys (rounded float64 rows), the form
        older callers hold a training set in."""
        rows = [np.frombuffer(key, dtype=np.float64) for key in keys]
        return cls(np.array(rows).reshape(-1, N_ELEMENTS), tolerance)

    def __len__(self) -> int:
        return len(self.fractions)

    def distance(self, vectors: np.ndarray) -> np.ndarray:
        """L1 distance (atomic fractions, 0..2) from each row to its nearest known
        composition, shape (n,); ``inf`` where it exceeds the tolerance (not computed
        further: the tree stops there) or nothing is known."""
        fractions = atomic_fractions(vectors)
        if self._tree is None or not len(fractions):
            return np.full(len(fractions), np.inf)
        distances, _ = self._tree.query(fractions, k=1, p=1, distance_upper_bound=self.tolerance + 1e-12)
        return np.asarray(distances, dtype=np.float64)

    def contains(self, vectors: np.ndarray) -> np.ndarray:
        """True per row whose composition is within the tolerance of a known one, shape (n,)."""
        return self.distance(vectors) <= self.tolerance + 1e-12


def first_of_duplicates(vectors: np.ndarray, tolerance: float = NOVELTY_TOLERANCE) -> np.ndarray:
    """Index of the representative of each row's composition, shape (n,).

    Rows are taken in order; a row within ``tolerance`` (L1, atomic fractions) of an earlier
    representative is a duplicate of the first such one, otherwise it represents itself.
    ``result == arange(n)`` marks the rows to keep.  Exact copies are folded first, so a run
    that draws one composition thousands of times stays fast."""
    fractions = atomic_fractions(vectors)
    n = len(fractions)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    rounded = np.ascontiguousarray(np.round(fractions, _EXACT_DECIMALS) + 0.0)
    row_keys = rounded.view(np.dtype((np.void, rounded.dtype.itemsize * N_ELEMENTS))).ravel()
    _, first_rows, group_of_row = np.unique(row_keys, return_index=True, return_inverse=True)
    order = np.argsort(first_rows)
    distinct_rows = first_rows[order]  # the first row of each exact composition, in row order
    position_of_group = np.empty(len(order), dtype=np.int64)
    position_of_group[order] = np.arange(len(order))
    representative = np.arange(len(distinct_rows))
    for position, neighbours in enumerate(_neighbours_within(fractions[distinct_rows], tolerance)):
        earlier = neighbours[(neighbours < position)]
        earlier = earlier[representative[earlier] == earlier]
        if len(earlier):
            representative[position] = int(earlier.min())
    return distinct_rows[representative[position_of_group[group_of_row.reshape(-1)]]]


_NEIGHBOURS_ASKED = 32  # neighbours asked of the KD-tree per point; a point with more within the tolerance asks again for all


def _neighbours_within(points: np.ndarray, tolerance: float) -> list[np.ndarray]:
    """Per point of an (m, 96) fraction array, the indices of the points within ``tolerance``
    (L1), itself included.  A bounded k-nearest query (fast in 96 dimensions, unlike a radius
    query), repeated as a radius query only for points with more neighbours than asked."""
    from scipy.spatial import cKDTree

    tree = cKDTree(points)
    k = min(_NEIGHBOURS_ASKED, len(points))
    distances, indices = tree.query(points, k=k, p=1, distance_upper_bound=tolerance + 1e-12)
    distances, indices = distances.reshape(len(points), k), indices.reshape(len(points), k)
    found = []
    for point, (row_distances, row_indices) in enumerate(zip(distances, indices)):
        within = np.isfinite(row_distances)
        if within.all() and k < len(points):
            found.append(np.asarray(tree.query_ball_point(points[point], r=tolerance + 1e-12, p=1), dtype=np.int64))
        else:
            found.append(row_indices[within].astype(np.int64))
    return found


def merge_duplicate_candidates(
    table: pd.DataFrame, vectors: np.ndarray, tolerance: float = NOVELTY_TOLERANCE
) -> tuple[pd.DataFrame, np.ndarray]:
    """One row per composition and reference across the (reference, N) runs of a generation.

    Rows of the same ``reference`` (all rows, without that column) whose compositions are
    within ``tolerance`` (:func:`first_of_duplicates`) become the first such row; its
    ``scale_factor`` becomes the smallest N among them and :data:`SCALE_FACTORS_COLUMN`
    lists them all, ascending (``"2,3"``; ``""`` for unconditional rows).  Different
    references keep their own rows (the reference is part of what a candidate is: its
    family and map placement are read against it).

    Args:
        table: candidate table, one row per candidate, optionally with ``reference`` and
            ``scale_factor`` columns; not modified.
        vectors: the candidates' amounts, shape (len(table), 96), aligned with ``table``.
        tolerance: L1 distance in atomic fractions at which two rows are one composition.

    Returns:
        ``(merged_table, merged_vectors)``: kept rows in their original order, index reset.
    """
    vectors = np.asarray(vectors, dtype=np.float64).reshape(-1, N_ELEMENTS)
    if len(vectors) != len(table):
        raise ValueError(f"{len(table)} table rows but {len(vectors)} composition vectors")
    references = table["reference"].fillna("").astype(str).to_numpy() if "reference" in table.columns else np.full(len(table), "")
    representative = np.arange(len(table))
    for reference in pd.unique(references):
        rows = np.flatnonzero(references == reference)
        representative[rows] = rows[first_of_duplicates(vectors[rows], tolerance)]
    keep = np.flatnonzero(representative == np.arange(len(table)))
    merged = table.iloc[keep].reset_index(drop=True)
    if "scale_factor" in table.columns:
        factors = pd.to_numeric(table["scale_factor"], errors="coerce").to_numpy(dtype=float)
        drawn_by = {int(row): set() for row in keep}
        for row, head in enumerate(representative):
            if np.isfinite(factors[row]):
                drawn_by[int(head)].add(int(factors[row]))
        lists = [sorted(drawn_by[int(row)]) for row in keep]
        merged["scale_factor"] = pd.array([values[0] if values else None for values in lists], dtype="Int64")
        position = list(merged.columns).index("scale_factor") + 1
        merged.insert(position, SCALE_FACTORS_COLUMN, [",".join(str(n) for n in values) for values in lists])
    return merged, vectors[keep]
