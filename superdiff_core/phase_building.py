"""Build-time reduction of OQMD to the known phases the hull needs (``checkpoints/phases/``).

Reads both OQMD formation-enthalpy files, drops failed DFT rows (|E| > 5 eV/atom) and rows
that do not parse (both counted in the card), keeps the lowest energy per composition,
puts every element at 0 eV/atom, and keeps only the phases on the convex hull of their own
chemical system: a phase above the hull of its own system is above the hull of every
larger system, so these phases give the same hull as all of OQMD for any candidate.

The stable set is found system by system, smallest first: the hull of a system is that of
its own phases plus the stable phases of its subsystems (qhull on fractions + energy). The
run-time side (:mod:`superdiff_core.stability`) builds pymatgen phase diagrams from it.
"""

from __future__ import annotations

import itertools
import math
import os
import time
from dataclasses import dataclass
from functools import reduce
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .artifacts import command_line, save_npz_atomically, write_card
from .composition import ELEMENT_SYMBOLS, N_ELEMENTS, FormulaError, parse_formula, vectors_to_formulas
from .data import DEFAULT_SUPERCON_PATH, sha256_of_file
from .errors import InputError

DEFAULT_OQMD_FILES = tuple(DEFAULT_SUPERCON_PATH.parents[1] / "oqmd" / name
                           for name in ("formation_enthalpy.csv", "formation_enthalpy_train.csv"))
"""Both OQMD files of ../shared/data/oqmd (the formation model's evaluation and training files)."""
PHASES_FOLDER = "phases"
PHASES_FILE = "phases.npz"
FAILED_DFT_EV = 5.0
"""|formation energy| above this (eV/atom) marks a failed DFT run (the same cut as the formation model's)."""

_STABLE_TOLERANCE = 1e-9  # eV/atom: facets steeper than this count as lower hull


@dataclass
class PhaseTable:
    """Lowest formation energy per composition, elements included.

    Attributes:
        vectors: reduced integer amounts, shape (m, 96).
        energies: formation energy, eV/atom, shape (m,); 0 for elements.
        counts: rows read, dropped as failed DFT, unparsable, duplicates of a lower-energy composition.
        sources: ``{path: sha256}`` of the files read.
    """

    vectors: np.ndarray
    energies: np.ndarray
    counts: dict[str, int]
    sources: dict[str, str]

    def fractions(self) -> np.ndarray:
        return self.vectors / self.vectors.sum(axis=1, keepdims=True)


def reduced_amounts(vector: np.ndarray) -> np.ndarray:
    """Integer amounts divided by their gcd (non-integer amounts are kept as they are)."""
    amounts = np.asarray(vector, dtype=float)
    present = amounts > 0
    if np.allclose(amounts[present], np.round(amounts[present])):
        divisor = reduce(math.gcd, (int(round(a)) for a in amounts[present]))
        return np.round(amounts) / max(divisor, 1)
    return amounts


def load_phase_table(paths: list[str | os.PathLike]) -> PhaseTable:
    """Read OQMD CSVs (``formula, formation_energy_per_atom``) into a :class:`PhaseTable`.

    Raises:
        InputError: if a file is missing or lacks the columns.
    """
    counts = {"rows_read": 0, "failed_dft_dropped": 0, "unparsable_dropped": 0, "elements_in_data_replaced_by_0": 0}
    vectors, energies, sources = [], [], {}
    for path in map(Path, paths):
        if not path.is_file():
            raise InputError(f"OQMD file not found: {path}")
        table = pd.read_csv(path)
        if not {"formula", "formation_energy_per_atom"} <= set(table.columns):
            raise InputError(f"{path} needs the columns formula, formation_energy_per_atom")
        sources[path.name] = sha256_of_file(path)
        for formula, energy in zip(table["formula"].astype(str), table["formation_energy_per_atom"].astype(float)):
            counts["rows_read"] += 1
            if not np.isfinite(energy) or abs(energy) > FAILED_DFT_EV:
                counts["failed_dft_dropped"] += 1
                continue
            try:
                vector = parse_formula(formula, max_elements=N_ELEMENTS)
            except FormulaError:
                counts["unparsable_dropped"] += 1
                continue
            if (vector > 0).sum() == 1:
                counts["elements_in_data_replaced_by_0"] += 1
                continue
            vectors.append(reduced_amounts(vector))
            energies.append(energy)
    vectors_array = np.array(vectors).reshape(-1, N_ELEMENTS)
    energies_array = np.array(energies)
    present = np.flatnonzero((vectors_array > 0).any(axis=0))
    vectors_array = np.concatenate([np.eye(N_ELEMENTS)[present], vectors_array])
    energies_array = np.concatenate([np.zeros(len(present)), energies_array])
    fractions = np.round(vectors_array / vectors_array.sum(axis=1, keepdims=True), 6)
    order = np.lexsort((energies_array,))
    _, first = np.unique(fractions[order], axis=0, return_index=True)
    keep = np.sort(order[first])
    counts["duplicate_compositions_dropped"] = len(vectors_array) - len(keep)
    counts["elements"] = len(present)
    return PhaseTable(vectors_array[keep], energies_array[keep], counts, sources)


def element_systems(vectors: np.ndarray) -> list[frozenset[int]]:
    """The set of element indices of each row."""
    return [frozenset(np.flatnonzero(row > 0).tolist()) for row in vectors]


def _lower_hull_vertices(points: np.ndarray) -> set[int]:
    """Indices of the points on the lower convex hull (last coordinate = energy)."""
    from scipy.spatial import ConvexHull, QhullError

    try:
        hull = ConvexHull(points, qhull_options="Qt")
    except QhullError:
        hull = ConvexHull(points, qhull_options="QJ")
    lower = hull.equations[:, -2] < -_STABLE_TOLERANCE
    return set(np.unique(hull.simplices[lower]).tolist())


def stable_mask(table: PhaseTable) -> np.ndarray:
    """Which rows of ``table`` lie on the convex hull of their own chemical system, shape (m,)."""
    systems = element_systems(table.vectors)
    fractions = table.fractions()
    by_system: dict[frozenset[int], list[int]] = {}
    for row, system in enumerate(systems):
        by_system.setdefault(system, []).append(row)
    stable = np.zeros(len(systems), dtype=bool)
    stable_by_system: dict[frozenset[int], list[int]] = {}
    for system in sorted(by_system, key=len):
        rows = [r for r in by_system[system] if table.energies[r] < -_STABLE_TOLERANCE or len(system) == 1]
        if len(system) == 1:
            stable[rows] = True
            stable_by_system[system] = rows
            continue
        if not rows:
            continue
        competitors = [r for size in range(1, len(system)) for subset in itertools.combinations(sorted(system), size)
                       for r in stable_by_system.get(frozenset(subset), [])]
        candidates = competitors + rows
        axes = sorted(system)[:-1]
        points = np.column_stack([fractions[np.ix_(candidates, axes)], table.energies[candidates]])
        on_hull = [candidates[i] for i in _lower_hull_vertices(points) if i >= len(competitors)]
        stable[on_hull] = True
        stable_by_system[system] = on_hull
    return stable


def element_bits(vectors: np.ndarray) -> np.ndarray:
    """Element sets as 96-bit masks, shape (m, 2) uint64 (bit i of word i // 64 = element index i)."""
    present = np.asarray(vectors) > 0
    words = np.zeros((len(present), 2), dtype=np.uint64)
    for word in range(2):
        block = present[:, 64 * word: 64 * (word + 1)]
        weights = (np.uint64(1) << np.arange(block.shape[1], dtype=np.uint64))
        words[:, word] = (block.astype(np.uint64) * weights).sum(axis=1, dtype=np.uint64)
    return words


def build_phases(paths: list[str | os.PathLike], out_dir: str | os.PathLike) -> dict[str, Any]:
    """Reduce the OQMD files to ``out_dir/phases.npz`` (stable phases) and its card; returns the card.

    The npz holds ``formulas`` (chemists' spelling, str), ``energies`` (eV/atom, float64) and
    ``element_bits`` (:func:`element_bits`); it loads with ``allow_pickle=False``.
    """
    start = time.perf_counter()
    table = load_phase_table(paths)
    stable = stable_mask(table)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    vectors = table.vectors[stable]
    formulas = np.array(vectors_to_formulas(vectors), dtype=str)
    save_npz_atomically(out / PHASES_FILE, formulas=formulas, energies=table.energies[stable], element_bits=element_bits(vectors))
    elements = [ELEMENT_SYMBOLS[i] for i in np.flatnonzero((vectors > 0).any(axis=0))]
    card = {
        "artifact": "known phases for the energy above the convex hull (energy_above_hull_ev_per_atom)",
        "command": command_line("superdiff", "build-phases", *(f"../shared/data/oqmd/{Path(p).name}" for p in paths),
                                "--out", f"checkpoints/{PHASES_FOLDER}"),
        "data": {name: {"path": f"../shared/data/oqmd/{name}", "sha256": sha} for name, sha in table.sources.items()},
        "reduction": {
            **table.counts,
            "compositions": int(len(table.energies)),
            "stable_phases_kept": int(stable.sum()),
            "rule": f"rows with |E| > {FAILED_DFT_EV:g} eV/atom are failed DFT runs and dropped; elements at 0 eV/atom; "
                    "lowest energy per composition; only phases on the hull of their own chemical system kept",
        },
        "elements": elements,
        "files": {PHASES_FILE: {"bytes": (out / PHASES_FILE).stat().st_size, "sha256": sha256_of_file(out / PHASES_FILE)}},
        "build_seconds": round(time.perf_counter() - start, 1),
    }
    write_card(out, card)
    return card
