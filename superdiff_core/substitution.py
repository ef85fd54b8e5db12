"""How plausible the elements a candidate adds to its reference are, as ionic substitutions.

A candidate that adds (or swaps in) an element is scored by the data-mined ionic
substitution probabilities of Hautier et al. (Inorg. Chem. 50, 656, 2011) as pymatgen
ships them (``pymatgen/core/structure_prediction/data/lambda.json``; SMACT ships the same
file byte for byte). The probability that species ``s`` takes the place of species ``t``
is pymatgen's ``SubstitutionProbability.cond_prob(s, t) = exp(lambda(s, t)) / p(t)``
(``lambda = -5`` for a pair never observed), rebuilt here as one matrix.

An independent score, used to check the first, is the cosine similarity of SkipSpecies
ion embeddings (Onwuli, Butler and Walsh, Faraday Discuss. 2024; shipped by SMACT in
``smact/data/species_rep``): a skip-gram embedding of which ions share structures in the
Materials Project, not a count of substitutions.

The rules (one function each below):

- **Species of the reference.** One oxidation state per element, the assignment from
  pymatgen's ICSD and common states closest to charge balance
  (:func:`oxidation_state_guess`; a hole-doped cuprate is Cu2+). Where none comes within
  10 % of balance (intermetallics such as Nb3Sn or MgB2), every species of the element in
  the table counts.
- **Species of a new element.** Any species of that element in the table with the same
  sign of charge as the reference species it replaces, the most favourable one: a cation
  never replaces an anion.
- **Which reference element it replaces.** The one with the highest score (the best
  reference element it *could* substitute for): an upper bound on its plausibility, and the
  verdict. Where the amounts point to another site (a reference element of a compatible sign
  that lost at least :data:`SITE_SHARE` of the new element's amount: :func:`_name_taken_sites`),
  the reason leads with that site and its own score and says which pair the verdict judges,
  ``Tl in Hg's place: p = 0.0014 (plausible as a substitute for Ba: p = 0.016)``, so a chemist
  sees where the element went first and the table's best match beside it. The verdict stays
  the best match's: Hautier's table scores Tl, Pb and Re for Hg as implausible, yet (Hg,Tl)-,
  (Hg,Pb)- and (Hg,Re)-1223 are well-known cuprates.
- **Fallback where the table lacks a species** (Hautier's table has no As3-, P3-, Te2-,
  H-, C4- and no noble gases): a prior that depends only on the distance of the two
  elements on Pettifor's chemical scale, the median table score of all element pairs at
  that distance (made non-increasing with distance), see :func:`pettifor_prior`.
- **A candidate** is plausible when every new element is (its score is the lowest of
  its new elements' scores); a candidate that adds no element has no score.

The thresholds were measured (``benchmarks/bench_substitution.py --calibrate``, written to
``benchmarks/substitution.md``): substitutions SuperCon's chemists made (pairs of SuperCon
compounds that differ by one element) against random elements added to the same
compounds; each threshold maximises the true-positive minus false-positive rate.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from .chemical_order import order_permutation
from .composition import ELEMENT_SYMBOLS, N_ELEMENTS, SYMBOL_TO_INDEX

SubstitutionScale = Literal["hautier", "skipspecies"]

SUBSTITUTION_SCALES: tuple[str, ...] = ("hautier", "skipspecies")
"""The scores: Hautier's substitution probability (the run's) and SkipSpecies cosine
similarity (the independent check)."""

PLAUSIBLE_THRESHOLDS: dict[str, float] = {"hautier": 0.0138, "skipspecies": 0.563}
"""Lowest score of a plausible substitution per scale: the threshold that best separates
2,000 substitutions SuperCon's chemists made from random elements added to the same
compounds (maximum true- minus false-positive rate; Hautier: 72 % vs 49 %, AUC 0.63;
SkipSpecies: 52 % vs 30 %, AUC 0.64; ``benchmarks/substitution.md``, "Thresholds")."""

NEVER_SUBSTITUTES: frozenset[str] = frozenset(
    "He Ne Ar Kr Xe Rn Tc Pm Po At Fr Ra Ac Pa Np Pu Am Cm Bk Cf Es Fm Md No Lr".split())
"""Elements never proposed as substitutes (:func:`plausible_substitutes`): the noble gases,
and the elements without a stable or long-lived isotope, which no synthetic chemist puts
into a superconductor however similar the ion (radium for barium, polonium for tellurium:
Hautier's table lacks them and the Pettifor fallback scores them as their neighbours)."""

SCORE_COLUMNS: dict[str, str] = {"hautier": "substitution_probability", "skipspecies": "substitution_similarity"}
"""Name of the score column per scale."""

SCORE_SYMBOLS: dict[str, str] = {"hautier": "p", "skipspecies": "cos"}
"""How the score is written in a reason (``As for Se: p = 0.0021 (implausible)``)."""

NEVER_OBSERVED_LAMBDA = -5.0
"""Hautier's lambda of a species pair never seen substituting (pymatgen's ``alpha``)."""

SITE_SHARE = 0.5
"""A reference element is the site a new element took when its amount fell by at least this share
of the new element's amount (HgBa2Ca2Cu3O8.27 → Hg0.58Tl0.46Ba2.02…: Hg lost 0.42 ≥ 0.5 × 0.46, Ba
none). Half, not all: the model's amounts move by a few hundredths, and a dopant of another charge
(K⁺ for Ca²⁺) need not replace its site atom for atom."""

MAX_RELATIVE_IMBALANCE = 0.1
"""Largest :func:`relative_imbalance` of an oxidation-state guess (10 % of the charge)."""

MAX_STATE_COMBINATIONS = 200_000
"""Most oxidation-state combinations :func:`oxidation_state_guess` examines (beyond this only
each element's common states are tried)."""

_SPECIES = re.compile(r"^([A-Z][a-z]?)(\d*)([+-])$")

PLAUSIBILITY_COLUMNS = ("new_elements", "dropped_elements", "substitutes_for", "plausible_substitution", "substitution_reason")
"""Columns of :func:`plausibility_columns` besides the score column (:data:`SCORE_COLUMNS`)."""


# ---------------------------------------------------------------------------------------
# The tables
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SpeciesTable:
    """A species-pair score table.

    Attributes:
        scale: ``hautier`` or ``skipspecies``.
        species: species labels (``"Cu2+"``), shape (s,).
        elements: element index (Z - 1) of each species, shape (s,), int64.
        charges: oxidation state of each species, shape (s,), int64 (never 0).
        scores: ``scores[i, j]``: score of species ``i`` taking the place of species ``j``, shape (s, s).
        observed: ``observed[i, j]``: the pair is in the source table (for Hautier's, a pair
            seen substituting: lambda recorded, not the never-observed default), shape (s, s).
        threshold: lowest plausible score (:data:`PLAUSIBLE_THRESHOLDS`).
    """

    scale: str
    species: tuple[str, ...]
    elements: np.ndarray
    charges: np.ndarray
    scores: np.ndarray
    observed: np.ndarray
    threshold: float

    @functools.cached_property
    def best_by_element(self) -> np.ndarray:
        """``best[x, j]``: best score of a species of element ``x`` with the sign of species
        ``j`` taking ``j``'s place (NaN when element ``x`` has no such species), shape (96, s)."""
        best = np.full((N_ELEMENTS, len(self.species)), np.nan)
        same_sign = np.sign(self.charges)[:, None] == np.sign(self.charges)[None, :]
        masked = np.where(same_sign, self.scores, -np.inf)
        for element in np.unique(self.elements):
            rows = masked[self.elements == element].max(axis=0)
            best[element] = np.where(np.isfinite(rows), rows, np.nan)
        return best

    @functools.cached_property
    def prior(self) -> np.ndarray:
        """The fallback score per Pettifor distance, shape (96,) (see :func:`pettifor_prior`)."""
        return pettifor_prior(self)

    def species_of(self, element: int) -> np.ndarray:
        """Indices of the table's species of one element (Z - 1)."""
        return np.flatnonzero(self.elements == element)


def parse_species(label: str) -> tuple[str, int]:
    """``"Cu2+"`` -> ("Cu", 2), ``"F1-"`` or ``"F-"`` -> ("F", -1): (element symbol, charge)."""
    match = _SPECIES.match(label)
    if match is None:
        raise ValueError(f"not a species label: {label!r}")
    return match.group(1), int(match.group(2) or 1) * (1 if match.group(3) == "+" else -1)


def _table_from_rows(scale: str, rows: list[tuple[str, str, float]], missing: float) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(species labels, value matrix with ``missing`` where a pair is absent, observed mask)."""
    labels = sorted({row[0] for row in rows} | {row[1] for row in rows}, key=parse_species)
    index = {label: i for i, label in enumerate(labels)}
    values = np.full((len(labels), len(labels)), missing)
    observed = np.zeros_like(values, dtype=bool)
    for first, second, value in rows:
        i, j = index[first], index[second]
        values[i, j] = values[j, i] = float(value)
        observed[i, j] = observed[j, i] = True
    return labels, values, observed


def _make_table(scale: str, labels: list[str], scores: np.ndarray, observed: np.ndarray) -> SpeciesTable:
    """The table restricted to the species of elements H … Cm (the others, e.g. Cf3+,
    still count in the normalisation of ``scores``)."""
    parsed = [parse_species(label) for label in labels]
    kept = np.array([symbol in SYMBOL_TO_INDEX for symbol, _ in parsed])
    return SpeciesTable(
        scale=scale,
        species=tuple(label for label, keep in zip(labels, kept) if keep),
        elements=np.array([SYMBOL_TO_INDEX[symbol] for symbol, _ in parsed if symbol in SYMBOL_TO_INDEX], dtype=np.int64),
        charges=np.array([charge for symbol, charge in parsed if symbol in SYMBOL_TO_INDEX], dtype=np.int64),
        scores=scores[np.ix_(kept, kept)],
        observed=observed[np.ix_(kept, kept)],
        threshold=PLAUSIBLE_THRESHOLDS[scale],
    )


def hautier_lambda_path() -> Path:
    """pymatgen's copy of Hautier's lambda table (``lambda.json``)."""
    from pymatgen.core.structure_prediction import substitution_probability

    return Path(substitution_probability.__file__).parent / "data" / "lambda.json"


def skipspecies_path() -> Path:
    """SMACT's SkipSpecies cosine-similarity table."""
    import smact

    return Path(smact.data_directory) / "species_rep" / "skipspecies_20221028_319ion_dim200_cosine_similarity.json"


def conditional_probabilities(lambdas: np.ndarray) -> np.ndarray:
    """Hautier's ``P(s replaces t) = exp(lambda[s, t]) / sum_u exp(lambda[u, t])`` for a
    symmetric lambda matrix (shape (s, s)); each column sums to 1 (as pymatgen's ``cond_prob``)."""
    weights = np.exp(lambdas)
    return weights / weights.sum(axis=0, keepdims=True)


@functools.lru_cache(maxsize=None)
def load_table(scale: str = "hautier") -> SpeciesTable:
    """The species table of one scale (read once, then cached and shared: do not modify).

    Raises:
        ValueError: for an unknown scale.
    """
    if scale == "hautier":
        raw = json.loads(hautier_lambda_path().read_text())
        rows = [row for row in raw if "D1+" not in row]  # pymatgen also drops deuterium
        labels, lambdas, observed = _table_from_rows(scale, rows, NEVER_OBSERVED_LAMBDA)
        return _make_table(scale, labels, conditional_probabilities(lambdas), observed)
    if scale == "skipspecies":
        rows = json.loads(skipspecies_path().read_text())
        labels, similarities, observed = _table_from_rows(scale, rows, np.nan)
        return _make_table(scale, labels, np.nan_to_num(similarities, nan=-1.0), observed)
    raise ValueError(f"unknown substitution scale {scale!r}: choose one of {', '.join(SUBSTITUTION_SCALES)}")


@functools.lru_cache(maxsize=1)
def pettifor_positions() -> np.ndarray:
    """Position of each element (index Z - 1) on Pettifor's chemical scale, shape (96,)."""
    positions = np.empty(N_ELEMENTS, dtype=np.int64)
    positions[order_permutation("pettifor", N_ELEMENTS)] = np.arange(N_ELEMENTS)
    return positions


def pettifor_distance(first: np.ndarray | int, second: np.ndarray | int) -> np.ndarray:
    """Distance of elements (indices Z - 1) on Pettifor's scale (positions apart)."""
    positions = pettifor_positions()
    return np.abs(positions[first] - positions[second])


def pettifor_prior(table: SpeciesTable) -> np.ndarray:
    """Fallback score by Pettifor distance ``d`` (index 0 … 95): the median over all pairs
    of distinct elements at distance ``d`` that the table covers of their element-level
    score (best same-sign species pair, as :attr:`SpeciesTable.best_by_element`), made
    non-increasing in ``d`` (a closer element never scores below a farther one)."""
    covered = np.unique(table.elements)
    element_best = np.full((N_ELEMENTS, N_ELEMENTS), np.nan)
    for element in covered:
        element_best[:, element] = np.fmax.reduce(table.best_by_element[:, table.elements == element], axis=1)
    first, second = np.meshgrid(covered, covered, indexing="ij")
    distinct = first != second
    distances = pettifor_distance(first[distinct], second[distinct])
    values = element_best[first[distinct], second[distinct]]
    prior = np.full(N_ELEMENTS, np.nan)
    for d in range(1, N_ELEMENTS):
        chosen = values[(distances == d) & np.isfinite(values)]
        if chosen.size:
            prior[d] = np.median(chosen)
    prior[0] = prior[1]
    floor = np.nanmin(prior)
    prior = np.where(np.isnan(prior), floor, prior)
    return np.minimum.accumulate(prior)


# ---------------------------------------------------------------------------------------
# Oxidation states of the reference
# ---------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=None)
def candidate_states(element: int) -> tuple[tuple[int, ...], frozenset[int]]:
    """(oxidation states an element may take: pymatgen's ICSD and common states, no 0;
    the common ones) for one element index (Z - 1)."""
    from pymatgen.core import Element

    entry = Element.from_Z(element + 1)
    states = tuple(sorted({*entry.icsd_oxidation_states, *entry.common_oxidation_states} - {0}))
    return states, frozenset(entry.common_oxidation_states)


def relative_imbalance(amounts: np.ndarray, states: np.ndarray) -> np.ndarray:
    """``|sum_i a_i q_i| / sum_i a_i |q_i|`` of each row of ``states`` (shape (c, k)) for
    amounts (shape (k,)): 0 for a charge-balanced assignment, 1 when every charge has one sign."""
    charges = states * amounts[None, :]
    return np.abs(charges.sum(axis=1)) / np.abs(charges).sum(axis=1)


def oxidation_state_guess(vector: np.ndarray) -> dict[int, int] | None:
    """One oxidation state per element (index Z - 1) of a composition (amounts as written,
    fractional allowed), or None when no assignment comes within
    :data:`MAX_RELATIVE_IMBALANCE` of charge balance (intermetallics: Nb3Sn, MgB2).

    Every combination of the elements' ICSD and common states (:func:`candidate_states`)
    is scored by :func:`relative_imbalance`; the lowest wins, ties going to the one with
    more common states. One state per element, not per atom, so a hole-doped cuprate is
    Cu2+ (HgBa2Ca2Cu3O8.27: imbalance 0.54 of 33 units of charge). pymatgen's own
    ``oxi_state_guesses`` enumerates per atom on an integer formula and takes up to
    minutes (84 s for Ir0.58Rh0.36Se2), too slow for a run. Cached per composition.
    """
    return _guess(np.round(np.asarray(vector, dtype=float), 4).tobytes())


def _combinations(options: list[tuple[tuple[int, ...], frozenset[int]]]) -> float:
    return float(np.prod([len(states) for states, _ in options], dtype=float))


@functools.lru_cache(maxsize=4096)
def _guess(key: bytes) -> dict[int, int] | None:
    vector = np.frombuffer(key, dtype=np.float64)
    elements = np.flatnonzero(vector > 0)
    options = [candidate_states(int(e)) for e in elements]
    if not elements.size or any(not states for states, _ in options):
        return None
    if _combinations(options) > MAX_STATE_COMBINATIONS:
        options = [(tuple(sorted(common - {0})) or states, common) for states, common in options]
        if _combinations(options) > MAX_STATE_COMBINATIONS:
            return None
    grids = np.meshgrid(*[np.array(states, dtype=float) for states, _ in options], indexing="ij")
    states = np.stack([grid.ravel() for grid in grids], axis=1)
    imbalance = relative_imbalance(vector[elements], states)
    uncommon = sum((~np.isin(states[:, i], list(common))).astype(int) for i, (_, common) in enumerate(options))
    best = np.lexsort((uncommon, np.round(imbalance, 6)))[0]
    if imbalance[best] > MAX_RELATIVE_IMBALANCE:
        return None
    return {int(e): int(q) for e, q in zip(elements, states[best])}


def reference_species(vector: np.ndarray, table: SpeciesTable) -> dict[int, np.ndarray]:
    """Species (indices into ``table``) of each element of a reference composition.

    An element with guessed state ``q`` (:func:`oxidation_state_guess`) takes the
    table's species of charge ``q``, else those of the same sign;
    without a guess it takes every species of the element in the table. An element may get
    none (the table lacks it): its substitutes then fall back on :attr:`SpeciesTable.prior`.
    """
    guess = oxidation_state_guess(vector)
    species: dict[int, np.ndarray] = {}
    for element in np.flatnonzero(np.asarray(vector) > 0):
        own = table.species_of(element)
        if guess is None or element not in guess:
            species[int(element)] = own
            continue
        state = guess[element]
        charges = table.charges[own]
        exact = own[charges == state]
        species[int(element)] = exact if exact.size else own[np.sign(charges) == np.sign(state)]
    return species


@dataclass(frozen=True)
class ReferenceScores:
    """How well each element could replace each element of one reference.

    Attributes:
        elements: the reference's element indices (Z - 1), shape (k,).
        scores: ``scores[x, j]``: score of element ``x`` replacing ``elements[j]``, shape (96, k).
        fallback: ``fallback[x, j]``: the score is the Pettifor prior (the table lacks a
            species of that pair), shape (96, k).
        same_sign: ``same_sign[x, j]``: element ``x`` has a species of the sign of
            ``elements[j]``'s (True where the table knows no species of ``x`` or of
            ``elements[j]``: nothing rules it out), shape (96, k).
    """

    elements: np.ndarray
    scores: np.ndarray
    fallback: np.ndarray
    same_sign: np.ndarray

    @property
    def column_of(self) -> dict[int, int]:
        """Reference element (index Z - 1) → its column in ``scores``, ``fallback`` and ``same_sign``."""
        return {int(element): j for j, element in enumerate(self.elements)}


def reference_scores(vector: np.ndarray, scale: str = "hautier") -> ReferenceScores:
    """:class:`ReferenceScores` of one reference composition (shape (96,)) on one scale."""
    return _reference_scores(np.round(np.asarray(vector, dtype=float), 4).tobytes(), scale)


@functools.lru_cache(maxsize=1024)
def _reference_scores(key: bytes, scale: str) -> ReferenceScores:
    vector = np.frombuffer(key, dtype=np.float64)
    table = load_table(scale)
    species = reference_species(vector, table)
    elements = np.array(sorted(species), dtype=np.int64)
    scores = np.full((N_ELEMENTS, len(elements)), np.nan)
    same_sign = np.ones((N_ELEMENTS, len(elements)), dtype=bool)
    known = np.isin(np.arange(N_ELEMENTS), table.elements)
    for j, element in enumerate(elements):
        if species[element].size:
            scores[:, j] = np.fmax.reduce(table.best_by_element[:, species[element]], axis=1)
            same_sign[:, j] = ~known | np.isfinite(scores[:, j])
    fallback = np.isnan(scores)
    distances = pettifor_distance(np.arange(N_ELEMENTS)[:, None], elements[None, :])
    scores = np.where(fallback, table.prior[distances], scores)
    for array in (scores, same_sign):
        array.setflags(write=False)
    return ReferenceScores(elements, scores, fallback, same_sign)


# ---------------------------------------------------------------------------------------
# Candidates
# ---------------------------------------------------------------------------------------


def plausible_substitutes(vector: np.ndarray, scale: str = "hautier") -> np.ndarray:
    """Bool mask, shape (96,): the elements absent from the reference (amounts, shape (96,))
    that are plausible substitutes for at least one of its elements (score at least
    :data:`PLAUSIBLE_THRESHOLDS`, the same rules as the ``plausible_substitution`` column),
    less :data:`NEVER_SUBSTITUTES`. What ILVR's ``"plausible"`` clipping lets a candidate add."""
    vector = np.asarray(vector, dtype=float)
    scores = reference_scores(vector, scale)
    mask = np.zeros(N_ELEMENTS, dtype=bool)
    if len(scores.elements):
        mask = (scores.scores >= PLAUSIBLE_THRESHOLDS[scale]).any(axis=1)
    mask &= vector[:N_ELEMENTS] <= 0
    mask[[SYMBOL_TO_INDEX[symbol] for symbol in NEVER_SUBSTITUTES if symbol in SYMBOL_TO_INDEX]] = False
    return mask


def format_reason(
    new: int, old: int, score: float, scale: str, fallback: bool, plausible: bool, taken: tuple[int, float] | None = None,
) -> str:
    """``"As for Se: p = 0.0021 (Pettifor prior; implausible)"``. With ``taken`` (the element whose
    site the amounts say ``new`` took, and that pair's score) the site leads and the verdict says which
    pair it judges: ``"Tl in Hg's place: p = 0.0014 (plausible as a substitute for Ba: p = 0.016)"``.
    Elements are indices Z - 1."""
    symbol, verdict = SCORE_SYMBOLS[scale], "plausible" if plausible else "implausible"
    if taken is not None:
        prior = ", Pettifor prior" if fallback else ""
        return (f"{ELEMENT_SYMBOLS[new]} in {ELEMENT_SYMBOLS[taken[0]]}'s place: {symbol} = {taken[1]:.2g} "
                f"({verdict} as a substitute for {ELEMENT_SYMBOLS[old]}: {symbol} = {score:.2g}{prior})")
    notes = ("Pettifor prior; " if fallback else "") + verdict
    return f"{ELEMENT_SYMBOLS[new]} for {ELEMENT_SYMBOLS[old]}: {symbol} = {score:.2g} ({notes})"


def _unique_rows(vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(distinct rows after rounding to 4 decimals, index of each row's distinct row), by byte keys."""
    rounded = np.ascontiguousarray(np.round(vectors, 4) + 0.0)
    codes, keys = pd.factorize(pd.Series([row.tobytes() for row in rounded], dtype=object))
    first = pd.Series(np.arange(len(codes))).groupby(codes).first().to_numpy()
    return rounded[first], codes


def plausibility_columns(
    candidate_vectors: np.ndarray, reference_vectors: np.ndarray, scale: str = "hautier"
) -> pd.DataFrame:
    """The substitution plausibility of each candidate against its reference.

    Args:
        candidate_vectors: amounts, shape (n, 96), Z order.
        reference_vectors: each candidate's reference, shape (n, 96) (or (96,) for all rows).
        scale: ``hautier`` (the run's score) or ``skipspecies`` (the independent check).

    Returns:
        n rows, columns ``new_elements`` (symbols of elements absent from the reference,
        space-separated, "" when none), ``dropped_elements``, ``substitutes_for`` (for each
        new element, the reference element it replaces: the one the candidate lost when it swaps
        one whole site, else the one it best replaces; same order), the score column
        (:data:`SCORE_COLUMNS`: the lowest score of the new elements; NaN when none),
        ``plausible_substitution`` (boolean, NA when nothing is added) and
        ``substitution_reason`` (one ``"As for Se: p = 0.0021 (implausible)"`` per new element).
    """
    candidates = np.atleast_2d(np.asarray(candidate_vectors, dtype=float))
    references = np.asarray(reference_vectors, dtype=float)
    if references.ndim == 1:
        references = np.broadcast_to(references, candidates.shape)
    if candidates.shape != references.shape or candidates.shape[1:] != (N_ELEMENTS,):
        raise ValueError(f"candidates {candidates.shape} and references {references.shape} must both be (n, {N_ELEMENTS})")
    threshold = load_table(scale).threshold
    n = len(candidates)
    added = (candidates > 0) & (references <= 0)
    dropped = (candidates <= 0) & (references > 0)
    best = np.full((n, N_ELEMENTS), np.nan)  # per row and new element: its best score
    targets = np.zeros((n, N_ELEMENTS), dtype=np.int64)  # ... and the reference element it replaces
    reasons = np.full((n, N_ELEMENTS), "", dtype=object)
    unique_references, which = _unique_rows(references)
    for u, reference in enumerate(unique_references):
        rows = np.flatnonzero(which.ravel() == u)
        per_element = _best_replacements(reference, scale)
        best[rows], targets[rows], reasons[rows] = per_element.scores, per_element.targets, per_element.reasons
        _score_site_swaps(rows[(added[rows].sum(axis=1) == 1) & (dropped[rows].sum(axis=1) == 1)], added, dropped,
                          reference, scale, threshold, best, targets, reasons)
        _name_taken_sites(rows[added[rows].any(axis=1)], candidates, added, reference, scale, threshold, best, targets, reasons)
    best = np.where(added, best, np.nan)
    has_new = added.any(axis=1)
    score = np.full(n, np.nan)
    score[has_new] = np.nanmin(best[has_new], axis=1)
    plausible = pd.array(np.where(has_new, score >= threshold, False), dtype="boolean")
    plausible[~has_new] = pd.NA
    symbols = np.array(ELEMENT_SYMBOLS, dtype=object)
    return pd.DataFrame(
        {
            "new_elements": [" ".join(symbols[mask]) for mask in added],
            "dropped_elements": [" ".join(symbols[mask]) for mask in dropped],
            "substitutes_for": [" ".join(symbols[target[mask]]) for target, mask in zip(targets, added)],
            SCORE_COLUMNS[scale]: score,
            "plausible_substitution": plausible,
            "substitution_reason": ["; ".join(reason[mask]) for reason, mask in zip(reasons, added)],
        }
    )


def _name_taken_sites(
    rows: np.ndarray, candidates: np.ndarray, added: np.ndarray, reference: np.ndarray, scale: str, threshold: float,
    best: np.ndarray, targets: np.ndarray, reasons: np.ndarray,
) -> None:
    """Add to a new element's reason the site its amounts point to, where that is not its best match
    (module docstring). The new elements of a row take sites largest amount first: each the
    best-scoring reference element of a compatible sign whose remaining loss is at least
    :data:`SITE_SHARE` of its amount, which then loses that much less (K0.43 takes Ca's 0.48, so
    Tl0.16 beside it takes Hg's 0.14, not Ca's). Writes into ``reasons`` (rows × 96) in place."""
    if not len(rows):
        return
    pairs = reference_scores(reference, scale)
    column_of = pairs.column_of
    losses = np.clip(reference[pairs.elements][None, :] - candidates[np.ix_(rows, pairs.elements)], 0.0, None)
    for row, loss in zip(rows, losses):
        new_elements = np.flatnonzero(added[row])
        for new in new_elements[np.argsort(-candidates[row, new_elements], kind="stable")]:
            amount = candidates[row, new]
            sites = (loss >= SITE_SHARE * amount) & pairs.same_sign[new]
            if not sites.any():
                continue  # an addition: no site lost enough
            j = int(np.flatnonzero(sites)[np.argmax(pairs.scores[new, sites])])
            loss[j] = max(loss[j] - amount, 0.0)
            target = int(targets[row, new])
            if pairs.elements[j] != target:
                score = float(best[row, new])
                reasons[row, new] = format_reason(new, target, score, scale, bool(pairs.fallback[new, column_of[target]]),
                                                  score >= threshold, taken=(int(pairs.elements[j]), float(pairs.scores[new, j])))


def _score_site_swaps(
    rows: np.ndarray, added: np.ndarray, dropped: np.ndarray, reference: np.ndarray, scale: str, threshold: float,
    best: np.ndarray, targets: np.ndarray, reasons: np.ndarray,
) -> None:
    """For candidates that add one element and drop one reference element (a whole site swapped),
    score that pair, not the new element's best match: Ca replacing all the Y of YBa2Cu3O7 is
    judged as Ca for Y. Only a pair of compatible signs swaps a site: Dy added to LaFeAsO0.9F0.1
    where the small F was lost is a cation beside the La, not Dy for F. Writes into ``best``,
    ``targets`` and ``reasons`` (rows × 96) in place."""
    if not len(rows):
        return
    pairs = reference_scores(reference, scale)
    column_of = pairs.column_of
    for row in rows:
        new, old = int(np.flatnonzero(added[row])[0]), int(np.flatnonzero(dropped[row])[0])
        if old in column_of and pairs.same_sign[new, column_of[old]]:
            score = float(pairs.scores[new, column_of[old]])
            best[row, new], targets[row, new] = score, old
            reasons[row, new] = format_reason(new, old, score, scale, bool(pairs.fallback[new, column_of[old]]), score >= threshold)


@dataclass(frozen=True)
class BestReplacements:
    """For each element (index Z - 1) added to one reference: its best score, the reference
    element it best replaces (index Z - 1) and the reason text, each shape (96,)."""

    scores: np.ndarray
    targets: np.ndarray
    reasons: np.ndarray


@functools.lru_cache(maxsize=1024)
def _best_replacements_cached(key: bytes, scale: str) -> BestReplacements:
    scores = reference_scores(np.frombuffer(key, dtype=np.float64), scale)
    threshold = load_table(scale).threshold
    column = np.argmax(scores.scores, axis=1)
    rows = np.arange(N_ELEMENTS)
    best, targets, fallback = scores.scores[rows, column], scores.elements[column], scores.fallback[rows, column]
    reasons = np.array(
        [format_reason(x, int(targets[x]), float(best[x]), scale, bool(fallback[x]), bool(best[x] >= threshold)) for x in rows],
        dtype=object
    )
    return BestReplacements(best, targets, reasons)


def _best_replacements(reference: np.ndarray, scale: str) -> BestReplacements:
    return _best_replacements_cached(np.round(np.asarray(reference, dtype=float), 4).tobytes(), scale)


def plausible_share(frame: pd.DataFrame) -> float:
    """Share (0 … 1) of the rows that add an element whose substitutions are all plausible
    (``plausible_substitution`` True); NaN when no row adds an element or the column is absent
    (an unconditional run)."""
    if "plausible_substitution" not in frame.columns:
        return float("nan")
    marks = frame["plausible_substitution"].dropna()
    return float(marks.astype(bool).mean()) if len(marks) else float("nan")
