"""Composition encoding: formula text <-> 96-element amount vector (H ... Cm).

Entry ``i`` of a vector is the amount of the element with atomic number ``Z = i + 1``
exactly as written in the formula (not normalised), as in the reference SuperDiff code:
``HgBa2Ca2Cu3O8.27`` -> Hg 1, Ba 2, Ca 2, Cu 3, O 8.27.

Formulas are parsed with pymatgen (``Composition(s, strict=True)``) after the text that
chemists paste has been normalised (Unicode subscripts, spaces).  Every rejection raises
:class:`FormulaError` with a one-line reason naming the offending text.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from pymatgen.core import Composition, Element

N_ELEMENTS = 96
"""Length of a composition vector: elements H (Z = 1) to Cm (Z = 96)."""

MAX_AMOUNT = 1000.0
"""Largest amount of one element accepted in a formula."""

MAX_DISTINCT_ELEMENTS = 7
"""Most distinct elements accepted in one reference formula."""

ELEMENT_SYMBOLS: tuple[str, ...] = tuple(Element.from_Z(z).symbol for z in range(1, N_ELEMENTS + 1))
SYMBOL_TO_INDEX: dict[str, int] = {symbol: i for i, symbol in enumerate(ELEMENT_SYMBOLS)}

_SUBSCRIPTS = str.maketrans("₀₁₂₃₄₅₆₇₈₉₊₋.", "0123456789+-.")
_SEPARATORS = re.compile(r"[\n\r,;]+")
_NEGATIVE_AMOUNT = re.compile(r"[A-Za-z)\]]-\d")
_EXPONENT = re.compile(r"\d[eE][+-]?\d")
_NON_NUMERIC_AMOUNT = re.compile(r"[A-Za-z)\]\d.][\-+±~]|[xyzδ]$")
ELEMENT_SYMBOL_PATTERN = re.compile(r"[A-Z][a-z]?")
"""An element symbol in formula text (a capital, then at most one small letter)."""


class FormulaError(ValueError):
    """A formula that cannot be encoded; the message is one line that names the text."""


@dataclass(frozen=True, eq=False)
class ParsedFormula:
    """One formula as pasted, with its amount vector.

    Two parsed formulas are equal when both the text and the amounts are.

    Attributes:
        text: the formula as the user wrote it (stripped).
        vector: amounts per element, shape (96,), float64, index Z - 1.
    """

    text: str
    vector: np.ndarray

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ParsedFormula):
            return NotImplemented
        return self.text == other.text and np.array_equal(self.vector, other.vector)

    def __hash__(self) -> int:
        return hash((self.text, np.asarray(self.vector, dtype=np.float64).tobytes()))

    @property
    def formula(self) -> str:
        """Canonical formula string of :attr:`vector` (see :func:`vector_to_formula`)."""
        return vector_to_formula(self.vector)


def normalise_formula_text(text: str) -> str:
    """Turn pasted text into something pymatgen parses: subscripts to digits, no spaces."""
    return "".join(text.translate(_SUBSCRIPTS).split())


def split_formulas(text: str) -> list[str]:
    """Split pasted text into formulas at newlines, commas and semicolons; drop blanks."""
    return [part.strip() for part in _SEPARATORS.split(text) if part.strip()]


def parse_formula(text: str, max_elements: int = MAX_DISTINCT_ELEMENTS) -> np.ndarray:
    """Parse one formula into an amount vector.

    Args:
        text: a formula such as ``"YBa2Cu3O7"``, ``"Ba(Fe0.9Co0.1)2As2"`` or ``"YBa₂Cu₃O₇"``.
        max_elements: the most distinct elements accepted.

    Returns:
        Amounts per element, shape (96,), float64.

    Raises:
        FormulaError: with a one-line reason naming ``text``.
    """
    shown = text.strip()
    if not shown:
        raise FormulaError("empty formula")
    cleaned = normalise_formula_text(shown)
    if _EXPONENT.search(cleaned):
        raise FormulaError(f"'{shown}': exponents are not amounts (write O1000 or O0.7, not O1e3 or O7e-1)")
    if _NEGATIVE_AMOUNT.search(cleaned):
        raise FormulaError(f"'{shown}': negative amounts are not allowed")
    if _NON_NUMERIC_AMOUNT.search(cleaned):
        raise FormulaError(
            f"'{shown}': amounts must be plain numbers (write YBa2Cu3O6.9, not YBa2Cu3O7-x)"
        )
    try:
        composition = Composition(cleaned, strict=True)
    except Exception as error:  # pymatgen raises ValueError, KeyError, IndexError...
        raise FormulaError(f"'{shown}': {_explain_parse_error(cleaned, error)}") from None
    amounts = composition.get_el_amt_dict()
    if not amounts or all(amount == 0 for amount in amounts.values()):
        raise FormulaError(f"'{shown}': no element has a positive amount")
    vector = np.zeros(N_ELEMENTS)
    for symbol, amount in amounts.items():
        if symbol not in SYMBOL_TO_INDEX:
            raise FormulaError(f"'{shown}': element {symbol} is beyond Cm (Z > 96), not supported")
        if amount < 0:
            raise FormulaError(f"'{shown}': negative amount for {symbol}")
        if amount > MAX_AMOUNT:
            raise FormulaError(f"'{shown}': amount {amount:g} of {symbol} is above {MAX_AMOUNT:g}")
        vector[SYMBOL_TO_INDEX[symbol]] += amount
    n_elements = int(np.count_nonzero(vector))
    if n_elements > max_elements:
        raise FormulaError(f"'{shown}': {n_elements} elements, at most {max_elements} are supported")
    return vector


def _explain_parse_error(cleaned: str, error: Exception) -> str:
    message = str(error)
    if "negative" in message:
        return "negative amounts are not allowed"
    unknown = [
        token
        for token in ELEMENT_SYMBOL_PATTERN.findall(cleaned)
        if not Element.is_valid_symbol(token)
    ]
    if unknown:
        return f"unknown element symbol {unknown[0]!r}"
    if "not valid" in message or "dummy" in message.lower():
        return "contains a symbol that is not a chemical element"
    return "not a chemical formula"


def parse_formulas(text: str, max_elements: int = MAX_DISTINCT_ELEMENTS) -> tuple[list[ParsedFormula], list[str]]:
    """Parse several formulas separated by newlines, commas or semicolons.

    Returns:
        ``(parsed, errors)``: every good formula in input order, and one message per bad one.
        An empty input gives a single error.
    """
    parts = split_formulas(text)
    if not parts:
        return [], ["empty input: paste at least one formula"]
    parsed: list[ParsedFormula] = []
    errors: list[str] = []
    for part in parts:
        try:
            parsed.append(ParsedFormula(part, parse_formula(part, max_elements)))
        except FormulaError as error:
            errors.append(str(error))
    return parsed, errors


def format_amount(amount: float) -> str:
    """Amount as written in a formula: ``""`` for 1, ``"0.15"`` for 0.15, at most 4 decimals."""
    text = f"{round(float(amount), 4):.4f}".rstrip("0").rstrip(".")
    return "" if text == "1" else text


def _electronegativity_order() -> np.ndarray:
    """Element indices sorted as pymatgen writes formulas: by electronegativity, then Z."""
    def key(index: int) -> tuple[float, int]:
        with warnings.catch_warnings():  # noble gases have no Pauling value
            warnings.simplefilter("ignore")
            electronegativity = Element.from_Z(index + 1).X
        return (electronegativity if electronegativity == electronegativity else 10.0, index)

    return np.array(sorted(range(N_ELEMENTS), key=key))


_WRITING_ORDER = _electronegativity_order()


def vector_to_formula(vector: np.ndarray) -> str:
    """Formula string of an amount vector, the way chemists write it.

    Elements are ordered by electronegativity (cations first, as pymatgen does), amounts
    rounded to 4 decimals and a 1 left out: the vector of ``"YBa2Cu3O7"`` gives
    ``"Ba2YCu3O7"``. Zero amounts are omitted. Parsing the result gives the vector back
    (to 4 decimals).
    """
    rounded = np.round(np.asarray(vector, dtype=float), 4)
    return "".join(
        f"{ELEMENT_SYMBOLS[i]}{format_amount(rounded[i])}" for i in _WRITING_ORDER if rounded[i] != 0
    )


def vectors_to_formulas(vectors: np.ndarray) -> list[str]:
    """:func:`vector_to_formula` for each row of an (n, 96) array."""
    return [vector_to_formula(row) for row in vectors]


def element_set(vector: np.ndarray) -> frozenset[str]:
    """Symbols of the elements with a non-zero amount."""
    return frozenset(ELEMENT_SYMBOLS[i] for i in np.flatnonzero(vector))


def element_system(elements: str | Iterable[str]) -> str:
    """The element-system key: the distinct elements of a formula text, or of element
    symbols, in alphabetical order joined by ``-``, as pymatgen's
    ``Composition.chemical_system`` writes it: ``"YBa2Cu3O7"`` → ``"Ba-Cu-O-Y"``, and
    ``element_system(element_set(vector))`` for an amount vector. Equal systems give equal
    text whatever order the formulas write their elements in."""
    symbols = ELEMENT_SYMBOL_PATTERN.findall(elements) if isinstance(elements, str) else elements
    return "-".join(sorted(set(symbols)))
