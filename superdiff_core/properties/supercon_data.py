"""Training data of the superconductor classifier and the Tc regressor.

- Positives: SuperCon compounds with Tc > 0 (``SuperCon_with_types.dat``).
- Negatives: rows of Stanev et al.'s ``Supercon_data.csv`` with Tc = 0 whose composition
  is not also listed as a superconductor (in either file).
- Optional extra negatives: OQMD formulas whose composition (element fractions) is not
  in either SuperCon file, a seeded subset: uniformly at random, or (``"similar"``) drawn
  with weight ``exp(-d / OQMD_SIMILARITY_SCALE)`` where d is the Euclidean distance in
  element fractions to the nearest SuperCon superconductor, leaving out compositions within
  ``OQMD_MIN_DISTANCE`` of one (likely relatives that are superconducting themselves).
  SuperCon's own negatives are doped relatives of superconductors, so without these
  ordinary ionic salts (NaCl, KCl) have only superconductors as neighbours; OQMD's
  intermetallics and pnictides are the hard negatives COD (mostly salts and oxides) lacks.
- COD negatives (the default since issue 10): Crystallography Open Database formulas
  (Konno et al. 2021's "garbage-in" set), without organics (C and H together), hydrates
  and hydroxides (H and O together), formulas with an element outside the 96, duplicate
  compositions, and any composition listed in either SuperCon file; each filter counted.
"""


from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..composition import N_ELEMENTS, FormulaError, parse_formula
from ..data import LoadReport, load_supercon, sha256_of_file, vector_keys
from ..errors import InputError
from .features import element_fractions

SOURCES: tuple[str, ...] = ("supercon", "supercon_non_superconductor", "oqmd", "cod")
"""Where a training row comes from (index into this tuple is stored per row)."""

_DATA_DIR = Path(__file__).resolve().parents[3] / "shared" / "data"
DEFAULT_SUPERCON_TYPED = _DATA_DIR / "supercon" / "SuperCon_with_types.dat"
DEFAULT_SUPERCON_STANEV = _DATA_DIR / "supercon" / "Supercon_data.csv"
DEFAULT_OQMD = _DATA_DIR / "oqmd" / "formation_enthalpy.csv"
DEFAULT_COD = _DATA_DIR / "cod" / "cod_inorganic_formulas.csv"
_CARBON, _HYDROGEN, _OXYGEN = 5, 0, 7  # index Z - 1

OQMD_SELECTIONS: tuple[str, ...] = ("random", "similar")
"""How the OQMD negatives are drawn (module docstring)."""

OQMD_SIMILARITY_SCALE = 0.1
"""Distance (element fractions, Euclidean) over which the ``"similar"`` draw's weight falls by e."""

OQMD_MIN_DISTANCE = 0.02
"""OQMD compositions nearer than this to a superconductor are never drawn as negatives."""


@dataclass
class SuperconductorData:
    """Labelled compositions for the classifier; Tc and class for the positives.

    Attributes:
        vectors: amounts, shape (n, 96).
        is_superconductor: labels, shape (n,), bool.
        source: index into :data:`SOURCES`, shape (n,).
        tc_kelvin: Tc for positives, 0 for negatives, shape (n,).
        class_codes: 1 cuprate, 2 pnictide, 3 other for positives, 0 for negatives.
        sha256: file name -> checksum of every file read.
        counts: what was read, kept and left out (for the model card).
    """

    vectors: np.ndarray
    is_superconductor: np.ndarray
    source: np.ndarray
    tc_kelvin: np.ndarray
    class_codes: np.ndarray
    sha256: dict[str, str] = field(default_factory=dict)
    counts: dict[str, object] = field(default_factory=dict)

    def without_source(self, name: str) -> "SuperconductorData":
        """The same data without the rows of one source (e.g. ``"oqmd"``)."""
        keep = self.source != SOURCES.index(name)
        return SuperconductorData(
            self.vectors[keep], self.is_superconductor[keep], self.source[keep], self.tc_kelvin[keep],
            self.class_codes[keep], self.sha256, self.counts,
        )


def _fraction_keys(vectors: np.ndarray) -> list[bytes]:
    """Composition keys independent of how the formula is scaled (La2O4 == LaO2)."""
    return vector_keys(element_fractions(vectors) * 100.0)


def _parse_all(formulas, report: LoadReport) -> tuple[np.ndarray, np.ndarray]:
    """Vectors of the formulas that parse, and a mask of which did."""
    vectors, ok = [], []
    for formula in formulas:
        try:
            vectors.append(parse_formula(str(formula), max_elements=N_ELEMENTS))
            ok.append(True)
        except FormulaError as error:
            report.note(report.skipped, str(error).split(": ", 1)[-1], str(formula))
            ok.append(False)
    return (np.array(vectors) if vectors else np.zeros((0, N_ELEMENTS))), np.array(ok, dtype=bool)


def _read_csv(path: Path, columns: set[str]) -> pd.DataFrame:
    if not path.is_file():
        raise InputError(f"file not found: {path}")
    table = pd.read_csv(path)
    if not columns <= set(table.columns):
        raise InputError(f"{path} needs the columns {', '.join(sorted(columns))}")
    return table


def load_superconductor_data(
    supercon_path: str | os.PathLike = DEFAULT_SUPERCON_TYPED,
    non_superconductors_path: str | os.PathLike = DEFAULT_SUPERCON_STANEV,
    oqmd_path: str | os.PathLike | None = None,
    oqmd_negatives: int = 0,
    seed: int = 0,
    cod_path: str | os.PathLike | None = None,
    oqmd_selection: str = "random",
) -> SuperconductorData:
    """Read and label the classifier's data (see the module docstring).

    Args:
        supercon_path: ``SuperCon_with_types.dat`` (positives, with Tc and class).
        non_superconductors_path: ``Supercon_data.csv`` (columns ``name, Tc``).
        oqmd_path: ``formation_enthalpy.csv`` (column ``formula``) or None.
        oqmd_negatives: how many OQMD compositions to add as negatives (0: none).
        seed: picks the OQMD subset.
        cod_path: ``cod_inorganic_formulas.csv`` (column ``formula``) or None: every COD
            composition left after the filters of the module docstring is a negative.
        oqmd_selection: one of :data:`OQMD_SELECTIONS`: how the OQMD negatives are drawn.

    Raises:
        InputError: for a missing file or missing columns.
    """
    supercon = load_supercon(supercon_path)
    positive = supercon.tc_kelvin > 0
    positives = supercon.vectors[positive]
    stanev_path = Path(non_superconductors_path)
    stanev = _read_csv(stanev_path, {"name", "Tc"})
    stanev_report = LoadReport(rows_read=len(stanev))
    stanev_vectors, parsed = _parse_all(stanev["name"], stanev_report)
    stanev_tc = stanev["Tc"].to_numpy(dtype=np.float64)[parsed]
    superconducting_keys = set(vector_keys(positives)) | set(vector_keys(stanev_vectors[stanev_tc > 0]))
    zero_tc = stanev_vectors[stanev_tc == 0]
    also_superconducting = np.array([key in superconducting_keys for key in vector_keys(zero_tc)], dtype=bool)
    negatives = zero_tc[~also_superconducting]
    counts: dict[str, object] = {
        "supercon_rows_used": int(len(supercon.vectors)),
        "positives": int(len(positives)),
        "supercon_load_report": supercon.report.lines(),
        "non_superconductor_file_rows": int(len(stanev)),
        "non_superconductor_tc_zero_rows": int(len(zero_tc)),
        "non_superconductor_dropped_as_also_superconducting": int(also_superconducting.sum()),
        "non_superconductor_negatives": int(len(negatives)),
        "non_superconductor_load_report": stanev_report.lines(),
    }
    sha256 = {Path(supercon_path).name: supercon.sha256, stanev_path.name: sha256_of_file(stanev_path)}
    parts = [positives, negatives]
    sources = [np.zeros(len(positives), np.int8), np.ones(len(negatives), np.int8)]
    if oqmd_path is not None and oqmd_negatives > 0:
        oqmd_path = Path(oqmd_path)
        oqmd = _read_csv(oqmd_path, {"formula"})
        oqmd_report = LoadReport(rows_read=len(oqmd))
        oqmd_vectors, _ = _parse_all(oqmd["formula"], oqmd_report)
        known = set(_fraction_keys(supercon.vectors)) | set(_fraction_keys(stanev_vectors))
        unknown = np.flatnonzero([key not in known for key in _fraction_keys(oqmd_vectors)])
        chosen = _draw_oqmd(oqmd_vectors[unknown], positives, oqmd_negatives, oqmd_selection, seed)
        chosen = unknown[chosen]
        parts.append(oqmd_vectors[chosen])
        sources.append(np.full(len(chosen), 2, np.int8))
        sha256[oqmd_path.name] = sha256_of_file(oqmd_path)
        counts.update({
            "oqmd_rows": int(len(oqmd)), "oqmd_not_in_supercon": int(len(unknown)),
            "oqmd_negatives": int(len(chosen)), "oqmd_selection": oqmd_selection, "oqmd_load_report": oqmd_report.lines(),
        })
    if cod_path is not None:
        cod_vectors, cod_counts, cod_sha = _cod_negatives(Path(cod_path), supercon.vectors, stanev_vectors)
        parts.append(cod_vectors)
        sources.append(np.full(len(cod_vectors), SOURCES.index("cod"), np.int8))
        sha256[Path(cod_path).name] = cod_sha
        counts.update(cod_counts)
    n_negative = sum(len(part) for part in parts[1:])
    return SuperconductorData(
        vectors=np.vstack(parts),
        is_superconductor=np.r_[np.ones(len(positives), bool), np.zeros(n_negative, bool)],
        source=np.concatenate(sources),
        tc_kelvin=np.r_[supercon.tc_kelvin[positive], np.zeros(n_negative)],
        class_codes=np.r_[supercon.class_codes[positive], np.zeros(n_negative, np.int64)],
        sha256=sha256,
        counts=counts,
    )


def _draw_oqmd(candidates: np.ndarray, superconductors: np.ndarray, n: int, selection: str, seed: int) -> np.ndarray:
    """Sorted indices of ``n`` of the (m, 96) OQMD ``candidates`` drawn as ``selection`` says (module docstring)."""
    rng = np.random.default_rng(seed)
    if selection == "random":
        return np.sort(rng.permutation(len(candidates))[:n])
    if selection != "similar":
        raise ValueError(f"unknown OQMD selection {selection!r}; choose one of {', '.join(OQMD_SELECTIONS)}")
    from .neighbours import nearest_neighbours

    distance, _ = nearest_neighbours(element_fractions(superconductors), element_fractions(candidates), 1)
    weight = np.where(distance[:, 0] >= OQMD_MIN_DISTANCE, np.exp(-distance[:, 0] / OQMD_SIMILARITY_SCALE), 0.0)
    n = min(n, int((weight > 0).sum()))
    return np.sort(rng.choice(len(candidates), size=n, replace=False, p=weight / weight.sum()))


def _cod_negatives(path: Path, supercon_vectors: np.ndarray, stanev_vectors: np.ndarray) -> tuple[np.ndarray, dict[str, object], str]:
    """COD compositions kept as negatives (module docstring), the counts of each filter and the file's sha256."""
    table = _read_csv(path, {"formula"})
    report = LoadReport(rows_read=len(table))
    vectors, _ = _parse_all(table["formula"], report)
    organic = (vectors[:, _CARBON] > 0) & (vectors[:, _HYDROGEN] > 0)
    hydrous = ~organic & (vectors[:, _HYDROGEN] > 0) & (vectors[:, _OXYGEN] > 0)
    kept = vectors[~organic & ~hydrous]
    keys = _fraction_keys(kept)
    known = set(_fraction_keys(supercon_vectors)) | set(_fraction_keys(stanev_vectors))
    seen: set[bytes] = set()
    chosen, in_supercon, duplicate = [], 0, 0
    for row, key in enumerate(keys):
        if key in known:
            in_supercon += 1
        elif key in seen:
            duplicate += 1
        else:
            seen.add(key)
            chosen.append(row)
    counts = {
        "cod_rows": int(len(table)),
        "cod_load_report": report.lines(),
        "cod_dropped_organic_c_and_h": int(organic.sum()),
        "cod_dropped_hydrate_or_hydroxide_h_and_o": int(hydrous.sum()),
        "cod_dropped_composition_in_supercon": int(in_supercon),
        "cod_dropped_duplicate_composition": int(duplicate),
        "cod_negatives": int(len(chosen)),
    }
    return kept[np.array(chosen, dtype=np.int64)], counts, sha256_of_file(path)
