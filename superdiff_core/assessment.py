"""What a chemist asks of scored candidates, answered per run.

After sampling, screening and scoring (:mod:`superdiff_core.run`), each candidate gets:

- **plausibility** of the element it adds or swaps in, from the data-mined ionic substitution
  probabilities of Hautier et al. (Inorg. Chem. 50, 656, 2011) as pymatgen ships them
  (:mod:`superdiff_core.substitution`, thresholds and fallback measured in
  ``benchmarks/substitution.md``);
- **stability against the known phases**: the energy above the OQMD convex hull from the
  predicted formation energy, with its spread (the formation model's calibrated 1σ) and the
  phases it would decompose to (:mod:`superdiff_core.stability`); a rule-out, never a rank;
- **a source**: ``diffusion``, or ``substitution`` for the baseline a run may draw beside it
  (:mod:`superdiff_core.baseline`), so a chemist sees what plain ion substitution finds.

Per run it also says whether the models can tell the candidates apart (:func:`prediction_spread`)
and compares the two sources (:func:`source_comparison`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from .composition import ELEMENT_SYMBOLS, ParsedFormula
from .funnel import boolean_column
from .novelty import KnownCompositions, first_of_duplicates
from .results import DIFFUSION_SOURCE, SOURCE_COLUMN, SUBSTITUTION_SOURCE, append_notes
from .screening import ScreeningOptions, ScreeningResult, screen_samples
from .substitution import plausibility_columns, plausible_share

PLAUSIBILITY_SCALE = "hautier"
"""The substitution table the run's column uses (SkipSpecies is the benchmark's independent check)."""

SCALE_FACTORS_COLUMN = "scale_factors"
"""Every N at which a run drew the candidate's composition (``"2 3"``); ``scale_factor`` keeps the first."""

HULL_RULE_OUT_SIGMA = 2.0
"""A candidate more than this many spreads (formation model's 1σ) above the hull is flagged
``above_hull_beyond_error``: the model's own error cannot bring it onto the hull."""

ABOVE_HULL_COLUMN = "above_hull_beyond_error"


# ---------------------------------------------------------------------------------------
# One row per composition and reference
# ---------------------------------------------------------------------------------------


def merge_scale_factors(table: pd.DataFrame, vectors: np.ndarray) -> tuple[pd.DataFrame, np.ndarray]:
    """One row per (reference, composition): the same composition drawn at two N is one
    candidate, the first row kept, with every N recorded in :data:`SCALE_FACTORS_COLUMN`.

    Compositions are compared as :func:`~superdiff_core.novelty.first_of_duplicates` does
    (normalised amounts within the novelty tolerance).
    """
    if not len(table) or "reference" not in table.columns:
        return table, vectors
    keep = np.zeros(len(table), dtype=bool)
    factors = [""] * len(table)
    for _, rows in table.groupby("reference", sort=False).indices.items():
        first = first_of_duplicates(vectors[rows])
        for position, row in enumerate(rows):
            leader = rows[first[position]]
            keep[leader] = True
            n = table["scale_factor"].iat[row]
            if not pd.isna(n):
                seen = factors[leader].split()
                if str(int(n)) not in seen:
                    factors[leader] = " ".join([*seen, str(int(n))])
    table = table.copy()
    table[SCALE_FACTORS_COLUMN] = factors
    return table[keep].reset_index(drop=True), vectors[keep]


# ---------------------------------------------------------------------------------------
# Plausibility of the added elements
# ---------------------------------------------------------------------------------------


def reference_vectors_for(table: pd.DataFrame, references: Sequence[ParsedFormula]) -> np.ndarray | None:
    """Each row's reference amounts, shape (len(table), 96), zeros where a row has none;
    None when no row has a reference."""
    if "reference" not in table.columns or not references:
        return None
    by_text = {reference.text: reference.vector for reference in references}
    out = np.zeros((len(table), len(ELEMENT_SYMBOLS)))
    for row, text in enumerate(table["reference"].astype(str)):
        if text in by_text:
            out[row] = by_text[text]
    return out if out.any() else None


def add_plausibility(table: pd.DataFrame, vectors: np.ndarray, references: Sequence[ParsedFormula]) -> pd.DataFrame:
    """``table`` with the plausibility columns (:data:`~superdiff_core.substitution.PLAUSIBILITY_COLUMNS`)
    of each candidate against its reference; unchanged for unconditional runs."""

    reference_vectors = reference_vectors_for(table, references)
    if reference_vectors is None or not len(table):
        return table
    has_reference = reference_vectors.any(axis=1)
    columns = plausibility_columns(vectors[has_reference], reference_vectors[has_reference], PLAUSIBILITY_SCALE)
    columns.index = table.index[has_reference]
    table = table.copy()
    for column in columns.columns:
        values = columns[column].reindex(table.index)
        table[column] = values.fillna("") if columns[column].dtype == object else values
    return table


def stays_near_reference(table: pd.DataFrame, vectors: np.ndarray, references: Sequence[ParsedFormula]) -> np.ndarray:
    """Rows that keep every element of their reference and are not ``outside_training_domain``
    (a missing flag counts as inside): what a guided run keeps by default. Shape (len(table),)."""
    reference_vectors = reference_vectors_for(table, references)
    keep = np.ones(len(table), dtype=bool)
    if reference_vectors is not None:
        keep &= ~((reference_vectors > 0) & (vectors <= 0)).any(axis=1)
    return keep & ~is_outside_training_domain(table)


def is_outside_training_domain(table: pd.DataFrame) -> np.ndarray:
    """Bool per row: ``outside_training_domain`` is True (a missing flag or column counts as inside)."""
    flags = boolean_column(table, "outside_training_domain")
    return np.zeros(len(table), dtype=bool) if flags is None else flags


def model_plausible_share(table: pd.DataFrame) -> float:
    """:func:`~superdiff_core.substitution.plausible_share` of the model's own candidates (the
    baseline's rows, plausible by construction, left out); NaN when none adds an element."""
    if SOURCE_COLUMN in table.columns:
        table = table[table[SOURCE_COLUMN] == DIFFUSION_SOURCE]
    return plausible_share(table)


# ---------------------------------------------------------------------------------------
# Stability against the known phases
# ---------------------------------------------------------------------------------------


def add_hull(table: pd.DataFrame, vectors: np.ndarray, phases) -> pd.DataFrame:
    """``table`` with the hull columns (:func:`superdiff_core.stability.hull_columns`) and
    :data:`ABOVE_HULL_COLUMN`; needs the formation-energy columns. The reason a row has no
    hull distance goes to ``note``."""
    from .stability import HULL_COLUMN, HULL_NOTE_COLUMN, HULL_STD_COLUMN, hull_columns

    if "formation_energy_ev_per_atom" not in table.columns or not len(table):
        return table
    hull = hull_columns(vectors, table["formation_energy_ev_per_atom"].to_numpy(dtype=float),
                        table["formation_energy_std_ev_per_atom"].to_numpy(dtype=float), phases)
    table = table.copy()
    for column in hull.columns:
        if column != HULL_NOTE_COLUMN:
            table[column] = hull[column].to_numpy()
    above = table[HULL_COLUMN].to_numpy(dtype=float)
    spread = table[HULL_STD_COLUMN].to_numpy(dtype=float)
    flagged = pd.array(np.where(np.isfinite(above), above > HULL_RULE_OUT_SIGMA * spread, False), dtype="boolean")
    flagged[~np.isfinite(above)] = pd.NA
    table[ABOVE_HULL_COLUMN] = flagged
    return append_notes(table, hull[HULL_NOTE_COLUMN].tolist())


# ---------------------------------------------------------------------------------------
# Can the models tell the candidates apart?
# ---------------------------------------------------------------------------------------


def prediction_spread(table: pd.DataFrame) -> pd.DataFrame:
    """Per prediction, how much it varies inside the run against its own error.

    Rows: ``tc_kelvin`` (over predicted superconductors; error = the 90 % interval's width)
    and ``formation_energy_ev_per_atom`` (error = 2 × the 1σ spread, a ~95 % band), and the
    hull distance when present. Columns: ``candidates``, ``spread_p10_p90`` (p90 − p10 of the
    prediction), ``median_error_width`` and ``distinguishable``: the spread exceeds the median
    error width, i.e. the run's ordering by this prediction means more than the model's noise.
    """
    rows = []

    def add(name: str, values: np.ndarray, widths: np.ndarray) -> None:
        keep = np.isfinite(values) & np.isfinite(widths)
        values, widths = values[keep], widths[keep]
        if len(values) < 2:
            return
        spread = float(np.percentile(values, 90) - np.percentile(values, 10))
        width = float(np.median(widths))
        rows.append({"prediction": name, "candidates": int(len(values)), "spread_p10_p90": spread,
                     "median_error_width": width, "distinguishable": bool(spread > width)})

    if "tc_kelvin_high" in table.columns:
        superconductor = table["is_superconductor"].astype("boolean").fillna(False).to_numpy(dtype=bool)
        tc = table["tc_kelvin"].to_numpy(dtype=float)
        width = table["tc_kelvin_high"].to_numpy(dtype=float) - table["tc_kelvin_low"].to_numpy(dtype=float)
        add("tc_kelvin", tc[superconductor], width[superconductor])
    if "formation_energy_std_ev_per_atom" in table.columns:
        add("formation_energy_ev_per_atom", table["formation_energy_ev_per_atom"].to_numpy(dtype=float),
            2.0 * table["formation_energy_std_ev_per_atom"].to_numpy(dtype=float))
    if "energy_above_hull_ev_per_atom" in table.columns:
        add("energy_above_hull_ev_per_atom", table["energy_above_hull_ev_per_atom"].to_numpy(dtype=float),
            2.0 * table["energy_above_hull_std_ev_per_atom"].to_numpy(dtype=float))
    return pd.DataFrame(rows, columns=["prediction", "candidates", "spread_p10_p90", "median_error_width", "distinguishable"])


# ---------------------------------------------------------------------------------------
# The substitution baseline beside a run
# ---------------------------------------------------------------------------------------


def baseline_candidates(
    references: Sequence[ParsedFormula],
    samples_per_reference: int,
    model_class: str,
    known: KnownCompositions,
    class_vectors: np.ndarray,
    options: ScreeningOptions,
    seed: int = 0,
) -> list[tuple[ParsedFormula, ScreeningResult]]:
    """The substitution baseline of each reference, screened as the diffusion samples are.

    Args:
        references: the run's references.
        samples_per_reference: candidates drawn per reference (the run's samples × its N count).
        model_class: the run's class (element limit).
        known: the class's training compositions (novelty).
        class_vectors: the class's SuperCon compounds, shape (n, 96): their doping levels.
        options: the run's screening options.
        seed: seed of the first reference (reference i uses seed + i).
    """
    from .baseline import substitution_baseline

    results = []
    for index, reference in enumerate(references):
        raw = substitution_baseline(reference.vector, samples_per_reference, class_vectors, seed=seed + index,
                                    scale=PLAUSIBILITY_SCALE)
        results.append((reference, screen_samples(raw, model_class, known, options)))
    return results


def comparison_row(table: pd.DataFrame, vectors: np.ndarray, drawn: int, known_systems: frozenset[tuple[int, ...]]) -> dict:
    """The figures :func:`source_comparison` shows for one source's candidates."""
    from .maps import element_set_keys

    systems = set(element_set_keys(vectors)) if len(vectors) else set()
    row: dict = {
        "drawn": int(drawn),
        "candidates": int(len(table)),
        "candidates_per_100_drawn": round(100.0 * len(table) / drawn, 1) if drawn else float("nan"),
        "new_element_systems": len(systems - known_systems),
        "plausible_extensions_percent": round(100.0 * plausible_share(table), 1) if len(table) else float("nan"),
    }
    if "is_superconductor" in table.columns and len(table):
        superconductor = table["is_superconductor"].astype("boolean").fillna(False).to_numpy(dtype=bool)
        row["predicted_superconductors_percent"] = round(100.0 * superconductor.mean(), 1)
        tc = table["tc_kelvin"].to_numpy(dtype=float)[superconductor]
        row["median_tc_kelvin_of_those"] = round(float(np.median(tc)), 1) if len(tc) else float("nan")
    if "distance_to_known" in table.columns and len(table):
        row["median_distance_to_known"] = round(float(np.nanmedian(table["distance_to_known"].to_numpy(dtype=float))), 4)
    return row


def source_comparison(
    table: pd.DataFrame, vectors: np.ndarray, drawn: dict[str, int], known_systems: frozenset[tuple[int, ...]],
) -> pd.DataFrame:
    """Diffusion against the substitution baseline, one row per source: what each drew, how
    many candidates survived the run's screening, how many element systems they reach that the
    known compounds do not have, the share of plausible extensions, predicted superconductors
    and their median Tc, and the median distance to a known compound.

    Args:
        table: the run's candidates with the :data:`SOURCE_COLUMN`.
        vectors: their amounts, aligned with ``table``.
        drawn: raw samples per source.
        known_systems: the known compounds' element systems
            (:attr:`superdiff_core.maps.ClassMap.element_systems`).
    """
    rows = []
    for source in (DIFFUSION_SOURCE, SUBSTITUTION_SOURCE):
        mask = (table[SOURCE_COLUMN] == source).to_numpy() if SOURCE_COLUMN in table.columns else np.ones(len(table), bool)
        rows.append({"source": source, **comparison_row(table[mask], vectors[mask], drawn.get(source, 0), known_systems)})
    return pd.DataFrame(rows)


def add_family_plausibility(families: pd.DataFrame, table: pd.DataFrame) -> pd.DataFrame:
    """``families`` with ``plausible_percent``: the share of each family's members that add an
    element whose substitutions are plausible (NaN for a family whose members add none)."""
    members = table[table["family_id"].astype(str) != ""]
    share = members.groupby("family_id")["plausible_substitution"].apply(
        lambda marks: 100.0 * marks.dropna().astype(bool).mean() if marks.notna().any() else np.nan)
    return families.assign(plausible_percent=families["family_id"].map(share).astype(float).round(1))


def add_family_sources(families: pd.DataFrame, table: pd.DataFrame) -> pd.DataFrame:
    """``families`` with ``diffusion_percent``: the share of each family's members the diffusion
    model drew (the rest came from the substitution baseline), so a family the baseline alone
    found reads as such. ``families`` unchanged when the run drew no baseline."""
    if SOURCE_COLUMN not in table.columns:
        return families
    members = table[table["family_id"].astype(str) != ""]
    share = members.groupby("family_id")[SOURCE_COLUMN].apply(lambda sources: 100.0 * (sources == DIFFUSION_SOURCE).mean())
    return families.assign(diffusion_percent=families["family_id"].map(share).astype(float).round(1))


def is_doping_variant(table: pd.DataFrame) -> np.ndarray:
    """Bool per row: a doping variant of a known compound (``doping_variant_of`` filled by
    :func:`superdiff_core.known_compounds.nearest_known`); all False without that column."""
    if "doping_variant_of" not in table.columns:
        return np.zeros(len(table), dtype=bool)
    return table["doping_variant_of"].fillna("").astype(str).to_numpy() != ""


def doping_variant_count(table: pd.DataFrame) -> int | None:
    """How many candidates are doping variants of a known compound; None without the column."""
    if "doping_variant_of" not in table.columns:
        return None
    return int(is_doping_variant(table).sum())
