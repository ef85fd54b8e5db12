"""Which validity check separates real compounds from random ones? (issue 18, item 1; issue 20, item 5.)

Measures every registered check (``superdiff_core.validity.VALIDITY_CHECKS``) and a few
variants on:

- real: SuperCon superconductors per class (cuprates, pnictides, others) and COD compounds
  (all inorganic ones without C or H, and the transition-metal oxides among them);
- nulls built from them: random-cation (every element that is not an anion replaced by a
  random non-anion element seen in SuperCon, amounts kept) and shuffled (the amounts permuted
  among the formula's elements);
- candidates: CSVs from ``superdiff generate --keep-invalid`` (every basic candidate).

Margin = kept % of real minus kept % of its random-cation null. The default is the check with
the largest cuprate margin among those keeping >= 80 % of all SuperCon superconductors.

``--timing CSV``: the validity time of one run's candidates, today's code (the registry, cold
cache) against the enumeration of commit 76ebe73 (the code before this change), in the same
process.

Usage (from the repository root):

    superdiff generate --model cuprates --reference HgBa2Ca2Cu3O8.27 --scale-factor 2 3 4 --samples 300 \\
        --threads 1 --keep-invalid --no-map --out /tmp/v/hg.csv
    python benchmarks/bench_validity.py --per-set 2000 --candidates /tmp/v/hg.csv
    python benchmarks/bench_validity.py --timing /tmp/v/others.csv
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from superdiff_core import validity  # noqa: E402
from superdiff_core.composition import ELEMENT_SYMBOLS, SYMBOL_TO_INDEX, FormulaError, parse_formula  # noqa: E402
from superdiff_core.data import load_supercon  # noqa: E402
from superdiff_core.validity import DEFAULT_VALIDITY_CHECK, VALIDITY_CHECKS, ValidityCheck, validity_statuses  # noqa: E402

COD_PATH = Path(__file__).resolve().parents[2] / "shared" / "data" / "cod" / "cod_inorganic_formulas.csv"
BASELINE_COMMIT = "76ebe73ee7ebea51805f017d0766e1cb82c1096f"
ANIONS = frozenset({"O", "S", "Se", "Te", "F", "Cl", "Br", "I", "N", "P", "As", "H", "B", "C", "Si"})
TRANSITION_METALS = frozenset(ELEMENT_SYMBOLS[20:30] + ELEMENT_SYMBOLS[38:48] + ELEMENT_SYMBOLS[71:80])
CLASSES = {1: "cuprates", 2: "pnictides", 3: "others"}

VARIANTS: dict[str, ValidityCheck] = {
    **VALIDITY_CHECKS,
    "integer_icsd24": ValidityCheck("integer_icsd24", "", "integer, SMACT 4 table", "", "icsd24"),
    "integer_common": ValidityCheck("integer_common", "", "integer, ICSD24 >= 10 %", "", "icsd24_common"),
    "bounded_0.25": ValidityCheck("bounded_0.25", "", "bounded 0.25", "", "icsd24_common", deviation=0.25),
    "bounded_1.0": ValidityCheck("bounded_1.0", "", "bounded 1.0", "", "icsd24_common", deviation=1.0),
    "bounded_smact14": ValidityCheck("bounded_smact14", "", "bounded 0.5, smact14", "", "smact14", deviation=0.5),
    "bounded_5pc": ValidityCheck("bounded_5pc", "", "bounded 0.5, ICSD24 >= 5 %", "", "icsd24_common", deviation=0.5, min_share_percent=5),
    "bounded_no_im": ValidityCheck("bounded_no_im", "", "bounded 0.5, no intermetallic rule", "", "icsd24_common", deviation=0.5),
    "bounded_5pc_im": ValidityCheck("bounded_5pc_im", "", "bounded 0.5, >= 5 %, + intermetallic", "", "icsd24_common",
                                    deviation=0.5, min_share_percent=5, intermetallic=True),
    "bounded_2pc_im": ValidityCheck("bounded_2pc_im", "", "bounded 0.5, >= 2 %, + intermetallic", "", "icsd24_common",
                                    deviation=0.5, min_share_percent=2, intermetallic=True),
}


def _sample(vectors: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    return vectors if len(vectors) <= n else vectors[np.sort(rng.choice(len(vectors), n, replace=False))]


def random_cation(vectors: np.ndarray, pool: list[int], rng: np.random.Generator) -> np.ndarray:
    """Each row with its non-anion elements replaced by distinct random elements of ``pool`` (amounts kept)."""
    out = np.zeros_like(vectors)
    anion_index = {SYMBOL_TO_INDEX[a] for a in ANIONS}
    for row, vector in enumerate(vectors):
        present = np.flatnonzero(vector > 0)
        kept = [i for i in present if i in anion_index]
        choices = [i for i in pool if i not in present]
        replaced = [i for i in present if i not in anion_index]
        new = rng.choice(choices, len(replaced), replace=False)
        out[row, kept] = vector[kept]
        out[row, new] = vector[replaced]
    return out


def shuffled(vectors: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Each row with its amounts permuted among its elements."""
    out = vectors.copy()
    for row, vector in enumerate(vectors):
        present = np.flatnonzero(vector > 0)
        out[row, present] = vector[rng.permutation(present)]
    return out


def load_cod(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(inorganic COD compounds without C or H, transition-metal oxides among them), at most ``n`` each."""
    formulas = pd.read_csv(COD_PATH)["formula"].astype(str)
    vectors = []
    for formula in formulas:
        try:
            vector = parse_formula(formula, max_elements=7)
        except FormulaError:
            continue
        if vector[SYMBOL_TO_INDEX["C"]] == 0 and vector[SYMBOL_TO_INDEX["H"]] == 0:
            vectors.append(vector)
    cod = np.array(vectors)
    oxide = cod[:, SYMBOL_TO_INDEX["O"]] > 0
    tm = (cod[:, [SYMBOL_TO_INDEX[s] for s in TRANSITION_METALS]] > 0).any(axis=1)
    return _sample(cod, n, rng), _sample(cod[oxide & tm], n, rng)


def candidate_vectors(path: Path) -> np.ndarray:
    return np.array([parse_formula(f) for f in pd.read_csv(path)["formula"].astype(str)])


def measure(sets: dict[str, np.ndarray], checks: list[str]) -> pd.DataFrame:
    """Kept % of each set by each check (rows: sets; columns: checks), and the seconds per formula."""
    rows = {}
    for name, vectors in sets.items():
        rows[name] = {}
        for check in checks:
            start = time.perf_counter()
            statuses = validity_statuses(vectors, [VARIANTS[check]], workers=1, run_budget_s=3600)[check]
            rows[name][check] = 100.0 * float(np.mean(statuses == "valid"))
            rows[name][f"{check} ms"] = 1000 * (time.perf_counter() - start) / max(1, len(vectors))
    return pd.DataFrame(rows).T


def baseline_module():
    """The SMACT module of commit :data:`BASELINE_COMMIT` (before this change), imported from git."""
    source = subprocess.run(["git", "show", f"{BASELINE_COMMIT}:superdiff_core/smact_check.py"], capture_output=True, text=True,
                            check=True, cwd=Path(__file__).resolve().parents[1]).stdout
    source = source.replace("from .composition import", "from superdiff_core.composition import")
    path = Path(tempfile.mkdtemp()) / "baseline_smact_check.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("baseline_smact_check", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def timing(path: Path) -> None:
    vectors = candidate_vectors(path)
    print(f"{len(vectors)} candidates from {path.name}; machine {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"load {os.getloadavg()[0]:.1f}")
    for checks in (["integer", "mixed_valence"], [DEFAULT_VALIDITY_CHECK], ["integer", "mixed_valence", "bounded"]):
        validity._CACHE.clear()
        start = time.perf_counter()
        validity_statuses(vectors, checks, workers=1)
        cold = time.perf_counter() - start
        start = time.perf_counter()
        validity_statuses(vectors, checks, workers=1)
        print(f"today, checks {'+'.join(checks)}: {cold:.2f} s cold, {time.perf_counter() - start:.3f} s cached")
    old = baseline_module()
    start = time.perf_counter()
    paper, mixed = old.smact_check_both(vectors)
    seconds = time.perf_counter() - start
    print(f"before ({BASELINE_COMMIT[:7]}, integer + mixed valence): {seconds:.2f} s, {sum(s == 'timeout' for s in mixed)} timeouts")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-set", type=int, default=2000, help="compounds per real set (default: %(default)s)")
    parser.add_argument("--candidates", type=Path, nargs="*", default=[], help="candidate CSVs (generate --keep-invalid)")
    parser.add_argument("--checks", nargs="*", default=list(VARIANTS), help="checks to measure (default: all)")
    parser.add_argument("--timing", type=Path, help="time one candidate CSV against the code before this change")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.timing:
        timing(args.timing)
        return 0
    rng = np.random.default_rng(args.seed)
    supercon = load_supercon()
    anion_index = {SYMBOL_TO_INDEX[a] for a in ANIONS}
    pool = sorted({int(i) for i in np.flatnonzero((supercon.vectors > 0).any(axis=0)) if i not in anion_index})
    sets: dict[str, np.ndarray] = {}
    for code, name in CLASSES.items():
        real = _sample(supercon.vectors[supercon.class_codes == code], args.per_set, rng)
        sets[f"SuperCon {name}"] = real
        sets[f"random-cation {name}"] = random_cation(real, pool, rng)
        sets[f"shuffled {name}"] = shuffled(real, rng)
    sets["SuperCon all"] = _sample(supercon.vectors, 2 * args.per_set, rng)  # classes in SuperCon's proportions
    cod, cod_tm_oxides = load_cod(rng, args.per_set)
    sets["COD (no C, H)"] = cod
    sets["random-cation COD"] = random_cation(cod, pool, rng)
    sets["COD TM oxides"] = cod_tm_oxides
    sets["random-cation COD TM oxides"] = random_cation(cod_tm_oxides, pool, rng)
    sets["shuffled COD TM oxides"] = shuffled(cod_tm_oxides, rng)
    for path in args.candidates:
        sets[f"candidates {path.stem}"] = candidate_vectors(path)
    table = measure(sets, args.checks)
    kept = table[[c for c in args.checks]]
    print(kept.round(1).to_markdown())
    print()
    margins = pd.DataFrame({
        "cuprates": kept.loc["SuperCon cuprates"] - kept.loc["random-cation cuprates"],
        "pnictides": kept.loc["SuperCon pnictides"] - kept.loc["random-cation pnictides"],
        "others": kept.loc["SuperCon others"] - kept.loc["random-cation others"],
        "COD TM oxides": kept.loc["COD TM oxides"] - kept.loc["random-cation COD TM oxides"],
        "SuperCon kept": kept.loc["SuperCon all"],
        "ms per formula (cuprates)": table.loc["SuperCon cuprates", [f"{c} ms" for c in args.checks]].to_numpy(),
    })
    print(margins.round(2).to_markdown())
    eligible = margins[margins["SuperCon kept"] >= 80]
    if len(eligible):
        print(f"\nlargest cuprate margin among checks keeping >= 80 % of SuperCon: {eligible['cuprates'].idxmax()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
