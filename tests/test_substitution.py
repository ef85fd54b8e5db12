"""Plausibility of the elements a candidate adds (superdiff_core.substitution)."""

from __future__ import annotations

import numpy as np
import pytest

from superdiff_core.composition import SYMBOL_TO_INDEX, parse_formula
from superdiff_core.substitution import (
    NEVER_SUBSTITUTES,
    SCORE_COLUMNS,
    load_table,
    oxidation_state_guess,
    plausibility_columns,
    plausible_share,
    plausible_substitutes,
    reference_scores,
)

HG1223 = "HgBa2Ca2Cu3O8.27"


def _columns(reference: str, candidates: list[str], scale: str = "hautier"):
    vectors = np.array([parse_formula(c) for c in candidates])
    return plausibility_columns(vectors, parse_formula(reference), scale)


def test_table_is_hautiers_conditional_probability():
    """P(s replaces t) = exp(lambda(s, t)) / sum_u exp(lambda(u, t)), lambda = -5 where unrecorded
    (pymatgen's cond_prob; the benchmark compares with pymatgen's class itself)."""
    import json

    from superdiff_core.substitution import hautier_lambda_path

    table = load_table("hautier")
    index = {label: i for i, label in enumerate(table.species)}
    rows = [row for row in json.loads(hautier_lambda_path().read_text()) if "D1+" not in row]
    labels = {row[0] for row in rows} | {row[1] for row in rows}
    lambdas = {frozenset(row[:2]): row[2] for row in rows}
    denominator = sum(np.exp(lambdas.get(frozenset((label, "Ba2+")), -5.0)) for label in labels)
    expected = np.exp(lambdas[frozenset(("Sr2+", "Ba2+"))]) / denominator
    assert table.scores[index["Sr2+"], index["Ba2+"]] == pytest.approx(expected, rel=1e-9)
    assert table.observed[index["Sr2+"], index["Ba2+"]] and not table.observed[index["Tl1+"], index["Hg2+"]]


def test_oxidation_states_of_references():
    guess = oxidation_state_guess(parse_formula(HG1223))
    assert guess[SYMBOL_TO_INDEX["Cu"]] == 2 and guess[SYMBOL_TO_INDEX["O"]] == -2 and guess[SYMBOL_TO_INDEX["Hg"]] == 2
    assert oxidation_state_guess(parse_formula("BaFe2As2"))[SYMBOL_TO_INDEX["As"]] == -3
    assert oxidation_state_guess(parse_formula("Nb3Sn")) is None  # an intermetallic: no ionic guess


def test_known_cuprate_substitutions_score_above_implausible_ones():
    frame = _columns(HG1223, ["HgBa1.8Sr0.2Ca2Cu3O8.27", "HgBa1.8La0.2Ca2Cu3O8.27", "Hg0.8Au0.2Ba2Ca2Cu3O8.27", "HgBa2Ca2Cu3O7.8N0.4"])
    sr, la, au, nitrogen = frame[SCORE_COLUMNS["hautier"]]
    assert min(sr, la) > max(au, nitrogen)
    assert list(frame["new_elements"]) == ["Sr", "La", "Au", "N"]
    assert list(frame["plausible_substitution"][[0, 2, 3]]) == [True, False, False]  # La for Ba: p = 0.0139, at the threshold
    assert frame.loc[2, "substitutes_for"] == "Hg" and frame.loc[3, "substitutes_for"] == "O"
    assert frame.loc[2, "substitution_reason"].startswith("Au for Hg: p = 0.005") and "implausible" in frame.loc[2, "substitution_reason"]
    scores = reference_scores(parse_formula("YBa2Cu3O7"))
    ba = list(scores.elements).index(SYMBOL_TO_INDEX["Ba"])
    assert scores.scores[SYMBOL_TO_INDEX["Sr"], ba] > scores.scores[SYMBOL_TO_INDEX["Au"], ba]


def test_a_cation_never_replaces_an_anion():
    frame = _columns("La2CuO4", ["La1.8Na0.2CuO4", "La2CuO3.8F0.2", "La2CuO3.8Cl0.2", "La1.8K0.2CuO4"])
    assert list(frame["substitutes_for"]) == [frame.loc[0, "substitutes_for"], "O", "O", frame.loc[3, "substitutes_for"]]
    assert frame.loc[0, "substitutes_for"] in {"La", "Cu"} and frame.loc[3, "substitutes_for"] in {"La", "Cu"}


def test_a_whole_site_swap_needs_a_new_element_of_the_lost_elements_sign():
    """Measured in a default LaFeAsO0.9F0.1 run: Dy added where the small F0.1 was lost read
    "Dy for F (implausible)"; a cation cannot take an anion's site, so it is judged on the La it
    replaces. Ca for all the Y of YBa2Cu3O7 is still judged as that swap."""
    frame = _columns("LaFeAsO0.9F0.1", ["La0.89Dy0.12Fe1.03As0.96O0.9", "LaFeAsO0.9Cl0.1"])
    assert frame.loc[0, "dropped_elements"] == "F" and frame.loc[0, "substitutes_for"] == "La"
    assert frame.loc[0, "substitution_reason"].startswith("Dy for La") and bool(frame.loc[0, "plausible_substitution"])
    assert frame.loc[1, "substitution_reason"].startswith("Cl for F")  # an anion for the lost anion: the swap
    swapped = _columns("YBa2Cu3O7", ["CaBa2Cu3O7"])
    assert swapped.loc[0, "substitution_reason"].startswith("Ca for Y")


def test_missing_species_falls_back_on_pettifor_prior_and_rows_without_new_elements_are_empty():
    frame = _columns("YBa2Cu3O6Se0.5", ["YBa2Cu3O6Se0.3As0.2", "YBa2Cu3O6Se0.3Te0.2", "YBa2Cu3O6.5", "YBa2Cu3O6Se0.5",
                                        "YBa2Cu3O6Se0.3Br0.2"])
    assert "Pettifor prior" in frame.loc[0, "substitution_reason"]  # Hautier's table has no As3-
    assert "Pettifor prior" in frame.loc[1, "substitution_reason"]  # ... and no Te2-
    assert "Pettifor prior" not in frame.loc[4, "substitution_reason"]
    assert frame.loc[2, "dropped_elements"] == "Se" and frame.loc[2, "new_elements"] == ""
    assert np.isnan(frame.loc[3, SCORE_COLUMNS["hautier"]]) and frame["plausible_substitution"].isna()[[2, 3]].all()
    marks = frame["plausible_substitution"].dropna().astype(bool)
    assert plausible_share(frame) == pytest.approx(marks.mean())


def test_two_new_elements_take_the_least_plausible_and_rows_follow_their_own_reference():
    candidates = np.array([parse_formula("Hg0.8Au0.2Ba1.8Sr0.2Ca2Cu3O8.27"), parse_formula("La1.85Sr0.15CuO4")])
    references = np.array([parse_formula(HG1223), parse_formula("La2CuO4")])
    frame = plausibility_columns(candidates, references)
    assert frame.loc[0, "new_elements"] == "Sr Au" and frame.loc[0, "substitutes_for"] == "Ca Hg"
    assert not frame.loc[0, "plausible_substitution"]
    au_alone = _columns(HG1223, ["Hg0.8Au0.2Ba2Ca2Cu3O8.27"])[SCORE_COLUMNS["hautier"]][0]
    assert frame.loc[0, SCORE_COLUMNS["hautier"]] == pytest.approx(au_alone)
    assert frame.loc[1, "new_elements"] == "Sr" and bool(frame.loc[1, "plausible_substitution"])


def test_independent_scale_has_its_own_column_and_threshold():
    frame = _columns(HG1223, ["HgBa1.8Sr0.2Ca2Cu3O8.27", "Hg0.8Au0.2Ba2Ca2Cu3O8.27"], scale="skipspecies")
    similarity = frame[SCORE_COLUMNS["skipspecies"]]
    assert similarity[0] > similarity[1] and -1 <= similarity.min() <= similarity.max() <= 1
    assert "cos = " in frame.loc[0, "substitution_reason"]
    with pytest.raises(ValueError, match="unknown substitution scale"):
        load_table("nonsense")


def test_plausible_substitutes_are_chemical_neighbours_not_atomic_number_ones():
    hg1223 = parse_formula("HgBa2Ca2Cu3O8.27")
    allowed = plausible_substitutes(hg1223)
    assert allowed[SYMBOL_TO_INDEX["Tl"]] and allowed[SYMBOL_TO_INDEX["Sr"]] and allowed[SYMBOL_TO_INDEX["F"]]
    assert not allowed[SYMBOL_TO_INDEX["Au"]] and not allowed[SYMBOL_TO_INDEX["N"]]  # Hg's and O's Z neighbours
    assert not allowed[hg1223 > 0].any()  # the reference's own elements are not substitutes
    la2cuo4 = parse_formula("La2CuO4")
    assert all(plausible_substitutes(la2cuo4)[SYMBOL_TO_INDEX[symbol]] for symbol in ("Sr", "Ba", "Ca"))
    for reference in (hg1223, la2cuo4, parse_formula("BaFe2As2")):  # radium scores as barium's neighbour
        assert not plausible_substitutes(reference)[[SYMBOL_TO_INDEX[s] for s in NEVER_SUBSTITUTES if s in SYMBOL_TO_INDEX]].any()


def test_the_reason_names_the_site_the_amounts_point_to_and_keeps_the_best_matchs_verdict():
    """(Hg,Tl)-1223: thallium's ion matches barium's best, but it is mercury that the amounts give up;
    K and Tl together: K (larger) takes the calcium it displaced, Tl the mercury left."""
    reference = parse_formula("HgBa2Ca2Cu3O8")
    rows = plausibility_columns(np.array([parse_formula(f) for f in (
        "Hg0.6Tl0.4Ba2Ca2Cu3O8",          # Tl for Hg by the amounts
        "Hg0.86Tl0.16Ba2K0.43Ca1.52Cu3O8",  # K takes Ca's 0.48, Tl then Hg's 0.14
        "HgBa2Ca1.6Sr0.4Cu3O8",           # Sr where Ca lost: its best match, nothing to add
        "HgBa2Ca2Cu3Tl0.1O8",             # nothing lost: an addition
    )]), reference)
    tl, both, strontium, added = rows["substitution_reason"]
    assert tl == "Tl in Hg's place: p = 0.0014 (plausible as a substitute for Ba: p = 0.016)"
    assert both.startswith("K in Ca's place: p = 0.04 (plausible as a substitute for Ba: p = 0.052)")
    assert both.endswith("; Tl in Hg's place: p = 0.0014 (plausible as a substitute for Ba: p = 0.016)")
    assert strontium.startswith("Sr for Ca") and "place" not in strontium
    assert "place" not in added
    assert rows["plausible_substitution"].tolist() == [True, True, True, True]  # the verdict is the best match's
