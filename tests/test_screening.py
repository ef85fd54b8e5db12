import numpy as np
import pytest

from superdiff_core.composition import SYMBOL_TO_INDEX, parse_formula
from superdiff_core.data import vector_keys
from superdiff_core.screening import ScreeningOptions, round_and_threshold, screen_samples
from superdiff_core.smact_check import integer_ratio, smact_check, smact_status


def vec(**amounts):
    v = np.zeros(96)
    for symbol, amount in amounts.items():
        v[SYMBOL_TO_INDEX[symbol]] = amount
    return v


def test_round_and_threshold():
    raw = vec(La=1.8549, Sr=0.0749, Cu=1.004, O=-0.05) + vec(Fe=0.081)
    out = round_and_threshold(raw[None])[0]
    assert out[SYMBOL_TO_INDEX["La"]] == 1.85 and out[SYMBOL_TO_INDEX["Cu"]] == 1.0
    assert out[SYMBOL_TO_INDEX["Sr"]] == 0 and out[SYMBOL_TO_INDEX["O"]] == 0
    assert out[SYMBOL_TO_INDEX["Fe"]] == 0.08
    assert not np.signbit(out).any()


def test_each_stage_removes_what_it_should():
    known = vec(Ba=1, Fe=2, As=2)
    samples = np.array([
        vec(Ba=1, Fe=2, As=2),            # known: not novel
        vec(Ba=0.9, K=0.1, Fe=2, As=2),   # novel
        vec(Ba=0.9, K=0.1, Fe=2, As=2),   # duplicate of the row above
        vec(Ba=1, Fe=2, As=-0.5),         # negative
        vec(Fe=1.0),                      # one element
        vec(Li=1, Na=1, K=1, Rb=1, Cs=1, Fe=1),  # 6 > 5 elements for pnictides
        vec(Ba=1, Fe=2, As=2, O=0.03),    # residual O -> equals the known compound
    ])
    result = screen_samples(samples, "pnictides", set(vector_keys(known[None])), ScreeningOptions(keep_invalid=True))
    counts = result.counts()
    assert counts == {"raw": 7, "non-negative": 6, "element count": 4, "unique": 2, "novel": 1, "SMACT-valid": counts["SMACT-valid"]}
    assert result.unique_percent == pytest.approx(50.0) and result.novel_percent == pytest.approx(50.0)
    assert list(result.table["formula"]) == ["K0.1Ba0.9Fe2As2"]
    assert list(result.table["sample_index"]) == [1]


def test_keep_known_flags_instead_of_removing():
    known = vec(Ba=1, Fe=2, As=2)
    result = screen_samples(known[None], "pnictides", set(vector_keys(known[None])), ScreeningOptions(keep_known=True))
    assert list(result.table["novel"]) == [False]
    assert result.counts()["novel"] == 0


def test_element_limit_depends_on_class():
    six = vec(Y=1, Ba=1.5, Sr=0.5, Cu=3, O=6.9, Ca=0.1)
    assert screen_samples(six[None], "cuprates", set(), ScreeningOptions(keep_invalid=True)).counts()["element count"] == 1
    assert screen_samples(six[None], "others", set(), ScreeningOptions(keep_invalid=True)).counts()["element count"] == 0


def test_integer_ratio():
    assert integer_ratio([1.85, 0.15, 1, 4]) == (37, 3, 20, 80)
    assert integer_ratio([2, 4]) == (1, 2)
    assert integer_ratio([8.27, 1]) == (827, 100)


@pytest.mark.parametrize(
    "formula, default, mixed",
    [
        ("NaCl", "valid", "valid"),
        ("YBa2Cu3O7", "valid", "valid"),
        ("Nb3Sn", "valid", "valid"),            # all metals: an alloy
        ("La1.85Sr0.15CuO4", "invalid", "valid"),  # needs Cu2+/Cu3+ mixing
        ("NaCl2", "invalid", "invalid"),
        ("Li2F", "invalid", "invalid"),
    ],
)
def test_smact_validity_on_known_chemistry(formula, default, mixed):
    v = parse_formula(formula)[None]
    assert smact_check(v) == [default]
    assert smact_check(v, mixed_valence=True) == [mixed]


def test_fractional_amounts_are_not_truncated():
    # SMACT's own smact_validity would check La1Cu1O4 here (int() truncation).
    assert smact_check(parse_formula("La1.5Sr0.5CuO4")[None]) == ["valid"]   # La3+ Sr2+ Cu3+ balances
    assert smact_check(parse_formula("La1.6Sr0.4CuO4")[None]) == ["invalid"]


def test_slow_formulas_time_out_instead_of_hanging():
    amounts = {"Mn": 1.13, "Fe": 0.77, "Co": 0.31, "Cr": 0.53, "V": 0.91, "O": 4.37, "Re": 0.29}
    assert smact_status(amounts, timeout_s=0.0) == "timeout"
