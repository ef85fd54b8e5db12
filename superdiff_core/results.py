"""The candidate table: one schema and one CSV writer for the CLI and the app.

Each stage of a run adds its columns to a :class:`pandas.DataFrame`; this module fixes
the order in which they are written, so the CLI's ``--out`` file and the app's download
are the same file.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import pandas as pd

from .artifacts import write_text_atomically
from .validity import CHECK_COLUMNS, DEFAULT_VALIDITY_CHECK, VALID_COLUMN, VALIDITY_CHECKS

ENGINE_COLUMNS: tuple[str, ...] = (
    "formula",
    "model_class",
    "reference",
    "scale_factor",
    "n_elements",
    VALID_COLUMN,
    *CHECK_COLUMNS,
    "novel",
)
"""Columns written by generation and screening (issue: engine)."""

PROPERTY_COLUMNS: tuple[str, ...] = (
    "sc_probability",
    "is_superconductor",
    "tc_kelvin",
    "tc_kelvin_low",
    "tc_kelvin_high",
    "formation_energy_ev_per_atom",
    "formation_energy_std_ev_per_atom",
)
"""Columns added by the property models: ``tc_kelvin_low``/``tc_kelvin_high`` bound the
conformal 90 % Tc interval (0.0 like ``tc_kelvin`` where the classifier says "not a
superconductor"); ``formation_energy_std_ev_per_atom`` is the calibrated 1-sigma spread."""

MAP_COLUMNS: tuple[str, ...] = (
    "tsne_x",
    "tsne_y",
    "cluster",
    "cluster_name",
    "family_id",
    "family_formula",
    "is_new_family",
)
"""Columns added by map placement and family discovery."""

KNOWN_COLUMNS: tuple[str, ...] = (
    "nearest_known_formula",
    "nearest_known_tc_kelvin",
    "distance_to_known",
    "known_close_count",
    "known_close_tc_median_kelvin",
    "known_close_tc_max_kelvin",
    "doping_variant_of",
    "outside_training_domain",
)
"""Columns added by :func:`superdiff_core.known_compounds.nearest_known` (the measured
SuperCon compounds nearest to each row)."""

GUIDANCE_COLUMN = "guidance"

SOURCE_COLUMN = "source"
DIFFUSION_SOURCE = "diffusion"
SUBSTITUTION_SOURCE = "substitution"
"""Who drew a candidate: the diffusion model, or the substitution baseline
(:mod:`superdiff_core.baseline`) a run or campaign may draw beside it."""
"""Run metadata of a guided run: its weights as ``--guide`` takes them (``tc=1,formation=0.5``);
absent from unguided runs."""

RUN_METADATA_COLUMNS: tuple[str, ...] = (GUIDANCE_COLUMN, SOURCE_COLUMN, "scale_factors")
"""Columns that describe how a candidate was drawn (present only when used): the guide's weights,
``source`` (``diffusion`` or ``substitution`` when a baseline ran beside the model) and
``scale_factors`` (every N at which the run drew this composition)."""

ASSESSMENT_COLUMNS: tuple[str, ...] = (
    "new_elements",
    "dropped_elements",
    "substitutes_for",
    "substitution_probability",
    "plausible_substitution",
    "substitution_reason",
    "energy_above_hull_ev_per_atom",
    "energy_above_hull_std_ev_per_atom",
    "above_hull_beyond_error",
    "decomposes_to",
)
"""Columns of :mod:`superdiff_core.assessment`: the plausibility of the elements a candidate adds
against its reference (Hautier's substitution probability), and its distance above the
known phases' convex hull with the spread the formation model gives it."""

CANDIDATE_COLUMNS: tuple[str, ...] = (ENGINE_COLUMNS + RUN_METADATA_COLUMNS + PROPERTY_COLUMNS + KNOWN_COLUMNS
                                      + ASSESSMENT_COLUMNS + MAP_COLUMNS)
"""Every known column, in the order they are written."""


def ordered_columns(table: pd.DataFrame) -> list[str]:
    """The columns of ``table`` in schema order: known ones first, then any others."""
    known = [column for column in CANDIDATE_COLUMNS if column in table.columns]
    return known + [column for column in table.columns if column not in CANDIDATE_COLUMNS]


def candidates_to_csv(table: pd.DataFrame) -> str:
    """The CSV text of a candidate table, columns in schema order (used by the app's download)."""
    buffer = io.StringIO()
    table[ordered_columns(table)].to_csv(buffer, index=False)
    return buffer.getvalue()


def write_candidates_csv(table: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write a candidate table as CSV (schema order) atomically; returns the path."""
    return write_text_atomically(path, candidates_to_csv(table))


COLUMN_HELP: dict[str, str] = {
    "formula": "the candidate's composition, amounts in atoms per formula unit as sampled (rounded to 0.01)",
    "model_class": "the diffusion model that drew it: cuprates, pnictides, others or everything",
    "reference": "the reference compound whose blurred profile steered the sampling (ILVR); empty when unconditional",
    "scale_factor": "N, ILVR's blur: the reference's 96 element amounts are shrunk N times along Z and blown up again "
    "before they are compared (1 = close to the reference, 4 = neighbouring elements may swap in)",
    "n_elements": "number of distinct elements in the formula",
    VALID_COLUMN: "the verdict of the validity (charge-balance) check the run applied, the one that filters (--validity; "
    f"default {DEFAULT_VALIDITY_CHECK}): the charges can balance with the check's oxidation states; empty when the check "
    "timed out. Each check's own verdict is in its own column (smact_valid_<check>)",
    **{check.column: f"the {check.label} check (--validity {name}): {check.help}" for name, check in VALIDITY_CHECKS.items()},
    "smact_status": "the verdict of the validity check the run applied: valid, invalid, or timeout (the check was stopped "
    "after its time bound and counts as not valid)",
    "novel": "true when the composition is not in the SuperCon training set of its class",
    GUIDANCE_COLUMN: "the property-guidance (steering) weights of the run, as --guide takes them (tc=1,formation=0.5); "
    "absent from unguided runs",
    "sc_probability": "the classifier's calibrated probability that it is a superconductor (0 to 1)",
    "is_superconductor": "true when sc_probability is at or above the classifier's threshold (stored in checkpoints/tc/card.json)",
    "tc_kelvin": "predicted critical temperature in K; 0 where the classifier says not a superconductor",
    "tc_kelvin_low": "lower end of the 90 % interval of the predicted Tc (K): on held-out SuperCon compounds the "
    "measured Tc fell inside such intervals about 9 times in 10; 0 where tc_kelvin is 0",
    "tc_kelvin_high": "upper end of the 90 % interval of the predicted Tc (K), see tc_kelvin_low",
    "formation_energy_ev_per_atom": "predicted formation energy from the elements, eV per atom (OQMD's convention); "
    "negative means more stable than the separate elements, and says nothing about competing phases",
    "formation_energy_std_ev_per_atom": "the formation model's calibrated 1-sigma spread (eV/atom): about 2 in 3 "
    "held-out OQMD compounds lay within one spread of the prediction",
    "nearest_known_formula": "the measured SuperCon compound closest in composition (same distance as distance_to_known)",
    "nearest_known_tc_kelvin": "the measured Tc (K) SuperCon lists for nearest_known_formula",
    "distance_to_known": "Euclidean distance between the atomic-fraction vectors (amounts divided by atoms per formula "
    "unit) of this composition and nearest_known_formula: 0 = the same composition; doping 0.15 of 7 atoms "
    "(La1.85Sr0.15CuO4 against La2CuO4) is about 0.03",
    "known_close_count": "how many SuperCon compounds are close: within the map's tight-family distance of this "
    "composition (the same Euclidean atomic-fraction distance; about 0.01 for cuprates, e.g. YBa2Cu3O6.9 and "
    "YBa2Cu3O7), counting at most the 32 nearest",
    "known_close_tc_median_kelvin": "median measured Tc (K) of the close SuperCon compounds (empty when none is close)",
    "known_close_tc_max_kelvin": "highest measured Tc (K) of the close SuperCon compounds (empty when none is close)",
    "doping_variant_of": "the nearest SuperCon compound with exactly this candidate's elements within 0.05 in atomic "
    "fractions (about one atom moved in 20): the candidate is a doping variant of it, not a new family; empty when none",
    "outside_training_domain": "true when distance_to_known is larger than the inside radius of the nearest compound's "
    "SuperCon class (99 % of SuperCon compounds have a neighbour that near; 0.095 for cuprates): its predictions are "
    "extrapolations, and note says by how much",
    "note": "empty, or why a row is flagged (outside the training domain, a prediction that could not be made), "
    "'; '-separated",
    "property_note": "empty, or why a property prediction is missing",
    "tsne_x": "horizontal position on the class's t-SNE map of SuperCon (no unit: neighbours and clusters mean "
    "something, distances between far-apart groups do not)",
    "tsne_y": "vertical position on the class's t-SNE map, see tsne_x",
    "cluster": "id of the SuperCon cluster the composition lies inside (the map card lists them); -1 outside every cluster",
    "cluster_name": "that cluster's name, its typical elements (Y-Ba-Cu-O), or 'outside known clusters'",
    "family_id": "the family the candidate belongs to: N1, N2, … new families (outside every SuperCon cluster), "
    "K1, K2, … families inside a known cluster; empty when in none",
    "family_formula": "the family's general formula (La2-xSrxCuO4), with the range of each variable in the families table",
    "is_new_family": "true when its family lies outside every SuperCon cluster",
    "source": "diffusion (drawn by the model), or substitution: the baseline of plain data-mined ion substitution "
    "into the reference (--baseline substitution), screened and scored the same way",
    "scale_factors": "every N at which the run drew this composition (the same composition at two N is one row; "
    "scale_factor keeps the first)",
    "new_elements": "elements the candidate has that its reference lacks (space-separated; empty when none)",
    "dropped_elements": "reference elements the candidate lacks",
    "substitutes_for": "for each new element, the reference element its ion best replaces (same order); the site its "
    "amounts point to can differ, and substitution_reason then names it",
    "substitution_probability": "Hautier et al.'s (Inorg. Chem. 2011) data-mined probability of that substitution "
    "between ions of the same sign; the lowest over the new elements; empty when nothing is added",
    "plausible_substitution": "true when every new element is a plausible substitute: its probability is at or above "
    "the threshold that best separates SuperCon's own substitutions from random ones (a weak separation, AUC 0.63: a "
    "flag, not a verdict); empty when nothing is added",
    "substitution_reason": "the substitution behind the verdict, e.g. 'Sr for Ba: p = 0.16 (plausible)'; a table "
    "without the needed ion falls back on Pettifor-scale distance, and says so; where the amounts show the new element "
    "took another site, that site first and the pair the verdict judges after it: 'Tl in Hg's place: p = 0.0014 (plausible "
    "as a substitute for Ba: p = 0.016)'",
    "energy_above_hull_ev_per_atom": "predicted formation energy minus the OQMD convex hull of the same elements at "
    "this composition (eV/atom; ≤ 0: on or below the known phases). Built from the formation model, so it carries its "
    "error: use it to rule out (above_hull_beyond_error), not to rank",
    "energy_above_hull_std_ev_per_atom": "the 1-sigma spread of energy_above_hull_ev_per_atom (the formation model's; "
    "the known phases' energies are DFT values)",
    "above_hull_beyond_error": "true when the candidate lies more than 2 spreads above the hull: the model's own "
    "error cannot bring it onto it",
    "decomposes_to": "the known phases the candidate would decompose into at the predicted energy, as shares of its "
    "atoms (0.52 YBa2Cu3O7 + 0.31 BaSeO3 + 0.17 SrO); empty when the hull was not computed (note says why)",
    "shortlist_rank": "shortlist: 1 = best by the shortlist rule",
    "shortlist_score": "shortlist: the weighted mean of the candidate's percentiles within the run (0 to 1)",
    "shortlist_reasons": "shortlist: the values behind the score",
    "tc_within_error_of_top": "shortlist: its Tc interval reaches the top candidate's predicted Tc (the models "
    "cannot say it is worse)",
    "same_elements_in_run": "shortlist: how many candidates of the run have exactly its elements, itself included (the "
    "shortlist keeps the best-scoring of each element set by default)",
    "in_supercon": "campaigns: true when the formula is already in SuperCon",
    "element_system": "campaigns: the formula's elements in alphabetical order (As-Ba-Fe, as pymatgen's chemical_system), "
    "the key of the report's families",
    "shard_id": "campaigns: the shard (reference × N × seed × batch) that drew the row; a formula drawn by several "
    "shards counts once, at its first shard",
    "seed": "campaigns: the plan's seed of the shard",
    "batch": "campaigns: the batch number within the shard's reference × N × seed",
    "sampling_seed": "campaigns: the random seed the shard's sampler used (repeats the shard exactly)",
    "steps": "campaigns: the denoising steps of the sampler",
    "checkpoint_sha256": "campaigns: sha256 of the diffusion checkpoint that drew the row",
}
"""What each column of a candidate CSV means, in words a chemist reads: the one home of the
column descriptions (the Help page lists them, the app's tables use them as column help)."""


def join_notes(*notes: str) -> str:
    """Non-empty notes joined with "; "."""
    return "; ".join(note for note in notes if note)


def append_notes(table: pd.DataFrame, notes: list[str]) -> pd.DataFrame:
    """``table`` (modified in place and returned) with ``notes`` (one per row, "" for none) joined
    onto its ``note`` column, which is created when absent."""
    if any(notes):
        previous = table["note"].astype(str).tolist() if "note" in table.columns else [""] * len(table)
        table["note"] = [join_notes(a, b) for a, b in zip(previous, notes)]
    return table


def column_help(column: str) -> str:
    """The description of ``column`` from :data:`COLUMN_HELP`, or "" for a column it does not know."""
    return COLUMN_HELP.get(column, "")
