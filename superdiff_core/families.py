"""Families of candidates: grouping, headline ranking, doping curves, annotated tables.

A *family* is a set of compounds with the same elements whose amounts vary in a regular
way, written as one general formula (:mod:`superdiff_core.formula_notation`):
``La1.85Sr0.15CuO4``, ``La1.9Sr0.1CuO4`` and ``La1.8Sr0.2CuO4`` are ``La2-xSrxCuO4``
with ``x = 0.1–0.2``.

The grouping functions work on amount vectors (shape ``(n, 96)``, index ``Z - 1``,
amounts as written) and need no map.  :func:`annotate_candidates` places a candidate
table on a SuperCon map (:mod:`superdiff_core.maps`), marks which candidates lie inside
known clusters, finds known and new families and ranks them: the reference's extension
families first, then by members, validity and predicted Tc (:func:`is_headline`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .composition import ELEMENT_SYMBOLS, N_ELEMENTS, SYMBOL_TO_INDEX, FormulaError, parse_formula, vector_to_formula
from .errors import InputError
from .formula_notation import (
    AMOUNT_TOLERANCE,
    MAX_HEADLINE_VARIABLES,
    ElementOrder,
    GeneralFormula,
    derive_general_formula,
    derive_reference_formula,
)
from .funnel import boolean_column
from .maps import OUTSIDE_NAME, ClassMap, element_set_keys, place_and_assign
from .results import MAP_COLUMNS
from .validity import VALID_COLUMN

FAMILY_COLUMNS: tuple[str, ...] = (
    "family_id",
    "general_formula",
    "variable_ranges",
    "n_members",
    "n_valid",
    "elements",
    "is_new_family",
    "family_kind",
    "new_elements",
    "headline",
    "mean_tc_kelvin",
    "max_tc_kelvin",
    "nearest_cluster",
    "nearest_cluster_name",
    "nearest_cluster_distance",
    "example_formulas",
)
"""Columns of the families table (one row per family, headline families first).

One vocabulary for "new": ``is_new_family`` is True for a family outside every SuperCon
cluster *or* of an element system SuperCon does not have; exactly those get ids ``N1``,
``N2``.. (the others ``K1``..), the candidates' ``is_new_family`` column says the same, and
every ``headline`` family is one of them (headline families rank first, so they are
``N1``..``Nh``; a run's "new families" figure counts them).

``general_formula``: written from the reference (:func:`family_general_formula`);
``n_valid``: members passing the run's SMACT check; ``family_kind``: see
:data:`FAMILY_KINDS`; ``new_elements``: elements the family adds to its reference;
``headline``: worth showing as a discovery (:func:`is_headline`)."""

FAMILY_KINDS: tuple[str, ...] = ("extension", "reference", "unconditional", "other")
"""What a family is relative to the reference its members were generated from, in the
order families are shown: ``extension`` = the reference's elements plus exactly one new
element (the paper's new families); ``reference`` = every reference element kept (the
same elements, or two or more new ones); ``unconditional`` = no reference; ``other`` = a
reference element lost (the model's own prior, e.g. a reference the model does not fit)."""

MIN_HEADLINE_MEMBERS = 3
"""Fewest members passing the basic filters and the run's SMACT check, and predicted to superconduct
where the run has the classifier (``is_superconductor``), in a headline family."""

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


COARSER_TOLERANCES: tuple[float, ...] = (0.02, 0.05, 0.1, 0.2)
"""Amount tolerances (atoms per formula unit) tried in turn when a family has more varying
amounts than a general formula may have. Generated members spread a little in every
amount (Ba1.34–1.43, Cu2.95–3.02, O6.00–6.02 beside As0.14–0.20 in one ILVR family of the
paper's example), so at 0.01 every family of a real run had too many variables and none
was shown; at the coarsest tolerance that still gives a formula the small spreads are
written once, rounded, and the amounts that really vary become the variables."""


def family_formula(
    vectors: np.ndarray, element_order: ElementOrder | None = None, tolerance: float = AMOUNT_TOLERANCE
) -> GeneralFormula | None:
    """:func:`derive_general_formula` of a family as grouped here: members of different
    element sets (a tight cluster) count missing elements as amount 0. If the members need
    too many variables at ``tolerance``, the finest of :data:`COARSER_TOLERANCES` that gives
    a formula is used (None if none does)."""
    allow_absent = not has_one_element_set(vectors)
    for each in (tolerance, *(t for t in COARSER_TOLERANCES if t > tolerance)):
        if (formula := derive_general_formula(vectors, element_order, each, allow_absent=allow_absent)) is not None:
            return formula
    return None


def family_general_formula(
    vectors: np.ndarray, reference: str = "", element_order: ElementOrder | None = None, tolerance: float = AMOUNT_TOLERANCE
) -> GeneralFormula | None:
    """The general formula a family is shown with (the families table, its candidates'
    ``family_formula`` and the doping plot all use this one).

    With a reference: the formula written from it (:func:`derive_reference_formula`, at
    most :data:`MAX_HEADLINE_VARIABLES` variables); if the members cannot be written so,
    :func:`family_formula` (a listed family, never a headline one: see
    :func:`is_written_formula`).  Without a reference (or an unreadable one):
    :func:`family_formula` in ``element_order``.

    Args:
        vectors: member amounts, shape (n_members, 96).
        reference: the formula the members were generated from ("" for none).
        element_order: writing order of :func:`family_formula` (lead it by the reference
            with :func:`members_order`).
        tolerance: as in :func:`family_formula`.
    """
    if reference:
        try:
            written = derive_reference_formula(vectors, reference)
        except FormulaError:
            written = None
        if written is not None:
            return written
    return family_formula(vectors, element_order, tolerance)


def is_written_formula(formula: GeneralFormula | None, reference: str = "") -> bool:
    """Whether a family's formula may headline it: one to :data:`MAX_HEADLINE_VARIABLES`
    variables (none would be a single compound), and written from ``reference`` when the
    family has one.  Variables never span a cation and an anion (the formula's sites are
    of one kind by construction)."""
    if formula is None or not 1 <= len(formula.variables) <= MAX_HEADLINE_VARIABLES:
        return False
    return not reference or formula.reference == reference


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
            ``tc_kelvin`` (predicted Tc, K), and ``reference`` when generated from one
            (then the formula is written from it, as in the ``family_formula`` column).
        element_order: writing order used for a formula not written from a reference (pass
            the map's ``element_order`` so x, y match the ``family_formula`` column).
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
    reference = _most_common(_column_text(members, "reference"))
    formula = family_general_formula(vectors, reference, members_order(element_order, [reference]), tolerance)
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


def formula_of_family(
    table: pd.DataFrame, vectors: np.ndarray, family_id: str, element_order: ElementOrder | None = None
) -> GeneralFormula | None:
    """The general formula of one family of an annotated candidate table, the one its
    ``family_formula`` column shows (:func:`family_general_formula`, written from the
    members' most common reference); what the doping plot should offer the variables of.

    Args:
        table: candidate table annotated by :func:`annotate_candidates` (``family_id``, and
            ``reference`` when generated from one).
        vectors: its amounts, shape (len(table), 96).
        family_id: ``"N1"``, ``"K2"``...
        element_order: the map's ``element_order`` (for families not written from a reference).
    """
    mask = (table["family_id"].astype(str) == family_id).to_numpy()
    reference = _most_common(_column_text(table[mask], "reference"))
    return family_general_formula(np.asarray(vectors)[mask], reference, members_order(element_order, [reference]))


def first_plottable_family(families: pd.DataFrame) -> int:
    """Position in a families table (:data:`FAMILY_COLUMNS`) of the first family with a
    varying amount to plot Tc against (a non-empty ``variable_ranges``; headline families
    always have one), 0 if none: where the doping plot's choice should open."""
    ranges = families["variable_ranges"].fillna("").astype(str).to_numpy() if "variable_ranges" in families else []
    return next((position for position, text in enumerate(ranges) if text), 0)


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
    valid_column: str | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Add the map columns to a candidate table and find and rank its families.

    Args:
        table: one row per candidate with a ``formula`` column and optionally
            ``reference`` (the formula it was generated from), ``tc_kelvin`` (predicted
            Tc, K) and the run's validity verdict (``smact_valid``); not modified.
        vectors: the candidates' amounts, shape (len(table), 96).
        class_map: from :func:`load_class_map`; not modified (thread-safe).
        preview: fast median-of-neighbours placement instead of the t-SNE optimisation.
        min_members: fewest distinct compositions in a family.
        tolerance: amounts (atoms per formula unit) that differ by at most this count as
            equal in general formulas; noisy unrounded amounts need a larger one.
        n_jobs: threads for openTSNE.
        valid_column: the column with the verdict of the run's validity check; None:
            ``smact_valid`` when the table has it (else every member counts valid; NA counts invalid).

    Returns:
        ``(annotated, families)``: a copy of ``table`` with :data:`MAP_COLUMNS`
        (``tsne_x``, ``tsne_y``, ``cluster`` (-1 outside), ``cluster_name``, ``family_id``
        ("N1".. new, "K1".. inside a known cluster, "" none, numbered in ranked order),
        ``family_formula``, ``is_new_family``), and one row per family with
        :data:`FAMILY_COLUMNS`, headline families first.
    """
    vectors = np.asarray(vectors, dtype=np.float64).reshape(-1, N_ELEMENTS)
    if len(vectors) != len(table):
        raise InputError(f"{len(table)} table rows but {len(vectors)} composition vectors")
    if "formula" not in table.columns:
        raise InputError("the candidate table needs a 'formula' column")
    if valid_column is not None and valid_column not in table.columns:
        raise InputError(f"the candidate table has no {valid_column!r} column")
    annotated = table.copy()
    placement = place_and_assign(vectors, class_map, preview, n_jobs)
    fractions, coords, assignment = placement.fractions, placement.coords, placement.assignment
    names = np.array([*class_map.cluster_names, OUTSIDE_NAME], dtype=object)
    references = _column_text(annotated, "reference")
    valid_column = valid_column or (VALID_COLUMN if VALID_COLUMN in annotated.columns else None)
    valid = boolean_column(annotated, valid_column) if valid_column else np.ones(len(table), dtype=bool)
    superconducting = boolean_column(annotated, "is_superconductor")
    promising = valid if superconducting is None else valid & superconducting
    groups, general_formulas = [], []
    for group in group_candidates(vectors, fractions, assignment.cluster, class_map.link_distance, min_members):
        order = members_order(class_map.element_order, references[group.rows])
        formula = family_general_formula(vectors[group.rows], _most_common(references[group.rows]), order, tolerance)
        if formula is not None or not has_one_element_set(vectors[group.rows]) or _amounts_vary(vectors[group.rows], tolerance):
            groups.append(group)
            general_formulas.append(formula)
    tc = pd.to_numeric(annotated["tc_kelvin"], errors="coerce").to_numpy(dtype=float) if "tc_kelvin" in annotated.columns else None
    formulas = annotated["formula"].astype(str).to_numpy()
    family_rows, groups = _describe_families(groups, general_formulas, vectors, fractions, tc, formulas, references, valid,
                                             promising, class_map)

    id_column = np.full(len(table), "", dtype=object)
    formula_column = np.full(len(table), "", dtype=object)
    is_new = np.zeros(len(table), dtype=bool)
    for group, row in zip(groups, family_rows):
        id_column[group.rows] = row["family_id"]
        formula_column[group.rows] = row["general_formula"]
        is_new[group.rows] = row["is_new_family"]
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


def _amounts_vary(members: np.ndarray, tolerance: float) -> bool:
    """True if some amount spreads by more than ``tolerance`` over the members (else they are one compound)."""
    return bool(np.any(np.ptp(np.asarray(members), axis=0) > tolerance))


def _column_text(table: pd.DataFrame, column: str) -> np.ndarray:
    """A text column as an object array ("" where missing or absent)."""
    if column not in table.columns:
        return np.full(len(table), "", dtype=object)
    return table[column].fillna("").astype(str).to_numpy(dtype=object)


def members_order(order: ElementOrder | None, references: Sequence[str]) -> ElementOrder:
    """The writing order of a family's general formula: ``order`` (default:
    electronegativity) led by the most common reference among its members' ``reference``
    values (the same as :func:`annotate_candidates` uses, so x, y match)."""
    return (order or ElementOrder()).led_by(_most_common(np.asarray(references, dtype=object)))


def _most_common(texts: np.ndarray) -> str:
    """The most frequent non-empty text ("" if none)."""
    counts = Counter(t for t in texts if t)
    return counts.most_common(1)[0][0] if counts else ""


def family_kind(members: np.ndarray, reference: str) -> tuple[str, tuple[str, ...]]:
    """What a family is relative to its reference (:data:`FAMILY_KINDS`).

    Args:
        members: member amounts, shape (n_members, 96).
        reference: the formula the members were generated from ("" for none).

    Returns:
        ``(kind, new_elements)``: new elements are those in some member but not in the
        reference, by atomic number.
    """
    if not reference:
        return "unconditional", ()
    try:
        wanted = set(np.flatnonzero(parse_formula(reference, max_elements=N_ELEMENTS) > 0))
    except FormulaError:
        return "unconditional", ()
    present = np.round(np.asarray(members, dtype=np.float64), 4) > 0
    in_some = set(np.flatnonzero(present.any(axis=0)))
    new = tuple(ELEMENT_SYMBOLS[i] for i in sorted(in_some - wanted))
    if not all(present[:, i].all() for i in wanted):
        return "other", new
    every = set(np.flatnonzero(present.all(axis=0)))
    if len(new) == 1 and SYMBOL_TO_INDEX[new[0]] in every:
        return "extension", new
    return "reference", new


def is_headline(is_new: bool, kind: str, n_promising: int, has_formula: bool) -> bool:
    """Whether a family is worth headlining as a discovery.

    It must be new (``is_new_family``: outside every SuperCon cluster, or an element system
    SuperCon does not have: the paper's Y-Ba-Sr-Cu-O-Se-As lies next to YBCO on the map yet
    is a new family), be written as a formula (``has_formula``: :func:`is_written_formula`,
    from its reference with at most :data:`MAX_HEADLINE_VARIABLES` variables; a family
    that cannot be is listed, not headlined), have at least :data:`MIN_HEADLINE_MEMBERS`
    promising members (``n_promising``: passing the run's SMACT check and, where the run has the
    classifier, predicted to superconduct; V3-xCrxSi from V3Si, every member predicted not to, is a
    family of the tool's but no discovery), and, when generated from a reference, keep every reference element
    (kind ``extension`` or ``reference``).  A family that loses reference elements is the
    model's own prior, not a relative of the reference: a pnictide reference on the
    cuprate model gives Ba-Mn-Fe-Cu-Ge-Se-O "families" that are outside every cluster only
    because they are nothing at all.  Nearness to a known cluster is no test here: a
    headline family is by definition outside the known ones.
    """
    return bool(is_new and has_formula and n_promising >= MIN_HEADLINE_MEMBERS
                and kind in ("extension", "reference", "unconditional"))


def unwritten_new_families(families: pd.DataFrame) -> int:
    """How many families of a families table (:data:`FAMILY_COLUMNS`) are new (``is_new_family``)
    yet not headlined: more amounts vary than one general formula writes, too few members pass the
    validity check and are predicted to superconduct, or a reference element is lost (:func:`is_headline`)."""
    if families is None or families.empty or "is_new_family" not in families:
        return 0
    return int((families["is_new_family"].astype(bool) & ~families["headline"].astype(bool)).sum())


def _rank_key(row: dict) -> tuple:
    """Headline families first, then new before known, the reference's extensions first,
    then more members, a larger valid share and a higher mean predicted Tc."""
    tc = row["mean_tc_kelvin"]
    return (
        not row["headline"],
        not row["is_new_family"],
        FAMILY_KINDS.index(row["family_kind"]),
        -row["n_members"],
        -row["n_valid"] / max(row["n_members"], 1),
        -(tc if np.isfinite(tc) else -np.inf),
    )


def rank_families(rows: list[dict]) -> list[int]:
    """Positions of families-table rows (dicts with :data:`FAMILY_COLUMNS`) in display
    order (see :func:`_rank_key`); stable for ties."""
    return sorted(range(len(rows)), key=lambda k: (_rank_key(rows[k]), k))


def _describe_families(
    groups: Sequence[CandidateGroup],
    general_formulas: Sequence[GeneralFormula | None],
    vectors: np.ndarray,
    fractions: np.ndarray,
    tc: np.ndarray | None,
    formulas: np.ndarray,
    references: np.ndarray,
    valid: np.ndarray,
    promising: np.ndarray,
    class_map: ClassMap,
) -> tuple[list[dict], list[CandidateGroup]]:
    """One families-table row per group, ranked (:func:`rank_families`), with ids N1.. for
    new families (outside the clusters, or a new element system) and K1.. for the others in
    that order; a group of mixed element sets
    without a general formula is described by its elements, ``"... (mixed)"``.  Returns
    the rows and the groups in the same order.

    The nearest SuperCon family is the cluster of the SuperCon composition nearest to the
    family's mean atomic fractions; the distance is Euclidean in atomic fractions."""
    centroids = np.array([fractions[group.rows].mean(axis=0) for group in groups]).reshape(-1, N_ELEMENTS)
    distances, indices = class_map.neighbours(centroids, 1)
    rows = []
    for group, formula, distance, index in zip(groups, general_formulas, distances[:, 0], indices[:, 0]):
        members = vectors[group.rows]
        elements = class_map.element_order.name(np.flatnonzero(np.any(np.round(members, 4) > 0, axis=0)))
        reference = _most_common(references[group.rows])
        kind, new_elements = family_kind(members, reference)
        n_valid = int(valid[group.rows].sum())
        one_system = has_one_element_set(members)
        is_new = group.is_new or (one_system and element_set_keys(members[:1])[0] not in class_map.element_systems)
        if formula is None and one_system:
            elements = f"{elements}, around {vector_to_formula(np.median(members, axis=0))}"
        nearest = int(class_map.labels[index])
        member_tc = tc[group.rows] if tc is not None else np.zeros(0)
        member_tc = member_tc[np.isfinite(member_tc)]
        rows.append(
            {
                "family_id": "",
                "general_formula": formula.text if formula else (elements if one_system else f"{elements} (mixed)"),
                "variable_ranges": formula.ranges_text() if formula else "",
                "n_members": len(group.rows),
                "n_valid": n_valid,
                "elements": elements,
                "is_new_family": is_new,
                "family_kind": kind,
                "new_elements": "-".join(new_elements),
                "headline": is_headline(is_new, kind, int(promising[group.rows].sum()), is_written_formula(formula, reference)),
                "mean_tc_kelvin": float(member_tc.mean()) if member_tc.size else np.nan,
                "max_tc_kelvin": float(member_tc.max()) if member_tc.size else np.nan,
                "nearest_cluster": nearest,
                "nearest_cluster_name": class_map.cluster_names[nearest],
                "nearest_cluster_distance": round(float(distance), 5),
                "example_formulas": "; ".join(formulas[group.rows][:3]),
            }
        )
    order = rank_families(rows)
    rows, groups = [rows[k] for k in order], [groups[k] for k in order]
    counters: Counter = Counter()
    for row in rows:
        prefix = "N" if row["is_new_family"] else "K"
        counters[prefix] += 1
        row["family_id"] = f"{prefix}{counters[prefix]}"
    return rows, groups
