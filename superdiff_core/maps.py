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
import re
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .composition import _WRITING_ORDER, ELEMENT_SYMBOLS, N_ELEMENTS, SYMBOL_TO_INDEX
from .data import CLASS_CODES, MODEL_CLASSES, SuperConSet, check_model_class, load_supercon, sha256_of_file
from .errors import CheckpointError, InputError
from .results import write_text_atomically

MAP_FORMAT_VERSION = 1
MAPS_FOLDER = "maps"
"""Folder of the map artifacts inside a models folder (``checkpoints/maps``)."""

DEFAULT_MODELS_DIR = Path(__file__).resolve().parent.parent / "checkpoints"
BASE_CLASSES: tuple[str, ...] = ("cuprates", "pnictides", "others")
"""The first clustering stage: SuperCon's own classes."""

TSNE_PARAMETERS: dict = {"perplexity": 30.0, "metric": "euclidean", "initialization": "pca", "negative_gradient_method": "fft"}
"""openTSNE settings of the reference maps (the rest are openTSNE 1.0.4 defaults)."""

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

CLUSTER_METHODS: tuple[str, ...] = ("kmeans", "ward", "gmm")
CLUSTER_COUNTS: tuple[int, ...] = (10, 20, 30, 40, 60, 80)
MIN_POINTS_PER_CLUSTER = 30
"""Cluster counts above ``n / MIN_POINTS_PER_CLUSTER`` are not tried."""
MIN_STABILITY = 0.8
"""Smallest mean adjusted Rand index between subsample fits for a clustering to be chosen."""
STABILITY_PAIRS = 2
SILHOUETTE_SAMPLE = 4000

CORE_ELEMENT_SHARE = 0.5
"""An element belongs to a cluster's name if at least this share of its SuperCon entries contain it."""

RADIUS_QUANTILE = 0.99
"""The inside radius of a SuperCon class is at most this quantile of its compositions'
distances to their nearest other composition: a held-out member of a known family is
that close to the rest of SuperCon 99 % of the time."""
RANDOM_INSIDE_SHARE = 0.05
"""... and at most the distance within which this share of random compositions
(:func:`random_compositions`) fall, so a radius never takes in more than 5 % of them."""
RANDOM_COMPOSITIONS = 5000
"""Random compositions drawn (seeded) to calibrate :data:`RANDOM_INSIDE_SHARE`."""
LINK_QUANTILE = 0.75
"""Quantile of the nearest-other-composition distances that bounds a tight new family."""

_SYMBOL_TOKEN = re.compile(r"[A-Z][a-z]?")
_ELECTRONEGATIVITY_RANK = np.argsort(_WRITING_ORDER)  # element index -> position in pymatgen order

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


def _composition_keys(fractions: np.ndarray) -> list[bytes]:
    return [row.tobytes() for row in np.round(fractions, 4) + 0.0]


@dataclass(frozen=True)
class ReferenceSet:
    """The distinct compositions of one model class (SuperCon entries merged by fractions).

    Attributes:
        fractions: atomic fractions, shape (n, 96).
        formulas: formula as first written in SuperCon, shape (n,).
        tc_kelvin: highest reported Tc of the composition (K), shape (n,).
        n_entries: SuperCon rows merged into each composition, shape (n,).
        class_codes: SuperCon class of the first such row, shape (n,).
    """

    fractions: np.ndarray
    formulas: np.ndarray
    tc_kelvin: np.ndarray
    n_entries: np.ndarray
    class_codes: np.ndarray


def reference_set(dataset: SuperConSet) -> ReferenceSet:
    """Merge SuperCon rows with the same atomic fractions (to 4 decimals)."""
    fractions = to_fractions(dataset.vectors)
    ids: dict[bytes, int] = {}
    first_row: list[int] = []
    inverse = np.empty(len(fractions), dtype=np.int64)
    for row, key in enumerate(_composition_keys(fractions)):
        if key not in ids:
            ids[key] = len(first_row)
            first_row.append(row)
        inverse[row] = ids[key]
    n = len(first_row)
    tc = np.full(n, -np.inf)
    np.maximum.at(tc, inverse, dataset.tc_kelvin)
    return ReferenceSet(
        fractions[first_row],
        np.asarray(dataset.formulas)[first_row].astype(str),
        tc,
        np.bincount(inverse, minlength=n),
        np.asarray(dataset.class_codes)[first_row],
    )


# ---------------------------------------------------------------------------------------
# Element order: how SuperCon writes its formulas (stored with each map)
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class ElementOrder:
    """The order in which chemists write elements, learned from formula texts.

    Attributes:
        before: shape (96, 96), int; ``before[i, j]`` is the number of formulas in which
            element ``i`` (index Z - 1) is written before element ``j``.  All zeros means
            "no data": elements are then ordered by electronegativity, as pymatgen does.
    """

    before: np.ndarray = field(default_factory=lambda: np.zeros((N_ELEMENTS, N_ELEMENTS), dtype=np.int32))

    @classmethod
    def learn(cls, formulas: Iterable[str]) -> "ElementOrder":
        """Count, for every pair of elements, which one each formula writes first."""
        before = np.zeros((N_ELEMENTS, N_ELEMENTS), dtype=np.int32)
        for text in formulas:
            seen: list[int] = []
            for token in _SYMBOL_TOKEN.findall(str(text)):
                index = SYMBOL_TO_INDEX.get(token)
                if index is not None and index not in seen:
                    seen.append(index)
            for position, first in enumerate(seen):
                before[first, seen[position + 1 :]] += 1
        return cls(before)

    def sort(self, indices: Iterable[int]) -> list[int]:
        """Element indices in writing order: an element goes before another if SuperCon
        mostly writes it first (Copeland count of pairwise wins within the set); ties and
        unseen pairs fall back to electronegativity order."""
        members = sorted(set(int(i) for i in indices))
        if not members:
            return []
        sub = self.before[np.ix_(members, members)]
        wins = (sub > sub.T).sum(axis=1)
        return [
            members[k]
            for k in sorted(range(len(members)), key=lambda k: (-wins[k], _ELECTRONEGATIVITY_RANK[members[k]]))
        ]

    def name(self, indices: Iterable[int]) -> str:
        """Element-set name such as ``"La-Sr-Cu-O"``."""
        return "-".join(ELEMENT_SYMBOLS[i] for i in self.sort(indices))


def element_set_keys(vectors: np.ndarray) -> list[tuple[int, ...]]:
    """Element indices with a non-zero amount (to 4 decimals) per row of an (n, 96) array."""
    present = np.round(np.asarray(vectors, dtype=np.float64), 4) > 0
    return [tuple(np.flatnonzero(row)) for row in present]


# ---------------------------------------------------------------------------------------
# Clustering SuperCon
# ---------------------------------------------------------------------------------------


def fit_clusters(fractions: np.ndarray, method: str, n_clusters: int, seed: int) -> np.ndarray:
    """Cluster labels (n,) of atomic-fraction rows with one of :data:`CLUSTER_METHODS`."""
    from sklearn.cluster import AgglomerativeClustering, KMeans
    from sklearn.mixture import GaussianMixture

    if method == "kmeans":
        return KMeans(n_clusters, n_init=3, random_state=seed).fit_predict(fractions)
    if method == "ward":
        return AgglomerativeClustering(n_clusters, linkage="ward").fit_predict(fractions)
    if method == "gmm":
        model = GaussianMixture(n_clusters, covariance_type="diag", reg_covar=1e-4, random_state=seed)
        return model.fit(fractions).predict(fractions)
    raise ValueError(f"unknown clustering method {method!r}")


def clustering_stability(fractions: np.ndarray, method: str, n_clusters: int, seed: int, pairs: int = STABILITY_PAIRS) -> float:
    """Mean adjusted Rand index between fits on two random 80 % subsamples (different
    seeds), over the points both contain; 1 means the same partition every time."""
    from sklearn.metrics import adjusted_rand_score

    rng = np.random.default_rng(seed)
    n = len(fractions)
    scores = []
    for pair in range(pairs):
        labels = []
        for side in range(2):
            rows = np.sort(rng.choice(n, int(0.8 * n), replace=False))
            full = np.full(n, -1)
            full[rows] = fit_clusters(fractions[rows], method, n_clusters, seed + 1 + 2 * pair + side)
            labels.append(full)
        both = (labels[0] >= 0) & (labels[1] >= 0)
        scores.append(adjusted_rand_score(labels[0][both], labels[1][both]))
    return float(np.mean(scores))


@dataclass(frozen=True)
class ClusteringChoice:
    """The chosen clustering of one SuperCon class and the measures behind the choice.

    Attributes:
        method, n_clusters: the chosen configuration.
        silhouette: its silhouette (Euclidean, atomic fractions; sample of <= 4,000).
        stability: its mean adjusted Rand index across subsample fits.
        trials: every configuration tried, as dicts (method, n_clusters, silhouette, stability, seconds).
        labels: cluster per composition, shape (n,), numbered by size (0 largest).
    """

    method: str
    n_clusters: int
    silhouette: float
    stability: float
    trials: list[dict]
    labels: np.ndarray


def cluster_counts_to_try(n_compositions: int) -> list[int]:
    """The cluster counts of :data:`CLUSTER_COUNTS` with at least
    :data:`MIN_POINTS_PER_CLUSTER` compositions per cluster on average (the smallest always)."""
    return [k for k in CLUSTER_COUNTS if k == CLUSTER_COUNTS[0] or k <= n_compositions // MIN_POINTS_PER_CLUSTER]


def select_clustering(fractions: np.ndarray, seed: int = 0, progress: Callable[[str], None] | None = None) -> ClusteringChoice:
    """Try :data:`CLUSTER_METHODS` x :data:`CLUSTER_COUNTS` and keep the highest silhouette
    among the configurations with stability >= :data:`MIN_STABILITY` (the most stable one
    if none is)."""
    from sklearn.metrics import silhouette_score

    rng = np.random.default_rng(seed)
    sample = rng.choice(len(fractions), min(SILHOUETTE_SAMPLE, len(fractions)), replace=False)
    trials, all_labels = [], {}
    for method in CLUSTER_METHODS:
        for n_clusters in cluster_counts_to_try(len(fractions)):
            started = time.perf_counter()
            labels = fit_clusters(fractions, method, n_clusters, seed)
            trial = {
                "method": method,
                "n_clusters": n_clusters,
                "silhouette": round(float(silhouette_score(fractions[sample], labels[sample])), 4),
                "stability": round(clustering_stability(fractions, method, n_clusters, seed), 4),
                "seconds": round(time.perf_counter() - started, 2),
            }
            trials.append(trial)
            all_labels[(method, n_clusters)] = labels
            if progress:
                progress(f"{method} k={n_clusters}")
    stable = [t for t in trials if t["stability"] >= MIN_STABILITY]
    best = max(stable, key=lambda t: t["silhouette"]) if stable else max(trials, key=lambda t: t["stability"])
    labels = _number_by_size(all_labels[(best["method"], best["n_clusters"])])
    return ClusteringChoice(best["method"], best["n_clusters"], best["silhouette"], best["stability"], trials, labels)


def _number_by_size(labels: np.ndarray) -> np.ndarray:
    """Renumber labels 0..K-1 by decreasing cluster size (ties by first appearance)."""
    values, first, counts = np.unique(labels, return_index=True, return_counts=True)
    order = sorted(range(len(values)), key=lambda k: (-counts[k], first[k]))
    mapping = {values[k]: new for new, k in enumerate(order)}
    return np.array([mapping[v] for v in labels], dtype=np.int64)


def name_clusters(fractions: np.ndarray, labels: np.ndarray, n_entries: np.ndarray, order: ElementOrder) -> tuple[list[str], list[float]]:
    """Name each cluster by its dominant element set, e.g. ``"La-Sr-Cu-O"``: the elements
    found in at least :data:`CORE_ELEMENT_SHARE` of its SuperCon entries (the most common
    exact element set if no element is).  A single element shared by compounds that are
    mostly not the pure element is written ``"Nb-based"``.  Repeated names get ``" #2"``,
    ``" #3"`` in order of cluster id (size).

    Returns:
        ``(names, shares)``: per cluster id, its name and the share of its entries that
        contain every element of the name.
    """
    present = np.round(fractions, 4) > 0
    keys = element_set_keys(fractions)
    names, shares = [], []
    for cluster in range(int(labels.max()) + 1):
        rows = np.flatnonzero(labels == cluster)
        weights = n_entries[rows] / n_entries[rows].sum()
        core = np.flatnonzero(weights @ present[rows] >= CORE_ELEMENT_SHARE)
        if core.size == 0:
            counts: Counter = Counter()
            for row in rows:
                counts[keys[row]] += int(n_entries[row])
            core = np.array(counts.most_common(1)[0][0])
        pure_share = float(weights @ (present[rows].sum(axis=1) == 1)) if core.size == 1 else 1.0
        names.append(order.name(core) + ("-based" if pure_share < CORE_ELEMENT_SHARE else ""))
        shares.append(round(float(weights @ np.all(present[rows][:, core], axis=1)), 3))
    return _disambiguate(names), shares


def _disambiguate(names: list[str]) -> list[str]:
    seen: Counter = Counter()
    unique = []
    for name in names:
        seen[name] += 1
        unique.append(name if seen[name] == 1 else f"{name} #{seen[name]}")
    return unique


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


def nearest_other_distances(fractions: np.ndarray) -> np.ndarray:
    """Distance (atomic-fraction Euclidean) from each composition to its nearest other one, shape (n,)."""
    distances, _ = nearest_neighbours(fractions, fractions, 2)
    return distances[:, 1]


def random_compositions(n: int, seed: int) -> np.ndarray:
    """``n`` random compositions (amounts, (n, 96)): 2-4 distinct elements drawn uniformly
    from H...Cm, each with an amount uniform in [0.1, 3]. The null model of "unrelated"."""
    rng = np.random.default_rng(seed)
    out = np.zeros((n, N_ELEMENTS))
    for row in out:
        elements = rng.choice(N_ELEMENTS, rng.integers(2, 5), replace=False)
        row[elements] = rng.uniform(0.1, 3, len(elements))
    return out


@dataclass(frozen=True)
class InsideRadius:
    """The inside/outside radius of one SuperCon class (atomic-fraction distance).

    Attributes:
        radius: ``min(member_quantile, random_quantile)``.
        member_quantile: :data:`RADIUS_QUANTILE` quantile of the class's
            nearest-other-composition distances.
        random_quantile: :data:`RANDOM_INSIDE_SHARE` quantile of the distances from
            :data:`RANDOM_COMPOSITIONS` random compositions to their nearest class member.
    """

    radius: float
    member_quantile: float
    random_quantile: float


def inside_radius(fractions: np.ndarray, seed: int = 0) -> InsideRadius:
    """Calibrate the inside radius of a class from its compositions (atomic fractions, (n, 96)).

    A composition is inside a known family when it is as close to SuperCon as 99 % of
    SuperCon's own compositions are to their nearest neighbour, unless random
    compositions get that close too often (more than 5 % of them), in which case the
    radius shrinks to keep them out. The second bound only binds for sparse classes.
    """
    gaps = nearest_other_distances(fractions)
    random_distances, _ = nearest_neighbours(fractions, to_fractions(random_compositions(RANDOM_COMPOSITIONS, seed)), 1)
    member_bound = float(np.quantile(gaps, RADIUS_QUANTILE))
    random_bound = float(np.quantile(random_distances[:, 0], RANDOM_INSIDE_SHARE))
    return InsideRadius(min(member_bound, random_bound), member_bound, random_bound)


def tight_cluster_diameter(fractions: np.ndarray) -> float:
    """Largest distance between two members of a new family of mixed element sets: the
    :data:`LINK_QUANTILE` quantile of SuperCon's nearest-other-composition distances (as
    close together as three quarters of SuperCon compounds are to their nearest neighbour)."""
    return float(np.quantile(nearest_other_distances(fractions), LINK_QUANTILE))


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

    def neighbours(self, fractions: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Exact k nearest reference compositions of atomic-fraction rows (n, 96):
        ``(distances (n, k), indices (n, k))``, nearest first."""
        return nearest_neighbours(self.fractions, fractions, k, self._squared_norms)

    def reference_table(self) -> pd.DataFrame:
        """The SuperCon points of the map: formula, tsne_x, tsne_y, cluster, cluster_name, tc_kelvin."""
        return pd.DataFrame(
            {
                "formula": self.formulas,
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


def _sparse_fractions(fractions: np.ndarray) -> dict[str, np.ndarray]:
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


def _place(class_map: ClassMap, fractions: np.ndarray, distances: np.ndarray, indices: np.ndarray, preview: bool, n_jobs: int) -> np.ndarray:
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


def fit_embedding(fractions: np.ndarray, seed: int = 0, perplexity: float = TSNE_PARAMETERS["perplexity"]) -> np.ndarray:
    """openTSNE embedding (one thread) of atomic-fraction rows, shape (n, 2), centred so
    that (max + min) / 2 = 0 (openTSNE's own centring, so placement needs no shift)."""
    import openTSNE

    small = len(fractions) < SMALL_MAP_POINTS
    embedding = openTSNE.TSNE(
        perplexity=perplexity,
        metric=TSNE_PARAMETERS["metric"],
        initialization=TSNE_PARAMETERS["initialization"],
        negative_gradient_method="bh" if small else TSNE_PARAMETERS["negative_gradient_method"],
        n_jobs=1,
        random_state=seed,
    ).fit(fractions)
    coords = np.asarray(embedding, dtype=np.float64)
    return coords - (coords.max(axis=0) + coords.min(axis=0)) / 2


@dataclass
class _BaseClustering:
    reference: ReferenceSet
    choice: ClusteringChoice
    offset: int = 0


def _cluster_base_classes(references: dict[str, ReferenceSet], seed: int, progress) -> dict[str, _BaseClustering]:
    """Stage 1 (SuperCon class) and stage 2 (chosen clustering within each class)."""
    base: dict[str, _BaseClustering] = {}
    offset = 0
    for model_class, reference in references.items():
        choice = select_clustering(reference.fractions, seed, progress=lambda step, c=model_class: progress(f"{c}: {step}"))
        base[model_class] = _BaseClustering(reference, choice, offset)
        offset += int(choice.labels.max()) + 1  # a mixture may leave components empty
    return base


def _labels_for(model_class: str, reference: ReferenceSet, base: dict[str, _BaseClustering]) -> np.ndarray:
    """Global cluster ids (base-class offset + within-class id) of a class's compositions."""
    if model_class in base:
        return base[model_class].choice.labels + base[model_class].offset
    lookup: dict[bytes, int] = {}
    for part in base.values():
        for key, label in zip(_composition_keys(part.reference.fractions), part.choice.labels + part.offset):
            lookup.setdefault(key, int(label))
    return np.array([lookup[key] for key in _composition_keys(reference.fractions)], dtype=np.int64)


def _save_class_map(path: Path, arrays: dict[str, np.ndarray], meta: dict) -> int:
    """Write one map atomically (temporary file + rename); returns its size in bytes."""
    temporary = path.with_name(f".{path.stem}.tmp.npz")
    np.savez_compressed(temporary, meta=np.array(json.dumps(meta)), **arrays)
    os.replace(temporary, path)
    return path.stat().st_size


def build_maps(
    supercon_path: str | os.PathLike,
    out_dir: str | os.PathLike,
    classes: Sequence[str] = MODEL_CLASSES,
    seed: int = 0,
    show_progress: bool = True,
) -> dict:
    """Fit the reference maps and clusters and write them with ``card.json``.

    Args:
        supercon_path: ``SuperCon_with_types.dat``.
        out_dir: the maps folder (``checkpoints/maps``); created if missing.
        classes: model classes whose maps to (re)build.
        seed: seed of the clustering and t-SNE.
        show_progress: tqdm progress on stderr.

    Returns:
        The card (also written to ``out_dir/card.json``).
    """
    from threadpoolctl import threadpool_limits
    from tqdm import tqdm

    for model_class in classes:
        check_model_class(model_class)
    dataset = load_supercon(supercon_path)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    order = ElementOrder.learn(dataset.formulas)
    references = {name: reference_set(dataset.subset(name)) for name in BASE_CLASSES}
    steps = sum(len(CLUSTER_METHODS) * len(cluster_counts_to_try(len(r.fractions))) for r in references.values())
    with threadpool_limits(1), tqdm(total=steps + 2 * len(classes), desc="build-map", disable=not show_progress, unit="step") as bar:
        def progress(step: str) -> None:
            bar.set_postfix_str(step, refresh=False)
            bar.update(1)

        started = time.perf_counter()
        base = _cluster_base_classes(references, seed, progress)
        all_labels = np.concatenate([part.choice.labels + part.offset for part in base.values()])
        all_fractions = np.concatenate([part.reference.fractions for part in base.values()])
        all_entries = np.concatenate([part.reference.n_entries for part in base.values()])
        cluster_names, shares = name_clusters(all_fractions, all_labels, all_entries, order)
        radii_by_class = {name: inside_radius(part.reference.fractions, seed) for name, part in base.items()}
        radii = np.zeros(len(cluster_names))
        for name, part in base.items():
            radii[part.offset : part.offset + int(part.choice.labels.max()) + 1] = radii_by_class[name].radius
        clustering_seconds = time.perf_counter() - started

        card = _read_card(out_dir, dataset.sha256)
        for model_class in classes:
            card["classes"][model_class] = _build_class_map(
                model_class, dataset, base, order, cluster_names, shares, radii, seed, out_dir, progress
            )
    card.update(_card_header(supercon_path, dataset, seed, clustering_seconds, base))
    card["inside_radius"] = {name: {key: round(value, 5) for key, value in asdict(radius).items()}
                             for name, radius in radii_by_class.items()}
    card["total_bytes"] = sum(entry["bytes"] for entry in card["classes"].values())
    write_text_atomically(out_dir / "card.json", json.dumps(card, indent=1) + "\n")
    return card


def _build_class_map(model_class, dataset, base, order, cluster_names, shares, radii, seed, out_dir, progress) -> dict:
    reference = reference_set(dataset.subset(model_class))
    labels = _labels_for(model_class, reference, base)
    started = time.perf_counter()
    coords = fit_embedding(reference.fractions, seed)
    fit_seconds = time.perf_counter() - started
    progress(f"{model_class}: t-SNE")
    used = np.unique(labels)
    link_distance = tight_cluster_diameter(reference.fractions)
    meta = {
        "format_version": MAP_FORMAT_VERSION,
        "model_class": model_class,
        "data_sha256": dataset.sha256,
        "link_distance": link_distance,
        "tsne": TSNE_PARAMETERS,
        "placement": PLACEMENT_PARAMETERS,
        "seed": seed,
    }
    arrays = {
        **_sparse_fractions(reference.fractions),
        "coords": coords.astype(np.float32),
        "labels": labels.astype(np.int16),
        "formulas": reference.formulas.astype(str),
        "tc_kelvin": reference.tc_kelvin.astype(np.float32),
        "cluster_names": np.array(cluster_names, dtype=str),
        "cluster_radii": radii.astype(np.float64),
        "element_order": order.before.astype(np.int32),
    }
    path = out_dir / f"{model_class}.npz"
    size = _save_class_map(path, arrays, meta)
    progress(f"{model_class}: saved")
    from sklearn.metrics import silhouette_score

    sample = np.random.default_rng(seed).choice(len(labels), min(SILHOUETTE_SAMPLE, len(labels)), replace=False)
    clusters = [
        {"id": int(c), "name": cluster_names[c], "size": int(np.sum(labels == c)), "name_share": shares[c], "radius": round(float(radii[c]), 5)}
        for c in used
    ]
    entry = {
        "file": path.name,
        "bytes": size,
        "sha256": sha256_of_file(path),
        "data_sha256": dataset.sha256,
        "n_supercon_rows": int(np.isin(dataset.class_codes, CLASS_CODES[model_class]).sum()),
        "n_compositions": len(labels),
        "n_clusters": len(used),
        "silhouette": round(float(silhouette_score(reference.fractions[sample], labels[sample])), 4),
        "tsne_fit_seconds": round(fit_seconds, 1),
        "link_distance": round(link_distance, 5),
        "clusters": clusters,
    }
    if model_class in base:
        choice = base[model_class].choice
        entry.update({"method": choice.method, "stability": choice.stability, "trials": choice.trials})
    else:
        entry.update({"method": "union of the cuprates, pnictides and others clusterings (staged)"})
    return entry


def _read_card(out_dir: Path, sha256: str) -> dict:
    """The existing card if it describes the same data (a partial rebuild keeps the other
    classes), else a new one."""
    try:
        card = json.loads((out_dir / "card.json").read_text(encoding="utf-8"))
        if card.get("data", {}).get("sha256") == sha256 and isinstance(card.get("classes"), dict):
            return card
    except (OSError, ValueError):
        pass
    return {"classes": {}}


def _card_header(supercon_path, dataset: SuperConSet, seed: int, clustering_seconds: float, base) -> dict:
    import openTSNE
    import sklearn

    return {
        "format_version": MAP_FORMAT_VERSION,
        "data": {
            "file": Path(supercon_path).name,
            "sha256": dataset.sha256,
            "rows_read": dataset.report.rows_read,
            "rows_kept": len(dataset.formulas),
        },
        "scaling": "atomic fractions (amounts / atoms per formula unit): one point per compound whatever "
        "formula unit it is written in, and no element with a large written amount dominates the distances",
        "tsne": {**TSNE_PARAMETERS, "n_jobs": 1, "seed": seed, "openTSNE": openTSNE.__version__},
        "placement": {**PLACEMENT_PARAMETERS, "preview_neighbours": PREVIEW_NEIGHBOURS},
        "clustering": {
            "stages": "1: SuperCon class (cuprate / pnictide / other); 2: within each, the chosen method",
            "methods": list(CLUSTER_METHODS),
            "counts_tried": list(CLUSTER_COUNTS),
            "selection": f"highest silhouette among configurations with stability (mean adjusted Rand index "
            f"between fits on two 80% subsamples, {STABILITY_PAIRS} pairs) >= {MIN_STABILITY}",
            "chosen": {name: {"method": part.choice.method, "n_clusters": part.choice.n_clusters,
                              "silhouette": part.choice.silhouette, "stability": part.choice.stability}
                       for name, part in base.items()},
            "seconds": round(clustering_seconds, 1),
            "scikit-learn": sklearn.__version__,
        },
        "inside_rule": f"a composition is inside cluster c when its nearest SuperCon composition (Euclidean, atomic "
        f"fractions) is in c and within the radius of c's SuperCon class: the {RADIUS_QUANTILE} quantile of the class's "
        f"nearest-other-composition distances, or, if smaller, the {RANDOM_INSIDE_SHARE} quantile of the distances from "
        f"{RANDOM_COMPOSITIONS} random 2-4-element compositions to the class (see inside_radius)",
        "rebuild": rebuild_command(),
    }
