"""A shortlist: the few candidates of a run worth a chemist's closer look, by a rule the user weights.

The rule is deliberately plain. Each criterion is turned into the candidate's percentile within
the run (0 = worst of the run, 1 = best), so criteria in kelvin, eV/atom and probability weigh
alike; the score is the weighted mean of the percentiles. Candidates the hull rules out (more
than :data:`~superdiff_core.assessment.HULL_RULE_OUT_SIGMA` spreads above it) are left out.
Every row says why it is there (its values) and what to distrust (out of the training domain;
Tc inside the error of the top candidate's; a doping variant of a known compound rather than a
new one: ``doping_variant_of``).

Trusted predictions first: by default candidates inside the training domain rank before those
outside it (:data:`IN_DOMAIN_FIRST`), whose Tc, probability and hull margin are extrapolations.

One row per idea: by default only the best-scoring candidate of each element set enters the list
(:data:`MAX_PER_ELEMENT_SET`), and ``same_elements_in_run`` says how many of the run share its
elements, so twenty rows are twenty different substitutions rather than one substitution at
twenty doping levels the models cannot tell apart.

Criteria (column, better when):

- ``hull``: ``energy_above_hull_ev_per_atom``, lower;
- ``superconductor``: ``sc_probability``, higher;
- ``tc``: ``tc_kelvin``, higher;
- ``plausibility``: ``substitution_probability`` (Hautier's), higher; candidates that add
  no element rank as plausible as the most plausible extension;
- ``novelty``: ``distance_to_known``, higher (farther from every measured compound).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import numpy as np
import pandas as pd

from .assessment import ABOVE_HULL_COLUMN, is_doping_variant, is_outside_training_domain
from .composition import element_system
from .errors import InputError
from .funnel import boolean_column

DEFAULT_SIZE = 20

LEAVE_OUT_DOPING_VARIANTS = True
"""The shortlist's default: a doping variant of a known compound (a measured compound's elements
within 0.05 in atomic fractions) is a known compound rescaled, not the new family the list is for;
on the default Hg-1223 run such variants took 19 of the top 20 places when they were kept."""

CRITERIA: dict[str, tuple[str, bool]] = {
    "hull": ("energy_above_hull_ev_per_atom", False),
    "superconductor": ("sc_probability", True),
    "tc": ("tc_kelvin", True),
    "plausibility": ("substitution_probability", True),
    "novelty": ("distance_to_known", True),
}
"""criterion → (column, higher is better)."""

IN_DOMAIN_FIRST = True
"""The shortlist's default: candidates inside the training domain rank before those outside it. On the
default MgB2 run (others), 15 of the top 20 lay outside it when the score alone ordered them (45 % of
the run's candidates are outside): far from every known compound, the novelty criterion favours them
and every prediction ranking them is an extrapolation (leave-one-family-out R² of the Tc model:
about 0)."""

MAX_PER_ELEMENT_SET = 1
"""The shortlist's default: at most this many candidates with the same elements (0: no limit). On the
default Hg-1223 run the top 20 without a limit held six K-for-Ca candidates of one family and six
(Hg,Tl)-F ones, their Tc all within error of each other: the list showed ten ideas, not twenty."""

SHORTLIST_COLUMNS = ("shortlist_rank", "shortlist_score", "shortlist_reasons", "tc_within_error_of_top",
                     "same_elements_in_run")


@dataclass(frozen=True)
class ShortlistWeights:
    """How much each criterion counts (0: not at all); see the module docstring."""

    hull: float = 1.0
    superconductor: float = 1.0
    tc: float = 1.0
    plausibility: float = 1.0
    novelty: float = 0.5

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if not np.isfinite(value) or value < 0:
                raise InputError(f"shortlist weight {name} must be a number ≥ 0, got {value}")
        if not any(asdict(self).values()):
            raise InputError("give at least one shortlist weight above 0")

    @classmethod
    def parse(cls, text: str) -> ShortlistWeights:
        """``"hull=2,tc=1,novelty=0"`` (criteria not named keep their defaults).

        Raises:
            InputError: one line for an unknown criterion or a bad number.
        """
        values: dict[str, float] = {}
        for part in filter(None, (p.strip() for p in text.split(","))):
            key, sep, value = (s.strip().lower() for s in part.partition("="))
            if not sep or key not in CRITERIA:
                raise InputError(f"shortlist weights are written criterion=weight with criteria {', '.join(CRITERIA)}; got {part!r}")
            try:
                values[key] = float(value)
            except ValueError:
                raise InputError(f"shortlist weight {key} must be a number, got {value!r}") from None
        return cls(**values)

    def to_text(self) -> str:
        return ",".join(f"{f.name}={getattr(self, f.name):g}" for f in fields(self))


def percentile_scores(values: np.ndarray, higher_is_better: bool) -> np.ndarray:
    """Each value's rank within ``values`` scaled to 0 … 1 (ties share the mean rank; NaN → 0,
    a missing prediction counts as the worst)."""
    values = np.asarray(values, dtype=float)
    known = np.isfinite(values)
    out = np.zeros(len(values))
    if known.sum() > 1:
        ranks = pd.Series(values[known] if higher_is_better else -values[known]).rank(method="average").to_numpy()
        out[known] = (ranks - 1) / (known.sum() - 1)
    elif known.sum() == 1:
        out[known] = 1.0
    return out


def _text(row: pd.Series, column: str) -> str:
    """The row's text in ``column``; "" when absent or missing (NaN in a table read from CSV)."""
    value = row.get(column)
    return "" if value is None or (not isinstance(value, str) and pd.isna(value)) else str(value)


def _reasons(row: pd.Series, outside_training_domain: bool) -> str:
    parts = []
    if pd.notna(row.get("sc_probability")):
        parts.append(f"P(superconductor) {row['sc_probability']:.2f}")
    if pd.notna(row.get("tc_kelvin")) and row.get("tc_kelvin", 0) > 0:
        low, high = row.get("tc_kelvin_low"), row.get("tc_kelvin_high")
        interval = f" (90 % {low:.0f}–{high:.0f})" if pd.notna(low) and pd.notna(high) else ""
        parts.append(f"Tc {row['tc_kelvin']:.0f} K{interval}")
    if pd.notna(row.get("energy_above_hull_ev_per_atom")):
        parts.append(f"{row['energy_above_hull_ev_per_atom']:+.3f} ± {row['energy_above_hull_std_ev_per_atom']:.3f} eV/atom vs hull")
    if _text(row, "substitution_reason"):
        parts.append(_text(row, "substitution_reason"))
    if pd.notna(row.get("distance_to_known")) and _text(row, "nearest_known_formula"):
        parts.append(f"{row['distance_to_known']:.3f} from {row['nearest_known_formula']}")
    if _text(row, "doping_variant_of"):
        parts.append(f"a doping variant of {row['doping_variant_of']} (same elements)")
    if outside_training_domain:
        parts.append("outside the training domain: its predictions are extrapolations")
    if row.get("same_elements_in_run", 1) > 1:
        parts.append(f"{row['same_elements_in_run'] - 1} more in the run with these elements")
    return "; ".join(parts)


def shortlist(
    table: pd.DataFrame, weights: ShortlistWeights = ShortlistWeights(), size: int = DEFAULT_SIZE,
    new_only: bool = LEAVE_OUT_DOPING_VARIANTS, max_per_element_set: int = MAX_PER_ELEMENT_SET,
    in_domain_first: bool = IN_DOMAIN_FIRST,
) -> pd.DataFrame:
    """The top ``size`` candidates of ``table`` by ``weights`` (see the module docstring).

    With ``new_only`` (the default, :data:`LEAVE_OUT_DOPING_VARIANTS`), doping variants of known
    compounds (``doping_variant_of`` filled) are left out before ranking, as the hull's ruled-out
    candidates are: the list then holds only candidates no measured compound of the same elements
    lies next to. With ``max_per_element_set`` > 0 (default :data:`MAX_PER_ELEMENT_SET`), only
    the best-scoring that many candidates of each element set are ranked. With ``in_domain_first``
    (default :data:`IN_DOMAIN_FIRST`), candidates outside the training domain come after every
    candidate inside it, each group in score order.

    Returns:
        The chosen rows (all their columns) in rank order, with ``shortlist_rank`` (1 = best),
        ``shortlist_score`` (0 … 1), ``shortlist_reasons`` (the values behind the score) and
        ``tc_within_error_of_top`` (its Tc interval reaches the top candidate's Tc: the models
        cannot say it is worse) and ``same_elements_in_run`` (candidates of ``table`` with exactly
        its elements, itself included).
    """
    if size < 1:
        raise InputError(f"the shortlist needs a size ≥ 1, got {size}")
    if max_per_element_set < 0:
        raise InputError(f"the shortlist's limit per element set must be ≥ 0 (0: no limit), got {max_per_element_set}")
    systems = np.array([element_system(str(formula)) for formula in table["formula"]], dtype=object)
    table = table.assign(same_elements_in_run=pd.Series(systems).map(pd.Series(systems).value_counts()).to_numpy(dtype=int))
    kept = np.ones(len(table), dtype=bool)
    above_hull = boolean_column(table, ABOVE_HULL_COLUMN)
    if above_hull is not None:
        kept &= ~above_hull
    if new_only:
        kept &= ~is_doping_variant(table)
    table, systems = table[kept], systems[kept]
    outside = is_outside_training_domain(table)
    if not len(table):
        return table.assign(**{column: [] for column in SHORTLIST_COLUMNS if column not in table.columns})
    score = np.zeros(len(table))
    total = 0.0
    for name, (column, higher) in CRITERIA.items():
        weight = getattr(weights, name)
        if weight == 0 or column not in table.columns:
            continue
        values = table[column].to_numpy(dtype=float)
        if name == "plausibility":  # adding nothing is as plausible as the best extension
            values = np.where(np.isnan(values), np.nanmax(values) if np.isfinite(values).any() else 1.0, values)
        score += weight * percentile_scores(values, higher)
        total += weight
    score = score / total if total else score
    order = np.lexsort((-score, outside & in_domain_first))  # inside first (when asked), then by score; ties keep table order
    if max_per_element_set:  # the best few of each element set, in score order
        order = order[pd.Series(systems[order]).groupby(systems[order]).cumcount().to_numpy() < max_per_element_set]
    order = order[:size]
    chosen = table.iloc[order].copy()
    chosen.insert(0, "shortlist_rank", np.arange(1, len(chosen) + 1))
    chosen.insert(1, "shortlist_score", np.round(score[order], 3))
    chosen.insert(2, "shortlist_reasons", [_reasons(row, flag) for (_, row), flag in zip(chosen.iterrows(), outside[order])])
    if "tc_kelvin_high" in chosen.columns:
        top = float(chosen["tc_kelvin"].max())
        chosen.insert(3, "tc_within_error_of_top", chosen["tc_kelvin_high"].to_numpy(dtype=float) >= top)
    return chosen.reset_index(drop=True)
