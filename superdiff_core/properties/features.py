"""Features of composition vectors for the property models.

Every function here takes amount vectors of shape (n, 96) (index Z - 1, as produced by
:func:`superdiff_core.composition.parse_formula`) and is vectorised over the batch:

- :func:`element_fractions`: amounts divided by the total (rows sum to 1);
- :func:`formation_inputs`: the 86 ElemNet element fractions (H ... Pu without the noble
  gases He, Ne, Ar, Rn and Po, At, Fr, Ra) plus which rows the 86 cover;
- :func:`element_property_table` and :func:`composition_property_features`:
  Magpie-style composition-weighted element properties (mean, spread, min, max) used by
  the Tc regressor;
- :func:`magpie_features`: the fuller Magpie set (Ward et al. 2016) the classifier can use:
  those statistics plus the range of each property, valence-electron and unfilled-orbital
  counts, the share of valence electrons in s, p, d and f orbitals, and stoichiometric
  norms, all derived from the same stored table.
"""

from __future__ import annotations

import warnings
from functools import cache

import numpy as np

from ..composition import ELEMENT_SYMBOLS, N_ELEMENTS, SYMBOL_TO_INDEX

FORMATION_EXCLUDED: tuple[str, ...] = ("He", "Ne", "Ar", "Po", "At", "Rn", "Fr", "Ra")
"""Elements up to Pu that ElemNet (Jha et al. 2018) leaves out."""

FORMATION_ELEMENTS: tuple[str, ...] = tuple(
    symbol for symbol in ELEMENT_SYMBOLS[: SYMBOL_TO_INDEX["Pu"] + 1] if symbol not in FORMATION_EXCLUDED
)
"""The 86 elements the formation-energy model takes, in the order of its inputs."""

FORMATION_INDICES: np.ndarray = np.array([SYMBOL_TO_INDEX[symbol] for symbol in FORMATION_ELEMENTS])
"""Position in the 96-vector of each formation-model input, shape (86,)."""

_NOT_COVERED: np.ndarray = np.setdiff1d(np.arange(N_ELEMENTS), FORMATION_INDICES)

ELEMENT_PROPERTY_NAMES: tuple[str, ...] = (
    "atomic_number",
    "atomic_mass",
    "row",
    "group",
    "mendeleev_number",
    "electronegativity",
    "atomic_radius",
    "melting_point",
    "molar_volume",
    "ionization_energy",
    "electron_affinity",
    "s_valence",
    "p_valence",
    "d_valence",
    "f_valence",
)
"""Element properties (from pymatgen) behind :func:`composition_property_features`."""

PROPERTY_STATISTICS: tuple[str, ...] = ("mean", "deviation", "min", "max")
"""Statistics of each element property over a composition, in feature order."""


def element_fractions(vectors: np.ndarray) -> np.ndarray:
    """Amounts normalised to fractions.

    Args:
        vectors: amounts, shape (n, 96) (or (96,)), non-negative.

    Returns:
        Fractions of the same shape, float64; rows summing to 0 stay 0.
    """
    vectors = np.asarray(vectors, dtype=np.float64)
    totals = vectors.sum(axis=-1, keepdims=True)
    return np.divide(vectors, totals, out=np.zeros_like(vectors), where=totals > 0)


def formation_inputs(vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The formation model's input and which rows it covers.

    Args:
        vectors: amounts, shape (n, 96).

    Returns:
        ``(inputs, covered)``: element fractions over the 86 ElemNet elements, shape
        (n, 86), float32; and a boolean mask, shape (n,), False where a row contains an
        element outside the 86 (its inputs are then meaningless and must not be used).
    """
    vectors = np.atleast_2d(np.asarray(vectors, dtype=np.float64))
    covered = ~np.any(vectors[:, _NOT_COVERED] > 0, axis=1)
    inputs = element_fractions(vectors[:, FORMATION_INDICES]).astype(np.float32)
    return inputs, covered


def uncovered_elements(vector: np.ndarray) -> list[str]:
    """Symbols of the elements in one (96,) vector that the formation model does not cover."""
    return [ELEMENT_SYMBOLS[i] for i in _NOT_COVERED if vector[i] > 0]


def _valence_counts(element) -> tuple[float, float, float, float]:
    """Electrons in the outer s, p, d and f sub-shells (Magpie's N*Valence, approximately)."""
    structure = element.full_electronic_structure
    outer = max(n for n, _, _ in structure)
    counts = {"s": 0.0, "p": 0.0, "d": 0.0, "f": 0.0}
    for n, orbital, electrons in structure:
        shell_of_outer = {"s": outer, "p": outer, "d": outer - 1, "f": outer - 2}[orbital]
        if n == shell_of_outer:
            counts[orbital] = float(electrons)
    return counts["s"], counts["p"], counts["d"], counts["f"]


@cache
def element_property_table() -> np.ndarray:
    """Element properties for H ... Cm from pymatgen, shape (96, len(ELEMENT_PROPERTY_NAMES)).

    Missing values (e.g. the electronegativity of noble gases) are filled with the
    property's mean over the other elements. The fitted Tc model stores its own copy of
    this table, so predictions do not change if pymatgen's data do.
    """
    from pymatgen.core import Element

    rows = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for z in range(1, N_ELEMENTS + 1):
            element = Element.from_Z(z)
            values = [
                z,
                float(element.atomic_mass),
                element.row,
                element.group,
                element.mendeleev_no,
                element.X,
                element.atomic_radius,
                element.melting_point,
                element.molar_volume,
                element.ionization_energy,
                element.electron_affinity,
                *_valence_counts(element),
            ]
            rows.append([np.nan if value is None else float(value) for value in values])
    table = np.array(rows, dtype=np.float64)
    column_means = np.nanmean(table, axis=0)
    missing = np.isnan(table)
    table[missing] = np.take(column_means, np.nonzero(missing)[1])
    return table


def composition_property_features(vectors: np.ndarray, table: np.ndarray) -> np.ndarray:
    """Magpie-style statistics of element properties over each composition.

    Args:
        vectors: amounts, shape (n, 96).
        table: element properties, shape (96, p) (see :func:`element_property_table`).

    Returns:
        Shape (n, 4 p), float64: for each property its fraction-weighted mean, the
        fraction-weighted mean absolute deviation, and the min and max over the elements
        present (columns ordered statistic-major, as in :data:`PROPERTY_STATISTICS`).
    """
    fractions = element_fractions(np.atleast_2d(vectors))
    n_present = int((fractions > 0).sum(axis=1).max(initial=0))
    n_present = max(n_present, 1)
    # The n_present largest fractions of each row: (n, k) element indices and fractions.
    order = np.argsort(-fractions, axis=1, kind="stable")[:, :n_present]
    weights = np.take_along_axis(fractions, order, axis=1)
    present = weights > 0
    values = table[order]  # (n, k, p)
    mean = np.einsum("nk,nkp->np", weights, values)
    deviation = np.einsum("nk,nkp->np", weights, np.abs(values - mean[:, None, :]))
    minimum = np.where(present[:, :, None], values, np.inf).min(axis=1)
    maximum = np.where(present[:, :, None], values, -np.inf).max(axis=1)
    empty = ~present.any(axis=1)
    minimum[empty] = 0.0
    maximum[empty] = 0.0
    return np.hstack([mean, deviation, minimum, maximum])


VALENCE_PROPERTY_NAMES: tuple[str, ...] = ("valence_electrons", "unfilled_s", "unfilled_p", "unfilled_d", "unfilled_f", "unfilled")
"""Element properties derived from the s, p, d and f valence counts of the table (Magpie's
NValence and NsUnfilled ... NUnfilled: empty places in the partly filled outer sub-shells)."""

ORBITAL_CAPACITY: tuple[float, ...] = (2.0, 6.0, 10.0, 14.0)
"""Electrons an s, p, d and f sub-shell holds."""

STOICHIOMETRY_NORMS: tuple[int, ...] = (2, 3, 5, 7, 10)
"""p of the L^p norms of the element fractions in :func:`magpie_features` (Magpie's stoichiometric attributes)."""


def valence_property_table(table: np.ndarray) -> np.ndarray:
    """:data:`VALENCE_PROPERTY_NAMES` per element from an :func:`element_property_table`, shape (96, 6)."""
    first = ELEMENT_PROPERTY_NAMES.index("s_valence")
    valence = np.asarray(table, dtype=np.float64)[:, first:first + 4]  # s, p, d, f
    unfilled = np.where(valence > 0, np.array(ORBITAL_CAPACITY) - valence, 0.0)
    return np.hstack([valence.sum(axis=1, keepdims=True), unfilled, unfilled.sum(axis=1, keepdims=True)])


def magpie_feature_names() -> list[str]:
    """Column names of :func:`magpie_features`, in order."""
    properties = (*ELEMENT_PROPERTY_NAMES, *VALENCE_PROPERTY_NAMES)
    names = [f"{statistic} {name}" for statistic in (*PROPERTY_STATISTICS, "range") for name in properties]
    names += [f"share of valence electrons in {orbital}" for orbital in "spdf"]
    return names + ["elements present"] + [f"L{p} norm of fractions" for p in STOICHIOMETRY_NORMS]


def magpie_features(vectors: np.ndarray, table: np.ndarray) -> np.ndarray:
    """Magpie-style composition features from the element properties of ``table`` alone.

    Args:
        vectors: amounts, shape (n, 96).
        table: element properties, shape (96, p) (:func:`element_property_table`).

    Returns:
        Shape (n, 5 (p + 6) + 4 + 1 + 5), float64, named by :func:`magpie_feature_names`:
        mean, mean absolute deviation, min, max and range of every property of ``table``
        and of :func:`valence_property_table`; the fraction-weighted share of valence
        electrons in s, p, d and f orbitals; the number of elements present; and the L2, L3,
        L5, L7 and L10 norms of the element fractions.
    """
    vectors = np.atleast_2d(np.asarray(vectors, dtype=np.float64))
    table = np.asarray(table, dtype=np.float64)
    full = np.hstack([table, valence_property_table(table)])
    statistics = composition_property_features(vectors, full)
    mean, _, minimum, maximum = np.split(statistics, 4, axis=1)
    first = ELEMENT_PROPERTY_NAMES.index("s_valence")
    orbital_means = mean[:, first:first + 4]
    total = orbital_means.sum(axis=1, keepdims=True)
    shares = np.divide(orbital_means, total, out=np.zeros_like(orbital_means), where=total > 0)
    fractions = element_fractions(vectors)
    norms = [np.power(np.power(fractions, p).sum(axis=1), 1.0 / p) for p in STOICHIOMETRY_NORMS]
    return np.hstack([statistics, maximum - minimum, shares, (fractions > 0).sum(axis=1, keepdims=True), np.column_stack(norms)])
