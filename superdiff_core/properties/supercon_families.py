"""Chemical families of SuperCon superconductors, by element rules (for leave-one-family-out folds).

SuperCon's own class (cuprate / iron-based / other, the ``class_codes`` of
:class:`.supercon_data.SuperconductorData`) is split into the families the literature
names, by which elements a composition contains; the first rule that matches wins, in
the order of :data:`FAMILY_RULES`. The rules only read the composition, so the families
are reproducible from the data alone:

- cuprates: Hg-, Tl-, Bi-based (by the element), RE-123 (Ba with Y or a lanthanide),
  214 and other single-layer RE cuprates (La, Nd, Pr, Sm, Eu, Gd or Ce without Ba),
  other cuprates (Sr-Ca infinite layer, Pb-based, ...);
- iron-based: 1111 (with O or F), chalcogenides (Se or Te, no As or P), 122/111 and
  other pnictides;
- others: heavy-fermion (Ce, Yb, U, Np, Pu, Am), borocarbides (B and C), MgB2-like
  borides (B), carbon-rich (fullerides, intercalated graphite: C >= 50 % of the atoms),
  Chevrel phases (Mo with S, Se or Te), A15 (Nb, V, Ta, Mo, Cr, Ti or Zr making up
  70-80 % of the atoms with at most three elements), non-cuprate oxides (bismuthates,
  titanates, ...), other chalcogenides and pnictides (S, Se, Te, P, As, Sb), elements and
  binary alloys, and ternary or larger intermetallics.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from ..composition import ELEMENT_SYMBOLS

LANTHANIDES = ("La", "Ce", "Pr", "Nd", "Pm", "Sm", "Eu", "Gd", "Tb", "Dy", "Ho", "Er", "Tm", "Yb", "Lu")
A15_A_SITE = ("Nb", "V", "Ta", "Mo", "Cr", "Ti", "Zr")
HEAVY_FERMION = ("Ce", "Yb", "U", "Np", "Pu", "Am")

Rule = Callable[[dict[str, float]], bool]
"""A test on one composition's ``{symbol: atomic fraction}`` (elements present only)."""


def _any(*symbols: str) -> Rule:
    return lambda fractions: any(symbol in fractions for symbol in symbols)


def _a15(fractions: dict[str, float]) -> bool:
    return len(fractions) <= 3 and 0.70 <= sum(fractions.get(symbol, 0.0) for symbol in A15_A_SITE) <= 0.80


CUPRATE, IRON_BASED, OTHER = 1, 2, 3
FAMILY_RULES: tuple[tuple[int, str, Rule], ...] = (
    (CUPRATE, "cuprate: Hg-based", _any("Hg")),
    (CUPRATE, "cuprate: Tl-based", _any("Tl")),
    (CUPRATE, "cuprate: Bi-based", _any("Bi")),
    (CUPRATE, "cuprate: RE-123 (Ba with Y or a lanthanide)", lambda f: "Ba" in f and _any("Y", *LANTHANIDES)(f)),
    (CUPRATE, "cuprate: 214 and other RE single-layer", _any("La", "Nd", "Pr", "Sm", "Eu", "Gd", "Ce")),
    (CUPRATE, "cuprate: other", lambda f: True),
    (IRON_BASED, "iron-based: 1111 (with O or F)", _any("O", "F")),
    (IRON_BASED, "iron-based: chalcogenides (Se, Te)", lambda f: _any("Se", "Te")(f) and not _any("As", "P")(f)),
    (IRON_BASED, "iron-based: 122, 111 and other pnictides", lambda f: True),
    (OTHER, "heavy-fermion (Ce, Yb, U, Np, Pu, Am)", _any(*HEAVY_FERMION)),
    (OTHER, "borocarbides (B and C)", lambda f: "B" in f and "C" in f),
    (OTHER, "MgB2-like borides", _any("B")),
    (OTHER, "carbon-rich (fullerides, intercalated graphite)", lambda f: f.get("C", 0.0) >= 0.5),
    (OTHER, "Chevrel phases (Mo with S, Se, Te)", lambda f: "Mo" in f and _any("S", "Se", "Te")(f)),
    (OTHER, "A15 (A3B)", _a15),
    (OTHER, "non-cuprate oxides", _any("O")),
    (OTHER, "other chalcogenides and pnictides", _any("S", "Se", "Te", "P", "As", "Sb")),
    (OTHER, "elements and binary alloys", lambda f: len(f) <= 2),
    (OTHER, "ternary and larger intermetallics", lambda f: True),
)
FAMILY_NAMES: tuple[str, ...] = tuple(name for _, name, _ in FAMILY_RULES)


def family_of(fractions: dict[str, float], class_code: int) -> str:
    """The family name of one superconductor (``fractions``: symbol -> atomic fraction, present elements)."""
    for code, name, rule in FAMILY_RULES:
        if code == class_code and rule(fractions):
            return name
    raise ValueError(f"class code {class_code} is not 1 (cuprate), 2 (iron-based) or 3 (other)")


def supercon_families(vectors: np.ndarray, class_codes: np.ndarray) -> np.ndarray:
    """Family index (into :data:`FAMILY_NAMES`) of each superconductor.

    Args:
        vectors: amounts, shape (n, 96).
        class_codes: SuperCon's class per row (1 cuprate, 2 iron-based, 3 other), shape (n,).

    Returns:
        int64 (n,).
    """
    vectors = np.asarray(vectors, dtype=np.float64)
    totals = vectors.sum(axis=1, keepdims=True)
    fractions = np.divide(vectors, totals, out=np.zeros_like(vectors), where=totals > 0)
    out = np.empty(len(vectors), dtype=np.int64)
    for row, (fraction_row, code) in enumerate(zip(fractions, class_codes)):
        present = {ELEMENT_SYMBOLS[i]: float(fraction_row[i]) for i in np.flatnonzero(fraction_row > 0)}
        out[row] = FAMILY_NAMES.index(family_of(present, int(code)))
    return out


def leave_one_family_out_folds(families: np.ndarray, min_rows: int = 20) -> list[tuple[int, np.ndarray, np.ndarray]]:
    """``(family index, train rows, test rows)`` holding out each family with at least ``min_rows`` rows in turn.

    The rows of smaller families stay in every training part (they are never scored).
    """
    folds = []
    for family in np.unique(families):
        test = np.flatnonzero(families == family)
        if len(test) >= min_rows:
            folds.append((int(family), np.flatnonzero(families != family), test))
    return folds
