"""The substitution baseline: candidates a chemist would draw from a reference by ion substitution.

For one reference, candidates are drawn from Hautier's data-mined substitution
probabilities (:mod:`superdiff_core.substitution`): one site (the atoms of one reference
element) is partly or fully replaced by one new element. The rules:

- **Which substitutions.** Element ``x`` may replace reference element ``e`` when the
  table *records* a pair of same-sign species of them (a lambda seen in Hautier's data,
  not the never-observed default; a cation never for an anion) and its probability is
  plausible (at least :data:`~superdiff_core.substitution.PLAUSIBLE_THRESHOLDS`). Sites
  whose species the table lacks (As3- in BaFe2As2) get no substitutes: the baseline
  holds only what the table says.
- **How often.** Hautier's model gives a compound with one site changed the probability
  ``P(x | e) * prod_{e' != e} P(e' | e')``; relative to the other single-site changes of
  the same reference that is ``P(x | e) / P(e | e)``, the weight each (site, substitute)
  is drawn with.
- **How much.** The fraction ``f`` of the site replaced is drawn from the doping levels of
  the reference's SuperCon family (:func:`family_doping_fractions`): compounds that share
  all of the reference's elements, or all but one, and add one element. ``f = 1`` (a full
  substitution) comes out as often as the family swaps a whole site (a compound that
  lacks a reference element and adds one of the same charge sign). A family with fewer
  than :data:`MIN_FAMILY_FRACTIONS` such compounds uses :data:`DEFAULT_FRACTIONS`.

Amounts are rounded to :data:`AMOUNT_DECIMALS` decimals, as the diffusion candidates are.
The same seed gives the same candidates.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .composition import ELEMENT_SYMBOLS, N_ELEMENTS
from .substitution import load_table, oxidation_state_guess, reference_scores, reference_species

AMOUNT_DECIMALS = 2
"""Decimals of the baseline's amounts (the diffusion candidates' rounding)."""

MIN_FAMILY_FRACTIONS = 5
"""Fewest family compounds for their doping levels to be used."""

DEFAULT_FRACTIONS = (0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 1.0)
"""Doping fractions used when the reference's SuperCon family is too small."""

FULL_SUBSTITUTION = 0.999
"""A fraction at or above this replaces the whole site."""


@dataclass(frozen=True)
class SubstitutionOptions:
    """The single-site substitutions the table allows into one reference.

    Attributes:
        sites: the replaced reference element (index Z - 1) of each option, shape (k,).
        substitutes: the new element (index Z - 1), shape (k,).
        probabilities: Hautier's ``P(substitute | site)`` (best same-sign species pair), shape (k,).
        weights: how likely each option is drawn, ``P(x | e) / P(e | e)`` normalised to sum 1, shape (k,).
    """

    sites: np.ndarray
    substitutes: np.ndarray
    probabilities: np.ndarray
    weights: np.ndarray

    def describe(self, top: int = 10) -> list[str]:
        """The ``top`` most likely options, ``"Sr for La: p = 0.092, weight 0.21"``."""
        order = np.argsort(-self.weights)[:top]
        return [
            f"{ELEMENT_SYMBOLS[self.substitutes[i]]} for {ELEMENT_SYMBOLS[self.sites[i]]}: "
            f"p = {self.probabilities[i]:.2g}, weight {self.weights[i]:.2g}"
            for i in order
        ]


def substitution_options(reference_vector: np.ndarray, scale: str = "hautier") -> SubstitutionOptions:
    """The (site, substitute) pairs the baseline draws from for one reference (shape (96,))."""
    reference = np.asarray(reference_vector, dtype=float)
    table = load_table(scale)
    species = reference_species(reference, table)
    scores = reference_scores(reference, scale)
    new_elements = np.flatnonzero(reference <= 0)
    same_sign = np.sign(table.charges)[:, None] == np.sign(table.charges)[None, :]
    recorded = table.observed & same_sign  # (species, species)
    sites, substitutes, probabilities, weights = [], [], [], []
    for j, site in enumerate(scores.elements):
        own = species[int(site)]
        if not own.size:
            continue
        self_probability = float(np.max(table.scores[own, own]))
        recorded_by_element = np.zeros(N_ELEMENTS, dtype=bool)
        recorded_by_element[table.elements[recorded[:, own].any(axis=1)]] = True
        allowed = new_elements[
            recorded_by_element[new_elements] & ~scores.fallback[new_elements, j] & (scores.scores[new_elements, j] >= table.threshold)
        ]
        sites.extend([site] * allowed.size)
        substitutes.extend(allowed)
        probabilities.extend(scores.scores[allowed, j])
        weights.extend(scores.scores[allowed, j] / self_probability)
    weights_array = np.array(weights, dtype=float)
    if weights_array.size:
        weights_array /= weights_array.sum()
    return SubstitutionOptions(
        np.array(sites, dtype=np.int64), np.array(substitutes, dtype=np.int64), np.array(probabilities, dtype=float), weights_array
    )


def family_doping_fractions(reference_vector: np.ndarray, supercon_vectors: np.ndarray, scale: str = "hautier") -> np.ndarray:
    """Doping levels of the reference's SuperCon family: the fraction of a reference site
    that a family compound gives to its one new element, shape (m,), values in (0, 1].

    A family compound (a row of ``supercon_vectors``, shape (n, 96)) has every element of
    the reference, or all but one (at least two in common), and exactly one element
    ``x`` the reference lacks. When it lacks reference element ``e0`` and ``x`` carries
    the charge sign ``e0`` has in the reference (:func:`~superdiff_core.substitution.oxidation_state_guess`
    of each; either without a guess counts as the same sign), ``x`` took that whole site
    (``f = 1``: TlBa2Ca2Cu3O9 for HgBa2Ca2Cu3O8.27). Otherwise ``x`` sits on the present
    reference element it best substitutes for (:func:`~superdiff_core.substitution.reference_scores`),
    ``e``, and ``f = a_x / (a_x + a_e)`` in the compound's amounts (La1.85Sr0.15CuO4 for
    La2CuO4: 0.075).
    """
    reference_amounts = np.asarray(reference_vector, dtype=float)
    reference = reference_amounts > 0
    known = np.asarray(supercon_vectors, dtype=float)
    present = known > 0
    shared = (present & reference).sum(axis=1)
    extra = (present & ~reference).sum(axis=1)
    n_reference = int(reference.sum())
    family = np.flatnonzero((extra == 1) & (shared >= max(2, n_reference - 1)))
    scores = reference_scores(reference_amounts, scale)
    reference_states = oxidation_state_guess(reference_amounts) or {}
    fractions = []
    for row in known[family]:
        new = int(np.flatnonzero((row > 0) & ~reference)[0])
        missing = np.flatnonzero(reference & (row <= 0))
        if missing.size:
            states = oxidation_state_guess(row) or {}
            if _same_sign(states.get(new), reference_states.get(int(missing[0]))):
                fractions.append(1.0)
                continue
        usable = row[scores.elements] > 0
        site = scores.elements[usable][np.argmax(scores.scores[new, usable])]
        fractions.append(row[new] / (row[new] + row[site]))
    return np.array(fractions, dtype=float)


def _same_sign(first: int | None, second: int | None) -> bool:
    return first is None or second is None or np.sign(first) == np.sign(second)


def substitute(reference_vector: np.ndarray, sites: np.ndarray, substitutes: np.ndarray, fractions: np.ndarray) -> np.ndarray:
    """Reference copies with ``fractions`` (shape (m,)) of site ``sites[i]`` given to
    ``substitutes[i]``; amounts rounded to :data:`AMOUNT_DECIMALS`, at least one unit of
    the last decimal moved, and the whole site moved when the rest would round to zero.
    Shape (m, 96)."""
    reference = np.asarray(reference_vector, dtype=float)
    unit = 10.0**-AMOUNT_DECIMALS
    site_amounts = reference[sites]
    moved = np.clip(np.round(site_amounts * fractions, AMOUNT_DECIMALS), unit, None)
    moved = np.where((fractions >= FULL_SUBSTITUTION) | (site_amounts - moved < unit / 2), site_amounts, moved)
    vectors = np.repeat(np.round(reference, AMOUNT_DECIMALS)[None, :], len(sites), axis=0)
    rows = np.arange(len(sites))
    vectors[rows, sites] = np.round(site_amounts - moved, AMOUNT_DECIMALS)
    vectors[rows, substitutes] = np.round(moved, AMOUNT_DECIMALS)
    return vectors + 0.0


def substitution_baseline(
    reference_vector: np.ndarray, n_samples: int, supercon_vectors: np.ndarray, seed: int = 0, scale: str = "hautier"
) -> np.ndarray:
    """``n_samples`` substitution candidates for one reference (duplicates kept, as sampling does).

    Args:
        reference_vector: the reference's amounts, shape (96,), Z order.
        n_samples: how many candidates (>= 0).
        supercon_vectors: the known compounds whose doping levels are used (e.g. the
            model class's SuperCon set), shape (n, 96).
        seed: random seed; the same seed gives the same candidates.
        scale: the substitution table (``hautier``).

    Returns:
        Amounts, shape (n_samples, 96); shape (0, 96) when the table allows no
        substitution into the reference.

    Raises:
        ValueError: for a negative ``n_samples`` or a reference of the wrong shape.
    """
    reference = np.asarray(reference_vector, dtype=float)
    if reference.shape != (N_ELEMENTS,) or not (reference > 0).any():
        raise ValueError(f"the reference must be a non-zero amount vector of shape ({N_ELEMENTS},), got {reference.shape}")
    if n_samples < 0:
        raise ValueError(f"n_samples must be >= 0, got {n_samples}")
    options = substitution_options(reference, scale)
    if not options.weights.size or n_samples == 0:
        return np.zeros((0, N_ELEMENTS))
    fractions = family_doping_fractions(reference, supercon_vectors, scale)
    if fractions.size < MIN_FAMILY_FRACTIONS:
        fractions = np.array(DEFAULT_FRACTIONS)
    rng = np.random.default_rng(seed)
    chosen = rng.choice(options.weights.size, size=n_samples, p=options.weights)
    drawn = rng.choice(fractions, size=n_samples)
    return substitute(reference, options.sites[chosen], options.substitutes[chosen], drawn)
