"""Stability against the known phases: how good is the formation model's hull call? (issue 18, item 2.)

After Bartel et al. (npj Comput. Mater. 6, 97, 2020), on the formation model's held-out test
compounds (the seeded composition split of ``formation_enthalpy.csv``,
``formation_training.split_by_composition``; the model never trained on them): for each
compound c, the hull of every other OQMD phase of its chemical system (both files, failed DFT
rows dropped, elements at 0, c's own composition removed) gives H(c) by linear programming;
the decomposition energy is E(c) - H(c) with the DFT energy (truth) and with the model's
prediction. Reported: MAE of the decomposition energy, precision / recall / F1 of "stable"
(<= 0) and of "within 0.1 eV/atom", overall and for >= 4-element oxides. Unlike Bartel's
protocol, the competing phases keep their DFT energies (as at run time, where candidates meet
the known phases), so the decomposition-energy error is the formation-energy error of c.

``--timing CSV``: seconds of :func:`superdiff_core.stability.hull_columns` on a run's
candidates (cold cache, pymatgen import apart), to set beside the run's own time.

Usage (from the repository root):

    python benchmarks/bench_stability.py --overall 1500
    python benchmarks/bench_stability.py --timing /tmp/v/hg.csv --rows 300
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from superdiff_core.artifacts import DEFAULT_MODELS_DIR  # noqa: E402
from superdiff_core.composition import SYMBOL_TO_INDEX, parse_formula  # noqa: E402
from superdiff_core.phase_building import DEFAULT_OQMD_FILES, element_bits, load_phase_table  # noqa: E402


def hull_energy(fractions: np.ndarray, energies: np.ndarray, target: np.ndarray) -> float:
    """Lowest energy (eV/atom) of a mix of phases (rows of ``fractions``, shape (m, k)) with the composition ``target`` (k,)."""
    from scipy.optimize import linprog

    result = linprog(energies, A_eq=fractions.T, b_eq=target, bounds=(0, None), method="highs")
    return float(result.fun) if result.status == 0 else float("nan")


def classification(truth: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    """Precision, recall and F1 of the positive class (boolean arrays)."""
    tp = float((truth & predicted).sum())
    precision = tp / max(predicted.sum(), 1)
    recall = tp / max(truth.sum(), 1)
    return {"precision": precision, "recall": recall, "f1": 2 * precision * recall / max(precision + recall, 1e-12),
            "positives": int(truth.sum()), "called": int(predicted.sum())}


def metrics(true_d: np.ndarray, pred_d: np.ndarray) -> dict[str, object]:
    ok = np.isfinite(true_d) & np.isfinite(pred_d)
    true_d, pred_d = true_d[ok], pred_d[ok]
    return {"n": int(ok.sum()), "mae_ev_per_atom": float(np.mean(np.abs(true_d - pred_d))),
            "stable": classification(true_d <= 0, pred_d <= 0),
            "within_0.1": classification(true_d <= 0.1, pred_d <= 0.1)}


def evaluate(overall: int, seed: int) -> dict[str, object]:
    import torch

    from superdiff_core.properties.features import formation_inputs
    from superdiff_core.properties.formation import DEFAULT_OQMD_PATH, FormationModel
    from superdiff_core.properties.formation_training import FormationConfig, load_formation_data, split_by_composition

    torch.set_num_threads(1)
    config = FormationConfig()
    data = load_formation_data(DEFAULT_OQMD_PATH)
    _, _, test = split_by_composition(formation_inputs(data.vectors)[0], (config.validation_fraction, config.test_fraction),
                                      config.split_seed)
    test = test[np.abs(data.energies[test]) <= 5.0]
    vectors = data.vectors[test]
    n_elements = (vectors > 0).sum(axis=1)
    oxides = (vectors[:, SYMBOL_TO_INDEX["O"]] > 0) & (n_elements >= 4)
    rng = np.random.default_rng(seed)
    random_rows = rng.choice(len(test), min(overall, len(test)), replace=False)
    chosen = np.union1d(np.flatnonzero(oxides), random_rows)
    predicted, _, _ = FormationModel.load(DEFAULT_MODELS_DIR).predict_with_spread(vectors[chosen])
    table = load_phase_table(list(DEFAULT_OQMD_FILES))
    fractions = table.fractions()
    bits = element_bits(table.vectors)
    true_d, pred_d = np.full(len(chosen), np.nan), np.full(len(chosen), np.nan)
    start = time.perf_counter()
    for j, row in enumerate(chosen):
        vector = vectors[row]
        present = np.flatnonzero(vector > 0)
        wanted = element_bits(vector[None])[0]
        target = vector[present] / vector.sum()
        inside = np.flatnonzero(((bits & ~wanted) == 0).all(axis=1))
        inside = inside[np.abs(fractions[np.ix_(inside, present)] - target).max(axis=1) > 1e-6]  # c's composition removed
        hull = hull_energy(fractions[np.ix_(inside, present)], table.energies[inside], target)
        true_d[j] = data.energies[test][row] - hull
        pred_d[j] = predicted[j] - hull
    in_oxides, in_random = oxides[chosen], np.isin(chosen, random_rows)
    return {
        "test_compounds": int(len(test)), "evaluated": int(len(chosen)), "lp_seconds": round(time.perf_counter() - start, 1),
        "overall": metrics(true_d[in_random], pred_d[in_random]), "oxides_4plus": metrics(true_d[in_oxides], pred_d[in_oxides]),
    }


def timing(path: Path, rows: int) -> None:
    start = time.process_time()
    import pymatgen.analysis.phase_diagram  # noqa: F401

    imported = time.process_time() - start
    from superdiff_core.stability import hull_columns, load_known_phases

    table = pd.read_csv(path).head(rows)
    vectors = np.array([parse_formula(f) for f in table["formula"]])
    phases = load_known_phases(DEFAULT_MODELS_DIR)
    start = time.process_time()
    out = hull_columns(vectors, table["formation_energy_ev_per_atom"].to_numpy(), table["formation_energy_std_ev_per_atom"].to_numpy(),
                       phases)
    cold = time.process_time() - start
    start = time.process_time()
    hull_columns(vectors, table["formation_energy_ev_per_atom"].to_numpy(), table["formation_energy_std_ev_per_atom"].to_numpy(), phases)
    systems = len({frozenset(np.flatnonzero(v).tolist()) for v in vectors})
    print(f"{len(vectors)} candidates, {systems} chemical systems; CPU s: pymatgen import {imported:.2f}, hull cold {cold:.2f}, "
          f"cached {time.process_time() - start:.2f}; filled {out['energy_above_hull_ev_per_atom'].notna().mean():.1%}; "
          f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--overall", type=int, default=1500, help="random test compounds besides all >= 4-element oxides")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timing", type=Path, help="candidate CSV with formation-energy columns")
    parser.add_argument("--rows", type=int, default=300, help="candidates timed (default: %(default)s)")
    parser.add_argument("--write-card", action="store_true", help="record the figures in checkpoints/phases/card.json")
    args = parser.parse_args()
    if args.timing:
        timing(args.timing, args.rows)
        return 0
    import json

    figures = evaluate(args.overall, args.seed)
    print(json.dumps(figures, indent=1))
    if args.write_card:
        write_card_metrics(figures, args)
    return 0


def write_card_metrics(figures: dict, args: argparse.Namespace) -> None:
    """Add the figures and the Models page's sentence to the phases card."""
    from superdiff_core.artifacts import read_card, write_card
    from superdiff_core.phase_building import PHASES_FOLDER

    folder = DEFAULT_MODELS_DIR / PHASES_FOLDER
    card = read_card(folder)
    oxides, overall = figures["oxides_4plus"], figures["overall"]
    card["metrics"] = {**figures,
                       "command": f"python benchmarks/bench_stability.py --overall {args.overall} --seed {args.seed} --write-card"}
    card["summary"] = (
        f"Against the known OQMD phases, of the held-out compounds the formation model calls stable, "
        f"{100 * overall['stable']['precision']:.0f} % are (it finds {100 * overall['stable']['recall']:.0f} % of the stable ones); "
        f"for oxides of 4 or more elements {100 * oxides['stable']['precision']:.0f} % are "
        f"(F1 {oxides['stable']['f1']:.2f}); within 0.1 eV/atom of the hull: F1 {oxides['within_0.1']['f1']:.2f} on those oxides.")
    card["published"] = {"note": "CrabNet's and ElemNet's per-compound predictions are not in ../shared/data (only their "
                         "test-split MAEs: CrabNet 0.031, ElemNet 0.049 eV/atom), so their hull figures on these rows are not computed"}
    write_card(folder, card)


if __name__ == "__main__":
    raise SystemExit(main())
