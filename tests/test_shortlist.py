"""The shortlist follows its stated rule (issue 18 item 4)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from superdiff_core.errors import InputError
from superdiff_core.shortlist import ShortlistWeights, percentile_scores, shortlist

BEST, MIDDLE, WORST, UNSTABLE = "La1.8Sr0.2CuO4", "La1.8Ba0.2CuO4", "La1.8Ca0.2CuO4", "La1.8Na0.2CuO4"


def candidates() -> pd.DataFrame:
    """Four candidates with four different element sets."""
    return pd.DataFrame({
        "formula": [BEST, MIDDLE, WORST, UNSTABLE],
        "sc_probability": [0.9, 0.6, 0.2, 0.99],
        "tc_kelvin": [90.0, 60.0, 10.0, 120.0],
        "tc_kelvin_low": [70.0, 40.0, 0.0, 100.0],
        "tc_kelvin_high": [110.0, 80.0, 30.0, 140.0],
        "energy_above_hull_ev_per_atom": [-0.02, 0.0, 0.05, 0.9],
        "energy_above_hull_std_ev_per_atom": [0.05] * 4,
        "above_hull_beyond_error": [False, False, False, True],
        "substitution_probability": [0.2, 0.05, 0.001, 0.3],
        "substitution_reason": ["Sr for Ba: p = 0.2 (plausible)", "", "", ""],
        "distance_to_known": [0.05, 0.03, 0.01, 0.2],
        "nearest_known_formula": ["La2CuO4"] * 4,
    })


def test_order_follows_the_rule_and_the_hull_rules_out():
    chosen = shortlist(candidates(), size=10)
    assert chosen["formula"].tolist() == [BEST, MIDDLE, WORST]  # UNSTABLE is > 2σ above the hull
    assert chosen["shortlist_rank"].tolist() == [1, 2, 3]
    assert chosen["shortlist_score"].is_monotonic_decreasing
    assert "Sr for Ba" in chosen["shortlist_reasons"].iloc[0] and "Tc 90 K (90 % 70–110)" in chosen["shortlist_reasons"].iloc[0]
    # the middle candidate's interval (40-80 K) does not reach the top's 90 K; the top's own does
    assert chosen["tc_within_error_of_top"].tolist() == [True, False, False]


def test_weights_change_the_order():
    table = candidates()
    table.loc[2, "distance_to_known"] = 5.0
    only_novelty = ShortlistWeights(hull=0, superconductor=0, tc=0, plausibility=0, novelty=1)
    assert shortlist(table, only_novelty, size=1)["formula"].tolist() == [WORST]
    assert len(shortlist(table, size=2)) == 2


@pytest.mark.parametrize(("text", "fragment"), [("density=1", "criteria hull"), ("tc=x", "must be a number"),
                                                 ("tc=-1", "≥ 0"),
                                                 ("hull=0,superconductor=0,tc=0,plausibility=0,novelty=0", "at least one")])
def test_bad_weights_are_one_line(text, fragment):
    with pytest.raises(InputError, match=fragment):
        ShortlistWeights.parse(text)


def test_one_row_per_element_set_by_default():
    """A second La-Sr-Cu-O candidate just behind the best one gives way to the next element set."""
    table = pd.concat([candidates(), candidates().iloc[[0]].assign(formula="La1.85Sr0.15CuO4", sc_probability=0.85)],
                      ignore_index=True)
    chosen = shortlist(table, size=10)
    assert chosen["formula"].tolist() == [BEST, MIDDLE, WORST]
    assert chosen["same_elements_in_run"].tolist() == [2, 1, 1]
    assert chosen["shortlist_reasons"].iloc[0].endswith("1 more in the run with these elements")
    assert "more in the run" not in chosen["shortlist_reasons"].iloc[1]
    every = shortlist(table, size=10, max_per_element_set=0)  # no limit: both, in score order
    assert every["formula"].tolist() == [BEST, "La1.85Sr0.15CuO4", MIDDLE, WORST]
    assert every["shortlist_score"].is_monotonic_decreasing
    assert shortlist(table, size=2, max_per_element_set=2)["formula"].tolist() == [BEST, "La1.85Sr0.15CuO4"]
    with pytest.raises(InputError, match="per element set must be ≥ 0"):
        shortlist(table, max_per_element_set=-1)


def test_candidates_inside_the_training_domain_rank_first_by_default():
    """The best score outside the training domain comes after every candidate inside it, and says why."""
    table = candidates().assign(outside_training_domain=[True, False, False, False])
    chosen = shortlist(table, size=10)
    assert chosen["formula"].tolist() == [MIDDLE, WORST, BEST]
    assert chosen["shortlist_reasons"].iloc[2].endswith("outside the training domain: its predictions are extrapolations")
    assert "outside the training domain" not in chosen["shortlist_reasons"].iloc[0]
    assert shortlist(table, size=10, in_domain_first=False)["formula"].tolist() == [BEST, MIDDLE, WORST]  # score alone
    assert shortlist(table.assign(outside_training_domain=pd.NA), size=10)["formula"].tolist() == [BEST, MIDDLE, WORST]


def test_reasons_read_from_a_csv_name_no_missing_values(tmp_path):
    """Empty text cells read back from a CSV are NaN: the reasons leave them out rather than print 'nan'."""
    path = tmp_path / "c.csv"
    candidates().assign(doping_variant_of="", substitution_reason="").to_csv(path, index=False)
    reasons = shortlist(pd.read_csv(path), new_only=False)["shortlist_reasons"]
    assert not reasons.str.contains("nan").any() and reasons.str.contains("from La2CuO4").all()


def test_percentiles_put_missing_values_last():
    assert percentile_scores(np.array([1.0, np.nan, 3.0]), True).tolist() == [0.0, 0.0, 1.0]
    assert ShortlistWeights.parse("TC=2, hull=0.5").tc == 2.0


def test_a_doped_known_compound_is_called_a_doping_variant_and_a_new_system_is_not():
    """Measured against SuperCon through the cuprate map: fluorinated Hg-1223 sits next to the known
    HgBa2Ca2Cu3FO8 with the same elements; Sr for Ba makes an element system that compound lacks."""
    from superdiff_core.maps import load_class_map
    from superdiff_core.run import RunModels, screen_formulas

    record = screen_formulas(["HgBa2Ca2Cu3F0.9O8.1", "HgSr2Ca2Cu3F0.9O8.1"],
                             RunModels(known_map=load_class_map(model_class="cuprates")), map_class="cuprates")
    table = record.table.assign(sc_probability=[0.9, 0.8])
    chosen = shortlist(table, ShortlistWeights(superconductor=1, hull=0, tc=0, plausibility=0, novelty=0), 2, new_only=False)
    assert chosen["doping_variant_of"].tolist() == ["HgBa2Ca2Cu3FO8", ""], chosen[["formula", "nearest_known_formula"]]
    first = chosen["shortlist_reasons"].iloc[0]
    assert first.endswith("a doping variant of HgBa2Ca2Cu3FO8 (same elements)")
    assert "doping variant" not in chosen["shortlist_reasons"].iloc[1]
    new_only = shortlist(table, ShortlistWeights(superconductor=1, hull=0, tc=0, plausibility=0, novelty=0), 2)  # the default
    assert new_only["formula"].tolist() == ["HgSr2Ca2Cu3F0.9O8.1"]
