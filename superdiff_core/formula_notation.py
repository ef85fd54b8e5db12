"""How chemists write formulas: element writing order and general (family) formulas.

One home for the notation (issue 13):

* :class:`ElementOrder` — the order in which SuperCon writes elements, learned from
  formula texts (stored with each map), optionally led by a reference formula's own order;
* :func:`derive_general_formula` — the general formula of a family of compounds, the way
  the paper's Table 2 writes it: ``La1.85Sr0.15CuO4``, ``La1.9Sr0.1CuO4`` and
  ``La1.8Sr0.2CuO4`` are ``La2-xSrxCuO4`` with ``x = 0.1–0.2``;
* :func:`derive_reference_formula` — the general formula of a family generated from a
  reference, written *from the reference*: its elements in its order at its amounts, the
  varying amounts as at most :data:`MAX_HEADLINE_VARIABLES` variables
  (``YBa1.4Sr0.6Cu3O6Se0.51-xAsx``, ``x = 0.08–0.35``);
* :func:`formula_in_reference_order` — one candidate written in its reference's order.

A variable never spans a cation and an anion (:func:`is_anion`): a dopant shares a site
only with a host of its own kind.

The plain electronegativity order of :func:`superdiff_core.composition.vector_to_formula`
(pymatgen's, used when no learned order exists) stays in :mod:`superdiff_core.composition`,
which this module imports.

Amounts are vectors of shape ``(n, 96)``, index ``Z - 1``, in atoms per formula unit.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import combinations

import numpy as np

from .chemical_order import order_permutation
from .composition import (
    _WRITING_ORDER,
    ELEMENT_SYMBOL_PATTERN,
    ELEMENT_SYMBOLS,
    N_ELEMENTS,
    SYMBOL_TO_INDEX,
    FormulaError,
    format_amount,
    parse_formula,
    vector_to_formula,
)

_AMOUNT_TOKEN = re.compile(r"([A-Z][a-z]?)(\d*\.?\d*)")
_ONE_AMOUNT = re.compile(r"(?<=[A-Za-z])1(?![\d.])")
_ELECTRONEGATIVITY_RANK = np.argsort(_WRITING_ORDER)  # element index -> position in pymatgen order

ANION_SYMBOLS: frozenset[str] = frozenset({"N", "P", "As", "O", "S", "Se", "Te", "F", "Cl", "Br", "I"})
"""Elements written last in a general formula (pnictogens, chalcogens, halogens), and the
ones that count as anions (:func:`is_anion`): in the superconductors SuperCon lists they
take their negative oxidation state (As³⁻ in BaFe2As2, Se²⁻, Br⁻).  Every other element
counts as a cation (metals; B, C and Si sit on cation or framework sites: MgB2-xCx)."""

MAX_HEADLINE_VARIABLES = 2
"""Most variables in a family formula written from its reference (the paper's Table 2 needs
at most two: ``BaFe2-x-yCoxNiyAs2``); a family that needs more is listed, not headlined."""

REFERENCE_ABSOLUTE_TOLERANCE = 0.1
REFERENCE_RELATIVE_TOLERANCE = 0.1
"""An amount counts as the reference's own when the members (all but the
:data:`REFERENCE_OUTLIER_SHARE` most extreme on each side) are within
max(:data:`REFERENCE_ABSOLUTE_TOLERANCE` atoms, :data:`REFERENCE_RELATIVE_TOLERANCE` × the
reference amount) of it; the same slack applies to a site's total against the reference
host's amount.  Measured on the paper's released candidates for YBa1.4Sr0.6Cu3O6Se0.51: in
its As family Y spreads 0.90–1.10, Sr 0.50–0.69, Ba 1.33–1.44, Cu 2.93–3.06, O 5.93–6.08
while As and Se trade 0.08–0.35 atoms; in a default HgBa2Ca2Cu3O8.27 run Ca spreads
1.80–2.15 and Ba 1.77–2.07 beside Hg/Tl trading 0.08–1.09.  0.1 atom (0.2 for Ca2, 0.6 for
O6, 0.83 for O8.27, whose oxygen SuperCon itself writes as O8+δ) takes in the sampler's
spread and leaves the substitution as the variable."""

REFERENCE_OUTLIER_SHARE = 0.05
"""Share of members at each end of an amount's range that the tolerance tests of a formula
written from a reference leave out (2 of 40 members; none of fewer than 20), so that one
stray member does not stop a family from being written.  The variables' ranges are over
every member."""

AMOUNT_TOLERANCE = 0.01
"""Two amounts closer than this (in atoms per formula unit) count as equal."""

VARIABLE_NAMES: tuple[str, ...] = ("x", "y", "z", "w", "v", "q", "j")
"""Names of the varying amounts, in order of appearance.  Only letters that cannot join
the symbol before them into another element (``Cu`` from C + u, ``Bk`` from B + k)."""

NEAR_CONSTANT_SPAN = 0.05
"""A varying amount outside any shared site whose spread is at most this (atoms per
formula unit) and at most :data:`NEAR_CONSTANT_RELATIVE` of its mean is written once,
rounded to what its spread supports (O3.28–3.30 -> ``O3.3``)."""

NEAR_CONSTANT_RELATIVE = 0.02

SITE_SLACK = 0.1
"""Amounts of several varying elements form one site when their sum stays within this
many atoms of the same whole number in every member (vacancies and the sampler's
2-decimal amounts make real sites inexact: Fe1.74Co0.08Ni0.08 is ``Fe2-x-yCoxNiy``)."""

MAX_VARIABLES_MIXED = 3
"""A group whose members differ in their element sets gets a general formula only if it
needs at most this many variables (otherwise it is described by its elements)."""

MAX_VARYING = 3
"""Most varying amounts in a general formula, however many members (the paper's Table 2
needs at most two; more is a cloud of compositions, not a family)."""

_EPSILON = 1e-9  # floating-point slack on every tolerance comparison


def is_anion(element: int) -> bool:
    """True for an element (index Z - 1) that counts as an anion (:data:`ANION_SYMBOLS`)."""
    return ELEMENT_SYMBOLS[int(element)] in ANION_SYMBOLS


def _one_kind(elements: Iterable[int]) -> bool:
    """True if the elements (indices) are all cations or all anions."""
    return len({is_anion(e) for e in elements}) <= 1


# ---------------------------------------------------------------------------------------
# Element order
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class ElementOrder:
    """The order in which chemists write elements, learned from formula texts.

    Attributes:
        before: shape (96, 96), int; ``before[i, j]`` is the number of formulas in which
            element ``i`` (index Z - 1) is written before element ``j``.  All zeros means
            "no data": elements are then ordered by electronegativity, as pymatgen does.
    """

    before: np.ndarray = field(default_factory=lambda: np.zeros((N_ELEMENTS, N_ELEMENTS), dtype=np.int32))

    @classmethod
    def learn(cls, formulas: Iterable[str]) -> "ElementOrder":
        """Count, for every pair of elements, which one each formula writes first."""
        before = np.zeros((N_ELEMENTS, N_ELEMENTS), dtype=np.int32)
        for text in formulas:
            seen = _symbols_in_order(text)
            for position, first in enumerate(seen):
                before[first, seen[position + 1 :]] += 1
        return cls(before)

    def led_by(self, reference: str | None) -> "ElementOrder":
        """This order, except that the elements of ``reference`` (a formula text) keep the
        order the reference writes them in; None or "" returns ``self``."""
        seen = _symbols_in_order(reference or "")
        if len(seen) < 2:
            return self
        before = self.before.astype(np.int64).copy()
        weight = int(before.max()) + 1
        for position, first in enumerate(seen):
            for second in seen[position + 1 :]:
                before[first, second] += weight
        return ElementOrder(before)

    def sort(self, indices: Iterable[int]) -> list[int]:
        """Element indices in writing order: an element goes before another if SuperCon
        mostly writes it first (Copeland count of pairwise wins within the set); ties and
        unseen pairs fall back to electronegativity order."""
        members = sorted(set(int(i) for i in indices))
        if not members:
            return []
        sub = self.before[np.ix_(members, members)]
        wins = (sub > sub.T).sum(axis=1)
        return [
            members[k]
            for k in sorted(range(len(members)), key=lambda k: (-wins[k], _ELECTRONEGATIVITY_RANK[members[k]]))
        ]

    def name(self, indices: Iterable[int]) -> str:
        """Element-set name such as ``"La-Sr-Cu-O"``."""
        return "-".join(ELEMENT_SYMBOLS[i] for i in self.sort(indices))

    def write(self, text: str) -> str:
        """A formula text as chemists spell it: each element once (its amounts summed:
        SuperCon's ``Nb3Sn0.2Sn0.8`` is ``Nb3Sn``), in this writing order (``B2Mg1`` is
        ``MgB2``), a 1 left out.  A text with a symbol outside the 96 elements (SuperCon's
        D and T for deuterium and tritium) keeps its order and loses only its 1s."""
        amounts: dict[int, float] = {}
        for symbol, amount in _AMOUNT_TOKEN.findall(str(text)):
            index = SYMBOL_TO_INDEX.get(symbol)
            if index is None:
                return _ONE_AMOUNT.sub("", str(text))
            amounts[index] = amounts.get(index, 0.0) + (float(amount) if amount else 1.0)
        return "".join(f"{ELEMENT_SYMBOLS[e]}{format_amount(amounts[e])}" for e in self.sort(amounts) if round(amounts[e], 4) != 0)


def _symbols_in_order(text: str) -> list[int]:
    """Element indices of a formula text in the order first written."""
    seen: list[int] = []
    for token in ELEMENT_SYMBOL_PATTERN.findall(str(text)):
        index = SYMBOL_TO_INDEX.get(token)
        if index is not None and index not in seen:
            seen.append(index)
    return seen


# ---------------------------------------------------------------------------------------
# General formulas
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FormulaVariable:
    """One varying amount of a general formula.

    Attributes:
        name: ``"x"``, ``"y"``, ...
        element: symbol of the element whose amount it sets (a dopant, or an element that
            varies on its own such as O in ``YBa2Cu3O7-x``).
        low, high: observed range over the members (atoms per formula unit, >= 0).
    """

    name: str
    element: str
    low: float
    high: float

    def range_text(self) -> str:
        """``"x = 0.1–0.2"`` or ``"y = 0.1"`` when it does not vary."""
        low, high = _number(self.low, 3), _number(self.high, 3)
        return f"{self.name} = {low}" if low == high else f"{self.name} = {low}–{high}"


@dataclass(frozen=True)
class GeneralFormula:
    """A family's general formula and where each member sits in it.

    Attributes:
        text: e.g. ``"La2-xSrxCuO4"``.
        variables: the varying amounts in order of appearance in ``text``.
        values: shape (n_members, n_variables): each member's value of each variable.
        elements: element indices of the formula in writing order.
        reference: the reference formula it is written from (:func:`derive_reference_formula`),
            "" when written from the members alone.
    """

    text: str
    variables: tuple[FormulaVariable, ...]
    values: np.ndarray
    elements: tuple[int, ...]
    reference: str = ""

    def ranges_text(self) -> str:
        """``"x = 0.1–0.2; y = 0.1"``."""
        return "; ".join(variable.range_text() for variable in self.variables)


def _number(value: float, decimals: int = 2) -> str:
    """Amount as text, rounded; unlike :func:`format_amount` a 1 is written."""
    text = f"{round(float(value), decimals):.{decimals}f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def _decimals(tolerance: float) -> int:
    return max(0, int(np.ceil(-np.log10(tolerance) - _EPSILON)))


def _spans(columns: np.ndarray) -> np.ndarray:
    """max - min per column of a (members, k) array."""
    return columns.max(axis=0) - columns.min(axis=0)


def _align_formula_units(amounts: np.ndarray, tolerance: float) -> np.ndarray:
    """Rescale members written with different formula units (``La2CuO4`` vs ``La4Cu2O8``).

    The anchor is the element, present in every member, whose atomic fraction varies
    least; a member is scaled so the anchor has its median amount, but only when that
    changes its size by more than 10 % (a different formula unit, not doping: scaling
    Ba1.88Cs0.12CuO3.28 to the median O amount would break the Ba–Cs site).  The
    rescaling is kept only if it leaves fewer varying amounts than before.
    """
    present = np.all(amounts > 0, axis=0)
    if not present.any():
        return amounts
    fractions = amounts / amounts.sum(axis=1, keepdims=True)
    spread = np.where(present, fractions.std(axis=0) / np.maximum(fractions.mean(axis=0), 1e-12), np.inf)
    anchor = int(np.argmin(spread))
    factors = np.median(amounts[:, anchor]) / amounts[:, anchor]
    factors[np.abs(factors - 1) <= 0.1] = 1.0
    scaled = amounts * factors[:, None]
    return scaled if _count_varying(scaled, tolerance) < _count_varying(amounts, tolerance) else amounts


def _count_varying(amounts: np.ndarray, tolerance: float) -> int:
    return int(np.sum(_spans(amounts) > tolerance + _EPSILON))


def _is_whole(value: float, tolerance: float) -> bool:
    return value >= 1 - tolerance and abs(value - round(value)) <= tolerance + _EPSILON


@dataclass(frozen=True)
class _Site:
    """Columns sharing one site: the host (largest mean amount), its dopants, and the
    site's total as written (``2`` in ``Ba2-xCsx``)."""

    host: int
    dopants: tuple[int, ...]
    total: float


def _find_sites(
    amounts: np.ndarray, columns: np.ndarray, varying: list[int], constant: list[int], tolerance: float
) -> list[_Site]:
    """Sites shared by several elements: sets of varying columns (positions in ``columns``,
    the element indices) whose sum stays constant, all cations or all anions.

    First exact sites (the sum varies by at most ``tolerance``; any total), then, among
    the columns left, inexact ones (the sum within :data:`SITE_SLACK` of one whole number
    >= 1 in every member), smallest sets first.  A host must exceed each dopant in every
    member.  An exact site whose total is not whole takes in constant minor elements that
    complete it (``Y0.8Ca0.1Pr0.1`` with Pr fixed is ``Y1-x-yCaxPry``).
    """
    sites: list[_Site] = []
    free = list(varying)
    for exact in (True, False):
        for size in range(2, len(free) + 1):
            for subset in combinations(list(free), size):
                if not set(subset) <= set(free):
                    continue
                if not _one_kind(columns[list(subset)]):
                    continue  # a site never spans a cation and an anion
                total = amounts[:, list(subset)].sum(axis=1)
                host = max(subset, key=lambda c: amounts[:, c].mean())
                dopants = [c for c in subset if c != host]
                if np.any(amounts[:, host][:, None] <= amounts[:, dopants]):
                    continue
                if exact:
                    if total.max() - total.min() > tolerance + _EPSILON:
                        continue
                    written = float(np.median(total))
                    same_kind = [c for c in constant if _one_kind(columns[[c, host]])]
                    completing = _completing_constants(amounts, host, written, same_kind, tolerance)
                    dopants += completing
                    written += float(amounts[0, completing].sum())
                else:
                    whole = round(float(np.median(total)))
                    if whole < 1 or np.max(np.abs(total - whole)) > SITE_SLACK + _EPSILON:
                        continue
                    written = float(whole)
                sites.append(_Site(host, tuple(dopants), written))
                free = [c for c in free if c not in subset]
    return sites


def _completing_constants(
    amounts: np.ndarray, host: int, total: float, constant: list[int], tolerance: float
) -> list[int]:
    """Constant minor elements (each below 1 atom and below the host) whose addition makes
    ``total`` a whole number; the smallest such set, or none."""
    if _is_whole(total, tolerance):
        return []
    minor = [c for c in constant if amounts[0, c] < min(1.0, amounts[:, host].min())]
    for size in range(1, len(minor) + 1):
        for subset in combinations(minor, size):
            if _is_whole(total + amounts[0, list(subset)].sum(), tolerance):
                return list(subset)
    return []


def _near_constant_decimals(column: np.ndarray, tolerance: float) -> int | None:
    """Decimals to write a varying amount with, if its spread is small enough for it to
    count as constant (:data:`NEAR_CONSTANT_SPAN`); else None."""
    span = float(column.max() - column.min())
    if span > NEAR_CONSTANT_SPAN + _EPSILON or span > NEAR_CONSTANT_RELATIVE * float(column.mean()) + _EPSILON:
        return None
    return min(_decimals(tolerance), max(0, int(np.floor(-np.log10(span)))))


def _free_term(symbol: str, column: np.ndarray, name: str, tolerance: float) -> tuple[str, np.ndarray]:
    """Text and (non-negative) variable values for an element that varies on its own.

    Around a whole number ``b`` (the median rounded), the amount is written ``O7-x`` when
    every member is at or below ``b`` and ``O7+x`` when every member is at or above it;
    amounts straddling ``b`` are written from the smallest one (``O3.9+x``); amounts
    around 0 are written ``Kx``.
    """
    base = round(float(np.median(column)))
    if base == 0:
        return f"{symbol}{name}", column
    if column.max() <= base + tolerance:
        return f"{symbol}{base}-{name}", np.maximum(base - column, 0.0)
    if column.min() >= base - tolerance:
        return f"{symbol}{base}+{name}", np.maximum(column - base, 0.0)
    low = float(column.min())
    return f"{symbol}{_number(low, _decimals(tolerance))}+{name}", column - low


def derive_general_formula(
    vectors: np.ndarray,
    element_order: ElementOrder | None = None,
    tolerance: float = AMOUNT_TOLERANCE,
    allow_absent: bool = False,
) -> GeneralFormula | None:
    """The general formula of a family, the chemist's way (the paper's Table 2).

    Rules: amounts the same in every member are written once (rounded to the tolerance;
    an amount that varies only slightly, O3.28–3.30, is rounded to what its spread
    supports, ``O3.3``); varying amounts whose sum stays (nearly) constant share one site,
    written host ``A(n-x-y)`` and dopants ``BxCy`` right after it (``Ba2-xCsx``,
    ``BaFe2-x-yCoxNiyAs2``); any other varying amount gets its own variable (``O7-x``).
    Elements follow ``element_order`` (lead it by the reference with
    :meth:`ElementOrder.led_by`), anions (:data:`ANION_SYMBOLS`) last, the dopants of a
    site by atomic number.  Variables are
    named from :data:`VARIABLE_NAMES` in order of appearance; their values are the
    observed amounts, never negative.

    Args:
        vectors: member amounts, shape (n_members, 96), atoms per formula unit.
        element_order: writing order of the elements (default: electronegativity).
        tolerance: amounts that differ by at most this count as equal.
        allow_absent: if False, members must share one element set; if True an element
            missing from a member counts as amount 0 (``La2CuO4`` joins ``La2-xSrxCuO4``),
            provided at least half of all their elements are in every member and the
            formula needs at most :data:`MAX_VARIABLES_MIXED` variables.

    Returns:
        The formula, or None when the members are not one family: fewer than two, no
        amount varies (the same compound), different element sets when not allowed, or
        more varying variables than the members can support (at most one fewer than
        the members, and at most :data:`MAX_VARYING`: four members with five free
        amounts are noise, not a family).
    """
    order = element_order or ElementOrder()
    vectors = np.atleast_2d(np.asarray(vectors, dtype=np.float64))
    if vectors.shape[0] < 2:
        return None
    rounded = np.round(vectors, 4)
    columns = np.flatnonzero(np.any(rounded > 0, axis=0))
    amounts = rounded[:, columns]
    absent = amounts <= 0
    if absent.any():
        in_every_member = np.count_nonzero(~absent.any(axis=0))
        if not allow_absent or 2 * in_every_member < len(columns):
            return None
    amounts = _align_formula_units(amounts, tolerance)
    spans = _spans(amounts)
    varying = [c for c in range(len(columns)) if spans[c] > tolerance + _EPSILON]
    if not varying:
        return None
    constant = [c for c in range(len(columns)) if c not in varying]
    sites = _find_sites(amounts, columns, varying, constant, tolerance)
    in_sites = {c for site in sites for c in (site.host, *site.dopants)}
    rounding = {c: _decimals(tolerance) for c in constant}
    for c in varying:
        if c not in in_sites and (decimals := _near_constant_decimals(amounts[:, c], tolerance)) is not None:
            rounding[c] = decimals
    if not sites and len(rounding) == len(columns):
        return None  # only slight spreads: one compound, not a family
    formula = _write_formula(amounts, columns, sites, rounding, order, tolerance)
    n_varying = sum(v.high - v.low > tolerance + _EPSILON for v in formula.variables)
    if n_varying > min(MAX_VARYING, max(1, vectors.shape[0] - 1)):
        return None
    if allow_absent and absent.any() and len(formula.variables) > MAX_VARIABLES_MIXED:
        return None
    return formula


def _variable_name(position: int) -> str:
    return VARIABLE_NAMES[position] if position < len(VARIABLE_NAMES) else f"x{position + 1}"


def _write_formula(
    amounts: np.ndarray,
    columns: np.ndarray,
    sites: list[_Site],
    rounding: dict[int, int],
    order: ElementOrder,
    tolerance: float,
) -> GeneralFormula:
    """Write the formula text: elements in writing order with anions last, each dopant
    right after its host; ``rounding`` gives the decimals of each constant column."""
    sorted_columns = [list(columns).index(i) for i in order.sort(columns)]
    writing_rank = {column: rank for rank, column in enumerate(sorted_columns)}
    anion = {c: ELEMENT_SYMBOLS[columns[c]] in ANION_SYMBOLS for c in writing_rank}
    by_host = {site.host: site for site in sites}
    dopant_columns = {dopant for site in sites for dopant in site.dopants}
    pieces: list[str] = []
    variables: list[FormulaVariable] = []
    values: list[np.ndarray] = []
    sequence: list[int] = []

    def add_variable(column: int, member_values: np.ndarray) -> None:
        symbol = ELEMENT_SYMBOLS[columns[column]]
        variables.append(FormulaVariable(_variable_name(len(variables)), symbol, float(member_values.min()), float(member_values.max())))
        values.append(member_values)

    for column in sorted(writing_rank, key=lambda c: (anion[c], writing_rank[c])):
        if column in dopant_columns:
            continue
        symbol = ELEMENT_SYMBOLS[columns[column]]
        if column in by_host:
            site = by_host[column]
            dopants = sorted(site.dopants, key=lambda d: columns[d])  # by Z: Co before Ni, Ca before Pr
            names = [_variable_name(len(variables) + k) for k in range(len(dopants))]
            for dopant in dopants:
                add_variable(dopant, amounts[:, dopant])
            pieces.append(f"{symbol}{_number(site.total, _decimals(tolerance))}" + "".join(f"-{name}" for name in names))
            pieces.extend(f"{ELEMENT_SYMBOLS[columns[d]]}{name}" for d, name in zip(dopants, names))
            sequence.extend([column, *dopants])
        elif column in rounding:
            amount = _number(float(np.median(amounts[:, column])), rounding[column])
            pieces.append(symbol + ("" if amount == "1" else amount))
            sequence.append(column)
        else:
            text, member_values = _free_term(symbol, amounts[:, column], _variable_name(len(variables)), tolerance)
            add_variable(column, member_values)
            pieces.append(text)
            sequence.append(column)
    value_array = np.column_stack(values) if values else np.zeros((amounts.shape[0], 0))
    return GeneralFormula(
        "".join(pieces), tuple(variables), np.round(value_array, 6), tuple(int(columns[c]) for c in sequence)
    )


# ---------------------------------------------------------------------------------------
# Formulas written from a reference
# ---------------------------------------------------------------------------------------


def reference_tolerance(amounts: np.ndarray) -> np.ndarray:
    """Per reference amount (atoms per formula unit), how far a member may be from it and
    still be written as it (:data:`REFERENCE_ABSOLUTE_TOLERANCE`, :data:`REFERENCE_RELATIVE_TOLERANCE`)."""
    return np.maximum(REFERENCE_ABSOLUTE_TOLERANCE, REFERENCE_RELATIVE_TOLERANCE * np.asarray(amounts, dtype=np.float64))


@functools.lru_cache(maxsize=1)
def _chemical_rank() -> np.ndarray:
    """Position of each element (index Z - 1) on Pettifor's chemical scale, shape (96,)."""
    rank = np.empty(N_ELEMENTS, dtype=np.int64)
    rank[order_permutation("pettifor", N_ELEMENTS)] = np.arange(N_ELEMENTS)
    return rank


def _reference_amounts(reference: str) -> tuple[np.ndarray, list[int]]:
    """The reference's amounts (96,) and its elements in the order it writes them."""
    amounts = parse_formula(reference, max_elements=N_ELEMENTS)
    return amounts, [e for e in _symbols_in_order(reference) if amounts[e] > 0]


def _reference_writing_order(reference_order: list[int], extra: Iterable[int], after: dict[int, int] | None = None) -> list[int]:
    """Elements in writing order: the reference's in its order, each element of ``extra``
    right after its entry in ``after`` (a site host) or else after the reference element of
    its own kind nearest to it on Pettifor's scale (Tl after Hg, Br after Se); one with no
    reference element of its kind goes after the last cation (a cation) or at the end."""
    after = dict(after or {})
    rank = _chemical_rank()
    for element in sorted(set(extra) - set(reference_order), key=lambda e: rank[e]):
        if element in after:
            continue
        same_kind = [e for e in reference_order if is_anion(e) == is_anion(element)]
        if same_kind:
            after[element] = min(same_kind, key=lambda e: (abs(int(rank[e]) - int(rank[element])), reference_order.index(e)))
        elif not is_anion(element):
            cations = [e for e in reference_order if not is_anion(e)]
            after[element] = cations[-1] if cations else -1
        else:
            after[element] = reference_order[-1] if reference_order else -1
    order: list[int] = []
    for element in [-1, *reference_order]:
        if element >= 0:
            order.append(element)
        followers = sorted((e for e, host in after.items() if host == element), key=lambda e: e)
        order.extend(followers)
    return order


def formula_in_reference_order(vector: np.ndarray, reference: str) -> str:
    """One composition written in its reference's element order (amounts as in ``vector``,
    rounded to 4 decimals, a 1 left out): ``Hg0.8Tl0.2Ba2Ca2Cu3O8.3`` from
    ``HgBa2Ca2Cu3O8.27``.  Elements the reference lacks follow the reference element of
    their kind nearest to them on Pettifor's scale; without a reference ("" or unreadable)
    the electronegativity order of :func:`superdiff_core.composition.vector_to_formula`.

    Args:
        vector: amounts, shape (96,), atoms per formula unit.
        reference: the reference formula text the composition was generated from.
    """
    rounded = np.round(np.asarray(vector, dtype=np.float64).reshape(N_ELEMENTS), 4)
    try:
        _, reference_order = _reference_amounts(reference) if reference else (None, [])
    except FormulaError:
        reference_order = []
    if not reference_order:
        return vector_to_formula(rounded)
    present = [int(e) for e in np.flatnonzero(rounded != 0)]
    order = [e for e in _reference_writing_order(reference_order, present) if rounded[e] != 0]
    return "".join(f"{ELEMENT_SYMBOLS[e]}{format_amount(rounded[e])}" for e in order)


def formulas_in_reference_order(vectors: np.ndarray, references: Iterable[str]) -> list[str]:
    """:func:`formula_in_reference_order` per row of an (n, 96) array and its references."""
    return [formula_in_reference_order(vector, str(reference)) for vector, reference in zip(np.asarray(vectors), references)]


@dataclass
class _Term:
    """One element's piece of a reference formula (built before the variables are named).

    kind: ``constant`` (the reference amount), ``host`` (``Se0.51-x``, its dopants follow),
    ``dopant`` (``Asx``), ``down``/``up`` (``Ba1.4-x``/``Sr0.6+x``: an exchange between two
    reference elements, or one element's own change), ``from`` (``O5.9+x``: varies around
    its reference amount), ``free`` (``Fx``: a new element on no site)."""

    element: int
    kind: str
    base: float = 0.0
    values: np.ndarray | None = None  # the variable's value per member (None: no variable)
    shares: int = -1  # an exchange's partner element: both terms use one variable
    dopants: tuple[int, ...] = ()


def _trimmed_range(values: np.ndarray) -> tuple[float, float]:
    """(low, high) of a member column without the :data:`REFERENCE_OUTLIER_SHARE` most
    extreme members at each end (whole members only: none of fewer than 20)."""
    ordered = np.sort(np.asarray(values, dtype=np.float64))
    cut = int(np.floor(REFERENCE_OUTLIER_SHARE * len(ordered) + _EPSILON))
    return float(ordered[cut]), float(ordered[len(ordered) - 1 - cut])


def _round_down(value: float, decimals: int = 2) -> float:
    """``value`` rounded down to ``decimals`` (a base amount every member is at or above)."""
    return float(np.floor(value * 10**decimals + _EPSILON) / 10**decimals)


def _align_to_reference(members: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Members rescaled to the reference's formula unit (``La4Cu2O8`` for ``La2CuO4``): the
    ratio of the reference's cations to the member's, new cations counted, applied only when it
    changes a member's size by more than 10 % (a formula unit, not doping). Cations fix the
    formula unit: anion vacancies (YBa2Cu3O6 beside O7) and anion or cation substitution keep it,
    so Hg0.6Tl0.4Ba1.95Ca1.81Cu2.9O7.47F0.8 stays as written though most of Hg-1223's elements
    fell by about 10 % each (counted per element, their median ratio rescaled it). All atoms
    count when the reference has no cation."""
    cations = np.array([not is_anion(e) for e in range(N_ELEMENTS)])
    counted = cations if (reference[cations] > 0).any() else np.ones(N_ELEMENTS, dtype=bool)
    totals = members[:, counted].sum(axis=1)
    factors = np.where(totals > 0, reference[counted].sum() / np.maximum(totals, 1e-12), 1.0)
    factors[np.abs(factors - 1) <= 0.1] = 1.0
    return members * factors[:, None]


def derive_reference_formula(
    vectors: np.ndarray, reference: str, max_variables: int = MAX_HEADLINE_VARIABLES
) -> GeneralFormula | None:
    """The general formula of a family generated from ``reference``, written from it.

    The reference's elements are written in its order at its amounts (an amount every
    member has within :func:`reference_tolerance` of the reference's is the reference's);
    what changes becomes a variable:

    * a new element on a reference element's site (the host, of its own kind: cation or
      anion), when the host and its dopants sum to the host's reference amount in every
      member: ``Se0.51-xAsx`` (or to a constant total of their own, within half the
      tolerance: ``Se0.44-xAsx`` when some Se is lost); two dopants on one host:
      ``Fe2-x-yCoxNiy``;
    * two reference elements of one kind trading amounts at a constant sum: ``Ba1.4-xSr0.6+x``;
    * a reference element that changes on its own: ``O8.27+x`` / ``O6-x`` (``O5.9+x`` from
      its smallest amount when it spreads across the reference's);
    * a new element on no site: ``Fx``, after the reference element of its kind nearest
      on Pettifor's scale (written once, ``F0.2``, if every member has it and it hardly
      varies).

    Reference elements that no member has are left out.  Variables are named x, y in order
    of appearance; their values are never negative.

    Args:
        vectors: member amounts, shape (n_members, 96), atoms per formula unit; members
            written with another formula unit are rescaled to the reference's.
        reference: the reference formula text.
        max_variables: most variables allowed.

    Returns:
        The formula (``reference`` set), or None: fewer than two members, nothing varies
        beyond the tolerance (the reference itself), or more than ``max_variables``.
    """
    members = np.atleast_2d(np.round(np.asarray(vectors, dtype=np.float64), 4))
    if members.shape[0] < 2:
        return None
    reference_amounts, reference_order = _reference_amounts(reference)
    members = _align_to_reference(members, reference_amounts)
    present = np.any(members > 0, axis=0)
    written = [e for e in reference_order if present[e]]
    new = [int(e) for e in np.flatnonzero(present & (reference_amounts <= 0))]
    tolerance = reference_tolerance(reference_amounts)
    tolerance[reference_amounts <= 0] = REFERENCE_ABSOLUTE_TOLERANCE

    def worst(values: np.ndarray, target: float) -> float:
        """Largest distance of the members' (trimmed) amounts from ``target``."""
        low, high = _trimmed_range(values)
        return max(abs(low - target), abs(high - target))

    def site_total(host: int, before: list[int], added: list[int]) -> tuple[float, float] | None:
        """(error, total written) of ``host`` sharing its site with its dopants ``before`` and
        the new ones ``added``: the host's
        reference amount if the site sums to it, else the site's own (median) total if that
        stays constant (Se and As summing to 0.44 in every member: ``Se0.44-xAsx``); None
        unless the site explains the host's change better than the host alone."""
        amounts = members[:, [host, *before, *added]].sum(axis=1)
        alone = worst(members[:, [host, *before]].sum(axis=1), reference_amounts[host])
        for total in (float(reference_amounts[host]), float(np.round(np.median(amounts), 2))):
            error = worst(amounts, total)
            if error <= tolerance[host] / 2 + _EPSILON or (total == reference_amounts[host] and error <= tolerance[host] + _EPSILON):
                return (error, total) if error < alone else None
        return None

    dopants: dict[int, list[int]] = {}
    totals: dict[int, float] = {}
    free_new: list[int] = []
    for element in sorted(new, key=lambda e: (-float(np.median(members[:, e])), e)):
        fits = [(fit, host) for host in written if _one_kind([host, element])
                and (fit := site_total(host, dopants.get(host, []), [element])) is not None]
        if fits:
            (_, total), host = min(fits)
            dopants.setdefault(host, []).append(element)
            totals[host] = total
        else:
            free_new.append(element)
    for pair in combinations(list(free_new), 2):  # two dopants that fill a host only together (Fe2-x-yCoxNiy)
        if not set(pair) <= set(free_new):
            continue
        fits = [(fit, host) for host in written if host not in dopants and _one_kind([host, *pair])
                and (fit := site_total(host, [], list(pair))) is not None]
        if fits:
            (_, total), host = min(fits)
            dopants[host], totals[host] = list(pair), total
            free_new = [e for e in free_new if e not in pair]
    terms: dict[int, _Term] = {}
    for host, elements in dopants.items():
        terms[host] = _Term(host, "host", totals[host], dopants=tuple(sorted(elements)))
        for element in elements:
            terms[element] = _Term(element, "dopant", values=members[:, element])
    changing = [e for e in written if e not in terms and worst(members[:, e], reference_amounts[e]) > tolerance[e] + _EPSILON]
    for first, second in combinations(list(changing), 2):  # exchanges between two reference elements
        if first in terms or second in terms or not _one_kind([first, second]):
            continue
        total = reference_amounts[first] + reference_amounts[second]
        if worst(members[:, first] + members[:, second], total) > max(tolerance[first], tolerance[second]) + _EPSILON:
            continue
        shift = (members[:, second] - reference_amounts[second] - members[:, first] + reference_amounts[first]) / 2
        direction = 1.0 if np.median(shift) >= 0 else -1.0  # +1: first goes down, second up
        down, up = (first, second) if direction > 0 else (second, first)
        moved = direction * shift  # atoms moved from `down` to `up`, per member
        start = min(0.0, _round_down(float(moved.min())))  # members trading both ways: written from the smallest
        if reference_amounts[up] + start < 0:
            continue
        terms[down] = _Term(down, "down", reference_amounts[down] - start, values=np.maximum(moved - start, 0.0), shares=up)
        terms[up] = _Term(up, "up", reference_amounts[up] + start, values=np.maximum(moved - start, 0.0), shares=down)
    for element in changing:
        if element in terms:
            continue
        column, base = members[:, element], reference_amounts[element]
        low, high = _trimmed_range(column)
        if low >= base - tolerance[element]:
            terms[element] = _Term(element, "up", base, values=np.maximum(column - base, 0.0))
        elif high <= base + tolerance[element]:
            terms[element] = _Term(element, "down", base, values=np.maximum(base - column, 0.0))
        else:
            start = _round_down(float(column.min()))
            terms[element] = _Term(element, "from", start, values=column - start)
    for element in free_new:  # on no site: its own variable, or written once if it hardly varies (Se0.2)
        low, high = _trimmed_range(members[:, element])
        if high - low <= REFERENCE_ABSOLUTE_TOLERANCE + _EPSILON and np.all(members[:, element] > 0):
            terms[element] = _Term(element, "constant", float(np.round(np.median(members[:, element]), 2)))
        else:
            terms[element] = _Term(element, "free", values=members[:, element])
    for element in written:
        terms.setdefault(element, _Term(element, "constant", reference_amounts[element]))
    n_variables = sum(1 for t in terms.values() if t.values is not None and not (t.shares >= 0 and t.kind == "up"))
    if n_variables == 0 or n_variables > max_variables:
        return None
    hosts = {d: h for h, elements in dopants.items() for d in elements}
    order = _reference_writing_order(written, [*new], hosts)
    return _write_reference_formula([terms[e] for e in order], reference)


def _write_reference_formula(terms: list[_Term], reference: str) -> GeneralFormula:
    """Name the variables in order of appearance and write the text of ``terms``."""
    names: dict[int, str] = {}  # element -> its variable's name
    variables: list[FormulaVariable] = []
    values: list[np.ndarray] = []
    by_element = {t.element: t for t in terms}

    def name_of(term: _Term) -> str:
        key = term.element if term.shares < 0 or term.kind == "down" else term.shares
        if key not in names:
            names[key] = _variable_name(len(variables))
            owner = by_element[term.shares] if term.shares >= 0 and term.kind == "down" else term
            element = ELEMENT_SYMBOLS[owner.element]
            variables.append(FormulaVariable(names[key], element, float(term.values.min()), float(term.values.max())))
            values.append(term.values)
        return names[key]

    pieces: list[str] = []
    for term in terms:
        symbol = ELEMENT_SYMBOLS[term.element]
        base = _number(term.base, 4)
        if term.kind == "constant":
            pieces.append(symbol + ("" if base == "1" else base))
        elif term.kind == "host":
            pieces.append(f"{symbol}{base}" + "".join(f"-{name_of(by_element[d])}" for d in term.dopants))
        elif term.kind in ("dopant", "free"):
            pieces.append(f"{symbol}{name_of(term)}")
        elif term.kind == "down":
            pieces.append(f"{symbol}{base}-{name_of(term)}")
        else:  # "up" and "from"
            pieces.append(f"{symbol}{base}+{name_of(term)}")
    value_array = np.column_stack(values) if values else np.zeros((len(terms[0].values) if terms and terms[0].values is not None else 0, 0))
    return GeneralFormula("".join(pieces), tuple(variables), np.round(value_array, 6), tuple(t.element for t in terms), reference)
