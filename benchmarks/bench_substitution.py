"""Substitution plausibility of the diffusion candidates, and the substitution baseline beside them.

Four measurements (results in benchmarks/substitution.md):

- ``calibrate``: the thresholds of :data:`superdiff_core.substitution.PLAUSIBLE_THRESHOLDS`.
  Positives are substitutions SuperCon's chemists made: a SuperCon compound that is another
  SuperCon compound plus one element (an addition), or the same compound with one whole
  site swapped (element sets differ by one element, atomic fractions within 0.05 in L1
  after relabelling, the swapped element at least 5 % of the atoms). Negatives: the same
  parents with a random element of SuperCon's added. Each is scored as a candidate is
  (best reference element); the threshold maximises true- minus false-positive rate.
  Also checks the matrix against pymatgen's ``SubstitutionProbability.cond_prob``.
- ``shares``: the share of extensions (candidates adding an element to the reference)
  whose new element is *not* a plausible substitute, by Hautier's table and by SkipSpecies,
  for diffusion CSVs (``--csv``) or for runs it makes itself (``--models-order z|pettifor``,
  through ``superdiff generate`` at its defaults).
- ``compare``: diffusion vs substitution for six references: both drawn the same number of
  times, both through the same screening funnel (``screen_samples``: basic, unique, novel,
  SMACT-valid) and the same scoring (``screen_formulas``: property models, known compounds).
- ``clips``: ILVR's ``"widened"`` clipping (the range opened on the reference's elements and
  their atomic-number neighbours) against ``"plausible"`` (opened on the reference's elements
  and their plausible substitutes, closed on every other element), per reference and seed,
  through the engine's own ``generate`` at its defaults otherwise: basic and valid yield,
  keeps-all-reference and extension shares of the candidates, implausible shares by both
  scales, distinct element systems, the new elements.
- ``speed``: :func:`plausibility_columns` on thousands of rows.

    python benchmarks/bench_substitution.py calibrate [--events 2000]
    python benchmarks/bench_substitution.py shares --models-order z [--samples 500] [--work DIR]
    python benchmarks/bench_substitution.py shares --csv /tmp/a.csv /tmp/b.csv
    python benchmarks/bench_substitution.py compare [--samples 200] [--models-order z] [--work DIR] [--references MgB2 ...]
    python benchmarks/bench_substitution.py clips [--samples 300] [--seeds 0 1 2] [--references MgB2 ...]
    python benchmarks/bench_substitution.py speed
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from superdiff_core.artifacts import DEFAULT_MODELS_DIR
from superdiff_core.baseline import substitution_baseline
from superdiff_core.composition import element_set, parse_formula, vectors_to_formulas
from superdiff_core.data import load_training_set
from superdiff_core.model_classes import get_model_class
from superdiff_core.novelty import KnownCompositions, atomic_fractions
from superdiff_core.substitution import (
    SUBSTITUTION_SCALES,
    load_table,
    plausibility_columns,
    plausible_share,
    reference_scores,
)

SHARE_REFERENCES = ("YBa1.4Sr0.6Cu3O6Se0.51", "HgBa2Ca2Cu3O8.27")
"""The issue's two default runs (cuprates model, N = 2, 3, 4)."""

COMPARE_REFERENCES = (
    ("YBa1.4Sr0.6Cu3O6Se0.51", "cuprates"),
    ("HgBa2Ca2Cu3O8.27", "cuprates"),
    ("La1.85Sr0.15CuO4", "cuprates"),
    ("BaFe2As2", "pnictides"),
    ("MgB2", "others"),
    ("Nb3Sn", "others"),
)
CLIP_REFERENCES = (*COMPARE_REFERENCES, ("Ba0.6K0.4Fe2As2", "pnictides"), ("Nb3Ge", "others"), ("KBa2Cu3O6Se", "cuprates"))
"""The six compared references and the other three of ``bench_new_families.py``."""

SCALE_FACTORS = (2, 3, 4)
SWAP_DISTANCE = 0.05
SWAP_MIN_FRACTION = 0.05


def slug(formula: str) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in formula)


# ---------------------------------------------------------------------------------------
# calibrate
# ---------------------------------------------------------------------------------------


def supercon_substitutions(vectors: np.ndarray) -> list[tuple[int, int]]:
    """(parent row, new element) of SuperCon's additions and whole-site swaps (see module doc)."""
    present = vectors > 0
    fractions = atomic_fractions(vectors)
    by_set: dict[frozenset, list[int]] = defaultdict(list)
    for row, mask in enumerate(present):
        by_set[frozenset(np.flatnonzero(mask).tolist())].append(row)
    events = []
    for elements, rows in by_set.items():
        for new in elements:
            parent = elements - {new}
            if len(parent) >= 2 and parent in by_set:
                events.append((by_set[parent][0], new))
    cores: dict[frozenset, list[tuple[frozenset, int]]] = defaultdict(list)
    for elements in by_set:
        for element in elements:
            cores[elements - {element}].append((elements, element))
    for core, members in cores.items():
        if len(core) < 2 or len(members) < 2:
            continue
        for parent, old in members:
            parent_rows = by_set[parent]
            for child, new in members:
                if new == old:
                    continue
                relabelled = fractions[by_set[child]].copy()
                relabelled[:, old], relabelled[:, new] = relabelled[:, new], 0.0
                distance = np.abs(fractions[parent_rows][:, None, :] - relabelled[None, :, :]).sum(axis=2)
                i, _ = np.unravel_index(np.argmin(distance), distance.shape)
                if distance.min() <= SWAP_DISTANCE and fractions[parent_rows[i], old] >= SWAP_MIN_FRACTION:
                    events.append((parent_rows[i], new))
    return events


def best_threshold(positives: np.ndarray, negatives: np.ndarray) -> dict:
    from sklearn.metrics import roc_auc_score

    grid = np.unique(np.concatenate([positives, negatives]))
    tpr = (positives[None, :] >= grid[:, None]).mean(axis=1)
    fpr = (negatives[None, :] >= grid[:, None]).mean(axis=1)
    best = int(np.argmax(tpr - fpr))
    labels = np.r_[np.ones(len(positives)), np.zeros(len(negatives))]
    return {
        "auc": float(roc_auc_score(labels, np.r_[positives, negatives])),
        "threshold": float(grid[best]),
        "tpr": float(tpr[best]),
        "fpr": float(fpr[best]),
        "positives_median": float(np.median(positives)),
        "negatives_median": float(np.median(negatives)),
    }


def calibrate(args) -> dict:
    from pymatgen.core.structure_prediction.substitution_probability import SubstitutionProbability

    table, source = load_table("hautier"), SubstitutionProbability()
    rng = np.random.default_rng(0)
    pairs = rng.integers(0, len(table.species), size=(300, 2))
    deviation = max(
        abs(table.scores[i, j] - source.cond_prob(table.species[i].replace("1+", "+").replace("1-", "-"),
                                                  table.species[j].replace("1+", "+").replace("1-", "-")))
        for i, j in pairs
    )
    supercon = load_training_set(DEFAULT_MODELS_DIR)
    events = supercon_substitutions(supercon.vectors)
    chosen = rng.choice(len(events), size=min(args.events, len(events)), replace=False)
    elements = np.flatnonzero((supercon.vectors > 0).any(axis=0))
    report = {"max |ours - pymatgen cond_prob| over 300 pairs": float(deviation), "events": len(events), "sampled": len(chosen)}
    parents = [events[i][0] for i in chosen]
    news = [events[i][1] for i in chosen]
    randoms = [int(rng.choice(np.setdiff1d(elements, np.flatnonzero(supercon.vectors[p])))) for p in parents]
    classes = supercon.class_codes[parents]
    for scale in SUBSTITUTION_SCALES:
        positives = np.array([reference_scores(supercon.vectors[p], scale).scores[x].max() for p, x in zip(parents, news)])
        negatives = np.array([reference_scores(supercon.vectors[p], scale).scores[y].max() for p, y in zip(parents, randoms)])
        report[scale] = {"all": best_threshold(positives, negatives), "shipped threshold": table.threshold if scale == "hautier" else
                         load_table(scale).threshold}
        for code, name in ((1, "cuprates"), (2, "pnictides"), (3, "others")):
            mask = classes == code
            report[scale][name] = best_threshold(positives[mask], negatives[mask]) | {"n": int(mask.sum())}
        threshold = load_table(scale).threshold
        report[scale]["at shipped threshold"] = {"tpr": float((positives >= threshold).mean()),
                                                 "fpr": float((negatives >= threshold).mean())}
    return report


# ---------------------------------------------------------------------------------------
# shares
# ---------------------------------------------------------------------------------------


def generate_csv(reference: str, model_class: str, order: str, samples: int, work: Path) -> Path:
    """A default ``superdiff generate`` run (1 thread, no map), reused when its CSV exists."""
    out = work / f"{slug(reference)}_{model_class}_{order}_{samples}.csv"
    if not out.exists():
        command = ["superdiff", "generate", "--model", model_class, "--order", order, "--reference", reference,
                   "--scale-factor", *map(str, SCALE_FACTORS), "--samples", str(samples), "--threads", "1", "--no-map", "--out", str(out)]
        print("running:", " ".join(command), file=sys.stderr)
        subprocess.run(command, check=True, env={**os.environ, "OMP_NUM_THREADS": "1"}, stdout=subprocess.DEVNULL)
    return out


def table_vectors(table: pd.DataFrame, column: str) -> np.ndarray:
    return np.array([parse_formula(text, max_elements=96) for text in table[column]]) if len(table) else np.zeros((0, 96))


def implausible_summary(candidates: np.ndarray, references: np.ndarray) -> dict:
    summary: dict = {"candidates": int(len(candidates))}
    for scale in SUBSTITUTION_SCALES:
        frame = plausibility_columns(candidates, references, scale) if len(candidates) else pd.DataFrame({"plausible_substitution": []})
        marks = frame["plausible_substitution"].dropna()
        summary["extensions"] = int(len(marks))
        summary[f"implausible share ({scale})"] = round(1.0 - plausible_share(frame), 3) if len(marks) else None
        if len(marks):
            added = frame[frame["plausible_substitution"].notna()]
            top = added.groupby("new_elements")["plausible_substitution"].agg(["size", "mean"]).sort_values("size", ascending=False).head(6)
            summary[f"top new elements ({scale}: n, plausible share)"] = {k: [int(v["size"]), round(float(v["mean"]), 2)]
                                                                          for k, v in top.iterrows()}
    return summary


def shares(args) -> dict:
    paths = [Path(p) for p in args.csv] if args.csv else [
        generate_csv(reference, "cuprates", args.models_order, args.samples, Path(args.work)) for reference in SHARE_REFERENCES
    ]
    report = {}
    for path in paths:
        table = pd.read_csv(path)
        report[str(path)] = implausible_summary(table_vectors(table, "formula"), table_vectors(table, "reference"))
    return report


# ---------------------------------------------------------------------------------------
# compare
# ---------------------------------------------------------------------------------------


def score_rows(formulas: list[str], models) -> pd.DataFrame:
    from superdiff_core.run import RunModels, screen_formulas

    scoring = RunModels(property_models=models.property_models, class_map=None, known_map=models.known_map)
    return screen_formulas(formulas, scoring).table


def source_row(vectors: np.ndarray, reference: np.ndarray, drawn: int, known_sets: set, models) -> dict:
    """The comparison figures of one source's screened candidates (unique, novel, SMACT-valid)."""
    formulas = vectors_to_formulas(vectors)
    scored = score_rows(formulas, models) if formulas else pd.DataFrame()
    row = {"drawn": drawn, "valid (unique, novel, SMACT) %": round(100.0 * len(vectors) / drawn, 1) if drawn else None}
    systems = {element_set(v) for v in vectors}
    row["novel element systems"] = len(systems - known_sets)
    row["element systems"] = len(systems)
    for scale in SUBSTITUTION_SCALES:
        frame = plausibility_columns(vectors, reference, scale) if len(vectors) else None
        row[f"plausible % ({scale})"] = (round(100.0 * plausible_share(frame), 1)
                                         if frame is not None and frame["plausible_substitution"].notna().any() else None)
    if len(scored):
        superconductor = scored["is_superconductor"].astype(bool)
        row["predicted superconductors %"] = round(100.0 * superconductor.mean(), 1)
        row["median predicted Tc of those (K)"] = (round(float(scored.loc[superconductor, "tc_kelvin"].median()), 1)
                                                   if superconductor.any() else None)
        row["median distance to known"] = round(float(scored["distance_to_known"].median()), 4)
    return row


def compare(args) -> dict:
    from superdiff_core.run import load_run_models
    from superdiff_core.screening import ScreeningOptions, screen_samples
    from superdiff_core.smact_check import smact_check

    supercon = load_training_set(DEFAULT_MODELS_DIR)
    known_sets = {element_set(v) for v in supercon.vectors}
    report = {}
    for reference_text, model_class in COMPARE_REFERENCES:
        if args.references and reference_text not in args.references:
            continue
        start = time.perf_counter()
        reference = parse_formula(reference_text)
        subset = supercon.vectors[np.isin(supercon.class_codes, get_model_class(model_class).supercon_codes)]
        models = load_run_models(DEFAULT_MODELS_DIR, model_class, with_map=True)
        drawn = args.samples * len(SCALE_FACTORS)
        path = generate_csv(reference_text, model_class, args.models_order, args.samples, Path(args.work))
        diffusion = table_vectors(pd.read_csv(path), "formula")
        baseline_raw = substitution_baseline(reference, drawn, subset, seed=0)
        screened = screen_samples(baseline_raw, model_class, KnownCompositions(subset), ScreeningOptions(keep_invalid=True))
        valid = screened.table["smact_valid"].to_numpy(dtype=bool)
        baseline_row = source_row(screened.vectors[valid], reference, drawn, known_sets, models)
        baseline_row["valid with mixed valence %"] = round(100.0 * screened.table["smact_valid_mixed_valence"].sum() / drawn, 1)
        baseline_row["reference itself SMACT-valid"] = smact_check(reference[None, :])[0]
        report[reference_text] = {
            f"diffusion ({args.models_order} order)": source_row(diffusion, reference, drawn, known_sets, models),
            "substitution baseline": baseline_row,
            "seconds": round(time.perf_counter() - start, 1),
        }
        print(reference_text, json.dumps(report[reference_text]), file=sys.stderr)
    return report


# ---------------------------------------------------------------------------------------
# clips
# ---------------------------------------------------------------------------------------


def clip_row(result, reference: np.ndarray) -> dict:
    """The figures of one run (a :class:`~superdiff_core.pipeline.GenerationResult` at the
    default screening: unique, novel, valid candidates)."""
    stages = {stage.stage: stage.remaining for stage in result.stages}
    vectors = result.vectors
    reference_set = element_set(reference)
    sets = [element_set(v) for v in vectors]
    keeps = [set(reference_set) <= set(s) for s in sets]
    extends = [set(reference_set) <= set(s) and len(set(s) - set(reference_set)) >= 1 for s in sets]
    row = {
        "raw": result.raw_samples,
        "basic yield %": round(100.0 * stages["element count"] / result.raw_samples, 1),
        "candidates per 100 drawn": round(100.0 * len(vectors) / result.raw_samples, 1),
        "keeps all reference %": round(100.0 * np.mean(keeps), 1) if len(keeps) else None,
        "extensions %": round(100.0 * np.mean(extends), 1) if len(extends) else None,
        "element systems": len(set(sets)),
    }
    summary = implausible_summary(vectors, np.repeat(reference[None, :], len(vectors), axis=0))
    row["implausible % (hautier)"] = None if summary.get("implausible share (hautier)") is None else round(
        100 * summary["implausible share (hautier)"], 1)
    row["implausible % (skipspecies)"] = None if summary.get("implausible share (skipspecies)") is None else round(
        100 * summary["implausible share (skipspecies)"], 1)
    row["top new elements"] = summary.get("top new elements (hautier: n, plausible share)", {})
    return row


def clips(args) -> dict:
    from superdiff_core.pipeline import generate, load_engine
    from superdiff_core.settings import GenerationSettings

    report: dict = {"machine": f"{os.cpu_count()} CPUs, 1 torch thread", "samples per N": args.samples,
                    "seeds": args.seeds, "rows": []}
    engines: dict = {}
    for reference_text, model_class in CLIP_REFERENCES:
        if args.references and reference_text not in args.references:
            continue
        engine = engines.setdefault(model_class, load_engine(model_class, DEFAULT_MODELS_DIR))
        reference = parse_formula(reference_text)
        for clip in ("widened", "plausible"):
            for seed in args.seeds:
                start = time.perf_counter()
                settings = GenerationSettings(model_class=model_class, references=(reference_text,),
                                              scale_factors=SCALE_FACTORS, samples=args.samples, seed=seed, clip=clip)
                row = {"reference": reference_text, "class": model_class, "clip": clip, "seed": seed,
                       **clip_row(generate(engine, settings), reference), "seconds": round(time.perf_counter() - start, 1)}
                report["rows"].append(row)
                print(json.dumps(row), file=sys.stderr, flush=True)
    return report


# ---------------------------------------------------------------------------------------
# speed
# ---------------------------------------------------------------------------------------


def speed(args) -> dict:
    rng = np.random.default_rng(0)
    reference = parse_formula("HgBa2Ca2Cu3O8.27")
    candidates = np.repeat(reference[None, :], args.rows, axis=0)
    extra = rng.integers(0, 83, size=args.rows)
    candidates[np.arange(args.rows), extra] += 0.2
    report = {"rows": args.rows, "machine": f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}"}
    for scale in SUBSTITUTION_SCALES:
        load_table(scale)  # reading the table is once per process
        start = time.perf_counter()
        plausibility_columns(candidates, reference, scale)
        first = time.perf_counter() - start
        start = time.perf_counter()
        plausibility_columns(candidates, reference, scale)
        report[scale] = {"first call s": round(first, 3), "cached reference s": round(time.perf_counter() - start, 3)}
    many = rng.choice(load_training_set(DEFAULT_MODELS_DIR).vectors, size=200, replace=False)
    start = time.perf_counter()
    plausibility_columns(many + (many == 0) * (rng.random(many.shape) < 0.01) * 0.1, many, "hautier")
    report["200 distinct SuperCon references, s"] = round(time.perf_counter() - start, 3)
    return report


def main() -> None:
    import torch

    torch.set_num_threads(1)
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    calibrate_parser = commands.add_parser("calibrate")
    calibrate_parser.add_argument("--events", type=int, default=2000)
    for name in ("shares", "compare"):
        sub = commands.add_parser(name)
        sub.add_argument("--models-order", choices=("z", "pettifor"), default="z")
        sub.add_argument("--samples", type=int, default=500 if name == "shares" else 200)
        sub.add_argument("--work", default="/tmp/bench_substitution")
        if name == "shares":
            sub.add_argument("--csv", nargs="*", help="candidate CSVs (columns formula, reference) instead of new runs")
        else:
            sub.add_argument("--references", nargs="*", help="only these of the six references")
    clips_parser = commands.add_parser("clips")
    clips_parser.add_argument("--samples", type=int, default=300, help="samples per N (N = 2, 3, 4)")
    clips_parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    clips_parser.add_argument("--references", nargs="*", help="only these references")
    speed_parser = commands.add_parser("speed")
    speed_parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--json", help="also write the report here")
    args = parser.parse_args()
    if hasattr(args, "work"):
        Path(args.work).mkdir(parents=True, exist_ok=True)
    report = {"calibrate": calibrate, "shares": shares, "compare": compare, "clips": clips, "speed": speed}[args.command](args)
    text = json.dumps(report, indent=1, default=str)
    print(text)
    if args.json:
        Path(args.json).write_text(text)


if __name__ == "__main__":
    main()
