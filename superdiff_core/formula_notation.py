"""How chemists write formulas: element writing order and general (family) formulas.

One home for the notation (issue 13):

* :class:`ElementOrder` — the order in which SuperCon writes elements, learned from
  formula texts (stored with each map), optionally led by a reference formula's own order;
* :func:`derive_general_formula` — the general formula of a family of compounds, the way
  the paper's Table 2 writes it: ``La1.85Sr0.15CuO4``, ``La1.9Sr0.1CuO4`` and
  ``La1.8Sr0.2CuO4`` are ``La2-xSrxCuO4`` with ``x = 0.1–0.2``.

The plain electronegativity order of :func:`superdiff_core.composition.vector_to_formula`
(pymatgen's, used when no learned order exists) stays in :mod:`superdiff_core.composition`,
which this module imports.

Amounts are vectors of shape ``(n, 96)``, index ``Z - 1``, in atoms per formula unit.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import combinations

import numpy as np

from .composition import _WRITING_ORDER, ELEMENT_SYMBOLS, N_ELEMENTS, SYMBOL_TO_INDEX

_SYMBOL_TOKEN = re.compile(r"[A-Z][a-z]?")
_ELECTRONEGATIVITY_RANK = np.argsort(_WRITING_ORDER)  # element index -> position in pymatgen order

ANION_SYMBOLS: frozenset[str] = frozenset({"N", "P", "As", "O", "S", "Se", "Te", "F", "Cl", "Br", "I"})
"""Elements written last in a general formula (pnictogens, chalcogens, halogens)."""

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


def _symbols_in_order(text: str) -> list[int]:
    """Element indices of a formula text in the order first written."""
    seen: list[int] = []
    for token in _SYMBOL_TOKEN.findall(str(text)):
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
    """

    text: str
    variables: tuple[FormulaVariable, ...]
    values: np.ndarray
    elements: tuple[int, ...]

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


def _find_sites(amounts: np.ndarray, varying: list[int], constant: list[int], tolerance: float) -> list[_Site]:
    """Sites shared by several elements: sets of varying columns whose sum stays constant.

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
                total = amounts[:, list(subset)].sum(axis=1)
                host = max(subset, key=lambda c: amounts[:, c].mean())
                dopants = [c for c in subset if c != host]
                if np.any(amounts[:, host][:, None] <= amounts[:, dopants]):
                    continue
                if exact:
                    if total.max() - total.min() > tolerance + _EPSILON:
                        continue
                    written = float(np.median(total))
                    completing = _completing_constants(amounts, host, written, constant, tolerance)
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
    sites = _find_sites(amounts, varying, constant, tolerance)
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
