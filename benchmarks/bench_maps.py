"""Benchmark of the SuperCon family maps: load, placement and fit times, inside/outside rates.

Run from the repository root (reads the committed maps; reads SuperCon only for the
held-out split and the in-run openTSNE baseline):

    python benchmarks/bench_maps.py --supercon /work/shared/data/supercon/SuperCon_with_types.dat

Every time is reported absolute, next to the machine (CPU, cores, load average), and as a
ratio to a yardstick measured in the same run (a single-thread 1000 x 1000 float64
matrix product), so runs on different or busy machines can be compared.  Prints a
Markdown report on stdout.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import pickle
import platform
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from threadpoolctl import threadpool_limits  # noqa: E402

from superdiff_core import map_building, maps  # noqa: E402
from superdiff_core.artifacts import DEFAULT_MODELS_DIR  # noqa: E402
from superdiff_core.data import DEFAULT_SUPERCON_PATH, load_supercon  # noqa: E402
from superdiff_core.families import annotate_candidates, vectors_from_formulas  # noqa: E402
from superdiff_core.model_classes import FAMILY_CLASSES, MODEL_CLASSES  # noqa: E402


def best_of(function, repeats: int = 3) -> float:
    """Fastest wall time (s) of ``repeats`` calls."""
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return min(times)


def yardstick_seconds() -> float:
    """Single-thread 1000 x 1000 float64 matrix product, best of 5 (s)."""
    a = np.random.default_rng(0).random((1000, 1000))
    with threadpool_limits(1):
        return best_of(lambda: a @ a, 5)


def machine() -> dict:
    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(), "load_average": os.getloadavg()}


def doped_variants(class_map: maps.ClassMap, n: int, seed: int, spread: float = 0.03) -> np.ndarray:
    """``n`` held-out-like inputs (n, 96), atoms per formula unit: SuperCon compounds of
    the map as written, every amount multiplied by 1 + N(0, spread) and rounded to 2
    decimals (a doping / oxygen change of a few per cent)."""
    rng = np.random.default_rng(seed)
    rows = rng.choice(class_map.n_points, n, replace=True)
    base = vectors_from_formulas(list(class_map.formulas[rows]))
    varied = np.round(base * np.clip(1 + rng.normal(0, spread, base.shape), 0.5, 1.5), 2)
    return np.where((base > 0) & (varied <= 0), base, varied)


def held_out_inside_rate(supercon: Path, seed: int) -> dict:
    """Recalibrate each base class's inside radius on 90 % of its compositions and
    measure the share of the other 10 % that land inside (within it of the 90 %)."""
    dataset = load_supercon(supercon)
    rng = np.random.default_rng(seed)
    rates, total_inside, total = {}, 0, 0
    for model_class in FAMILY_CLASSES:
        reference = map_building.reference_set(dataset.subset(model_class))
        held = rng.random(len(reference.fractions)) < 0.1
        train, test = reference.fractions[~held], reference.fractions[held]
        radius = map_building.inside_radius(train, seed).radius
        distances, _ = maps.nearest_neighbours(train, test, 1)
        inside = distances[:, 0] <= radius
        rates[model_class] = round(float(inside.mean()), 3)
        total_inside += int(inside.sum())
        total += len(inside)
    rates["pooled"] = round(total_inside / total, 3)
    return rates


def openTSNE_baseline(class_map: maps.ClassMap, candidates: np.ndarray, seed: int) -> dict:
    """The stock openTSNE route on the same compositions: fit (Annoy index, one thread),
    pickle size, ``transform`` of the candidates, and how far our placement on the same
    embedding lands from openTSNE's own ``transform`` (median / 95th percentile, as a
    fraction of the map's span)."""
    import openTSNE

    started = time.perf_counter()
    embedding = openTSNE.TSNE(perplexity=30, n_jobs=1, random_state=seed).fit(class_map.fractions)
    fit = time.perf_counter() - started
    pickled = len(pickle.dumps(embedding))
    coords = np.array(embedding)
    fractions = maps.to_fractions(candidates)
    started = time.perf_counter()
    stock = np.asarray(embedding.transform(fractions)) + (coords.max(axis=0) + coords.min(axis=0)) / 2
    transform = time.perf_counter() - started
    ours = maps.place_candidates(candidates, dataclasses.replace(class_map, coords=coords))
    offsets = np.linalg.norm(ours - stock, axis=1) / np.linalg.norm(coords.max(axis=0) - coords.min(axis=0))
    return {
        "fit_s": fit,
        "pickle_bytes": pickled,
        "transform_s": transform,
        "ours_vs_transform_offset_of_span": (float(np.median(offsets)), float(np.quantile(offsets, 0.95))),
    }


def run(models_dir: Path, supercon: Path, n_candidates: int, seed: int, baseline_class: str) -> dict:
    results: dict = {"machine": machine(), "n_candidates": n_candidates}
    results["yardstick_s"] = yardstick_seconds()
    started = time.perf_counter()
    import openTSNE  # noqa: F401  (imported on the first full placement; timed apart)

    results["openTSNE_import_s"] = time.perf_counter() - started
    card = json.loads((models_dir / maps.MAPS_FOLDER / "card.json").read_text())
    results["artifact_bytes"] = {name: entry["bytes"] for name, entry in card["classes"].items()}
    results["classes"] = {}
    for model_class in MODEL_CLASSES:
        maps._load_cached.cache_clear()
        started = time.perf_counter()
        class_map = maps.load_class_map(models_dir, model_class)
        cold = time.perf_counter() - started
        warm = best_of(lambda: maps.load_class_map(models_dir, model_class))
        candidates = doped_variants(class_map, n_candidates, seed)
        full_s = best_of(lambda: maps.place_candidates(candidates, class_map), 1)
        full = maps.place_candidates(candidates, class_map)
        preview_s = best_of(lambda: maps.place_candidates(candidates, class_map, preview=True))
        preview = maps.place_candidates(candidates, class_map, preview=True)
        span = float(np.linalg.norm(class_map.coords.max(axis=0) - class_map.coords.min(axis=0)))
        unrelated = map_building.random_compositions(n_candidates, seed + 1)
        mixed = np.vstack([candidates, unrelated])
        inside = maps.assign_clusters(mixed, class_map).inside
        # the map check: distance on the map to the nearest SuperCon point, in units of the
        # median spacing between neighbouring SuperCon points on the map
        spacing = float(np.median(maps.nearest_neighbours(class_map.coords, class_map.coords, 2)[0][:, 1]))
        placed = maps.place_candidates(mixed, class_map)
        map_gap = maps.nearest_neighbours(class_map.coords, placed, 1)[0][:, 0] / spacing
        table = pd.DataFrame({"formula": [f"candidate {i}" for i in range(len(candidates))]})
        started = time.perf_counter()
        _, families = annotate_candidates(table, candidates, class_map)
        annotate_s = time.perf_counter() - started
        results["classes"][model_class] = {
            "n_points": class_map.n_points,
            "n_clusters": len(np.unique(class_map.labels)),
            "tsne_fit_s": card["classes"][model_class]["tsne_fit_seconds"],
            "load_cold_s": cold,
            "load_warm_s": warm,
            "place_full_s": full_s,
            "place_preview_s": preview_s,
            "annotate_full_s": annotate_s,
            "families_known_new": (int((~families["is_new_family"]).sum()), int(families["is_new_family"].sum())),
            "preview_vs_full_median_offset_of_span": float(np.median(np.linalg.norm(full - preview, axis=1)) / span),
            "doped_inside": float(np.mean(inside[:n_candidates])),
            "unrelated_inside": float(np.mean(inside[n_candidates:])),
            "map_gap_inside_median": float(np.median(map_gap[inside])),
            "map_gap_outside_median": float(np.median(map_gap[~inside])) if (~inside).any() else float("nan"),
        }
        print(f"{model_class}: done", file=sys.stderr)
    results["held_out_inside"] = held_out_inside_rate(supercon, seed)
    baseline_map = maps.load_class_map(models_dir, baseline_class)
    candidates = doped_variants(baseline_map, n_candidates, seed)
    with threadpool_limits(1):
        results["openTSNE_baseline"] = {"class": baseline_class, **openTSNE_baseline(baseline_map, candidates, seed)}
    results["machine"]["load_average_end"] = os.getloadavg()
    return results


def markdown(results: dict) -> str:
    y = results["yardstick_s"]
    m = results["machine"]
    lines = [
        f"Machine: {m['cpu']}, {m['cores']} cores, Python {m['python']}; load average at start "
        f"{', '.join(f'{v:.1f}' for v in m['load_average'])}, at end {', '.join(f'{v:.1f}' for v in m['load_average_end'])}.",
        f"Yardstick (1000x1000 float64 matmul, 1 thread): {y * 1000:.1f} ms. Ratios are time / yardstick. "
        f"openTSNE import (once, lazily, on the first full placement): {results['openTSNE_import_s']:.1f} s.",
        "",
        f"| class | points | clusters | t-SNE fit s (build) | load cold ms | load warm ms | place {results['n_candidates']} full s (ratio) "
        "| preview ms (ratio) | annotate full s (families known/new) | preview offset / span | doped inside | unrelated inside "
        "| map gap in / out (x spacing) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in results["classes"].items():
        lines.append(
            f"| {name} | {r['n_points']} | {r['n_clusters']} | {r['tsne_fit_s']:.0f} | {r['load_cold_s'] * 1000:.0f} | "
            f"{r['load_warm_s'] * 1000:.2f} | {r['place_full_s']:.2f} ({r['place_full_s'] / y:.0f}) | "
            f"{r['place_preview_s'] * 1000:.0f} ({r['place_preview_s'] / y:.1f}) | {r['annotate_full_s']:.2f} "
            f"({r['families_known_new'][0]}/{r['families_known_new'][1]}) | "
            f"{r['preview_vs_full_median_offset_of_span']:.3f} | {r['doped_inside']:.3f} | {r['unrelated_inside']:.3f} | "
            f"{r['map_gap_inside_median']:.2f} / {r['map_gap_outside_median']:.2f} |"
        )
    b = results["openTSNE_baseline"]
    ours = results["classes"][b["class"]]
    lines += [
        "",
        "Held-out SuperCon (inside radius recalibrated on 90 %, 10 % held out) inside a cluster: "
        + ", ".join(f"{k} {v:.3f}" for k, v in results["held_out_inside"].items()) + ".",
        "",
        f"Baseline, stock openTSNE on {b['class']} in the same run: fit {b['fit_s']:.1f} s, pickled embedding "
        f"{b['pickle_bytes'] / 1e6:.1f} MB (ours: {results['artifact_bytes'][b['class']] / 1e6:.2f} MB), "
        f"transform of {results['n_candidates']} candidates {b['transform_s']:.2f} s vs ours {ours['place_full_s']:.2f} s "
        f"(ratio {ours['place_full_s'] / b['transform_s']:.2f}). Our placement on that same embedding lands "
        f"{b['ours_vs_transform_offset_of_span'][0]:.5f} (median) / {b['ours_vs_transform_offset_of_span'][1]:.4f} "
        f"(95th percentile) of the map's span from openTSNE's transform.",
        f"All maps: {sum(results['artifact_bytes'].values()) / 1e6:.2f} MB.",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=str(DEFAULT_MODELS_DIR))
    parser.add_argument("--supercon", default=str(DEFAULT_SUPERCON_PATH))
    parser.add_argument("--n", type=int, default=1000, help="candidates to place per class")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--baseline-class", default="cuprates")
    parser.add_argument("--json", help="also write the raw results here")
    args = parser.parse_args()
    results = run(Path(args.models), Path(args.supercon), args.n, args.seed, args.baseline_class)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1, default=float))
    print(markdown(results))


if __name__ == "__main__":
    main()
