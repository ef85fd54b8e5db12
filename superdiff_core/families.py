"""Families of candidates: general formulas, grouping, doping curves, annotated tables.

A *family* is a set of compounds with the same elements whose amounts vary in a regular
way, written as one general formula: ``La1.85Sr0.15CuO4``, ``La1.9Sr0.1CuO4`` and
``La1.8Sr0.2CuO4`` are ``La2-xSrxCuO4`` with ``x = 0.1–0.2``.

The formula and grouping functions work on amount vectors (shape ``(n, 96)``, index
``Z - 1``, amounts as written) and need no map.  :func:`annotate_candidates` places a
candidate table on a SuperCon map (:mod:`superdiff_core.maps`), marks which candidates
lie inside known clusters, and finds known and new families.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations

import numpy as np
import pandas as pd

from .composition import ELEMENT_SYMBOLS, N_ELEMENTS, FormulaError, parse_formula
from .errors import InputError
from .maps import OUTSIDE_NAME, ClassMap, ElementOrder, element_set_keys, place_and_assign
from .results import MAP_COLUMNS

AMOUNT_TOLERANCE = 0.01
"""Two amounts closer than this (in atoms per formula unit) count as equal."""

VARIABLE_NAMES: tuple[str, ...] = ("x", "y", "z", "u", "v", "w")
"""Names of the varying amounts, in order of appearance in a general formula."""

FAMILY_COLUMNS: tuple[str, ...] = (
    "family_id",
    "general_formula",
    "variable_ranges",
    "n_members",
    "elements",
    "is_new_family",
    "mean_tc_kelvin",
    "max_tc_kelvin",
    "nearest_cluster",
    "nearest_cluster_name",
    "nearest_cluster_distance",
    "example_formulas",
)
"""Columns of the families table (one row per family)."""

MAX_VARIABLES_MIXED = 3
"""A group whose members differ in their element sets gets a general formula only if it
needs at most this many variables (otherwise it is described by its elements)."""


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
        low, high: observed range over the members (atoms per formula unit).
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
    return max(0, int(np.ceil(-np.log10(tolerance))))


def _spans(columns: np.ndarray) -> np.ndarray:
    """max - min per column of a (members, k) array."""
    return columns.max(axis=0) - columns.min(axis=0)


def _align_formula_units(amounts: np.ndarray, tolerance: float) -> np.ndarray:
    """Rescale members written with different formula units (``La2CuO4`` vs ``La4Cu2O8``).

    The anchor is the element, present in every member, whose atomic fraction varies
    least; members are scaled so the anchor has its median amount.  The rescaling is kept
    only if it leaves fewer varying amounts than before.
    """
    present = np.all(amounts > 0, axis=0)
    if not present.any():
        return amounts
    fractions = amounts / amounts.sum(axis=1, keepdims=True)
    spread = np.where(present, fractions.std(axis=0) / np.maximum(fractions.mean(axis=0), 1e-12), np.inf)
    anchor = int(np.argmin(spread))
    scaled = amounts * (np.median(amounts[:, anchor]) / amounts[:, anchor])[:, None]
    return scaled if _count_varying(scaled, tolerance) < _count_varying(amounts, tolerance) else amounts


def _count_varying(amounts: np.ndarray, tolerance: float) -> int:
    return int(np.sum(_spans(amounts) > tolerance))


def _is_whole(value: float, tolerance: float) -> bool:
    return value >= 1 - tolerance and abs(value - round(value)) <= tolerance


def _substitution_groups(
    amounts: np.ndarray, varying: list[int], constant: list[int], tolerance: float
) -> list[tuple[int, list[int]]]:
    """Find sites shared by several elements: sets of varying columns whose sum is constant.

    Returns ``(host, dopants)`` pairs of column indices; the host is the element with the
    largest mean amount.  A group whose total is not a whole number takes in constant
    minor elements that complete it (``Y0.8Ca0.1Pr0.1`` with Pr fixed is ``Y1-x-yCaxPry``).
    """
    groups: list[tuple[int, list[int]]] = []
    free = list(varying)
    for size in range(2, len(varying) + 1):
        for subset in combinations(list(free), size):
            if not set(subset) <= set(free):
                continue
            total = amounts[:, list(subset)].sum(axis=1)
            if _spans(total[:, None])[0] > tolerance:
                continue
            host = max(subset, key=lambda c: amounts[:, c].mean())
            dopants = [c for c in subset if c != host]
            dopants += _completing_constants(amounts, host, float(np.median(total)), constant, tolerance)
            groups.append((host, dopants))
            free = [c for c in free if c not in subset]
    return groups


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


def _free_term(symbol: str, column: np.ndarray, name: str, tolerance: float) -> tuple[str, np.ndarray]:
    """Text and variable values for an element that varies on its own.

    Around a whole number ``b`` (the median rounded), the amount is written ``O7-x`` when
    every member is at or below ``b`` and ``O7+x`` otherwise; amounts below half an atom
    are written ``Kx``.
    """
    base = round(float(np.median(column)))
    if base == 0:
        return f"{symbol}{name}", column
    if column.max() <= base + tolerance:
        return f"{symbol}{base}-{name}", base - column
    return f"{symbol}{base}+{name}", column - base


def derive_general_formula(
    vectors: np.ndarray,
    element_order: ElementOrder | None = None,
    tolerance: float = AMOUNT_TOLERANCE,
    allow_absent: bool = False,
) -> GeneralFormula | None:
    """The general formula of a family, the chemist's way.

    Amounts that are the same in every member are written once (rounded to the
    tolerance); a set of varying amounts with a constant sum is one site shared by a host
    and dopants (``La2-xSrx``, ``Y1-x-yCaxPry``); any other varying amount gets its own
    variable (``O7-x``).  Variables are named x, y, z... in order of appearance.

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
        amount varies (the same compound), or different element sets when not allowed.
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
    varying = [c for c in range(len(columns)) if spans[c] > tolerance]
    if not varying:
        return None
    constant = [c for c in range(len(columns)) if spans[c] <= tolerance]
    groups = _substitution_groups(amounts, varying, constant, tolerance)
    formula = _write_formula(amounts, columns, groups, constant, order, tolerance)
    if allow_absent and absent.any() and len(formula.variables) > MAX_VARIABLES_MIXED:
        return None
    return formula


def _variable_name(position: int) -> str:
    return VARIABLE_NAMES[position] if position < len(VARIABLE_NAMES) else f"x{position + 1}"


def _write_formula(
    amounts: np.ndarray,
    columns: np.ndarray,
    groups: list[tuple[int, list[int]]],
    constant: list[int],
    order: ElementOrder,
    tolerance: float,
) -> GeneralFormula:
    """Write the formula text: elements in writing order, each dopant right after its host."""
    decimals = _decimals(tolerance)
    writing_rank = {column: rank for rank, column in enumerate(list(columns).index(i) for i in order.sort(columns))}
    host_dopants = {host: sorted(dopants, key=writing_rank.get) for host, dopants in groups}
    dopant_columns = {dopant for dopants in host_dopants.values() for dopant in dopants}
    pieces: list[str] = []
    variables: list[FormulaVariable] = []
    values: list[np.ndarray] = []
    sequence: list[int] = []

    def add_variable(column: int, member_values: np.ndarray) -> None:
        symbol = ELEMENT_SYMBOLS[columns[column]]
        variables.append(FormulaVariable(_variable_name(len(variables)), symbol, float(member_values.min()), float(member_values.max())))
        values.append(member_values)

    for column in sorted(writing_rank, key=writing_rank.get):
        if column in dopant_columns:
            continue
        symbol = ELEMENT_SYMBOLS[columns[column]]
        if column in host_dopants:
            dopants = host_dopants[column]
            names = [_variable_name(len(variables) + k) for k in range(len(dopants))]
            for dopant in dopants:
                add_variable(dopant, amounts[:, dopant])
            total = float(np.median(amounts[:, [column, *dopants]].sum(axis=1)))
            pieces.append(f"{symbol}{_number(total, decimals)}" + "".join(f"-{name}" for name in names))
            pieces.extend(f"{ELEMENT_SYMBOLS[columns[d]]}{name}" for d, name in zip(dopants, names))
            sequence.extend([column, *dopants])
        elif column in constant:
            amount = _number(float(np.median(amounts[:, column])), decimals)
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
# Grouping candidates into families
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CandidateGroup:
    """Rows of a candidate table that form one family.

    Attributes:
        rows: positions in the candidate table, shape (n_members,).
        is_new: True if the members lie outside every SuperCon cluster.
        cluster: the SuperCon cluster the members lie inside, -1 for a new family.
    """

    rows: np.ndarray
    is_new: bool
    cluster: int


def _distinct_count(fractions: np.ndarray) -> int:
    """Distinct compounds among atomic-fraction rows (La2CuO4 and La4Cu2O8 are one)."""
    return len(np.unique(np.round(fractions, 4), axis=0))


def has_one_element_set(vectors: np.ndarray) -> bool:
    """True if every row of an (n, 96) amount array has the same elements."""
    return len(set(element_set_keys(vectors))) <= 1


def family_formula(
    vectors: np.ndarray, element_order: ElementOrder | None = None, tolerance: float = AMOUNT_TOLERANCE
) -> GeneralFormula | None:
    """:func:`derive_general_formula` of a family as grouped here: members of different
    element sets (a tight cluster) count missing elements as amount 0."""
    return derive_general_formula(vectors, element_order, tolerance, allow_absent=not has_one_element_set(vectors))


def group_candidates(
    vectors: np.ndarray,
    fractions: np.ndarray,
    cluster: np.ndarray,
    link_distance: float,
    min_members: int = 3,
) -> list[CandidateGroup]:
    """Group candidates into families.

    Inside SuperCon cluster ``c``: candidates with the same element set form a family of
    that known cluster.  Outside every cluster (``cluster == -1``): candidates with the
    same element set form a new family; of the rest, a tight cluster (every pair of
    atomic-fraction vectors within ``link_distance``, complete linkage) is a new family.
    A family needs ``min_members`` distinct compositions.

    Args:
        vectors: amounts, shape (n, 96).
        fractions: the same rows as atomic fractions, shape (n, 96).
        cluster: SuperCon cluster per row, -1 outside, shape (n,).
        link_distance: largest Euclidean distance between the fraction vectors of two
            members of a tight cluster of outside candidates.
        min_members: fewest distinct compositions in a family.

    Returns:
        Groups, new families first, each ordered by size (largest first).
    """
    keys = element_set_keys(vectors)
    by_set: dict[tuple[int, tuple[int, ...]], list[int]] = {}
    for row, (key, label) in enumerate(zip(keys, cluster)):
        by_set.setdefault((int(label), key), []).append(row)
    groups: list[CandidateGroup] = []
    grouped = np.zeros(len(keys), dtype=bool)
    for (label, _), rows in by_set.items():
        if _distinct_count(fractions[rows]) >= min_members:
            groups.append(CandidateGroup(np.array(rows), label < 0, label))
            grouped[rows] = True
    leftover = np.flatnonzero((np.asarray(cluster) < 0) & ~grouped)
    for rows in _tight_groups(fractions[leftover], link_distance):
        members = leftover[rows]
        if _distinct_count(fractions[members]) >= min_members:
            groups.append(CandidateGroup(members, True, -1))
    return sorted(groups, key=lambda g: (not g.is_new, -len(g.rows), int(g.rows[0])))


def _tight_groups(points: np.ndarray, diameter: float) -> list[np.ndarray]:
    """Groups of two or more points whose pairwise distances are all at most ``diameter``
    (complete-linkage clustering cut at ``diameter``: no chaining across element sets)."""
    if len(points) < 2:
        return []
    from sklearn.cluster import AgglomerativeClustering

    labels = AgglomerativeClustering(n_clusters=None, distance_threshold=diameter, linkage="complete").fit_predict(points)
    return [np.flatnonzero(labels == label) for label in np.unique(labels) if np.sum(labels == label) > 1]


# ---------------------------------------------------------------------------------------
# Doping curves
# ---------------------------------------------------------------------------------------


def doping_curve(
    members: pd.DataFrame,
    element_order: ElementOrder | None = None,
    variable: str | None = None,
    tolerance: float = AMOUNT_TOLERANCE,
) -> pd.DataFrame:
    """Predicted Tc against the varying amount of a family, ready to plot.

    Args:
        members: the family's rows of a candidate table, with columns ``formula`` and
            ``tc_kelvin`` (predicted Tc, K).
        element_order: writing order used for the general formula (pass the map's
            ``element_order`` so x, y match the ``family_formula`` column).
        variable: which variable to use if the formula has several (``"x"``, ``"y"``...);
            required then.
        tolerance: as in :func:`annotate_candidates`.

    Returns:
        Columns ``x`` (the variable's value, atoms per formula unit), ``tc_kelvin`` (K) and
        ``formula``, sorted by ``x``; ``attrs["general_formula"]`` and
        ``attrs["variable"]`` name the axis.

    Raises:
        InputError: missing columns, members that are not one family, or several
            variables and none chosen.
    """
    for column in ("formula", "tc_kelvin"):
        if column not in members.columns:
            raise InputError(f"a doping curve needs a {column!r} column (predicted Tc comes from the property models)")
    vectors = vectors_from_formulas(list(members["formula"]))
    formula = family_formula(vectors, element_order, tolerance)
    if formula is None:
        raise InputError("these compounds are not one family with a varying amount (different elements, or all the same)")
    names = [v.name for v in formula.variables]
    if variable is None:
        if len(names) != 1:
            raise InputError(f"{formula.text} has {len(names)} varying amounts ({', '.join(names)}): choose one")
        variable = names[0]
    if variable not in names:
        raise InputError(f"{formula.text} has no variable {variable!r}: choose one of {', '.join(names)}")
    curve = pd.DataFrame(
        {
            "x": formula.values[:, names.index(variable)],
            "tc_kelvin": pd.to_numeric(members["tc_kelvin"], errors="coerce").to_numpy(dtype=float),
            "formula": members["formula"].astype(str).to_numpy(),
        }
    ).sort_values("x", kind="stable", ignore_index=True)
    curve.attrs["general_formula"] = formula.text
    curve.attrs["variable"] = variable
    return curve


def vectors_from_formulas(formulas: Sequence[str]) -> np.ndarray:
    """Amount vectors (n, 96) of formula texts; raises InputError naming the first bad row."""
    vectors = np.zeros((len(formulas), N_ELEMENTS))
    for row, text in enumerate(formulas):
        try:
            vectors[row] = parse_formula(str(text), max_elements=N_ELEMENTS)
        except FormulaError as error:
            raise InputError(f"row {row + 1}: {error}") from None
    return vectors


# ---------------------------------------------------------------------------------------
# Annotating candidate tables
# ---------------------------------------------------------------------------------------


def annotate_candidates(
    table: pd.DataFrame,
    vectors: np.ndarray,
    class_map: ClassMap,
    preview: bool = False,
    min_members: int = 3,
    tolerance: float = AMOUNT_TOLERANCE,
    n_jobs: int = 1,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Add the map columns to a candidate table and find its families.

    Args:
        table: one row per candidate with a ``formula`` column and optionally
            ``tc_kelvin`` (predicted Tc, K); not modified.
        vectors: the candidates' amounts, shape (len(table), 96).
        class_map: from :func:`load_class_map`; not modified (thread-safe).
        preview: fast median-of-neighbours placement instead of the t-SNE optimisation.
        min_members: fewest distinct compositions in a family.
        tolerance: amounts (atoms per formula unit) that differ by at most this count as
            equal in general formulas; noisy unrounded amounts need a larger one.
        n_jobs: threads for openTSNE.

    Returns:
        ``(annotated, families)``: a copy of ``table`` with :data:`MAP_COLUMNS`
        (``tsne_x``, ``tsne_y``, ``cluster`` (-1 outside), ``cluster_name``, ``family_id``
        ("N1".. new, "K1".. inside a known cluster, "" none), ``family_formula``,
        ``is_new_family``), and one row per family with :data:`FAMILY_COLUMNS`.
    """
    vectors = np.asarray(vectors, dtype=np.float64).reshape(-1, N_ELEMENTS)
    if len(vectors) != len(table):
        raise InputError(f"{len(table)} table rows but {len(vectors)} composition vectors")
    if "formula" not in table.columns:
        raise InputError("the candidate table needs a 'formula' column")
    annotated = table.copy()
    placement = place_and_assign(vectors, class_map, preview, n_jobs)
    fractions, coords, assignment = placement.fractions, placement.coords, placement.assignment
    names = np.array([*class_map.cluster_names, OUTSIDE_NAME], dtype=object)
    groups, general_formulas = [], []
    for group in group_candidates(vectors, fractions, assignment.cluster, class_map.link_distance, min_members):
        formula = family_formula(vectors[group.rows], class_map.element_order, tolerance)
        if formula is not None or not has_one_element_set(vectors[group.rows]):  # else: no amount varies
            groups.append(group)
            general_formulas.append(formula)
    tc = pd.to_numeric(annotated["tc_kelvin"], errors="coerce").to_numpy(dtype=float) if "tc_kelvin" in annotated.columns else None
    formulas = annotated["formula"].astype(str).to_numpy()
    family_rows = _describe_families(groups, general_formulas, vectors, fractions, tc, formulas, class_map)

    id_column = np.full(len(table), "", dtype=object)
    formula_column = np.full(len(table), "", dtype=object)
    is_new = np.zeros(len(table), dtype=bool)
    for group, row in zip(groups, family_rows):
        id_column[group.rows] = row["family_id"]
        formula_column[group.rows] = row["general_formula"]
        is_new[group.rows] = group.is_new
    columns = {
        "tsne_x": coords[:, 0],
        "tsne_y": coords[:, 1],
        "cluster": assignment.cluster,
        "cluster_name": names[assignment.cluster],
        "family_id": id_column,
        "family_formula": formula_column,
        "is_new_family": is_new,
    }
    for column in MAP_COLUMNS:
        annotated[column] = columns[column]
    return annotated, pd.DataFrame(family_rows, columns=list(FAMILY_COLUMNS))


def _describe_families(
    groups: Sequence[CandidateGroup],
    general_formulas: Sequence[GeneralFormula | None],
    vectors: np.ndarray,
    fractions: np.ndarray,
    tc: np.ndarray | None,
    formulas: np.ndarray,
    class_map: ClassMap,
) -> list[dict]:
    """One families-table row per group (ids N1.. for new, K1.. for known-cluster
    families); a group of mixed element sets without a general formula is described by
    its elements, ``"... (mixed)"``.

    The nearest SuperCon family is the cluster of the SuperCon composition nearest to the
    family's mean atomic fractions; the distance is Euclidean in atomic fractions."""
    centroids = np.array([fractions[group.rows].mean(axis=0) for group in groups]).reshape(-1, N_ELEMENTS)
    distances, indices = class_map.neighbours(centroids, 1)
    rows = []
    counters: Counter = Counter()
    for group, formula, distance, index in zip(groups, general_formulas, distances[:, 0], indices[:, 0]):
        members = vectors[group.rows]
        elements = class_map.element_order.name(np.flatnonzero(np.any(np.round(members, 4) > 0, axis=0)))
        prefix = "N" if group.is_new else "K"
        counters[prefix] += 1
        nearest = int(class_map.labels[index])
        member_tc = tc[group.rows] if tc is not None else np.zeros(0)
        member_tc = member_tc[np.isfinite(member_tc)]
        rows.append(
            {
                "family_id": f"{prefix}{counters[prefix]}",
                "general_formula": formula.text if formula else f"{elements} (mixed)",
                "variable_ranges": formula.ranges_text() if formula else "",
                "n_members": len(group.rows),
                "elements": elements,
                "is_new_family": group.is_new,
                "mean_tc_kelvin": float(member_tc.mean()) if member_tc.size else np.nan,
                "max_tc_kelvin": float(member_tc.max()) if member_tc.size else np.nan,
                "nearest_cluster": nearest,
                "nearest_cluster_name": class_map.cluster_names[nearest],
                "nearest_cluster_distance": round(float(distance), 5),
                "example_formulas": "; ".join(formulas[group.rows][:3]),
            }
        )
    return rows
