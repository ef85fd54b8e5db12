"""Exact k-nearest-neighbour search and voting on composition vectors (Euclidean).

The k-NN models keep their training rows as plain arrays (stored in ``.npz``), so a
model is rebuilt on load without unpickling anything. The search is brute force in
blocks with torch, vectorised over the batch (see :func:`nearest_neighbours`).
"""

from __future__ import annotations

import numpy as np
import torch

SCALINGS: tuple[str, ...] = ("amount", "fraction", "sqrt_fraction")
"""Ways to scale a composition vector before measuring distances: amounts as written,
fractions (rows sum to 1), or square roots of fractions (Hellinger distance)."""

WEIGHTINGS: tuple[str, ...] = ("uniform", "distance")
"""Neighbour vote weights: equal, or 1/distance (exact matches then decide alone)."""


def scale_vectors(vectors: np.ndarray, scaling: str) -> np.ndarray:
    """Composition vectors (n, 96) scaled for distances, float64 (n, 96)."""
    vectors = np.atleast_2d(np.asarray(vectors, dtype=np.float64))
    if scaling == "amount":
        return vectors
    totals = vectors.sum(axis=1, keepdims=True)
    fractions = np.divide(vectors, totals, out=np.zeros_like(vectors), where=totals > 0)
    if scaling == "fraction":
        return fractions
    if scaling == "sqrt_fraction":
        return np.sqrt(np.clip(fractions, 0.0, None))
    raise ValueError(f"unknown scaling {scaling!r}; choose one of {', '.join(SCALINGS)}")


_BLOCK = 64
"""Reference rows per block in the two-stage selection of :func:`nearest_neighbours`."""

_EXTRA_CANDIDATES = 8
"""Candidates beyond k kept from the float32 search and re-ranked exactly in float64."""

_RERANK_BLOCK = 512
"""Queries per block when the candidates are re-ranked in float64."""


class _Float32Search:
    """Candidate selection over fixed rows in float32 (see :class:`NeighbourIndex`)."""

    def __init__(self, rows: np.ndarray):
        m = len(rows)
        self.size = m
        self._n_blocks = -(-m // _BLOCK)
        padded = torch.zeros((self._n_blocks * _BLOCK, rows.shape[1]), dtype=torch.float32)
        padded[:m] = torch.from_numpy(rows)
        norms = torch.from_numpy((rows**2).sum(axis=1)).float()
        self._norms = torch.cat([norms, torch.full((len(padded) - m,), torch.inf)])  # padding is never chosen
        self._padded_t = padded.T.contiguous()

    def candidates(self, queries: np.ndarray, n_candidates: int, query_block: int = 64) -> np.ndarray:
        """Row positions (n, n_candidates) of the (float32) nearest rows of each query.

        Queries go in small blocks of similar element sets: a block then touches few
        element columns and its (block x reference) product stays in cache."""
        out = np.empty((len(queries), n_candidates), dtype=np.int64)
        offsets = torch.arange(_BLOCK)
        order = _group_by_elements(queries)
        with torch.inference_mode():
            for start in range(0, len(queries), query_block):
                rows = order[start : start + query_block]
                block = queries[rows]
                used = np.flatnonzero(np.any(block != 0, axis=0))  # only these columns enter q.r
                squared = torch.addmm(
                    self._norms[None, :], torch.from_numpy(block[:, used]).float(),
                    self._padded_t[torch.from_numpy(used)], alpha=-2.0,
                )
                minima = squared.view(len(block), self._n_blocks, _BLOCK).amin(dim=2)
                best_blocks = torch.topk(minima, min(n_candidates, self._n_blocks), dim=1, largest=False).indices
                columns = (best_blocks[:, :, None] * _BLOCK + offsets).reshape(len(block), -1)
                within = torch.topk(torch.gather(squared, 1, columns), n_candidates, dim=1, largest=False).indices
                out[rows] = torch.gather(columns, 1, within).numpy()
        return out


def _group_by_elements(queries: np.ndarray) -> np.ndarray:
    """An order of the query rows (n,) that puts rows with the same elements next to each
    other, so that a block of queries touches few element columns. Sorted by presence of
    each element, the elements most common among the queries deciding first."""
    present = queries != 0
    by_commonness = np.argsort(-present.sum(axis=0), kind="stable")
    return np.lexsort(present[:, by_commonness[::-1]].T)


class NeighbourIndex:
    """Reference rows prepared once for repeated exact k-nearest-neighbour queries.

    Squared distances up to a per-query constant (|r|² - 2 q.r) are computed in float32
    in blocks of queries, over only the elements present in the block. The k + 8
    smallest are selected in two stages: the minimum of each block of 64 reference rows,
    then the best k + 8 blocks (which must hold the k + 8 smallest values). The
    candidates' distances are then recomputed exactly in float64 and the k nearest
    kept, so float32 rounding can only swap neighbours tied to within rounding.
    Read-only after construction.
    """

    def __init__(self, reference: np.ndarray):
        """
        Args:
            reference: scaled training rows, shape (m, d).
        """
        self.reference = np.ascontiguousarray(reference, dtype=np.float64)
        self._search = _Float32Search(self.reference)

    def query(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The k nearest reference rows of each query row.

        Args:
            queries: scaled query rows, shape (n, d).
            k: neighbours per query (at most m).

        Returns:
            ``(distances, indices)``, each shape (n, k), nearest first, float64 / int64.
        """
        queries = np.atleast_2d(np.asarray(queries, dtype=np.float64))
        k = min(k, len(self.reference))
        candidates = self._search.candidates(queries, min(k + _EXTRA_CANDIDATES, len(self.reference)))
        distances = np.empty(candidates.shape)
        for start in range(0, len(queries), _RERANK_BLOCK):  # blocks keep the gathered rows in cache
            rows = slice(start, start + _RERANK_BLOCK)
            differences = self.reference[candidates[rows]] - queries[rows, None, :]
            distances[rows] = np.sqrt(np.einsum("nkd,nkd->nk", differences, differences))
        order = np.argsort(distances, axis=1, kind="stable")[:, :k]
        return np.take_along_axis(distances, order, axis=1), np.take_along_axis(candidates, order, axis=1)


def nearest_neighbours(reference: np.ndarray, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """One-off :meth:`NeighbourIndex.query`: the k nearest ``reference`` rows (m, d) of each
    query row (n, d), as ``(distances, indices)`` of shape (n, k), nearest first."""
    return NeighbourIndex(reference).query(queries, k)


def vote_weights(distances: np.ndarray, weighting: str) -> np.ndarray:
    """Weights of each query's neighbours, shape (n, k), for a :data:`WEIGHTINGS` choice.

    With ``"distance"``, a query with exact matches (distance 0) takes only those,
    as scikit-learn does.
    """
    if weighting == "uniform":
        return np.ones_like(distances)
    if weighting != "distance":
        raise ValueError(f"unknown weighting {weighting!r}; choose one of {', '.join(WEIGHTINGS)}")
    exact = distances <= 1e-12
    with np.errstate(divide="ignore"):
        inverse = 1.0 / distances
    return np.where(exact.any(axis=1, keepdims=True), exact.astype(np.float64), inverse)
