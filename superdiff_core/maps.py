"""The SuperCon family map: t-SNE reference maps, SuperCon clusters, placement of candidates,
and the element order SuperCon writes formulas in (for cluster names and general formulas).

One map per model class (cuprates, pnictides, others, everything).  Each is built from
the class's distinct compositions as **atomic fractions** (amounts divided by the atoms
per formula unit): the same compound written per different formula units
(``La2CuO4`` / ``La4Cu2O8``) is then one point, and no element with a large written
amount (O8.27, or alloys written per 100 atoms) dominates the Euclidean distances that
t-SNE, the clustering and the inside/outside test share.

Clustering follows Roter et al. (Physica C 598, 2022) in stages: SuperCon's own classes
(cuprate, pnictide, other) are the first stage; within each, k-means, Ward hierarchical
and Gaussian-mixture clusterings over a grid of cluster counts are compared by
silhouette, among those stable across seeds and 80 % subsamples (adjusted Rand index
>= :data:`MIN_STABILITY`).  The ``everything`` map uses the union of the three.

Artifacts (``checkpoints/maps/{class}.npz`` and ``card.json``) hold coordinates, labels,
cluster names and radii, and the reference compositions as a sparse matrix: the exact
nearest-neighbour index that openTSNE needs to place new points is rebuilt at load time
in milliseconds.  Nothing is pickled.
"""

from __future__ import annotations

import functools
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .artifacts import DEFAULT_MODELS_DIR
from .composition import N_ELEMENTS
from .errors import CheckpointError, InputError
from .formula_notation import ElementOrder  # the writing order lives there (issue 13); used here for maps
from .model_classes import check_model_class

MAP_FORMAT_VERSION = 1
MAPS_FOLDER = "maps"
"""Folder of the map artifacts inside a models folder (``checkpoints/maps``)."""



PLACEMENT_PARAMETERS: dict = {
    "perplexity": 5.0,
    "initial_neighbours": 25,
    "n_iter": 250,
    "learning_rate": 0.1,
    "exaggeration": 1.5,
    "momentum": 0.8,
    "max_grad_norm": 0.25,
    "max_step_norm": None,
}
"""openTSNE ``transform`` defaults, applied through ``prepare_partial`` + ``optimize``."""

PREVIEW_NEIGHBOURS = 10
"""Nearest SuperCon compositions whose median map position is the fast preview."""



LINK_QUANTILE = 0.75
"""Quantile of the nearest-other-composition distances that bounds a tight new family."""


OUTSIDE_NAME = "outside known clusters"
"""``cluster_name`` of a candidate that lies outside every SuperCon cluster (``cluster`` -1)."""


def rebuild_command(out_dir: str | os.PathLike = "checkpoints/maps/") -> str:
    """The command that rebuilds the map artifacts."""
    return f"superdiff build-map --supercon PATH/SuperCon_with_types.dat --out {out_dir}"


# ---------------------------------------------------------------------------------------
# Input scaling and the reference compositions
# ---------------------------------------------------------------------------------------


def to_fractions(vectors: np.ndarray) -> np.ndarray:
    """Atomic fractions: each row of an (n, 96) amount array divided by its sum.

    Raises:
        InputError: if the shape is wrong or a row has no positive amount.
    """
    vectors = np.atleast_2d(np.asarray(vectors, dtype=np.float64))
    if vectors.ndim != 2 or vectors.shape[1] != N_ELEMENTS:
        raise InputError(f"composition vectors must have shape (n, {N_ELEMENTS}), got {vectors.shape}")
    totals = vectors.sum(axis=1, keepdims=True)
    if np.any(totals <= 0) or np.any(vectors < 0):
        raise InputError("every composition needs positive amounts (a row is empty or negative)")
    return vectors / totals


def composition_keys(fractions: np.ndarray) -> list[bytes]:
    return [row.tobytes() for row in np.round(fractions, 4) + 0.0]






# ---------------------------------------------------------------------------------------
# Element sets (the writing order, ElementOrder, lives in formula_notation)
# ---------------------------------------------------------------------------------------


def element_set_keys(vectors: np.ndarray) -> list[tuple[int, ...]]:
    """Element indices with a non-zero amount (to 4 decimals) per row of an (n, 96) array."""
    present = np.round(np.asarray(vectors, dtype=np.float64), 4) > 0
    return [tuple(np.flatnonzero(row)) for row in present]


def rows_by_element_set(vectors: np.ndarray) -> dict[tuple[int, ...], np.ndarray]:
    """The row indices of an (n, 96) array grouped by element set (keys of :func:`element_set_keys`)."""
    groups: dict[tuple[int, ...], list[int]] = {}
    for row, key in enumerate(element_set_keys(vectors)):
        groups.setdefault(key, []).append(row)
    return {key: np.asarray(rows) for key, rows in groups.items()}


# ---------------------------------------------------------------------------------------
# Clustering SuperCon
# ---------------------------------------------------------------------------------------


















def nearest_neighbours(
    reference: np.ndarray, queries: np.ndarray, k: int, reference_squared_norms: np.ndarray | None = None, chunk: int = 512
) -> tuple[np.ndarray, np.ndarray]:
    """Exact Euclidean k nearest reference rows of each query row (both (n, 96)):
    ``(distances (n, k), indices (n, k))``, nearest first.  Plain numpy (one matrix
    product per chunk of queries): no index object, safe to call from several threads."""
    k = min(k, len(reference))
    distances = np.zeros((len(queries), k))
    indices = np.zeros((len(queries), k), dtype=np.int64)
    norms = np.einsum("ij,ij->i", reference, reference) if reference_squared_norms is None else reference_squared_norms
    for start in range(0, len(queries), chunk):
        block = queries[start : start + chunk]
        squared = block @ reference.T  # in place from here: this is the large array
        squared *= -2
        squared += norms[None, :]
        squared += np.einsum("ij,ij->i", block, block)[:, None]
        nearest = np.argpartition(squared, k - 1, axis=1)[:, :k] if k < len(reference) else np.tile(np.arange(k), (len(block), 1))
        part = np.take_along_axis(squared, nearest, axis=1)
        order = np.argsort(part, axis=1, kind="stable")
        indices[start : start + chunk] = np.take_along_axis(nearest, order, axis=1)
        distances[start : start + chunk] = np.sqrt(np.maximum(np.take_along_axis(part, order, axis=1), 0))
    return distances, indices












# ---------------------------------------------------------------------------------------
# The loaded map
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class ClassMap:
    """A loaded reference map of one model class; read-only, safe to share across threads.

    Attributes:
        model_class: cuprates, pnictides, others or everything.
        fractions: reference compositions as atomic fractions, shape (n, 96).
        coords: their t-SNE coordinates, shape (n, 2) (read-only).
        labels: their cluster ids, shape (n,).
        formulas: formula as written in SuperCon, shape (n,).
        tc_kelvin: highest reported Tc (K), shape (n,).
        cluster_names: name per cluster id, e.g. ``"La-Sr-Cu-O"``.
        cluster_radii: inside/outside radius per cluster (atomic-fraction distance), shape (K,).
        link_distance: largest atomic-fraction distance between two members of a tight
            cluster of outside candidates (a new family of mixed element sets), see
            :func:`tight_cluster_diameter`.
        element_order: how SuperCon writes element order (for names and general formulas).
        sha256: checksum of the SuperCon file the map was built from.
    """

    model_class: str
    fractions: np.ndarray
    coords: np.ndarray
    labels: np.ndarray
    formulas: np.ndarray
    tc_kelvin: np.ndarray
    cluster_names: tuple[str, ...]
    cluster_radii: np.ndarray
    link_distance: float
    element_order: ElementOrder
    sha256: str
    _squared_norms: np.ndarray = field(repr=False, default=None)

    @property
    def n_points(self) -> int:
        return len(self.coords)

    @functools.cached_property
    def rows_by_element_set(self) -> dict[tuple[int, ...], np.ndarray]:
        """The map's SuperCon compositions grouped by element set (:func:`rows_by_element_set`),
        computed once per loaded map."""
        return rows_by_element_set(self.fractions)

    @functools.cached_property
    def element_systems(self) -> frozenset[tuple[int, ...]]:
        """The element sets of the map's SuperCon compositions (keys of :func:`element_set_keys`),
        computed once per loaded map."""
        return frozenset(self.rows_by_element_set)

    @functools.cached_property
    def written_formulas(self) -> np.ndarray:
        """:attr:`formulas` as chemists spell them (``MgB2``, not SuperCon's ``B2Mg1``;
        :meth:`ElementOrder.write`), computed once per loaded map, shape (n,)."""
        written = np.array([self.element_order.write(text) for text in self.formulas], dtype=object)
        written.setflags(write=False)
        return written

    def neighbours(self, fractions: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Exact k nearest reference compositions of atomic-fraction rows (n, 96):
        ``(distances (n, k), indices (n, k))``, nearest first."""
        return nearest_neighbours(self.fractions, fractions, k, self._squared_norms)

    def reference_table(self) -> pd.DataFrame:
        """The SuperCon points of the map: formula (as chemists spell it), tsne_x, tsne_y, cluster, cluster_name, tc_kelvin."""
        return pd.DataFrame(
            {
                "formula": self.written_formulas,
                "tsne_x": self.coords[:, 0],
                "tsne_y": self.coords[:, 1],
                "cluster": self.labels,
                "cluster_name": np.array(self.cluster_names, dtype=object)[self.labels],
                "tc_kelvin": self.tc_kelvin,
            }
        )


def _map_path(models_dir: str | os.PathLike, model_class: str) -> Path:
    return Path(models_dir) / MAPS_FOLDER / f"{model_class}.npz"


def load_class_map(models_dir: str | os.PathLike = DEFAULT_MODELS_DIR, model_class: str = "everything") -> ClassMap:
    """Load the map of one model class from ``models_dir/maps/{class}.npz``.

    Cached per file (path, size, modification time): repeated calls are free, and the
    returned object is never modified, so one instance can serve concurrent sessions.

    Raises:
        InputError: unknown model class.
        CheckpointError: missing or corrupt file, naming the command that rebuilds it.
    """
    check_model_class(model_class)
    path = _map_path(models_dir, model_class).resolve()
    if not path.is_file():
        raise CheckpointError(f"missing map {path}; rebuild it with: {rebuild_command(path.parent)}")
    stat = path.stat()
    return _load_cached(str(path), model_class, stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=8)
def _load_cached(path: str, model_class: str, size: int, mtime_ns: int) -> ClassMap:
    try:
        with np.load(path, allow_pickle=False) as stored:
            meta = json.loads(str(stored["meta"]))
            if meta.get("format_version") != MAP_FORMAT_VERSION or meta.get("model_class") != model_class:
                raise ValueError("format version or model class does not match")
            fractions = _dense_fractions(stored["indptr"], stored["elements"], stored["values"])
            coords = stored["coords"].astype(np.float64)
            labels = stored["labels"].astype(np.int64)
            order = ElementOrder(stored["element_order"].astype(np.int32))
            class_map = ClassMap(
                model_class=model_class,
                fractions=fractions,
                coords=coords,
                labels=labels,
                formulas=stored["formulas"].astype(str),
                tc_kelvin=stored["tc_kelvin"].astype(np.float64),
                cluster_names=tuple(str(name) for name in stored["cluster_names"]),
                cluster_radii=stored["cluster_radii"].astype(np.float64),
                link_distance=float(meta["link_distance"]),
                element_order=order,
                sha256=str(meta["data_sha256"]),
                _squared_norms=np.einsum("ij,ij->i", fractions, fractions),
            )
    except (OSError, ValueError, KeyError) as error:
        raise CheckpointError(f"corrupt map {path} ({error}); rebuild it with: {rebuild_command(Path(path).parent)}") from None
    if not (len(coords) == len(labels) == len(fractions)) or labels.max() >= len(class_map.cluster_names):
        raise CheckpointError(f"inconsistent map {path}; rebuild it with: {rebuild_command(Path(path).parent)}")
    for array in (fractions, coords, labels, class_map.cluster_radii, order.before, class_map._squared_norms):
        array.setflags(write=False)
    return class_map


def sparse_fractions(fractions: np.ndarray) -> dict[str, np.ndarray]:
    present = fractions > 0
    return {
        "indptr": np.concatenate([[0], np.cumsum(present.sum(axis=1))]).astype(np.int32),
        "elements": np.nonzero(present)[1].astype(np.uint8),
        "values": fractions[present].astype(np.float64),
    }


def _dense_fractions(indptr: np.ndarray, elements: np.ndarray, values: np.ndarray) -> np.ndarray:
    rows = np.repeat(np.arange(len(indptr) - 1), np.diff(indptr))
    dense = np.zeros((len(indptr) - 1, N_ELEMENTS))
    dense[rows, elements.astype(np.int64)] = values
    return dense


# ---------------------------------------------------------------------------------------
# Placing candidates
# ---------------------------------------------------------------------------------------


def _batch_affinities(distances: np.ndarray, indices: np.ndarray, n_reference: int, n_jobs: int):
    """An openTSNE ``Affinities`` whose ``to_new`` serves precomputed exact neighbours of
    one batch of new points (so no Annoy index has to be stored or shared)."""
    import scipy.sparse as sp
    from openTSNE.affinity import Affinities, joint_probabilities_nn

    class BatchAffinities(Affinities):
        def __init__(self) -> None:
            super().__init__()
            self.P = sp.csr_matrix((n_reference, n_reference))

        def to_new(self, data, perplexity=PLACEMENT_PARAMETERS["perplexity"], return_distances=False):
            k = min(n_reference, int(3 * perplexity))
            P = joint_probabilities_nn(
                indices[:, :k], distances[:, :k], [perplexity], symmetrize=False,
                normalization="point-wise", n_reference_samples=n_reference, n_jobs=n_jobs,
            )
            return (P, indices[:, :k], distances[:, :k]) if return_distances else P  # as openTSNE: init from these k

    return BatchAffinities()


def _placement_neighbours(class_map: ClassMap, fractions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    k = max(PLACEMENT_PARAMETERS["initial_neighbours"], int(3 * PLACEMENT_PARAMETERS["perplexity"]), PREVIEW_NEIGHBOURS)
    return class_map.neighbours(fractions, k)


def _place(class_map: ClassMap, fractions: np.ndarray, distances: np.ndarray, indices: np.ndarray, preview: bool,
           n_jobs: int) -> np.ndarray:
    if len(fractions) == 0:
        return np.zeros((0, 2))
    if preview:
        return np.median(class_map.coords[indices[:, :PREVIEW_NEIGHBOURS]], axis=1)
    from openTSNE import TSNEEmbedding

    # openTSNE re-centres the reference in place when it prepares its interpolation grid,
    # after the new points were initialised: optimise against a private, already centred
    # copy (the shared map is never touched) and shift the result back.
    coords = np.array(class_map.coords, dtype=np.float64)
    centre = (coords.max(axis=0) + coords.min(axis=0)) / 2
    reference = TSNEEmbedding(
        coords - centre,
        _batch_affinities(distances, indices, class_map.n_points, n_jobs),
        negative_gradient_method="fft",
        n_jobs=n_jobs,
        random_state=0,
    )
    p = PLACEMENT_PARAMETERS
    partial = reference.prepare_partial(fractions, initialization="median", k=p["initial_neighbours"], perplexity=p["perplexity"])
    partial.optimize(
        n_iter=p["n_iter"], learning_rate=p["learning_rate"], exaggeration=p["exaggeration"], momentum=p["momentum"],
        max_grad_norm=p["max_grad_norm"], max_step_norm=p["max_step_norm"], inplace=True, n_jobs=n_jobs,
    )
    return np.asarray(partial, dtype=np.float64) + centre


def place_candidates(vectors: np.ndarray, class_map: ClassMap, preview: bool = False, n_jobs: int = 1) -> np.ndarray:
    """Map positions of new compositions, shape (n, 2), in the map's coordinates.

    Full placement optimises each new point against the fixed SuperCon reference with
    openTSNE (``prepare_partial`` + ``optimize``, its ``transform`` settings); new points do
    not move each other or the reference.  ``preview=True`` instead puts each point at the
    median position of its :data:`PREVIEW_NEIGHBOURS` nearest SuperCon compositions
    (a neighbour search only; for live updates).

    Args:
        vectors: amounts, shape (n, 96), any formula unit.
        class_map: from :func:`load_class_map`; not modified.
        preview: use the fast median-of-neighbours placement.
        n_jobs: threads for openTSNE.
    """
    return place_and_assign(vectors, class_map, preview, n_jobs).coords


@dataclass(frozen=True)
class ClusterAssignment:
    """Which SuperCon cluster each composition lies inside.

    Attributes:
        cluster: cluster id, or -1 outside every cluster, shape (n,).
        nearest_cluster: cluster of the nearest SuperCon composition, shape (n,).
        distance: atomic-fraction distance to that composition, shape (n,).
    """

    cluster: np.ndarray
    nearest_cluster: np.ndarray
    distance: np.ndarray

    @property
    def inside(self) -> np.ndarray:
        return self.cluster >= 0


def _assign(class_map: ClassMap, distances: np.ndarray, indices: np.ndarray) -> ClusterAssignment:
    nearest_cluster = class_map.labels[indices[:, 0]]
    distance = distances[:, 0]
    inside = distance <= class_map.cluster_radii[nearest_cluster]
    return ClusterAssignment(np.where(inside, nearest_cluster, -1), nearest_cluster, distance)


def assign_clusters(vectors: np.ndarray, class_map: ClassMap) -> ClusterAssignment:
    """Inside/outside test: a composition (amounts, (n, 96)) is inside cluster ``c`` when its
    nearest SuperCon composition (Euclidean in atomic fractions) belongs to ``c`` and lies
    within ``c``'s radius."""
    distances, indices = class_map.neighbours(to_fractions(vectors), 1)
    return _assign(class_map, distances, indices)


def fraction_outside_known_clusters(vectors: np.ndarray, class_map: ClassMap) -> float:
    """Share (0..1) of compositions (amounts, (n, 96)) outside every SuperCon cluster."""
    if len(vectors) == 0:
        raise InputError("no compositions given")
    return float(np.mean(~assign_clusters(vectors, class_map).inside))


@dataclass(frozen=True)
class Placement:
    """Map positions and cluster assignment of a batch of compositions.

    Attributes:
        fractions: atomic fractions, shape (n, 96).
        coords: map coordinates, shape (n, 2).
        assignment: which SuperCon cluster each lies inside.
    """

    fractions: np.ndarray
    coords: np.ndarray
    assignment: ClusterAssignment


def place_and_assign(vectors: np.ndarray, class_map: ClassMap, preview: bool = False, n_jobs: int = 1) -> Placement:
    """:func:`place_candidates` and :func:`assign_clusters` sharing one neighbour search
    (amounts, shape (n, 96))."""
    fractions = to_fractions(vectors)
    distances, indices = _placement_neighbours(class_map, fractions)
    coords = _place(class_map, fractions, distances, indices, preview, n_jobs)
    return Placement(fractions, coords, _assign(class_map, distances, indices))


# ---------------------------------------------------------------------------------------
# Building the maps
# ---------------------------------------------------------------------------------------


SMALL_MAP_POINTS = 1000
"""Below this many compositions the t-SNE fit uses Barnes-Hut instead of FFT gradients
(openTSNE's advice for small data; every SuperCon class is larger)."""


















