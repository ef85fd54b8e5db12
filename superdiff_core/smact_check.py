"""SMACT validity of composition vectors: charge neutrality + Pauling electronegativity.

Reproduces the reference SuperDiff check (method section 4.5): the amounts are first
turned into an exact integer ratio (``Fraction(x).limit_denominator()``, times the least
common multiple of the denominators, divided by the gcd), then an oxidation state from
SMACT's default table is chosen for every element so that the charges cancel and
SMACT's ``pauling_test`` passes. All-metal compositions (alloys) and single elements
are valid. SMACT's own ``smact_validity`` is *not* used on fractional formulas because
it truncates amounts with ``int()``.

The enumeration over oxidation states is vectorised with NumPy and bounded in time;
a formula that exceeds the bound is reported as ``"timeout"``, never left hanging.
The mixed-valence variant lets an element of SMACT's ``MIXED_VALENCE_ELEMENTS`` split
its atoms between two of its oxidation states (Cu2+/Cu3+ in a hole-doped cuprate).
"""

from __future__ import annotations

import functools
import itertools
import math
import time
from fractions import Fraction
from typing import Literal

import numpy as np
import smact
from smact.screening import MIXED_VALENCE_ELEMENTS, pauling_test

from .composition import ELEMENT_SYMBOLS

SmactStatus = Literal["valid", "invalid", "timeout"]

DEFAULT_TIMEOUT_SECONDS = 2.0
"""Time allowed per formula before it is marked ``"timeout"``."""

_CHUNK = 1 << 18  # oxidation-state combinations examined per NumPy pass


def integer_ratio(amounts: list[float]) -> tuple[int, ...]:
    """Smallest integer ratio of the amounts: 1.85, 0.15, 1, 4 -> (37, 3, 20, 80)."""
    fractions = [Fraction(float(a)).limit_denominator() for a in amounts]
    lcm = functools.reduce(math.lcm, (f.denominator for f in fractions), 1)
    integers = [int(f * lcm) for f in fractions]
    gcd = functools.reduce(math.gcd, integers)
    return tuple(i // gcd for i in integers)


@functools.lru_cache(maxsize=None)
def _element_data(symbol: str) -> tuple[tuple[int, ...], float | None, bool]:
    """(oxidation states from SMACT's default table, Pauling electronegativity, is metal)."""
    element = smact.Element(symbol)
    states = tuple(s for s in (element.oxidation_states or ()) if s != 0)
    return states, element.pauling_eneg, symbol in smact.metals


def _passes_pauling(oxidation_states: tuple[int, ...], electronegativities: list[float | None]) -> bool:
    # As in the reference, a missing electronegativity does not fail the test.
    if any(e is None for e in electronegativities):
        return True
    return bool(pauling_test(oxidation_states, electronegativities))


def _neutral_combinations(states: list[tuple[int, ...]], counts: tuple[int, ...], deadline: float):
    """Yield oxidation-state tuples (one per element) whose charges sum to zero.

    Raises TimeoutError past ``deadline`` (a ``time.monotonic()`` value).
    """
    sizes = [len(s) for s in states]
    total = math.prod(sizes)
    big = max(counts) * max(max(map(abs, s)) for s in states) * len(counts) >= 2**62
    state_arrays = [np.array(s, dtype=np.int64) for s in states]
    for start in range(0, total, _CHUNK):
        if time.monotonic() > deadline:
            raise TimeoutError
        flat = np.arange(start, min(start + _CHUNK, total), dtype=np.int64)
        chosen = np.stack(np.unravel_index(flat, sizes), axis=1)  # (chunk, n_elements) state indices
        if big:  # exact Python integers when int64 could overflow
            for row in chosen:
                combination = tuple(int(state_arrays[i][j]) for i, j in enumerate(row))
                if sum(c * s for c, s in zip(counts, combination)) == 0:
                    yield combination
            continue
        charges = sum(state_arrays[i][chosen[:, i]] * counts[i] for i in range(len(counts)))
        for row in chosen[charges == 0]:
            yield tuple(int(state_arrays[i][j]) for i, j in enumerate(row))


def _mixed_options(states: tuple[int, ...], count: int, mixable: bool) -> list[tuple[tuple[int, ...], frozenset[int]]]:
    """Per element: (oxidation states used, reachable total charges of its ``count`` atoms)."""
    options = [((s,), frozenset({s * count})) for s in states]
    if mixable and count > 1:
        for low, high in itertools.combinations(sorted(states), 2):
            if (low > 0) == (high > 0):
                charges = frozenset(low * k + high * (count - k) for k in range(1, count))
                options.append(((low, high), charges))
    return options


def _mixed_valence_valid(symbols: list[str], counts: tuple[int, ...], deadline: float) -> bool:
    data = [_element_data(s) for s in symbols]
    per_element = [
        _mixed_options(states, count, symbol in MIXED_VALENCE_ELEMENTS)
        for symbol, (states, _, _), count in zip(symbols, data, counts)
    ]
    for checked, choice in enumerate(itertools.product(*per_element)):
        if checked % 256 == 0 and time.monotonic() > deadline:
            raise TimeoutError
        reachable = {0}
        for _, charges in choice:
            reachable = {r + c for r in reachable for c in charges}
        if 0 not in reachable:
            continue
        states = tuple(s for used, _ in choice for s in used)
        electronegativities = [data[i][1] for i, (used, _) in enumerate(choice) for _ in used]
        if _passes_pauling(states, electronegativities):
            return True
    return False


def smact_status(
    amounts: dict[str, float], mixed_valence: bool = False, timeout_s: float = DEFAULT_TIMEOUT_SECONDS
) -> SmactStatus:
    """SMACT validity of one composition given as ``{symbol: amount}`` (amounts > 0)."""
    paper, mixed = smact_status_pair(amounts, timeout_s, mixed_valence)
    return mixed if mixed_valence else paper


def smact_status_pair(
    amounts: dict[str, float], timeout_s: float = DEFAULT_TIMEOUT_SECONDS, mixed_valence: bool = True
) -> tuple[SmactStatus, SmactStatus]:
    """``(paper's verdict, mixed-valence verdict)`` of one composition, sharing the work:
    the mixed-valence check is only run where the paper's fails (it accepts everything
    the paper's does).  With ``mixed_valence=False`` the second verdict is not computed
    and repeats the first.  One ``timeout_s`` bounds both."""
    symbols = list(amounts)
    if len(symbols) <= 1:
        return "valid", "valid"
    data = [_element_data(s) for s in symbols]
    if all(is_metal for _, _, is_metal in data):
        return "valid", "valid"
    if any(not states for states, _, _ in data):
        return "invalid", "invalid"
    counts = integer_ratio([amounts[s] for s in symbols])
    deadline = time.monotonic() + timeout_s
    electronegativities = [e for _, e, _ in data]
    try:
        for combination in _neutral_combinations([states for states, _, _ in data], counts, deadline):
            if _passes_pauling(combination, electronegativities):
                return "valid", "valid"
    except TimeoutError:
        return "timeout", "timeout"
    if not mixed_valence or not any(s in MIXED_VALENCE_ELEMENTS for s in symbols):
        return "invalid", "invalid"
    try:
        return "invalid", "valid" if _mixed_valence_valid(symbols, counts, deadline) else "invalid"
    except TimeoutError:
        return "invalid", "timeout"


def _rows_as_amounts(vectors: np.ndarray) -> list[dict[str, float]]:
    rows = np.asarray(vectors, dtype=float)
    return [{ELEMENT_SYMBOLS[i]: float(row[i]) for i in np.flatnonzero(row > 0)} for row in rows]


def smact_check(
    vectors: np.ndarray, mixed_valence: bool = False, timeout_s: float = DEFAULT_TIMEOUT_SECONDS
) -> list[SmactStatus]:
    """:func:`smact_status` of each row of an (n, 96) amount array."""
    return [smact_status(amounts, mixed_valence, timeout_s) for amounts in _rows_as_amounts(vectors)]


def smact_check_both(
    vectors: np.ndarray, timeout_s: float = DEFAULT_TIMEOUT_SECONDS
) -> tuple[list[SmactStatus], list[SmactStatus]]:
    """Both verdicts of each row of an (n, 96) amount array: ``(paper's integer-ratio
    check, mixed-valence check)``, see :func:`smact_status_pair`."""
    pairs = [smact_status_pair(amounts, timeout_s) for amounts in _rows_as_amounts(vectors)]
    return [p for p, _ in pairs], [m for _, m in pairs]
