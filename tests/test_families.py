"""General formulas, element order, grouping and doping curves (no map needed)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from superdiff_core.composition import SYMBOL_TO_INDEX, parse_formula, vector_to_formula
from superdiff_core.errors import InputError
from superdiff_core.families import (
    derive_general_formula,
    doping_curve,
    family_formula,
    group_candidates,
    vectors_from_formulas,
)
from superdiff_core.maps import ElementOrder

# How SuperCon writes these elements (host before dopant, cations before anions).
CHEMIST_ORDER = ElementOrder.learn(
    ["La1.85Sr0.15Cu1O4", "Y1Ba2Cu3O7", "Y0.9Ca0.1Ba2Cu3O7", "Y0.9Pr0.1Ba2Cu3O7", "Ba1Fe1.8Co0.2As2", "Ca0.9Pr0.1Fe2As2"]
)


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
