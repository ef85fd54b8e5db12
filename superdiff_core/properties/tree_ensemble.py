"""Fitted tree ensembles as plain arrays: saved in ``.npz``, predicted with numpy.

scikit-learn's fitted models can only be saved by pickling, which runs arbitrary code
on load and breaks across scikit-learn versions. :func:`export_ensemble` copies the
trees of a fitted random forest, extra-trees or histogram gradient-boosting regressor
into flat arrays; :class:`TreeEnsemble` predicts from those arrays alone (vectorised
over samples and trees) and gives the same numbers as the fitted model.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

_LEAF = -1


@dataclass(frozen=True)
class TreeEnsemble:
    """Trees in flat arrays (all trees' nodes concatenated).

    Attributes:
        feature: split feature of each node, shape (m,), int32 (unused at leaves).
        threshold: go left when ``x[feature] <= threshold``, shape (m,): float32 for
            forests (rounded down, which keeps every float32 comparison exact), else float64.
        left, right: child node indices (global), -1 at leaves, shape (m,), int32.
        value: leaf output, shape (m,), float32.
        roots: index of each tree's root, shape (t,), int32.
        base: constant added to the combined output.
        scale: weight of each tree's output (1/t for a forest's mean, 1 for boosting).
        float32_inputs: compare features after casting to float32 (as scikit-learn's
            forests do), else in float64 (as its histogram boosting does).
        depth: largest number of splits from a root to a leaf (for information).
    """

    feature: np.ndarray
    threshold: np.ndarray
    left: np.ndarray
    right: np.ndarray
    value: np.ndarray
    roots: np.ndarray
    base: float
    scale: float
    float32_inputs: bool
    depth: int

    def predict(self, features: np.ndarray, batch_size: int = 2048, threads: int | None = None) -> np.ndarray:
        """Ensemble output for features of shape (n, f); returns (n,) float64.

        Batches are walked in up to ``threads`` threads (default: the CPU count); numpy
        releases the GIL in the indexing that dominates, so they run in parallel.
        """
        features = np.asarray(features, dtype=np.float32 if self.float32_inputs else np.float64)
        features = np.atleast_2d(features).astype(np.float64)
        starts = range(0, len(features), batch_size)
        workers = min(len(starts), threads or os.cpu_count() or 1)
        if workers <= 1:
            parts = [self._predict_batch(features[start : start + batch_size]) for start in starts]
        else:
            with ThreadPoolExecutor(workers) as pool:
                parts = list(pool.map(lambda start: self._predict_batch(features[start : start + batch_size]), starts))
        return np.concatenate(parts) if parts else np.empty(0)

    def _predict_batch(self, features: np.ndarray) -> np.ndarray:
        """Walk every (sample, tree) pair down to its leaf; only pairs not yet at a leaf
        are touched in each step, so the work is the total path length."""
        n, n_trees = len(features), len(self.roots)
        node = np.tile(self.roots, n)  # pair p = (sample p // n_trees, tree p % n_trees)
        sample = np.repeat(np.arange(n), n_trees)
        active = np.flatnonzero(self.left[node] != _LEAF)
        while active.size:
            current = node[active]
            goes_left = features[sample[active], self.feature[current]] <= self.threshold[current]
            following = np.where(goes_left, self.left[current], self.right[current])
            node[active] = following
            active = active[self.left[following] != _LEAF]
        leaf_values = self.value[node].astype(np.float64).reshape(n, n_trees)
        return self.base + self.scale * leaf_values.sum(axis=1)

    def to_arrays(self, prefix: str) -> dict[str, np.ndarray]:
        """The arrays to store in an ``.npz`` under names starting with ``prefix``."""
        meta = np.array([self.base, self.scale, float(self.float32_inputs), float(self.depth)])
        return {
            f"{prefix}feature": self.feature.astype(np.int16), f"{prefix}threshold": self.threshold,
            f"{prefix}left": self.left, f"{prefix}right": self.right, f"{prefix}value": self.value,
            f"{prefix}roots": self.roots, f"{prefix}meta": meta,
        }

    @classmethod
    def from_arrays(cls, arrays, prefix: str) -> "TreeEnsemble":
        """Rebuild from the mapping written by :meth:`to_arrays` (e.g. an open ``.npz``)."""
        base, scale, float32_inputs, depth = (float(x) for x in arrays[f"{prefix}meta"])
        return cls(
            arrays[f"{prefix}feature"].astype(np.int32), arrays[f"{prefix}threshold"],
            arrays[f"{prefix}left"].astype(np.int32), arrays[f"{prefix}right"].astype(np.int32),
            arrays[f"{prefix}value"], arrays[f"{prefix}roots"].astype(np.int32),
            base, scale, bool(float32_inputs), int(depth),
        )


def _concatenate(trees: list[dict[str, np.ndarray]], base: float, scale: float, float32_inputs: bool) -> TreeEnsemble:
    """Join per-tree arrays (local child indices, -1 at leaves) into one ensemble."""
    offsets = np.cumsum([0] + [len(tree["value"]) for tree in trees])[:-1]

    def shifted(name: str) -> np.ndarray:
        return np.concatenate([
            np.where(tree[name] == _LEAF, _LEAF, np.asarray(tree[name], dtype=np.int64) + offset)
            for tree, offset in zip(trees, offsets)
        ])

    threshold = np.concatenate([tree["threshold"] for tree in trees]).astype(np.float64)
    if float32_inputs:
        threshold = _float32_at_or_below(threshold)
    return TreeEnsemble(
        feature=np.concatenate([tree["feature"] for tree in trees]).astype(np.int32),
        threshold=threshold,
        left=shifted("left").astype(np.int32),
        right=shifted("right").astype(np.int32),
        value=np.concatenate([tree["value"] for tree in trees]).astype(np.float32),
        roots=offsets.astype(np.int32),
        base=base,
        scale=scale,
        float32_inputs=float32_inputs,
        depth=max(int(tree["depth"]) for tree in trees),
    )


def _float32_at_or_below(threshold: np.ndarray) -> np.ndarray:
    """The largest float32 <= each threshold: for float32 x, ``x <= t`` iff ``x <= result``."""
    rounded = threshold.astype(np.float32)
    above = rounded.astype(np.float64) > threshold
    rounded[above] = np.nextafter(rounded[above], np.float32(-np.inf))
    return rounded


def export_ensemble(model) -> TreeEnsemble:
    """Copy a fitted scikit-learn regressor's trees into a :class:`TreeEnsemble`.

    Supported: ``RandomForestRegressor``, ``ExtraTreesRegressor`` (single output),
    ``HistGradientBoostingRegressor`` (squared or absolute error loss) and binary
    ``HistGradientBoostingClassifier`` (the ensemble then gives the log-odds of class 1),
    both without categorical features.

    Raises:
        TypeError: for any other model.
    """
    from sklearn.ensemble import ExtraTreesRegressor, HistGradientBoostingClassifier, HistGradientBoostingRegressor, RandomForestRegressor

    if isinstance(model, (RandomForestRegressor, ExtraTreesRegressor)):
        trees = []
        for estimator in model.estimators_:
            tree = estimator.tree_
            trees.append({
                "feature": np.maximum(tree.feature, 0), "threshold": tree.threshold,
                "left": tree.children_left, "right": tree.children_right, "value": tree.value[:, 0, 0],
                "depth": tree.max_depth,
            })
        return _concatenate(trees, base=0.0, scale=1.0 / len(trees), float32_inputs=True)
    if isinstance(model, (HistGradientBoostingRegressor, HistGradientBoostingClassifier)):
        if getattr(model, "is_categorical_", None) is not None:
            raise TypeError("categorical features are not supported")
        if isinstance(model, HistGradientBoostingRegressor) and model.loss not in ("squared_error", "absolute_error"):
            raise TypeError("only squared/absolute-error HistGradientBoostingRegressor")
        if isinstance(model, HistGradientBoostingClassifier) and len(model.classes_) != 2:
            raise TypeError("only binary HistGradientBoostingClassifier")
        trees = []
        for (predictor,) in model._predictors:
            nodes = predictor.nodes
            leaf = nodes["is_leaf"].astype(bool)
            left = np.where(leaf, _LEAF, nodes["left"].astype(np.int64))  # stored as uint32
            right = np.where(leaf, _LEAF, nodes["right"].astype(np.int64))
            trees.append({
                "feature": nodes["feature_idx"], "threshold": nodes["num_threshold"],
                "left": left, "right": right, "value": nodes["value"], "depth": int(nodes["depth"].max()),
            })
        return _concatenate(trees, base=float(np.ravel(model._baseline_prediction)[0]), scale=1.0, float32_inputs=False)
    raise TypeError(f"cannot export {type(model).__name__}")
