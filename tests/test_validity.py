import itertools

import numpy as np
import pytest

from superdiff_core import validity
from superdiff_core.candidate_filter import CandidateFilter
from superdiff_core.composition import SYMBOL_TO_INDEX, parse_formula
from superdiff_core.errors import InputError
from superdiff_core.smact_check import _element_facts, charge_balance_status, integer_ratio, oxidation_states
from superdiff_core.validity import (
    DEFAULT_VALIDITY_CHECK,
    VALID_COLUMN,
    VALIDITY_CHECKS,
    get_validity_check,
    validity_columns,
    validity_statuses,
)

REAL = ["YBa2Cu3O7", "La1.85Sr0.15CuO4", "BaFe2As2"]


def vectors(*formulas: str) -> np.ndarray:
    return np.array([parse_formula(f) for f in formulas])


def test_registry_names_columns_and_help():
    assert DEFAULT_VALIDITY_CHECK in VALIDITY_CHECKS
    assert {"integer", "mixed_valence", "bounded"} <= set(VALIDITY_CHECKS)
    assert VALIDITY_CHECKS["integer"].column == "smact_valid_integer" and VALIDITY_CHECKS["integer"].table == "smact14"
    assert VALIDITY_CHECKS["mixed_valence"].column == "smact_valid_mixed_valence"
    assert VALID_COLUMN == "smact_valid"  # the chosen check's verdict keeps the name every filter reads
    assert len({c.column for c in VALIDITY_CHECKS.values()} | {VALID_COLUMN}) == len(VALIDITY_CHECKS) + 1
    assert all(c.help and "%" in c.help for c in VALIDITY_CHECKS.values())
    with pytest.raises(InputError, match="unknown validity check 'nope'"):
        get_validity_check("nope")


def test_default_check_passes_real_superconductors():
    assert list(validity_statuses(vectors(*REAL))[DEFAULT_VALIDITY_CHECK]) == ["valid"] * 3


@pytest.mark.parametrize("random_cation", ["KCs2Ag3O7", "Na1.85K0.15ZnO4", "CsAg2As2"])
def test_default_check_fails_random_cation_versions(random_cation):
    assert list(validity_statuses(vectors(random_cation))[DEFAULT_VALIDITY_CHECK]) == ["invalid"]


def test_default_check_rejects_most_seeded_random_cation_oxides():
    # cations of the real compounds replaced by random non-anion elements, amounts kept
    rng = np.random.default_rng(0)
    pool = ["Li", "Na", "K", "Rb", "Cs", "Mg", "Ca", "Sr", "Ba", "Sc", "Y", "La", "Ti", "Zr", "V", "Nb", "Cr", "Mo", "Mn", "Fe",
            "Co", "Ni", "Cu", "Zn", "Cd", "Al", "Ga", "In", "Tl", "Sn", "Pb", "Bi", "Ag", "Au", "Pt", "Pd", "Hg", "Ce", "Nd", "Gd"]
    rows = []
    for formula in REAL:
        real = parse_formula(formula)
        for _ in range(20):
            row = np.zeros_like(real)
            cations = [i for i in np.flatnonzero(real) if i not in (SYMBOL_TO_INDEX["O"], SYMBOL_TO_INDEX["As"])]
            anions = [i for i in np.flatnonzero(real) if i not in cations]
            row[anions] = real[anions]
            row[[SYMBOL_TO_INDEX[s] for s in rng.choice(pool, len(cations), replace=False)]] = real[cations]
            rows.append(row)
    kept = validity_statuses(np.array(rows))[DEFAULT_VALIDITY_CHECK] == "valid"
    assert kept.mean() < 0.5


def test_paper_check_uses_the_smact14_table():
    assert 4 not in oxidation_states("La", "smact14") and 4 in oxidation_states("La", "icsd24")
    assert charge_balance_status({"La": 1, "Cl": 4}, table="smact14") == "invalid"
    assert charge_balance_status({"La": 1, "Cl": 4}, table="icsd24") == "valid"
    statuses = validity_statuses(vectors("LaCl4", "YBa2Cu3O7", "HgBa2Ca2Cu3O8.27"), ["integer", "mixed_valence"])
    assert list(statuses["integer"]) == ["invalid", "valid", "invalid"]
    assert list(statuses["mixed_valence"]) == ["invalid", "valid", "valid"]


def test_bounded_deviation_and_intermetallic_rule():
    check = VALIDITY_CHECKS["bounded"]
    assert check.status({"Mg": 1, "B": 2}, 2.0) == "valid"  # boride: not judged by charge balance
    assert check.status({"Na": 1, "Cl": 1.2}, 2.0) == "invalid"  # no mixed-valence cation: no slack
    # Cu allowed +-0.5 per atom: Cu2+ O with 0.5 more O per Cu is the limit
    assert check.status({"La": 2, "Cu": 1, "O": 4.25}, 2.0) == "valid"
    assert check.status({"La": 2, "Cu": 1, "O": 4.3}, 2.0) == "invalid"


def _brute_force(amounts: dict[str, float], table: str) -> str:
    symbols = list(amounts)
    counts = integer_ratio(list(amounts.values()))
    enegs = [_element_facts(s)[0] for s in symbols]
    for states in itertools.product(*(oxidation_states(s, table) for s in symbols)):
        if sum(c * s for c, s in zip(counts, states)) != 0:
            continue
        cations = [e for s, e in zip(states, enegs) if s > 0]
        anions = [e for s, e in zip(states, enegs) if s < 0]
        if None in enegs or max(cations) < min(anions):
            return "valid"
    return "invalid"


def test_sum_set_algorithm_matches_brute_force_enumeration():
    rng = np.random.default_rng(1)
    symbols = ["Na", "Mg", "Al", "Fe", "Cu", "Ti", "S", "O", "N", "Cl", "As", "Se", "P", "La"]
    for _ in range(150):
        chosen = rng.choice(symbols, rng.integers(2, 5), replace=False)
        amounts = {str(s): float(rng.choice([0.5, 1, 2, 3, 1.5, 4])) for s in chosen}
        if all(_element_facts(s)[1] for s in amounts):
            continue
        assert charge_balance_status(amounts, table="smact14") == _brute_force(amounts, "smact14"), amounts


def test_columns_hold_only_the_requested_checks_and_the_chosen_verdict():
    table = validity_columns(vectors("YBa2Cu3O7", "HgBa2Ca2Cu3O8.27"), checks=["integer"], chosen=DEFAULT_VALIDITY_CHECK)
    assert list(table.columns) == [VALID_COLUMN, "smact_status", "smact_valid_integer"]
    assert list(table[VALID_COLUMN]) == [True, True] and list(table["smact_valid_integer"]) == [True, False]


def test_run_budget_bounds_the_call_and_timeouts_are_not_cached():
    fresh = vectors("Mn1.13Fe0.77Co0.31Cr0.53V0.91O4.37")
    assert list(validity_statuses(fresh, ["mixed_valence"], run_budget_s=0.0)["mixed_valence"]) == ["timeout"]
    table = validity_columns(fresh, checks=[], chosen="mixed_valence", run_budget_s=0.0)
    assert table[VALID_COLUMN].isna().all()
    assert validity_statuses(fresh, ["mixed_valence"])["mixed_valence"][0] in ("valid", "invalid")


def test_verdicts_are_cached_by_composition(monkeypatch):
    rows = vectors("SrTiO3", "SrTiO3", "BaTiO3")
    first = validity_statuses(rows, ["bounded"])["bounded"]

    def fail(*args, **kwargs):
        raise AssertionError("recomputed a cached composition")

    monkeypatch.setattr(validity.ValidityCheck, "status", fail)
    assert list(validity_statuses(rows, ["bounded"])["bounded"]) == list(first) == ["valid"] * 3


# ---------------------------------------------------------------------------------------
# One choice through every path: Screen, generate's screening, campaigns
# ---------------------------------------------------------------------------------------

ACROSS = [*REAL, "KCs2Au3O7", "HgBa2Ca2Cu3O8.27"]  # KCs2Au3O7: YBa2Cu3O7's cations replaced by K, Cs, Au
VERDICTS = {  # checked with validity_statuses
    "bounded": [True, True, True, False, True],
    "integer": [True, True, True, False, False],
    "mixed_valence": [True, True, True, True, True],
}


def _campaign_valid_formulas(folder, plan_values: dict, shard_table) -> set[str]:
    """The formulas a campaign's queries count valid, its one shard holding ``shard_table``."""
    import time

    import pandas as pd

    from superdiff_core import campaign
    from superdiff_core.campaign import queries as campaign_queries

    plan = campaign.plan_from_mapping({"model": "everything", "references": ["YBa2Cu3O7"], "scale_factors": [2], "samples": 1,
                                       "batch": 1, "steps": 5, "properties": False, **plan_values})
    shard = campaign.open_campaign(folder, plan).shards[0]
    table = pd.DataFrame({"model_class": "everything", "reference": "YBa2Cu3O7", "scale_factor": 2, "novel": True,
                          "shard_id": shard.shard_id, **shard_table})
    record = {"shard_id": shard.shard_id, "reference": "YBa2Cu3O7", "scale_factor": 2, "rows": len(table), "raw": len(table),
              "stages": {"raw": len(table)}, "finished_at": time.time(), "state": "done"}
    campaign.write_shard(folder, campaign.shard_arrow_table(table, record))
    queries = campaign_queries.open_queries(folder)
    try:
        everything = CandidateFilter(new_only=False, smact_valid_only=True)
        valid = set(campaign_queries.select_candidates(queries, everything, sort_by="formula", limit=None)["formula"])
        funnel = campaign_queries.campaign_funnel(queries)
        assert int(funnel.loc[0, "SMACT-valid"]) == len(valid & set(campaign_queries.select_candidates(
            queries, CandidateFilter(), sort_by="formula", limit=None)["formula"]))
        return valid
    finally:
        queries.close()


@pytest.mark.parametrize("check", [DEFAULT_VALIDITY_CHECK, "integer", "mixed_valence"])
def test_one_check_gives_one_verdict_in_screen_generate_and_campaigns(check, tmp_path):
    from superdiff_core.run import RunModels, screen_formulas
    from superdiff_core.screening import ScreeningOptions, screen_samples

    expected = VERDICTS[check]
    screened = screen_formulas(ACROSS, RunModels(), validity_check=check)
    assert list(screened.table[VALID_COLUMN]) == expected
    generated = screen_samples(vectors(*ACROSS), "everything", set(), ScreeningOptions(validity_check=check, keep_invalid=True))
    generated_table = generated.table.sort_values("sample_index").reset_index(drop=True)
    assert list(generated_table[VALID_COLUMN]) == expected
    assert generated.counts()["SMACT-valid"] == sum(expected)
    for name, own in VALIDITY_CHECKS.items():  # every check's own column, the same on both paths
        assert list(screened.table[own.column]) == list(generated_table[own.column]) == VERDICTS[name]
    shard = {column: generated_table[column] for column in ("formula", VALID_COLUMN, *validity.CHECK_COLUMNS)}
    valid = _campaign_valid_formulas(tmp_path, {"validity_check": check}, shard)
    assert valid == {formula for formula, ok in zip(generated_table["formula"], expected) if ok}


@pytest.mark.parametrize("flag, check", [(True, "mixed_valence"), (False, "integer")])
def test_campaigns_from_before_the_registry_count_their_old_check(flag, check, tmp_path):
    # shards written then: smact_valid = the paper's (integer) verdict, smact_valid_mixed_valence beside it
    shard = {"formula": ACROSS, VALID_COLUMN: VERDICTS["integer"], "smact_valid_mixed_valence": VERDICTS["mixed_valence"]}
    valid = _campaign_valid_formulas(tmp_path, {"mixed_valence": flag}, shard)
    assert valid == {formula for formula, ok in zip(ACROSS, VERDICTS[check]) if ok}
