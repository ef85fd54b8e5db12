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
        ("HgBa2Ca2Cu3O8.27", "invalid", "valid"),  # needs Cu2+/Cu3+ mixing (smact14 table)
        ("La1.85Sr0.15CuO4", "valid", "valid"),  # smact14 has La2+ and Cu4+: 37 La2+ + 3 Sr2+ + 20 Cu4+ = 80 O2-
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
    assert smact_check(parse_formula("Li1.5O")[None]) == ["invalid"]  # truncated to LiO it would pass (O-)


def test_slow_formulas_time_out_instead_of_hanging():
    amounts = {"Mn": 1.13, "Fe": 0.77, "Co": 0.31, "Cr": 0.53, "V": 0.91, "O": 4.37, "Re": 0.29}
    assert smact_status(amounts, timeout_s=0.0) == "timeout"


# --- novelty and uniqueness on compositions (issue 17) -------------------------------------


@pytest.fixture(scope="module")
def others_training():
    from superdiff_core.artifacts import DEFAULT_MODELS_DIR
    from superdiff_core.data import load_training_set

    return load_training_set(DEFAULT_MODELS_DIR).subset("others")


def test_rescaled_supercon_formula_is_not_novel(others_training):
    from superdiff_core.novelty import NOVELTY_TOLERANCE, KnownCompositions

    known = KnownCompositions(others_training.vectors)
    copies = np.array([parse_formula(f) for f in ("MgB2", "Mg0.97B1.94", "Mg1.01B2.02", "Mg0.99B2")])
    new = parse_formula("Mg0.8Sc0.2B2")  # no Mg-Sc-B compound in SuperCon
    samples = np.vstack([copies, new[None]])
    assert known.contains(samples).tolist() == [True, True, True, True, False]
    assert np.all(known.distance(copies) <= NOVELTY_TOLERANCE)
    for index in (known, set(vector_keys(others_training.vectors))):  # the engine's old key set gives the same answer
        result = screen_samples(samples, "others", index, ScreeningOptions(keep_known=True, keep_invalid=True))
        assert dict(zip(result.table["formula"], result.table["novel"])) == {"MgB2": False, "Mg0.8Sc0.2B2": True}
        assert result.novel_percent == pytest.approx(20.0)


def test_rescaled_copies_within_a_run_are_one_candidate():
    samples = np.array([vec(Mg=1, B=2), vec(Mg=2, B=4), vec(Mg=0.99, B=2), vec(Mg=0.9, Al=0.1, B=2), vec(Mg=1.8, Al=0.2, B=4)])
    result = screen_samples(samples, "others", set(), ScreeningOptions(keep_invalid=True))
    assert list(result.table["sample_index"]) == [0, 3]
    assert result.counts()["unique"] == 2 and result.unique_percent == pytest.approx(40.0)


def test_first_of_duplicates_agrees_with_pairwise_l1():
    from superdiff_core.novelty import NOVELTY_TOLERANCE, atomic_fractions, first_of_duplicates

    rng = np.random.default_rng(0)
    base = np.zeros((40, 96))
    base[:, [11, 4, 28, 7]] = rng.uniform(0.5, 2.0, (40, 4))  # Mg, B, Cu, O amounts
    noisy = np.vstack([base, base * 2, base + rng.normal(0, 0.004, base.shape) * (base > 0)])
    representative = first_of_duplicates(noisy)
    fractions = atomic_fractions(noisy)
    kept: list[int] = []
    for row in range(len(noisy)):  # the definition, row by row
        close = [k for k in kept if np.abs(fractions[k] - fractions[row]).sum() <= NOVELTY_TOLERANCE + 1e-12]
        assert representative[row] == (close[0] if close else row)
        if not close:
            kept.append(row)
    assert 40 <= len(kept) < len(noisy)


def test_same_composition_at_two_scale_factors_is_one_row():
    import pandas as pd

    from superdiff_core.novelty import SCALE_FACTORS_COLUMN, merge_duplicate_candidates

    rows = [  # (reference, N, composition)
        ("MgB2", 2, vec(Mg=0.9, Al=0.1, B=2)),
        ("MgB2", 2, vec(Mg=0.8, Al=0.2, B=2)),
        ("MgB2", 3, vec(Mg=1.8, Al=0.2, B=4)),   # the first one, written with twice the formula unit
        ("MgB2", 3, vec(Mg=0.9, Al=0.1, B=2.01)),  # and within 0.005 of it: the same again
        ("MgB2", 4, vec(Mg=0.8, Al=0.2, B=2)),
        ("Nb3Sn", 2, vec(Mg=0.9, Al=0.1, B=2)),  # another reference keeps its own row
    ]
    table = pd.DataFrame({"formula": ["f"] * len(rows), "reference": [r for r, _, _ in rows],
                          "scale_factor": pd.array([n for _, n, _ in rows], dtype="Int64")})
    vectors = np.array([v for _, _, v in rows])
    merged, merged_vectors = merge_duplicate_candidates(table, vectors)
    assert len(merged) == len(merged_vectors) == 3
    assert merged[SCALE_FACTORS_COLUMN].tolist() == ["2,3", "2,4", "2"]
    assert merged["scale_factor"].tolist() == [2, 2, 2] and merged["reference"].tolist() == ["MgB2", "MgB2", "Nb3Sn"]
    assert list(merged.columns).index(SCALE_FACTORS_COLUMN) == list(merged.columns).index("scale_factor") + 1
    np.testing.assert_array_equal(merged_vectors, vectors[[0, 1, 5]])
