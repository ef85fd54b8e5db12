"""Stability of candidates against the known phases: energy above the convex hull, with its spread.

For a candidate of composition c with predicted formation energy E ± sigma (eV/atom, the
formation model's), the known phases of its chemical system (OQMD, reduced at build time by
:mod:`superdiff_core.phase_building`, ``checkpoints/phases/``) give the hull energy
H(c); the candidate's

- ``energy_above_hull_ev_per_atom`` = E - H(c) (signed: negative means the prediction lies
  below every known combination of phases, i.e. the model calls it stable by that margin);
- ``energy_above_hull_std_ev_per_atom`` = sigma (the hull's DFT energies are taken as exact,
  so the model's spread is the whole spread);
- ``decomposes_to``: the phases on the hull at c with their shares of the atoms, e.g.
  ``0.52 Ba2YCu3O7 + 0.31 BaSeO3 + 0.17 SrO`` (shares sum to 1).

A candidate with an element missing from the phase data gets empty values and a reason in
``hull_note``. Phase diagrams (pymatgen's ``PhaseDiagram``) are built once per chemical
system and cached.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .artifacts import DEFAULT_MODELS_DIR, read_card, required_file
from .composition import ELEMENT_SYMBOLS
from .errors import CheckpointError
from .phase_building import PHASES_FILE, PHASES_FOLDER, element_bits

HULL_COLUMN = "energy_above_hull_ev_per_atom"
HULL_STD_COLUMN = "energy_above_hull_std_ev_per_atom"
DECOMPOSITION_COLUMN = "decomposes_to"
HULL_NOTE_COLUMN = "hull_note"
HULL_COLUMNS: tuple[str, ...] = (HULL_COLUMN, HULL_STD_COLUMN, DECOMPOSITION_COLUMN, HULL_NOTE_COLUMN)

REBUILD_COMMAND = ("superdiff build-phases ../shared/data/oqmd/formation_enthalpy.csv "
                   "../shared/data/oqmd/formation_enthalpy_train.csv --out checkpoints/phases")
DIAGRAM_CACHE_SIZE = 2048
"""Phase diagrams (chemical systems) kept in memory per :class:`KnownPhases`."""

_SHARE_DECIMALS = 2


@dataclass
class KnownPhases:
    """The stable known phases (formation energies, eV/atom) and a per-system diagram cache.

    Attributes:
        formulas: shape (m,); energies: eV/atom, shape (m,); bits: element sets, shape (m, 2) uint64.
        card: the artifact's card (data checksums, counts, metrics).
    """

    formulas: np.ndarray
    energies: np.ndarray
    bits: np.ndarray
    card: dict[str, Any] = field(default_factory=dict)
    _diagrams: OrderedDict = field(default_factory=OrderedDict, repr=False)

    @property
    def covered(self) -> np.ndarray:
        """Which of the 96 elements the phase data cover, shape (96,) bool."""
        words = np.bitwise_or.reduce(self.bits, axis=0)
        return np.array([bool((int(words[i // 64]) >> (i % 64)) & 1) for i in range(len(ELEMENT_SYMBOLS))])

    def diagram(self, system: frozenset[int]):
        """pymatgen ``PhaseDiagram`` of the phases whose elements lie in ``system`` (element indices), cached."""
        if system in self._diagrams:
            self._diagrams.move_to_end(system)
            return self._diagrams[system]
        from pymatgen.analysis.phase_diagram import PDEntry, PhaseDiagram
        from pymatgen.core import Composition

        wanted = element_bits(np.isin(np.arange(len(ELEMENT_SYMBOLS)), list(system))[None])[0]
        inside = np.flatnonzero(((self.bits & ~wanted) == 0).all(axis=1))
        entries = []
        for row in inside:
            composition = Composition(str(self.formulas[row]))
            entries.append(PDEntry(composition, float(self.energies[row]) * composition.num_atoms, name=str(self.formulas[row])))
        diagram = PhaseDiagram(entries)
        self._diagrams[system] = diagram
        if len(self._diagrams) > DIAGRAM_CACHE_SIZE:
            self._diagrams.popitem(last=False)
        return diagram


def load_known_phases(models_dir: str | os.PathLike = DEFAULT_MODELS_DIR) -> KnownPhases:
    """Load ``<models_dir>/phases/`` (npz without pickles, and the card).

    Raises:
        CheckpointError: if the artifact is missing or corrupt (naming the rebuild command).
    """
    folder = Path(models_dir) / PHASES_FOLDER
    path = required_file(folder / PHASES_FILE, REBUILD_COMMAND)
    try:
        with np.load(path, allow_pickle=False) as data:
            phases = KnownPhases(data["formulas"], data["energies"].astype(float), data["element_bits"].astype(np.uint64))
    except (OSError, ValueError, KeyError) as error:
        raise CheckpointError(f"corrupt {path} ({type(error).__name__}: {error}); rebuild it with: {REBUILD_COMMAND}") from None
    phases.card = read_card(folder)
    return phases


def share_text(shares: dict[str, float]) -> str:
    """``{formula: share of atoms}`` as ``0.52 A + 0.31 B + 0.17 C``: largest first, shares rounded to
    2 decimals by largest remainder so that they sum to exactly 1; a share that rounds to 0 is left out."""
    total = sum(shares.values())
    scale = 10 ** _SHARE_DECIMALS
    exact = {name: scale * share / total for name, share in shares.items()}
    rounded = {name: int(np.floor(value)) for name, value in exact.items()}
    for name in sorted(exact, key=lambda n: exact[n] - rounded[n], reverse=True)[: scale - sum(rounded.values())]:
        rounded[name] += 1
    kept = sorted(((units, name) for name, units in rounded.items() if units > 0), key=lambda pair: (-pair[0], pair[1]))
    return " + ".join(f"{units / scale:.{_SHARE_DECIMALS}f} {name}" for units, name in kept)


def hull_position(phases: KnownPhases, vector: np.ndarray, energy_ev_per_atom: float) -> tuple[float, dict[str, float]]:
    """``(energy above the hull in eV/atom, {phase: share of atoms})`` of one (96,) composition
    whose formation energy is ``energy_ev_per_atom``; the elements must be covered."""
    from pymatgen.analysis.phase_diagram import PDEntry
    from pymatgen.core import Composition

    present = np.flatnonzero(vector > 0)
    composition = Composition({ELEMENT_SYMBOLS[i]: float(vector[i]) for i in present})
    diagram = phases.diagram(frozenset(present.tolist()))
    entry = PDEntry(composition, energy_ev_per_atom * composition.num_atoms)
    decomposition, above = diagram.get_decomp_and_e_above_hull(entry, allow_negative=True)
    return float(above), {str(e.name): float(share) for e, share in decomposition.items()}


def hull_columns(
    vectors: np.ndarray,
    formation_ev_per_atom: np.ndarray,
    formation_std_ev_per_atom: np.ndarray,
    phases: KnownPhases,
) -> pd.DataFrame:
    """Hull columns for candidates.

    Args:
        vectors: amounts, shape (n, 96).
        formation_ev_per_atom: predicted formation energy, eV/atom, shape (n,) (NaN: none).
        formation_std_ev_per_atom: its 1-sigma spread, eV/atom, shape (n,).
        phases: :func:`load_known_phases`.

    Returns:
        One row per vector: ``energy_above_hull_ev_per_atom`` and ``energy_above_hull_std_ev_per_atom``
        (float, NaN when not computed), ``decomposes_to`` and ``hull_note`` (str, "" when computed).
    """
    vectors = np.atleast_2d(np.asarray(vectors, dtype=float))
    energies = np.asarray(formation_ev_per_atom, dtype=float)
    stds = np.asarray(formation_std_ev_per_atom, dtype=float)
    covered = phases.covered
    above = np.full(len(vectors), np.nan)
    spread = np.full(len(vectors), np.nan)
    decomposes, notes = [""] * len(vectors), [""] * len(vectors)
    for row, vector in enumerate(vectors):
        missing = [ELEMENT_SYMBOLS[i] for i in np.flatnonzero((vector > 0) & ~covered)]
        if missing:
            notes[row] = f"hull: {', '.join(missing)} not in the known phases (OQMD)"
        elif not np.isfinite(energies[row]):
            notes[row] = "hull: no predicted formation energy"
        elif (vector > 0).sum() < 2:
            notes[row] = "hull: a single element"
        else:
            try:
                above[row], shares = hull_position(phases, vector, float(energies[row]))
            except (ValueError, ArithmeticError) as error:  # qhull or pymatgen on a degenerate system
                notes[row] = f"hull: not computed ({type(error).__name__})"
                continue
            spread[row] = stds[row]
            decomposes[row] = share_text(shares)
    return pd.DataFrame({HULL_COLUMN: above, HULL_STD_COLUMN: spread, DECOMPOSITION_COLUMN: decomposes, HULL_NOTE_COLUMN: notes})
