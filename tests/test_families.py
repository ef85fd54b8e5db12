"""General formulas, element order, grouping and doping curves (no map needed)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from superdiff_core.artifacts import DEFAULT_MODELS_DIR
from superdiff_core.composition import SYMBOL_TO_INDEX, parse_formula, vector_to_formula
from superdiff_core.errors import InputError
from superdiff_core.families import (
    FAMILY_COLUMNS,
    MIN_HEADLINE_MEMBERS,
    annotate_candidates,
    derive_general_formula,
    doping_curve,
    family_formula,
    family_kind,
    group_candidates,
    is_headline,
    vectors_from_formulas,
)
from superdiff_core.formula_notation import VARIABLE_NAMES, ElementOrder

# How SuperCon writes these elements (host before dopant, cations before anions).
CHEMIST_ORDER = ElementOrder.learn(
    ["La1.85Sr0.15Cu1O4", "Y1Ba2Cu3O7", "Y0.9Ca0.1Ba2Cu3O7", "Y0.9Pr0.1Ba2Cu3O7", "Ba1Fe1.8Co0.2As2", "Ca0.9Pr0.1Fe2As2",
     "LiCu2O2"]
)

# The paper's own new families (Table 2): members and general formula as printed there.
PAPER_FAMILIES = {
    "Ba2-xCsxCuO3.3": ("Ba1.88Cs0.12CuO3.28", "Ba1.91Cs0.09CuO3.28", "Ba1.77Cs0.23CuO3.3", "Ba1.84Cs0.16CuO3.29"),
    "Li1-xBexCu2O2": ("Li0.67Be0.34Cu2O2", "Li0.89Be0.11Cu2O2", "Li0.72Be0.28Cu2O2", "Li0.8Be0.2Cu2O2"),
    "BaFe2-x-yCoxNiyAs2": ("BaFe1.72Co0.13Ni0.15As2", "BaFe1.74Co0.08Ni0.08As2", "BaFe1.7Co0.12Ni0.11As2", "BaFe1.8Co0.1Ni0.1As2"),
}


def vectors(*formulas: str) -> np.ndarray:
    return np.array([parse_formula(text, max_elements=96) for text in formulas])


def derive(*formulas: str, **options):
    return derive_general_formula(vectors(*formulas), CHEMIST_ORDER, **options)


def amount(formula: str, symbol: str) -> float:
    return float(parse_formula(formula, max_elements=96)[SYMBOL_TO_INDEX[symbol]])


def test_one_dopant_on_one_site() -> None:
    members = ("La1.85Sr0.15CuO4", "La1.9Sr0.1CuO4", "La1.8Sr0.2CuO4")
    formula = derive(*members)
    assert formula.text == "La2-xSrxCuO4"
    (x,) = formula.variables
    assert (x.name, x.element) == ("x", "Sr")
    assert (x.low, x.high) == pytest.approx((0.1, 0.2))
    assert formula.values[:, 0] == pytest.approx([amount(m, "Sr") for m in members])
    assert formula.ranges_text() == "x = 0.1–0.2"


def test_general_formula_does_not_depend_on_how_members_are_written() -> None:
    members = vectors("La1.85Sr0.15CuO4", "La1.9Sr0.1CuO4", "La1.8Sr0.2CuO4")
    rewritten = vectors(*(vector_to_formula(v) for v in members))  # pymatgen order: Sr before La
    assert vector_to_formula(members[0]).startswith("Sr")
    assert derive_general_formula(rewritten, CHEMIST_ORDER).text == "La2-xSrxCuO4"
    shuffled = derive_general_formula(members[::-1], CHEMIST_ORDER)
    assert shuffled.text == "La2-xSrxCuO4"
    assert shuffled.values[:, 0] == pytest.approx([0.2, 0.1, 0.15])


def test_two_dopants_replacing_one_host() -> None:
    formula = derive("Y0.8Ca0.1Pr0.1Ba2Cu3O7", "Y0.7Ca0.2Pr0.1Ba2Cu3O7", "Y0.7Ca0.1Pr0.2Ba2Cu3O7")
    assert formula.text == "Y1-x-yCaxPryBa2Cu3O7"
    assert [(v.name, v.element, v.low, v.high) for v in formula.variables] == [
        ("x", "Ca", pytest.approx(0.1), pytest.approx(0.2)),
        ("y", "Pr", pytest.approx(0.1), pytest.approx(0.2)),
    ]


def test_fixed_second_dopant_still_shares_the_host_site() -> None:
    formula = derive("Y0.8Ca0.1Pr0.1Ba2Cu3O7", "Y0.7Ca0.2Pr0.1Ba2Cu3O7")
    assert formula.text == "Y1-x-yCaxPryBa2Cu3O7"
    assert formula.ranges_text() == "x = 0.1–0.2; y = 0.1"


def test_dopant_on_a_site_with_two_atoms() -> None:
    formula = derive("BaFe1.8Co0.2As2", "BaFe1.9Co0.1As2", "BaFe1.85Co0.15As2")
    assert formula.text == "BaFe2-xCoxAs2"


def test_varying_anion_amount() -> None:
    formula = derive("YBa2Cu3O6.9", "YBa2Cu3O6.5", "YBa2Cu3O6.8")
    assert formula.text == "YBa2Cu3O7-x"
    assert formula.values[:, 0] == pytest.approx([0.1, 0.5, 0.2])


def test_anion_above_a_whole_number_and_a_dopant_together() -> None:
    formula = derive("La1.9Sr0.1CuO4.02", "La1.8Sr0.2CuO4.05", "La1.85Sr0.15CuO4.1")
    assert formula.text == "La2-xSrxCuO4+y"
    assert formula.variables[1].element == "O"
    assert (formula.variables[1].low, formula.variables[1].high) == pytest.approx((0.02, 0.1))


def test_small_amount_without_a_host_is_a_plain_variable() -> None:
    assert derive("K0.1Fe2Se2", "K0.3Fe2Se2", "K0.2Fe2Se2").text == "KxFe2Se2"


def test_constant_only_is_not_a_family() -> None:
    assert derive("YBa2Cu3O7", "YBa2Cu3O7", "YBa2Cu3O7") is None
    assert derive("YBa2Cu3O7", "Y2Ba4Cu6O14") is None  # the same compound per two formula units
    assert derive("La1.85Sr0.15CuO4") is None  # one member


def test_members_with_different_element_sets_are_not_one_family() -> None:
    assert derive("YBa2Cu3O7", "MgB2", "Nb3Sn") is None
    assert derive("La2CuO4", "La1.9Sr0.1CuO4", "La1.8Sr0.2CuO4") is None
    joined = derive("La2CuO4", "La1.9Sr0.1CuO4", "La1.8Sr0.2CuO4", allow_absent=True)
    assert joined.text == "La2-xSrxCuO4"
    assert joined.variables[0].low == 0
    assert derive("YBa2Cu3O7", "MgB2", "Nb3Sn", allow_absent=True) is None  # nothing in common
    assert family_formula(vectors("La2CuO4", "La1.9Sr0.1CuO4", "La1.8Sr0.2CuO4"), CHEMIST_ORDER).text == "La2-xSrxCuO4"


def test_members_written_per_different_formula_units() -> None:
    formula = derive("La1.85Sr0.15CuO4", "La3.8Sr0.2Cu2O8", "La1.8Sr0.2CuO4")
    assert formula.text == "La2-xSrxCuO4"
    assert formula.values[:, 0] == pytest.approx([0.15, 0.1, 0.2])


def test_constants_are_rounded_to_the_tolerance() -> None:
    formula = derive("La1.85Sr0.15Cu1.001O3.998", "La1.9Sr0.1Cu0.999O4.002", "La1.8Sr0.2Cu1.0O4.0")
    assert formula.text == "La2-xSrxCuO4"


def test_element_order_learned_from_formulas() -> None:
    order = ElementOrder.learn(["La2CuO4", "La1.9Sr0.1CuO4", "Sr2CuO3"])
    indices = [SYMBOL_TO_INDEX[s] for s in ("O", "Sr", "Cu", "La")]
    assert order.name(indices) == "La-Sr-Cu-O"
    assert ElementOrder().name(indices) == "Sr-La-Cu-O"  # no data: electronegativity order


def outside(n: int) -> np.ndarray:
    return np.full(n, -1)


def as_fractions(amounts: np.ndarray) -> np.ndarray:
    return amounts / amounts.sum(axis=1, keepdims=True)


def test_three_outside_candidates_with_one_element_set_are_a_new_family() -> None:
    amounts = vectors("La1.85Sr0.15CuO4", "La1.9Sr0.1CuO4", "La1.8Sr0.2CuO4", "MgB2")
    groups = group_candidates(amounts, as_fractions(amounts), outside(4), link_distance=0.01)
    assert len(groups) == 1
    assert groups[0].is_new and groups[0].cluster == -1
    assert sorted(groups[0].rows) == [0, 1, 2]


def test_two_members_or_duplicates_are_not_a_family() -> None:
    amounts = vectors("La1.85Sr0.15CuO4", "La1.9Sr0.1CuO4", "La1.9Sr0.1CuO4")
    assert group_candidates(amounts, as_fractions(amounts), outside(3), link_distance=0.01) == []


def test_one_compound_in_three_formula_units_is_not_a_family() -> None:
    amounts = vectors("La2CuO4", "La4Cu2O8", "La6Cu3O12")
    assert group_candidates(amounts, as_fractions(amounts), outside(3), link_distance=0.01) == []


def test_candidates_inside_a_cluster_form_a_known_family() -> None:
    amounts = vectors("La1.85Sr0.15CuO4", "La1.9Sr0.1CuO4", "La1.8Sr0.2CuO4", "La1.7Sr0.3CuO4")
    clusters = np.array([4, 4, 4, -1])
    groups = group_candidates(amounts, as_fractions(amounts), clusters, link_distance=0.01)
    assert [(g.is_new, g.cluster, sorted(g.rows)) for g in groups] == [(False, 4, [0, 1, 2])]


def test_a_tight_cluster_of_outside_candidates_with_different_element_sets() -> None:
    amounts = vectors("La2CuO4", "La1.95Sr0.05CuO4", "La1.9Ba0.1CuO4", "MgB2")
    fractions = as_fractions(amounts)
    diameter = max(np.linalg.norm(fractions[i] - fractions[j]) for i in range(3) for j in range(3))
    assert group_candidates(amounts, fractions, outside(4), link_distance=diameter * 0.99) == []
    (group,) = group_candidates(amounts, fractions, outside(4), link_distance=diameter * 1.01)
    assert sorted(group.rows) == [0, 1, 2]


def test_outside_candidates_do_not_chain_into_one_family() -> None:
    steps = [f"La{2 - 0.1 * k:.1f}Sr{0.1 * k:.1f}CuO4" for k in range(1, 6)]  # same set: grouped first
    chain = ["La2CuO4", "La1.9Ba0.1CuO4", "La1.8Ba0.1Ca0.1CuO4", "La1.7Ba0.1Ca0.1Na0.1CuO4"]
    amounts = vectors(*steps[:1], *chain)
    fractions = as_fractions(amounts)
    neighbour_gap = max(np.linalg.norm(fractions[i] - fractions[i + 1]) for i in range(1, 4))
    groups = group_candidates(amounts, fractions, outside(5), link_distance=neighbour_gap * 1.01)
    assert all(len(g.rows) < 4 for g in groups)  # single linkage would chain all four


def test_doping_curve_follows_the_varying_amount() -> None:
    members = pd.DataFrame(
        {"formula": ["La1.85Sr0.15CuO4", "La1.95Sr0.05CuO4", "La1.75Sr0.25CuO4"], "tc_kelvin": [38.0, 10.0, 20.0]}
    )
    curve = doping_curve(members, CHEMIST_ORDER)
    assert list(curve.columns) == ["x", "tc_kelvin", "formula"]
    assert curve["x"].tolist() == pytest.approx([0.05, 0.15, 0.25])
    assert curve["tc_kelvin"].tolist() == [10.0, 38.0, 20.0]
    assert curve["formula"].tolist() == ["La1.95Sr0.05CuO4", "La1.85Sr0.15CuO4", "La1.75Sr0.25CuO4"]
    assert curve.attrs["general_formula"] == "La2-xSrxCuO4"


def test_doping_curve_of_a_family_that_includes_the_undoped_parent() -> None:
    members = pd.DataFrame({"formula": ["La1.8Sr0.2CuO4", "La2CuO4", "La1.9Sr0.1CuO4"], "tc_kelvin": [30.0, 0.0, 25.0]})
    curve = doping_curve(members, CHEMIST_ORDER)
    assert curve["x"].tolist() == pytest.approx([0.0, 0.1, 0.2])
    assert curve["tc_kelvin"].tolist() == [0.0, 25.0, 30.0]


def test_doping_curve_with_two_variables_needs_a_choice() -> None:
    members = pd.DataFrame(
        {"formula": ["Y0.8Ca0.1Pr0.1Ba2Cu3O7", "Y0.7Ca0.2Pr0.1Ba2Cu3O7", "Y0.6Ca0.1Pr0.3Ba2Cu3O7"], "tc_kelvin": [80, 70, 40]}
    )
    with pytest.raises(InputError, match="choose one"):
        doping_curve(members, CHEMIST_ORDER)
    curve = doping_curve(members, CHEMIST_ORDER, variable="y")
    assert curve["x"].tolist() == pytest.approx([0.1, 0.1, 0.3])
    assert curve.attrs["variable"] == "y"


def test_doping_curve_rejects_bad_members() -> None:
    with pytest.raises(InputError, match="tc_kelvin"):
        doping_curve(pd.DataFrame({"formula": ["La2CuO4", "La1.9Sr0.1CuO4"]}))
    with pytest.raises(InputError, match="not one family"):
        doping_curve(pd.DataFrame({"formula": ["MgB2", "Nb3Sn"], "tc_kelvin": [39, 18]}))
    with pytest.raises(InputError, match="row 2"):
        vectors_from_formulas(["MgB2", "Qq3"])


# ---------------------------------------------------------------------------------------
# The paper's Table 2 families (issue 9, item 4)
# ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cuprate_map():
    from superdiff_core.maps import load_class_map

    return load_class_map(DEFAULT_MODELS_DIR, "cuprates")


@pytest.mark.parametrize("expected", list(PAPER_FAMILIES))
def test_paper_table_2_families_are_written_as_the_paper_writes_them(expected: str, cuprate_map) -> None:
    members = PAPER_FAMILIES[expected]
    assert derive(*members).text == expected
    assert derive_general_formula(vectors(*members), cuprate_map.element_order).text == expected  # SuperCon's order
    assert derive_general_formula(vectors(*members[::-1]), ElementOrder()).text == expected  # no learned order


def test_paper_families_ranges_are_the_observed_dopant_amounts() -> None:
    cs = derive(*PAPER_FAMILIES["Ba2-xCsxCuO3.3"])
    assert [(v.name, v.element) for v in cs.variables] == [("x", "Cs")]  # O3.28-3.30 is one constant, not y
    assert (cs.variables[0].low, cs.variables[0].high) == pytest.approx((0.09, 0.23))
    nickel = derive(*PAPER_FAMILIES["BaFe2-x-yCoxNiyAs2"])
    assert nickel.ranges_text() == "x = 0.08–0.13; y = 0.08–0.15"
    assert (nickel.values >= 0).all()


def test_a_site_sum_off_by_rounding_still_shares_the_site() -> None:
    # 0.67 + 0.34 = 1.01: the sampler's 2-decimal amounts, not a second variable
    assert derive("Li0.67Be0.34Cu2O2", "Li0.8Be0.2Cu2O2", "Li0.9Be0.1Cu2O2").text == "Li1-xBexCu2O2"


def test_a_slight_spread_is_rounded_to_what_it_supports() -> None:
    assert derive("La1.9Sr0.1CuO4.01", "La1.8Sr0.2CuO4.03", "La1.85Sr0.15CuO4.02").text == "La2-xSrxCuO4"
    # a real spread keeps its variable (test_anion_above_a_whole_number_and_a_dopant_together)
    assert derive("La1.9Sr0.1CuO3.9", "La1.8Sr0.2CuO4.1", "La1.85Sr0.15CuO4").text == "La2-xSrxCuO3.9+y"


def test_free_amounts_are_never_negative() -> None:
    formula = derive("La1.9Sr0.1CuO3.9", "La1.8Sr0.2CuO4.1", "La1.85Sr0.15CuO4")
    assert all(v.low >= 0 for v in formula.variables)
    assert (formula.values >= 0).all()


def test_more_free_amounts_than_the_members_support_is_not_a_family() -> None:
    noise = ("Ba0.14Mn0.31Fe0.3Cu0.38Se0.49O0.52", "Ba0.3Mn0.2Fe0.5Cu0.2Se0.3O0.9", "Ba0.2Mn0.5Fe0.1Cu0.6Se0.2O0.4")
    assert derive(*noise) is None  # 3 members, 6 unrelated varying amounts


def test_the_reference_leads_the_writing_order() -> None:
    members = vectors("YBa1.4Sr0.6Cu3O6Se0.51", "YBa1.3Sr0.7Cu3O6Se0.51", "YBa1.5Sr0.5Cu3O6Se0.51")
    assert derive_general_formula(members, ElementOrder()).text.startswith("Ba")  # electronegativity: Ba before Y
    assert derive_general_formula(members, ElementOrder().led_by("YBa1.4Sr0.6Cu3O6Se0.51")).text == "YBa2-xSrxCu3O6Se0.51"


def test_variable_letters_cannot_join_the_symbol_before_them() -> None:
    from superdiff_core.composition import ELEMENT_SYMBOLS

    for letter in VARIABLE_NAMES:
        assert not any(symbol + letter in ELEMENT_SYMBOLS for symbol in ELEMENT_SYMBOLS if len(symbol) == 1), letter
    assert "u" not in VARIABLE_NAMES  # C + u = Cu


# ---------------------------------------------------------------------------------------
# Families worth headlining (issue 9, item 5)
# ---------------------------------------------------------------------------------------

REFERENCE = "YBa2Cu3O7"


def test_family_kind_relative_to_the_reference() -> None:
    extension = vectors("YBa2Cu3O6.9Se0.1", "YBa2Cu3O6.8Se0.2", "YBa2Cu3O6.7Se0.3")
    assert family_kind(extension, REFERENCE) == ("extension", ("Se",))
    assert family_kind(vectors("YBa2Cu3O6.9", "YBa2Cu3O6.8"), REFERENCE) == ("reference", ())
    assert family_kind(vectors("YBa2Cu3O6.9Se0.1As0.1", "YBa2Cu3O6.8Se0.2As0.1"), REFERENCE) == ("reference", ("As", "Se"))
    lost = vectors("Ba0.14Mn0.31Fe0.3Cu0.38Se0.49O0.52", "Ba0.2Mn0.3Fe0.3Cu0.4Se0.5O0.5")
    assert family_kind(lost, "BaFe2As2")[0] == "other"
    assert family_kind(extension, "")[0] == "unconditional"


def test_headline_needs_enough_valid_members_a_formula_and_the_reference_kept() -> None:
    assert is_headline(True, "extension", MIN_HEADLINE_MEMBERS, True)
    assert not is_headline(True, "extension", MIN_HEADLINE_MEMBERS - 1, True)  # too few valid members
    assert not is_headline(False, "extension", 10, True)  # inside a known cluster
    assert not is_headline(True, "extension", 10, False)  # no general formula ("(mixed)")
    assert not is_headline(True, "other", 10, True)  # lost a reference element: the model's prior


def test_a_headline_family_needs_members_predicted_to_superconduct(cuprate_map) -> None:
    """Where the run has the classifier, a family whose members it calls non-superconductors is listed,
    not headlined (V3-xCrxSi from V3Si: every member at 0 K)."""
    reference = "Ag2Pd3Ge"
    table, amounts = candidate_table([(f"Ag{2 - x:.2f}Au{x:.2f}Pd3Ge", reference, True) for x in (0.1, 0.2, 0.3, 0.4)])
    headline = {}
    for called in (True, False):
        _, families = annotate_candidates(table.assign(is_superconductor=called), amounts, cuprate_map, preview=True)
        headline[called] = families.set_index("general_formula").loc["Ag2-xAuxPd3Ge", "headline"]
    assert headline == {True: True, False: False}
    two = table.assign(is_superconductor=[True, True, False, False])  # two of four: under MIN_HEADLINE_MEMBERS
    _, families = annotate_candidates(two, amounts, cuprate_map, preview=True)
    assert not families.set_index("general_formula").loc["Ag2-xAuxPd3Ge", "headline"]
    assert families.set_index("general_formula").loc["Ag2-xAuxPd3Ge", "n_valid"] == 4  # still SMACT-valid


def candidate_table(rows: list[tuple[str, str, bool]]) -> tuple[pd.DataFrame, np.ndarray]:
    table = pd.DataFrame(rows, columns=["formula", "reference", "smact_valid"])
    table["tc_kelvin"] = 10.0
    return table, vectors(*table["formula"])


def test_annotate_ranks_extensions_first_and_never_headlines_a_mismatched_model(cuprate_map) -> None:
    reference = "Ag2Pd3Ge"  # far from every cuprate: all its families are new
    extension = [(f"Ag2Pd{3 - x:.2f}Pt{x:.2f}GeSe0.2", reference, True) for x in (0.1, 0.2, 0.3)]
    kept = [(f"Ag{2 - x:.2f}Au{x:.2f}Pd3Ge", reference, True) for x in (0.1, 0.2, 0.3, 0.4)]  # reference + Au
    same = [(f"Ag2Pd3Ge{x:.2f}", reference, True) for x in (0.5, 0.6, 0.7, 0.8, 0.9)]
    mismatched = [(f"Ba0.1Mn{m:.2f}Fe0.3Ge0.1Se0.5", reference, True) for m in (0.3, 0.4, 0.5, 0.6, 0.7, 0.8)]
    few_valid = [(f"Ag2Pd3Ge{1 + x:.2f}S0.3", reference, ok) for x, ok in ((0.1, True), (0.2, False), (0.3, False))]
    table, amounts = candidate_table(same + mismatched + kept + few_valid + extension)
    annotated, families = annotate_candidates(table, amounts, cuprate_map, preview=True)
    assert list(families.columns) == list(FAMILY_COLUMNS)
    by_formula = families.set_index("general_formula")
    assert by_formula.loc["Ag2-xAuxPd3Ge", "family_kind"] == "extension"
    assert by_formula.loc["Ag2Pd3-xPtxGeSe0.2", "family_kind"] == "reference"  # two new elements
    assert by_formula.loc["Ag2Pd3Ge1-x", "family_kind"] == "reference"
    mismatched_row = families[families["family_kind"] == "other"]
    assert len(mismatched_row) == 1 and not mismatched_row["headline"].any()
    low_validity = families[families["elements"].str.contains("S") & ~families["elements"].str.contains("Se")]
    assert len(low_validity) == 1 and low_validity["n_valid"].iloc[0] == 1 and not low_validity["headline"].iloc[0]
    headlines = families[families["headline"]]
    assert headlines["general_formula"].tolist()[0] == "Ag2-xAuxPd3Ge"  # the extension first, although smaller
    assert headlines["family_kind"].tolist() == ["extension", "reference", "reference"]
    assert headlines["n_members"].tolist()[1:] == [5, 3]  # then by members
    assert families["headline"].tolist() == sorted(families["headline"].tolist(), reverse=True)  # headlines first
    assert families["family_id"].iloc[0] == "N1"
    first = annotated[annotated["family_id"] == "N1"]
    assert sorted(vector_to_formula(v) for v in vectors(*first["formula"])) == sorted(
        vector_to_formula(v) for v in vectors(*(f for f, _, _ in kept))
    )


def test_generated_family_spread_in_every_amount_is_still_a_headline_family(cuprate_map) -> None:
    """ILVR members of the paper's Y-Ba-Sr-Cu-O-Se-As family spread a little in every amount and
    a few lie far off; they must still form one family, ranked first and headlined: the
    element system is new to SuperCon although it lies next to YBCO on the map."""
    rng = np.random.default_rng(0)
    base = parse_formula("YBa1.4Sr0.55Cu3O6Se0.26As0.17")
    members = np.repeat(base[None], 40, axis=0)
    present = base > 0
    members[:, present] += rng.normal(0.0, 0.03, (40, present.sum()))
    members[:4, SYMBOL_TO_INDEX["Y"]] = [0.3, 0.5, 0.7, 0.9]  # outliers, as the sampler gives
    members = np.round(np.clip(members, 0.08, None) * present, 2)
    assert derive_general_formula(members, cuprate_map.element_order) is None  # too many variables for a formula
    table = pd.DataFrame({"formula": [vector_to_formula(v) for v in members], "reference": "YBa1.4Sr0.6Cu3O6Se0.51",
                          "smact_valid": True, "tc_kelvin": 60.0})
    _, families = annotate_candidates(table, members, cuprate_map, preview=True)
    top = families.iloc[0]
    assert top["n_members"] >= 30 and top["family_kind"] == "extension" and top["new_elements"] == "As"
    assert bool(top["headline"]) and "As" in top["general_formula"] and "Se" in top["general_formula"]
    same = np.repeat(base[None], 5, axis=0)  # one compound five times is no family
    one = pd.DataFrame({"formula": [vector_to_formula(v) for v in same], "smact_valid": True})
    assert annotate_candidates(one, same, cuprate_map, preview=True)[1].empty


# ---------------------------------------------------------------------------------------
# Families written from the reference (issue 17, item 5)
# ---------------------------------------------------------------------------------------

PAPER_REFERENCE = "YBa1.4Sr0.6Cu3O6Se0.51"


def elements_per_variable(formula) -> dict[str, set[str]]:
    """The elements whose written amount contains each variable (``Se0.51-xAsx``: x -> {Se, As})."""
    import re

    from superdiff_core.composition import ELEMENT_SYMBOLS

    symbols = "|".join(sorted(ELEMENT_SYMBOLS, key=len, reverse=True))  # Sy is S + y, not a symbol
    names = {v.name for v in formula.variables}
    found: dict[str, set[str]] = {name: set() for name in names}
    for symbol, amount in re.findall(rf"({symbols})([^A-Z]*)", formula.text):
        for name in re.findall(r"[a-z]\d*", amount):
            if name in names:
                found[name].add(symbol)
    return found


def assert_no_variable_spans_a_cation_and_an_anion(formula) -> None:
    from superdiff_core.formula_notation import ANION_SYMBOLS

    for name, symbols in elements_per_variable(formula).items():
        assert len({symbol in ANION_SYMBOLS for symbol in symbols}) == 1, f"{formula.text}: {name} spans {symbols}"


def test_family_formulas_never_put_a_cation_and_an_anion_on_one_variable() -> None:
    from superdiff_core.formula_notation import derive_reference_formula

    # Y falls as Se rises at a constant Y + Se (the Y1.5-xSexBa1.7Cu3Br0.2O6+y): no Y-Se site
    crossed = vectors(*(f"Y{1.5 - x:.2f}Se{x:.2f}Ba1.7Cu3Br0.2O6" for x in (0.1, 0.2, 0.3, 0.4)))
    for formula in (derive_general_formula(crossed, CHEMIST_ORDER), derive_general_formula(crossed, CHEMIST_ORDER, 0.1)):
        assert formula is not None
        assert_no_variable_spans_a_cation_and_an_anion(formula)
    written = derive_reference_formula(crossed, "Y1.5Ba1.7Cu3Br0.2O6")
    assert written.text == "Y1.5-xBa1.7Cu3Br0.2SeyO6"  # Y and Se each on their own variable
    assert_no_variable_spans_a_cation_and_an_anion(written)
    # the same with O falling as Cu rises (the old Ba3-x-ySrxYyO9-zCuz)
    swapped = vectors(*(f"YBa1.4Sr0.6Cu{3 + x:.2f}O{6 - x:.2f}Se0.5" for x in (0.0, 0.1, 0.2, 0.3)))
    assert_no_variable_spans_a_cation_and_an_anion(derive_general_formula(swapped, CHEMIST_ORDER))
    # random families around the paper's reference: every formula either way keeps to the rule
    rng = np.random.default_rng(1)
    reference = parse_formula(PAPER_REFERENCE)
    present = np.flatnonzero(reference > 0)
    for _ in range(60):
        extra = rng.choice([SYMBOL_TO_INDEX[s] for s in ("As", "Br", "Ca", "La", "Tl", "F", "S")], size=rng.integers(0, 3), replace=False)
        members = np.repeat(reference[None], 6, axis=0)
        members[:, present] += rng.normal(0, 0.05, (6, len(present)))
        donor, receiver = rng.choice(present, 2, replace=False)
        moved = rng.uniform(0.05, 0.3, 6)
        members[:, donor] -= moved
        members[:, receiver] += moved  # a trade that may well cross the cation/anion line
        members[:, extra] = rng.uniform(0.08, 0.3, (6, len(extra)))
        members = np.round(np.clip(members, 0.0, None), 2)
        for formula in (derive_reference_formula(members, PAPER_REFERENCE), derive_general_formula(members, CHEMIST_ORDER, 0.05)):
            if formula is not None:
                assert_no_variable_spans_a_cation_and_an_anion(formula)


def test_a_family_is_written_from_its_reference_with_at_most_two_variables() -> None:
    from superdiff_core.formula_notation import MAX_HEADLINE_VARIABLES, derive_reference_formula

    rng = np.random.default_rng(0)
    arsenic = np.array([parse_formula(max_elements=96, text=f"YBa1.4Sr0.6Cu3O6Se{0.51 - x:.2f}As{x:.2f}")
                        for x in (0.1, 0.15, 0.2, 0.25, 0.3)])
    noisy = arsenic.copy()
    noisy[:, arsenic[0] > 0] += rng.normal(0, 0.03, (5, int((arsenic[0] > 0).sum())))  # the sampler's spread
    noisy = np.round(noisy, 2)
    noisy[:, [SYMBOL_TO_INDEX["Se"], SYMBOL_TO_INDEX["As"]]] = arsenic[:, [SYMBOL_TO_INDEX["Se"], SYMBOL_TO_INDEX["As"]]]
    formula = derive_reference_formula(noisy, PAPER_REFERENCE)
    assert formula.text == "YBa1.4Sr0.6Cu3O6Se0.51-xAsx" and formula.ranges_text() == "x = 0.1–0.3"
    assert formula.reference == PAPER_REFERENCE and formula.values[:, 0] == pytest.approx([0.1, 0.15, 0.2, 0.25, 0.3])
    pnictide = derive_reference_formula(vectors(*PAPER_FAMILIES["BaFe2-x-yCoxNiyAs2"]), "BaFe2As2")
    assert pnictide.text == "BaFe2-x-yCoxNiyAs2"
    traded = derive_reference_formula(vectors("YBa1.3Sr0.7Cu3O6Se0.51", "YBa1.2Sr0.8Cu3O6Se0.51", "YBa1.1Sr0.9Cu3O6Se0.51"),
                                      PAPER_REFERENCE)
    assert traded.text == "YBa1.4-xSr0.6+xCu3O6Se0.51" and [v.element for v in traded.variables] == ["Sr"]
    # three independent changes (As for Se, La for Y, more O) need three variables: not written so
    three = np.array([parse_formula(max_elements=96, text=f"Y{1 - x:.2f}La{x:.2f}Ba1.4Sr0.6Cu3O{6 + 4 * x:.2f}Se{0.51 - x:.2f}As{x:.2f}")
                      for x in (0.1, 0.2, 0.3)])
    three[:, SYMBOL_TO_INDEX["As"]] = [0.3, 0.1, 0.2]
    three[:, SYMBOL_TO_INDEX["Se"]] = 0.51 - three[:, SYMBOL_TO_INDEX["As"]]
    assert derive_reference_formula(three, PAPER_REFERENCE) is None
    assert len(derive_reference_formula(three, PAPER_REFERENCE, max_variables=3).variables) == 3 > MAX_HEADLINE_VARIABLES
    assert derive_reference_formula(vectors(PAPER_REFERENCE, "YBa1.42Sr0.6Cu3O6Se0.5"), PAPER_REFERENCE) is None  # the reference itself


def test_a_member_is_rescaled_for_its_formula_unit_not_for_its_doping() -> None:
    """A member written per two formula units is brought to the reference's; one whose reference elements
    fell about 10 % each because Tl and F took their places is not (it has the reference's 8 cations):
    rescaling it broke the Hg and O sites, and the family went unwritten."""
    from superdiff_core.formula_notation import derive_reference_formula

    doped = vectors("Hg0.9Tl0.1Ba2Ca2Cu3O8.17F0.1", "Hg0.7Tl0.3Ba2Ca2Cu3O7.97F0.3", "Hg0.6Tl0.4Ba1.95Ca1.81Cu2.9O7.47F0.8")
    formula = derive_reference_formula(doped, "HgBa2Ca2Cu3O8.27")
    assert formula.text == "Hg1-xTlxBa2Ca2Cu3O8.27-yFy" and formula.ranges_text() == "x = 0.1–0.4; y = 0.1–0.8"
    doubled = derive_reference_formula(vectors("La3.8Sr0.2Cu2O8", "La1.8Sr0.2CuO4", "La1.85Sr0.15CuO4"), "La2CuO4")
    assert doubled.text == "La2-xSrxCuO4" and doubled.values[:, 0] == pytest.approx([0.1, 0.2, 0.15])


def test_headline_families_are_new_written_from_the_reference_and_plottable(cuprate_map) -> None:
    from superdiff_core.families import MAX_HEADLINE_VARIABLES, family_general_formula, first_plottable_family, formula_of_family

    arsenic = [f"YBa1.4Sr0.6Cu3O6Se{0.51 - x:.2f}As{x:.2f}" for x in (0.1, 0.15, 0.2, 0.25, 0.3)]
    cloud = [f"Y{1 - x:.2f}La{x:.2f}Ba1.4Sr0.6Cu3O{6 + 4 * x:.2f}Se{0.51 - y:.2f}Br{y:.2f}"
             for x, y in ((0.1, 0.3), (0.2, 0.1), (0.3, 0.2), (0.15, 0.25))]  # needs three variables
    table, amounts = candidate_table([(f, PAPER_REFERENCE, True) for f in arsenic + cloud])
    annotated, families = annotate_candidates(table, amounts, cuprate_map, preview=True)
    by_formula = families.set_index("general_formula")
    assert bool(by_formula.loc["YBa1.4Sr0.6Cu3O6Se0.51-xAsx", "headline"])
    listed = families[families["new_elements"] == "Br-La"]
    assert len(listed) == 1 and not listed["headline"].iloc[0]  # listed, not headlined
    for row in families.itertuples():
        members = annotated[annotated["family_id"] == row.family_id]
        assert set(members["family_formula"]) == {row.general_formula}
        assert set(members["is_new_family"]) == {row.is_new_family}  # one vocabulary for "new"
        assert row.family_id.startswith("N") == bool(row.is_new_family)
        if row.headline:
            assert row.is_new_family and row.family_id.startswith("N")
            formula = family_general_formula(vectors(*members["formula"]), PAPER_REFERENCE)
            assert formula.text == row.general_formula and formula.reference == PAPER_REFERENCE
            assert 1 <= len(formula.variables) <= MAX_HEADLINE_VARIABLES
            assert_no_variable_spans_a_cation_and_an_anion(formula)
            curve = doping_curve(members, cuprate_map.element_order, formula.variables[0].name)  # the plot opens on it
            assert curve.attrs["general_formula"] == row.general_formula and len(curve) == len(members)
            assert formula_of_family(annotated, amounts, row.family_id, cuprate_map.element_order).text == row.general_formula
    assert families.iloc[first_plottable_family(families)]["headline"]
    assert families["headline"].tolist() == sorted(families["headline"].tolist(), reverse=True)


def test_candidates_are_written_in_the_reference_order() -> None:
    from superdiff_core.formula_notation import formula_in_reference_order, formulas_in_reference_order

    reference = "HgBa2Ca2Cu3O8.27"
    candidate = parse_formula("Ba2Ca1.96Tl0.2Cu2.97Hg0.8O8.3")
    written = formula_in_reference_order(candidate, reference)
    assert written == "Hg0.8Tl0.2Ba2Ca1.96Cu2.97O8.3"  # Tl beside Hg, its chemical neighbour
    assert parse_formula(written) == pytest.approx(candidate)
    assert formula_in_reference_order(parse_formula("YBa1.4Sr0.6Cu3O6Se0.3As0.21"), PAPER_REFERENCE) == "YBa1.4Sr0.6Cu3O6Se0.3As0.21"
    assert formulas_in_reference_order(candidate[None], [""]) == [vector_to_formula(candidate)]  # no reference: as before
