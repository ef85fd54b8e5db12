"""New families from one reference: does ILVR keep the reference and extend it by one element?

For each reference and N in 2, 3, 4 (and pooled over N), on the *basic* candidates (rounded,
residuals < 0.08 zeroed, no negative amount, 2..class-limit elements; duplicates kept, as
in the paper's released file):

- basic and SMACT-valid yield (share of raw samples; the paper's integer-ratio check);
- share keeping every reference element;
- share of *extensions*: the reference's elements plus exactly one new element, which
  elements, and the new element's median amount;
- for the paper's example, the share of the extensions in its two families
  (Y-Ba-Sr-Cu-O-Se-As and Y-Ba-Sr-Cu-O-Se-Br);
- the total-variation distance between our SMACT-valid candidates' element-set distribution
  and the paper's released output (shared/data/paper), with its sampling floor: the mean
  distance of resamples of the paper's file at our sample size to the whole file;
- for the filter-order comparison, over the extensions: SMACT-valid share, share with
  predicted formation energy < 0, share predicted superconducting, distinct new elements.

    python benchmarks/bench_new_families.py [--samples 300] [--steps 50] [--clip widened]
        [--ilvr-stop 0] [--filter-order z pettifor] [--cases paper] [--resample-steps 0] [--json out.json]

``--sweep`` runs the paper's example only, over clip modes and conditioning stops.

``--families CSV [CSV ...]`` (issue 17, items 4-5) reads candidate CSVs written by
``superdiff generate`` (one reference each), finds their families as a run does and lists
every headline family with its formula, its number of variables and whether a variable
spans a cation and an anion; ``--novelty REF [REF ...]`` samples the app's default run of
each reference (cuprates, N = 2 3 4, seed + i per run) and counts the basic candidates
within 0.005 (atomic fractions, L1) of a SuperCon composition of the class that the old
exact-string novelty called novel and that the composition novelty calls novel.

    python benchmarks/bench_new_families.py --families /tmp/hg.csv /tmp/y.csv
    python benchmarks/bench_new_families.py --novelty HgBa2Ca2Cu3O8.27 YBa1.4Sr0.6Cu3O6Se0.51 --samples 150
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from superdiff_core.composition import ELEMENT_SYMBOLS, parse_formula  # noqa: E402
from superdiff_core.data import vector_keys  # noqa: E402
from superdiff_core.model_classes import get_model_class  # noqa: E402
from superdiff_core.pipeline import load_engine  # noqa: E402
from superdiff_core.screening import round_and_threshold  # noqa: E402
from superdiff_core.smact_check import smact_check  # noqa: E402
from superdiff_core.timetable import (  # noqa: E402
    CLIP_MODES,
    DEFAULT_CLIP,
    DEFAULT_CONDITIONING_STOP,
    DEFAULT_METHOD,
    DEFAULT_RESAMPLE_COUNT,
    DEFAULT_RESAMPLE_STEPS,
    LEGACY_PRECISION,
    PRECISIONS,
)

PAPER_OUTPUT = Path(__file__).resolve().parents[2] / "shared" / "data" / "paper" / "superdiff_ilvr_YBa1.4Sr0.6Cu3O6Se0.51_valid.txt"
PAPER_REFERENCE = "YBa1.4Sr0.6Cu3O6Se0.51"
PAPER_FAMILIES = {"Y-Ba-Sr-Cu-O-Se-As": "As", "Y-Ba-Sr-Cu-O-Se-Br": "Br"}
"""The paper's two new families for its example, by the element they add."""

CASES = (
    ("cuprates", PAPER_REFERENCE, "the paper's example"),
    ("pnictides", "Ba0.6K0.4Fe2As2", "pnictide"),
    ("others", "Nb3Ge", "others"),
    ("cuprates", "KBa2Cu3O6Se", "cuprate not in SuperCon"),
)
SCALE_FACTORS = (2, 3, 4)
FLOOR_RESAMPLES = 200


def element_sets(vectors: np.ndarray) -> list[frozenset[str]]:
    return [frozenset(ELEMENT_SYMBOLS[i] for i in np.flatnonzero(v > 0)) for v in vectors]


def set_name(elements: frozenset[str]) -> str:
    """Element set written in Z order, e.g. ``Y-Ba-Sr-Cu-O-Se-As`` sorted by Z: ``O-Cu-As-Se-Sr-Y-Ba``."""
    return "-".join(sorted(elements, key=ELEMENT_SYMBOLS.index))


def total_variation(a: list[frozenset[str]], b: list[frozenset[str]]) -> float:
    """TV distance between the empirical distributions of two lists of element sets."""
    if not a or not b:
        return float("nan")
    ca, cb = Counter(a), Counter(b)
    return 0.5 * sum(abs(ca[k] / len(a) - cb[k] / len(b)) for k in set(ca) | set(cb))


def paper_sets() -> list[frozenset[str]]:
    lines = [line.strip() for line in PAPER_OUTPUT.read_text().splitlines() if line.strip()]
    return element_sets(np.array([parse_formula(line) for line in lines]))


def tv_floor(reference_sets: list[frozenset[str]], size: int, seed: int = 0) -> float:
    """Mean TV distance of size-``size`` resamples (with replacement) of ``reference_sets`` to the whole list."""
    if size < 1:
        return float("nan")
    rng = np.random.default_rng(seed)
    return float(np.mean([
        total_variation([reference_sets[i] for i in rng.integers(0, len(reference_sets), size)], reference_sets)
        for _ in range(FLOOR_RESAMPLES)
    ]))


def basic_candidates(samples: np.ndarray, model_class: str) -> np.ndarray:
    """The candidates passing the paper's basic filters (duplicates kept), rounded amounts."""
    vectors = round_and_threshold(samples)
    vectors = vectors[~(vectors < 0).any(axis=1)]
    count = (vectors > 0).sum(axis=1)
    return vectors[(count >= 2) & (count <= get_model_class(model_class).max_elements)]


def summarise(raw: int, basic: np.ndarray, valid: np.ndarray, reference: np.ndarray, properties=None, paper=None) -> dict:
    """The metrics of one run (or of several runs pooled). ``valid`` is a bool mask over ``basic``."""
    reference_set = element_sets(reference[None])[0]
    sets = element_sets(basic)
    keep_all = np.array([reference_set <= s for s in sets], dtype=bool)
    extension = np.array([reference_set <= s and len(s - reference_set) == 1 for s in sets], dtype=bool)
    new_elements = [next(iter(s - reference_set)) for s, e in zip(sets, extension) if e]
    amounts = [basic[i, ELEMENT_SYMBOLS.index(el)] for i, el in zip(np.flatnonzero(extension), new_elements)]
    share = lambda mask: round(100.0 * float(np.mean(mask)), 1) if len(mask) else None  # noqa: E731
    row = {
        "raw": raw,
        "basic": len(basic),
        "basic_yield_percent": round(100.0 * len(basic) / raw, 1),
        "smact_valid": int(valid.sum()),
        "smact_valid_yield_percent": round(100.0 * valid.sum() / raw, 1),
        "unique_basic": len(set(vector_keys(basic))) if len(basic) else 0,
        "keep_all_reference_percent": share(keep_all),
        "extension_percent": share(extension),
        "extension_elements": dict(Counter(new_elements).most_common(8)),
        "distinct_new_elements": len(set(new_elements)),
        "new_element_median_amount": round(float(np.median(amounts)), 3) if amounts else None,
        "extension_smact_valid_percent": share(valid[extension]),
    }
    if properties is not None and extension.any():
        scored = properties.score(basic[extension])
        row["extension_formation_negative_percent"] = share(scored["formation_energy_ev_per_atom"].to_numpy() < 0)
        row["extension_predicted_sc_percent"] = share(scored["is_superconductor"].to_numpy(dtype=bool, na_value=False))
    if paper is not None:
        for family, element in PAPER_FAMILIES.items():
            row[f"{family}_of_extensions_percent"] = share(np.array(new_elements) == element) if new_elements else 0.0
        valid_sets = [s for s, v in zip(sets, valid) if v]
        row["tv_valid_to_paper"] = round(total_variation(valid_sets, paper), 3)
        row["tv_valid_floor"] = round(tv_floor(paper, len(valid_sets)), 3)
        row["tv_basic_to_paper"] = round(total_variation(sets, paper), 3)
        row["tv_basic_floor"] = round(tv_floor(paper, len(sets)), 3)
    return row


def run_case(engine, model_class: str, formula: str, samples: int, steps: int | None, clip: str, stop: int,
             order: str, seed: int, properties=None, resample: tuple[int, int] = (DEFAULT_RESAMPLE_STEPS, DEFAULT_RESAMPLE_COUNT),
             method: str = DEFAULT_METHOD, precision: str = LEGACY_PRECISION) -> list[dict]:
    reference = parse_formula(formula)
    steps = steps or get_model_class(model_class).recommended_steps
    paper = paper_sets() if formula == PAPER_REFERENCE else None
    rows, pooled_basic, pooled_valid = [], [], []
    started = time.perf_counter()
    for n in SCALE_FACTORS:
        raw = engine.sampler.sample(samples, steps, reference=reference, scale_factor=n, seed=seed,
                                    conditioning_stop=stop, filter_order=order, clip=clip,
                                    resample_steps=resample[0], resample_count=resample[1], method=method, precision=precision)
        basic = basic_candidates(raw, model_class)
        valid = np.array([s == "valid" for s in smact_check(basic)], dtype=bool)
        rows.append({"N": n, **summarise(samples, basic, valid, reference, properties, paper)})
        pooled_basic.append(basic)
        pooled_valid.append(valid)
    rows.append({"N": "pooled", **summarise(samples * len(SCALE_FACTORS), np.concatenate(pooled_basic),
                                            np.concatenate(pooled_valid), reference, properties, paper)})
    seconds = time.perf_counter() - started
    for row in rows:
        row.update({"model_class": model_class, "reference": formula, "method": method, "steps": steps, "seed": seed,
                    "precision": precision,
                    "models_order": engine.checkpoint.element_order, "clip": clip,
                    "ilvr_stop": stop, "filter_order": order, "resample_steps": resample[0],
                    "resample_count": resample[1], "case_seconds": round(seconds, 1)})
    return rows


def headline_families(paths: list[Path]) -> list[dict]:
    """One row per family of each candidate CSV (headline families first), as a run finds them."""
    import pandas as pd

    from superdiff_core.families import annotate_candidates, family_general_formula, vectors_from_formulas
    from superdiff_core.formula_notation import ANION_SYMBOLS
    from superdiff_core.maps import load_class_map

    rows = []
    for path in paths:
        table = pd.read_csv(path)
        table = table[[c for c in ("formula", "reference", "smact_valid", "smact_valid_mixed_valence", "tc_kelvin") if c in table]]
        vectors = vectors_from_formulas(list(table["formula"]))
        model_class = "cuprates"
        annotated, families = annotate_candidates(table, vectors, load_class_map(model_class=model_class), preview=True)
        for family in families.itertuples():
            mask = (annotated["family_id"] == family.family_id).to_numpy()
            reference = annotated.loc[mask, "reference"].fillna("").astype(str).mode().iloc[0] if "reference" in annotated else ""
            formula = family_general_formula(vectors[mask], reference)
            spans = [v.name for v in formula.variables
                     if len({s in ANION_SYMBOLS for s in _variable_elements(formula.text, v.name)}) > 1] if formula else []
            rows.append({"csv": str(path), "family_id": family.family_id, "headline": bool(family.headline),
                         "is_new_family": bool(family.is_new_family), "general_formula": family.general_formula,
                         "variable_ranges": family.variable_ranges, "n_variables": len(formula.variables) if formula else None,
                         "written_from_reference": bool(formula is not None and formula.reference == reference),
                         "variables_spanning_cation_and_anion": spans, "n_members": int(family.n_members),
                         "n_valid": int(family.n_valid), "family_kind": family.family_kind})
    return rows


def _variable_elements(text: str, name: str) -> set[str]:
    """Elements of a general formula whose amount contains variable ``name``."""
    import re

    symbols = "|".join(sorted(ELEMENT_SYMBOLS, key=len, reverse=True))
    return {symbol for symbol, amount in re.findall(rf"({symbols})([^A-Z]*)", text) if name in re.findall(r"[a-z]", amount)}


def novelty_counts(references: list[str], samples: int, seed: int) -> list[dict]:
    """Basic candidates of the default run of each reference within 0.005 of SuperCon, and how many
    of them the exact-string novelty (before issue 17) and the composition novelty call novel."""
    from superdiff_core.artifacts import DEFAULT_MODELS_DIR
    from superdiff_core.data import load_training_set
    from superdiff_core.novelty import NOVELTY_TOLERANCE, KnownCompositions, first_of_duplicates

    engine = load_engine("cuprates")
    training = load_training_set(DEFAULT_MODELS_DIR).subset("cuprates").vectors
    known, keys = KnownCompositions(training), set(vector_keys(training))
    rows = []
    for formula in references:
        reference = parse_formula(formula)
        basic = np.concatenate([
            basic_candidates(engine.sampler.sample(samples, get_model_class("cuprates").recommended_steps, reference=reference,
                                                   scale_factor=n, seed=seed + i), "cuprates")
            for i, n in enumerate(SCALE_FACTORS)
        ])
        near = known.distance(basic) <= NOVELTY_TOLERANCE
        exact_novel = np.array([key not in keys for key in vector_keys(basic)], dtype=bool)
        unique = first_of_duplicates(basic) == np.arange(len(basic))
        rows.append({"reference": formula, "basic": len(basic), "within_0.005_of_supercon": int(near.sum()),
                     "novel_within_0.005_before": int((near & exact_novel).sum()),
                     "novel_within_0.005_after": int((near & ~known.contains(basic)).sum()),
                     "distinct_before": len(set(vector_keys(basic))), "distinct_after": int(unique.sum())})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=int, default=300, help="samples per N")
    parser.add_argument("--steps", type=int, default=None, help="default: the class's recommended steps")
    parser.add_argument("--clip", choices=CLIP_MODES, default=DEFAULT_CLIP)
    parser.add_argument("--ilvr-stop", type=int, default=DEFAULT_CONDITIONING_STOP)
    parser.add_argument("--filter-order", nargs="+", default=None, choices=("z", "pettifor"),
                        help="orders ILVR's filter smooths along (default: the network's order, as superdiff generate does)")
    parser.add_argument("--cases", nargs="+", default=None, help="reference formulas to run (default: all four)")
    parser.add_argument("--sweep", action="store_true", help="paper's example over clip modes x stops (0, 100)")
    parser.add_argument("--properties", action="store_true", help="score the extensions with the property models")
    parser.add_argument("--resample-steps", type=int, default=DEFAULT_RESAMPLE_STEPS, help="0: the paper's loop")
    parser.add_argument("--resample-count", type=int, default=DEFAULT_RESAMPLE_COUNT)
    parser.add_argument("--seed", type=int, nargs="+", default=[0], help="one run per seed (seed-to-seed noise)")
    parser.add_argument("--method", nargs="+", default=[DEFAULT_METHOD],
                        help="sampling methods, each optionally with steps: ancestral dpmpp2m:10 dpmpp2m:20 ...")
    parser.add_argument("--models-order", choices=("z", "pettifor"), default="z",
                        help="element order the diffusion network was trained in")
    parser.add_argument("--precision", nargs="+", default=[LEGACY_PRECISION], choices=PRECISIONS,
                        help="the network's number format; several compare them on the same seeds")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--families", type=Path, nargs="+", default=None, help="candidate CSVs: list their families")
    parser.add_argument("--novelty", nargs="+", default=None, help="references: novelty before/after on their default run")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    args.filter_order = args.filter_order or [args.models_order]
    if args.families or args.novelty:
        rows = headline_families(args.families or []) + novelty_counts(args.novelty or [], args.samples, args.seed[0])
        for row in rows:
            print(json.dumps(row), flush=True)
        if args.json:
            args.json.write_text(json.dumps(rows, indent=1) + "\n")
        return
    properties = None
    if args.properties:
        from superdiff_core.properties import load_property_models

        properties = load_property_models()
    engines: dict = {}
    rows: list[dict] = []

    def engine_for(model_class: str):
        if model_class not in engines:
            engines[model_class] = load_engine(model_class, element_order=args.models_order)
        return engines[model_class]

    if args.sweep:
        plan = [("cuprates", PAPER_REFERENCE, clip, stop, order)
                for clip in CLIP_MODES for stop in (0, 100) for order in args.filter_order]
    else:
        cases = [c for c in CASES if args.cases is None or c[1] in args.cases]
        plan = [(c[0], c[1], args.clip, args.ilvr_stop, order) for c in cases for order in args.filter_order]
    methods = [(text.split(":")[0], int(text.split(":")[1]) if ":" in text else args.steps) for text in args.method]
    for model_class, formula, clip, stop, order in plan:
        for method, steps in methods:
            for seed in args.seed:
                for precision in args.precision:
                    case_rows = run_case(engine_for(model_class), model_class, formula, args.samples, steps, clip, stop, order,
                                         seed, properties, (args.resample_steps, args.resample_count), method, precision)
                    rows.extend(case_rows)
                    for row in case_rows:
                        print(json.dumps(row), flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
