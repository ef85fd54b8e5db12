"""SMACT-style charge-balance checks of composition vectors: neutrality + Pauling electronegativity.

The paper's check (method section 4.5): the amounts are first turned into an exact integer
ratio (``Fraction(x).limit_denominator()``, times the least common multiple of the
denominators, divided by the gcd), then an oxidation state from SMACT's 2014 table (the
paper's, ``smact14``; SMACT 4 made an ICSD-2024 table its default) is chosen for every
element so that the charges cancel and SMACT's Pauling test passes (every cation less
electronegative than every anion). All-metal compositions (alloys) and single elements
are valid. SMACT's own ``smact_validity`` is *not* used on fractional formulas because it
truncates amounts with ``int()``.

Variants, all computed by one exact algorithm (:func:`charge_balance_status`):

- mixed valence: an element of SMACT's ``MIXED_VALENCE_ELEMENTS`` may split its atoms
  between two of its oxidation states of the same sign (Cu2+/Cu3+ in a hole-doped cuprate);
- bounded deviation: one oxidation state per element from a given table, the total charge
  allowed to miss zero by at most ``deviation`` per atom of mixed-valence cation (a
  Cu2.3+ average is a Cu2+ off by 0.3).

Algorithm: the Pauling test only depends on which elements are cations and which anions,
so the check loops over the sign assignments that pass it and, for each, asks whether a
charge total within the allowed window is reachable: the totals an element's atoms can carry
are a set of integers (a Python-int bit mask), and the reachable totals of the compound are
the sum set of the elements' sets. This is exact and polynomial in the integer ratio (the
former enumeration over every oxidation-state tuple was exponential: 0.74 s per formula of
the ``others`` class). A deadline still bounds every formula; past it the verdict is
``"timeout"``.
"""

from __future__ import annotations

import functools
import itertools
import math
import time
from dataclasses import dataclass
from fractions import Fraction
from typing import Literal

import numpy as np

from .composition import ELEMENT_SYMBOLS

SmactStatus = Literal["valid", "invalid", "timeout"]
OxidationTable = Literal["smact14", "icsd24", "icsd24_common"]

DEFAULT_TIMEOUT_SECONDS = 2.0
"""Time allowed per formula before it is marked ``"timeout"``."""

ICSD24_COMMONALITY_PERCENT = 10.0
"""``icsd24_common`` keeps the oxidation states an element shows in at least this share of its
ICSD-2024 reports (SMACT's ``ICSD24OxStatesFilter`` "medium" level, consensus 3)."""

_DEADLINE_STRIDE = 512  # bit operations between two deadline checks


def integer_ratio(amounts: list[float]) -> tuple[int, ...]:
    """Smallest integer ratio of the amounts: 1.85, 0.15, 1, 4 -> (37, 3, 20, 80)."""
    fractions = [Fraction(float(a)).limit_denominator() for a in amounts]
    lcm = functools.reduce(math.lcm, (f.denominator for f in fractions), 1)
    integers = [int(f * lcm) for f in fractions]
    gcd = functools.reduce(math.gcd, integers)
    return tuple(i // gcd for i in integers)


ANION_ELEMENTS = frozenset({"N", "O", "F", "P", "S", "Cl", "As", "Se", "Br", "Te", "I"})
"""Elements that make a compound ionic for the ``intermetallic`` rule: a composition with none of them
(alloys, borides, carbides, silicides, germanides) is not judged by charge balance."""


@functools.lru_cache(maxsize=8)
def _icsd24_common_table(min_share_percent: float) -> dict[str, tuple[int, ...]]:
    from smact.utils.oxidation import ICSD24OxStatesFilter

    table = ICSD24OxStatesFilter().filter(consensus=3, include_zero=False, commonality=min_share_percent)
    return {str(e): tuple(int(s) for s in str(states).split()) for e, states in zip(table["element"], table["oxidation_state"])}


@functools.lru_cache(maxsize=None)
def oxidation_states(symbol: str, table: OxidationTable = "smact14",
                     min_share_percent: float = ICSD24_COMMONALITY_PERCENT) -> tuple[int, ...]:
    """Non-zero oxidation states of an element in a SMACT table (empty if it has none); for
    ``icsd24_common``, those seen in at least ``min_share_percent`` % of the element's ICSD-2024 reports."""
    if table == "smact14":
        from smact import data_loader

        states = data_loader.lookup_element_oxidation_states(symbol) or ()
    elif table == "icsd24":
        from smact import data_loader

        states = data_loader.lookup_element_oxidation_states_icsd24(symbol) or ()
    elif table == "icsd24_common":
        states = _icsd24_common_table(float(min_share_percent)).get(symbol, ())
    else:
        raise ValueError(f"unknown oxidation-state table {table!r}")
    return tuple(sorted({int(s) for s in states if s != 0}))


@functools.lru_cache(maxsize=None)
def _element_facts(symbol: str) -> tuple[float | None, bool]:
    """(Pauling electronegativity, is a metal) from SMACT."""
    import smact

    return smact.Element(symbol).pauling_eneg, symbol in smact.metals


@functools.lru_cache(maxsize=1)
def _mixed_valence_elements() -> frozenset[str]:
    from smact.screening import MIXED_VALENCE_ELEMENTS

    return frozenset(MIXED_VALENCE_ELEMENTS)


# ---------------------------------------------------------------------------------------
# Integer sets as bit masks: bit i of ``mask`` stands for the integer ``low + i``.
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _IntegerSet:
    low: int
    mask: int

    @staticmethod
    def of(values: list[int]) -> "_IntegerSet":
        low = min(values)
        return _IntegerSet(low, functools.reduce(lambda m, v: m | (1 << (v - low)), values, 0))

    def union(self, other: "_IntegerSet") -> "_IntegerSet":
        low = min(self.low, other.low)
        return _IntegerSet(low, (self.mask << (self.low - low)) | (other.mask << (other.low - low)))

    def hits_window(self, lo: int, hi: int) -> bool:
        """Whether some member lies in [lo, hi]."""
        start, stop = max(lo - self.low, 0), hi - self.low
        if stop < start:
            return False
        return bool((self.mask >> start) & ((1 << (stop - start + 1)) - 1))


def _progression(first: int, step: int, terms: int) -> _IntegerSet:
    """{first, first + step, ..., first + (terms - 1) step} (step > 0, terms >= 1)."""
    return _IntegerSet(first, ((1 << (step * terms)) - 1) // ((1 << step) - 1))


def _sum_set(a: _IntegerSet, b: _IntegerSet, deadline: float) -> _IntegerSet:
    """{x + y : x in a, y in b}; raises TimeoutError past ``deadline``."""
    if a.mask.bit_count() > b.mask.bit_count():
        a, b = b, a
    result, remaining, done = 0, a.mask, 0
    while remaining:
        lowest = remaining & -remaining
        result |= b.mask << (lowest.bit_length() - 1)
        remaining ^= lowest
        done += 1
        if done % _DEADLINE_STRIDE == 0 and time.monotonic() > deadline:
            raise TimeoutError
    return _IntegerSet(a.low + b.low, result)


def _charge_totals(states: tuple[int, ...], count: int, sign: int, mixable: bool) -> _IntegerSet | None:
    """Total charges the ``count`` atoms of one element can carry with states of ``sign``:
    one state for all, or (``mixable``) a split between two states. None if no state has that sign."""
    same_sign = [s for s in states if (s > 0) == (sign > 0)]
    if not same_sign:
        return None
    totals = _IntegerSet.of([s * count for s in same_sign])
    if mixable and count > 1:
        for low, high in itertools.combinations(same_sign, 2):
            totals = totals.union(_progression(low * count + (high - low), high - low, count - 1))
    return totals


def _passes_pauling(signs: tuple[int, ...], electronegativities: list[float | None]) -> bool:
    """Every cation less electronegative than every anion. As in the reference, a missing
    electronegativity does not fail the test."""
    if any(e is None for e in electronegativities):
        return True
    cations = [e for s, e in zip(signs, electronegativities) if s > 0]
    anions = [e for s, e in zip(signs, electronegativities) if s < 0]
    return not cations or not anions or max(cations) < min(anions)


def charge_balance_status(
    amounts: dict[str, float],
    *,
    table: OxidationTable = "smact14",
    mixed_valence: bool = False,
    deviation: float = 0.0,
    min_share_percent: float = ICSD24_COMMONALITY_PERCENT,
    intermetallic: bool = False,
    timeout_s: float = DEFAULT_TIMEOUT_SECONDS,
    deadline: float | None = None,
) -> SmactStatus:
    """Charge balance of one composition given as ``{symbol: amount}`` (amounts > 0).

    Args:
        amounts: element amounts of one formula unit.
        table: SMACT oxidation-state table (``smact14``: the paper's; ``icsd24``: SMACT 4's
            default; ``icsd24_common``: the ICSD-2024 states seen in >= 10 % of an element's reports).
        mixed_valence: let a mixed-valence element split its atoms between two states.
        deviation: allowed |total charge| per atom of mixed-valence cation (0: exact neutrality).
        min_share_percent: the ``icsd24_common`` table's threshold.
        intermetallic: a composition without any of :data:`ANION_ELEMENTS` is valid (like an alloy).
        timeout_s: time bound for this formula.
        deadline: a ``time.monotonic()`` value that also bounds it (the run's budget).
    """
    symbols = list(amounts)
    if len(symbols) <= 1:
        return "valid"
    facts = [_element_facts(s) for s in symbols]
    if all(is_metal for _, is_metal in facts) or (intermetallic and not ANION_ELEMENTS.intersection(symbols)):
        return "valid"
    states = [oxidation_states(s, table, min_share_percent) for s in symbols]
    if any(not s for s in states):
        return "invalid"
    end = time.monotonic() + timeout_s
    end = end if deadline is None else min(end, deadline)
    if time.monotonic() > end:
        return "timeout"
    counts = integer_ratio([amounts[s] for s in symbols])
    mixable = [s in _mixed_valence_elements() for s in symbols]
    electronegativities = [e for e, _ in facts]
    sign_options = [[sign for sign in (1, -1) if any((s > 0) == (sign > 0) for s in element_states)] for element_states in states]
    try:
        for signs in itertools.product(*sign_options):
            if not (1 in signs and -1 in signs) or not _passes_pauling(signs, electronegativities):
                continue
            totals = [_charge_totals(s, c, sign, mixed_valence and m) for s, c, sign, m in zip(states, counts, signs, mixable)]
            reachable = functools.reduce(lambda a, b: _sum_set(a, b, end), totals)
            slack = math.floor(deviation * sum(c for c, sign, m in zip(counts, signs, mixable) if m and sign > 0) + 1e-9)
            if reachable.hits_window(-slack, slack):
                return "valid"
            if time.monotonic() > end:
                raise TimeoutError
    except TimeoutError:
        return "timeout"
    return "invalid"


# ---------------------------------------------------------------------------------------
# The paper's check and its mixed-valence variant (kept API)
# ---------------------------------------------------------------------------------------


def smact_status(
    amounts: dict[str, float], mixed_valence: bool = False, timeout_s: float = DEFAULT_TIMEOUT_SECONDS
) -> SmactStatus:
    """The paper's check (``smact14`` table, exact neutrality) of one ``{symbol: amount}``
    composition, or its mixed-valence variant."""
    return charge_balance_status(amounts, table="smact14", mixed_valence=mixed_valence, timeout_s=timeout_s)


def smact_status_pair(
    amounts: dict[str, float], timeout_s: float = DEFAULT_TIMEOUT_SECONDS, mixed_valence: bool = True
) -> tuple[SmactStatus, SmactStatus]:
    """``(paper's verdict, mixed-valence verdict)`` of one composition; the mixed-valence
    check only runs where the paper's fails (it accepts everything the paper's does).
    With ``mixed_valence=False`` the second verdict repeats the first."""
    paper = smact_status(amounts, False, timeout_s)
    if paper == "valid" or not mixed_valence or not any(s in _mixed_valence_elements() for s in amounts):
        return paper, paper
    return paper, smact_status(amounts, True, timeout_s)


def rows_as_amounts(vectors: np.ndarray) -> list[dict[str, float]]:
    """``{symbol: amount}`` of each row of an (n, 96) amount array (positive amounts only)."""
    rows = np.asarray(vectors, dtype=float)
    return [{ELEMENT_SYMBOLS[i]: float(row[i]) for i in np.flatnonzero(row > 0)} for row in rows]


def smact_check(
    vectors: np.ndarray, mixed_valence: bool = False, timeout_s: float = DEFAULT_TIMEOUT_SECONDS
) -> list[SmactStatus]:
    """:func:`smact_status` of each row of an (n, 96) amount array."""
    return [smact_status(amounts, mixed_valence, timeout_s) for amounts in rows_as_amounts(vectors)]


def smact_check_both(
    vectors: np.ndarray, timeout_s: float = DEFAULT_TIMEOUT_SECONDS
) -> tuple[list[SmactStatus], list[SmactStatus]]:
    """Both verdicts of each row of an (n, 96) amount array: ``(paper's integer-ratio
    check, mixed-valence check)``, see :func:`smact_status_pair`."""
    pairs = [smact_status_pair(amounts, timeout_s) for amounts in rows_as_amounts(vectors)]
    return [p for p, _ in pairs], [m for _, m in pairs]
