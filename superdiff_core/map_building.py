"""Building the SuperCon maps (``superdiff build-map``): clustering, naming, calibration, t-SNE.

Run once, offline, from the raw SuperCon file; writes the per-class ``.npz`` maps and the
card that :mod:`superdiff_core.maps` loads at run time (placement of candidates, cluster
assignment). Nothing here is imported by the app or by ``generate``.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from .artifacts import read_card, save_npz_atomically, write_json_atomically
from .composition import N_ELEMENTS
from .data import SuperConSet, load_supercon, sha256_of_file
from .formula_notation import ElementOrder
from .maps import (
    LINK_QUANTILE,
    MAP_FORMAT_VERSION,
    PLACEMENT_PARAMETERS,
    PREVIEW_NEIGHBOURS,
    SMALL_MAP_POINTS,
    composition_keys,
    element_set_keys,
    nearest_neighbours,
    rebuild_command,
    sparse_fractions,
    to_fractions,
)
from .model_classes import FAMILY_CLASSES, MODEL_CLASSES, check_model_class, get_model_class

TSNE_PARAMETERS: dict = {"perplexity": 30.0, "metric": "euclidean", "initialization": "pca", "negative_gradient_method": "fft"}
"""openTSNE settings of the reference maps (the rest are openTSNE 1.0.4 defaults)."""


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
    for row, key in enumerate(composition_keys(fractions)):
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
        for key, label in zip(composition_keys(part.reference.fractions), part.choice.labels + part.offset):
            lookup.setdefault(key, int(label))
    return np.array([lookup[key] for key in composition_keys(reference.fractions)], dtype=np.int64)


def _save_class_map(path: Path, arrays: dict[str, np.ndarray], meta: dict) -> int:
    """Write one map atomically (temporary file + rename); returns its size in bytes."""
    save_npz_atomically(path, meta=np.array(json.dumps(meta)), **arrays)
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
    references = {name: reference_set(dataset.subset(name)) for name in FAMILY_CLASSES}
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
    write_json_atomically(out_dir / "card.json", card)
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
        **sparse_fractions(reference.fractions),
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
        {"id": int(c), "name": cluster_names[c], "size": int(np.sum(labels == c)), "name_share": shares[c],
         "radius": round(float(radii[c]), 5)}
        for c in used
    ]
    entry = {
        "file": path.name,
        "bytes": size,
        "sha256": sha256_of_file(path),
        "data_sha256": dataset.sha256,
        "n_supercon_rows": int(np.isin(dataset.class_codes, get_model_class(model_class).supercon_codes).sum()),
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
    card = read_card(out_dir)
    if card.get("data", {}).get("sha256") == sha256 and isinstance(card.get("classes"), dict):
        return card
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
