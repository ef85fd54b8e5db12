import numpy as np
import pytest

from superdiff_core.composition import (
    N_ELEMENTS,
    FormulaError,
    element_set,
    element_system,
    parse_formula,
    parse_formulas,
    split_formulas,
    vector_to_formula,
)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("HgBa2Ca2Cu3O8.27", {"Hg": 1, "Ba": 2, "Ca": 2, "Cu": 3, "O": 8.27}),
        ("Ba(Fe0.9Co0.1)2As2", {"Ba": 1, "Fe": 1.8, "Co": 0.2, "As": 2}),
        ("YBa₂Cu₃O₇", {"Y": 1, "Ba": 2, "Cu": 3, "O": 7}),
        (" Y Ba2 Cu3 O7 ", {"Y": 1, "Ba": 2, "Cu": 3, "O": 7}),
        ("Cm2O3", {"Cm": 2, "O": 3}),
    ],
)
def test_parse_accepts_what_chemists_paste(text, expected):
    vector = parse_formula(text)
    assert vector.shape == (N_ELEMENTS,)
    from superdiff_core.composition import SYMBOL_TO_INDEX

    assert {s: vector[SYMBOL_TO_INDEX[s]] for s in expected} == pytest.approx(expected)
    assert np.count_nonzero(vector) == len(expected)


@pytest.mark.parametrize("text", ["HgBa2Ca2Cu3O8.27", "La1.85Sr0.15CuO4", "Ba(Fe0.9Co0.1)2As2", "Nb3Sn", "MgB2"])
def test_round_trip_through_formula_string(text):
    vector = parse_formula(text)
    assert np.allclose(parse_formula(vector_to_formula(vector)), vector)


def test_formula_is_written_cations_first_without_ones():
    assert vector_to_formula(parse_formula("YBa2Cu3O7")) == "Ba2YCu3O7"


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("", "empty"),
        ("Xx2", "Xx"),
        ("Bk1Cu2", "beyond Cm"),
        ("Fe-1", "negative"),
        ("Fe0", "no element"),
        ("YBa2Cu3O7-x", "plain numbers"),
        ("YBa2Cu3Ox", "plain numbers"),
        ("Fe2000O3", "above 1000"),
        ("LiNaKRbCsBeMgCa", "8 elements"),
        ("Na0.8M0.6Fe1.86Se1S1", "'M'"),
        ("hello", "hello"),
    ],
)
def test_bad_formulas_get_a_one_line_reason_naming_the_text(text, fragment):
    with pytest.raises(FormulaError) as caught:
        parse_formula(text)
    message = str(caught.value)
    assert fragment in message
    assert "\n" not in message
    if text:
        assert text in message


def test_several_formulas_split_and_bad_ones_reported_without_losing_good_ones():
    assert split_formulas("A\nB, C;D\n\n") == ["A", "B", "C", "D"]
    parsed, errors = parse_formulas("YBa2Cu3O7\nYBa2Cu3O7-x; BaFe2As2, Qq")
    assert [p.text for p in parsed] == ["YBa2Cu3O7", "BaFe2As2"]
    assert len(errors) == 2 and "YBa2Cu3O7-x" in errors[0] and "Qq" in errors[1]


def test_empty_input_is_one_error():
    parsed, errors = parse_formulas(" \n ,; ")
    assert parsed == [] and len(errors) == 1 and "empty" in errors[0]


def test_element_system_is_alphabetical_whatever_the_writing_order():
    from pymatgen.core import Composition

    assert element_system("YBa2Cu3O7") == element_system("Cu3O7Ba2Y") == "Ba-Cu-O-Y"
    assert element_system("YBa2Cu3O7") == Composition("YBa2Cu3O7").chemical_system
    assert element_system(element_set(parse_formula("Ba(Fe0.9Co0.1)2As2"))) == "As-Ba-Co-Fe"
    assert element_system("B2Ba1") == "B-Ba"
