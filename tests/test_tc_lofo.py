"""Leave-one-family-out evaluation of the Tc regressor: families by element rules, folds that never share a family."""

from __future__ import annotations

import numpy as np
import pytest

from superdiff_core.composition import parse_formula
from superdiff_core.properties.supercon_families import FAMILY_NAMES, leave_one_family_out_folds, supercon_families
from superdiff_core.properties.superconductor_training import knn_regression, leave_one_family_out, row_folds

TEXTBOOK = {
    ("HgBa2Ca2Cu3O8", 1): "cuprate: Hg-based",
    ("Tl2Ba2CaCu2O8", 1): "cuprate: Tl-based",
    ("Bi2Sr2CaCu2O8", 1): "cuprate: Bi-based",
    ("YBa2Cu3O7", 1): "cuprate: RE-123 (Ba with Y or a lanthanide)",
    ("La1.85Sr0.15CuO4", 1): "cuprate: 214 and other RE single-layer",
    ("LaFeAsO0.9F0.1", 2): "iron-based: 1111 (with O or F)",
    ("FeSe", 2): "iron-based: chalcogenides (Se, Te)",
    ("Ba0.6K0.4Fe2As2", 2): "iron-based: 122, 111 and other pnictides",
    ("CeCu2Si2", 3): "heavy-fermion (Ce, Yb, U, Np, Pu, Am)",
    ("YNi2B2C", 3): "borocarbides (B and C)",
    ("MgB2", 3): "MgB2-like borides",
    ("K3C60", 3): "carbon-rich (fullerides, intercalated graphite)",
    ("PbMo6S8", 3): "Chevrel phases (Mo with S, Se, Te)",
    ("Nb3Sn", 3): "A15 (A3B)",
    ("Ba0.6K0.4BiO3", 3): "non-cuprate oxides",
    ("Nb", 3): "elements and binary alloys",
    ("NbTi", 3): "elements and binary alloys",
}


def test_textbook_superconductors_fall_in_their_family():
    vectors = np.array([parse_formula(formula) for formula, _ in TEXTBOOK])
    families = supercon_families(vectors, np.array([code for _, code in TEXTBOOK]))
    assert [FAMILY_NAMES[f] for f in families] == list(TEXTBOOK.values())


def _synthetic(n_per_family: int = 30, seed: int = 0):
    """Five made-up families: rows near a family centre, Tc a smooth function plus a family offset."""
    rng = np.random.default_rng(seed)
    vectors, tc, families = [], [], []
    for family in range(5):
        centre = np.zeros(96)
        centre[rng.choice(80, size=3, replace=False)] = rng.uniform(1, 3, size=3)
        for _ in range(n_per_family):
            row = np.clip(centre + rng.normal(scale=0.2, size=96) * (centre > 0), 0, None)
            vectors.append(row)
            tc.append(10 * family + row[centre > 0].sum())
            families.append(family)
    return np.array(vectors), np.array(tc), np.array(families)


def test_folds_never_share_a_family_and_small_families_are_never_scored():
    _, _, families = _synthetic()
    families[:5] = 7  # a family with 5 rows: below min_rows
    folds = leave_one_family_out_folds(families, min_rows=10)
    assert sorted(family for family, _, _ in folds) == [0, 1, 2, 3, 4]
    for family, train, test in folds:
        assert set(families[test]) == {family} and family not in set(families[train])
        assert len(np.intersect1d(train, test)) == 0 and len(train) + len(test) == len(families)


def test_leave_one_family_out_reports_each_family_beside_one_nearest_neighbour():
    vectors, tc, families = _synthetic()
    names = FAMILY_NAMES[:5]

    def fit_predict(train_vectors, train_tc, test_vectors):
        return knn_regression(train_vectors, train_tc, test_vectors, 1, "fraction", "uniform")

    report = leave_one_family_out(vectors, tc, families, fit_predict, row_folds(len(tc), 5, 0), min_rows=10)
    assert list(report["per_family"]) == list(names) and report["rows_scored"] == len(tc)
    # the model here *is* 1-NN, so both columns agree exactly
    assert report["mean_r2"]["model"] == pytest.approx(report["mean_r2"]["one_nn"])
    # held-out families are farther from training than random folds' held-out rows
    distances = report["distance_to_nearest_training_row"]
    assert distances["leave_one_family_out_quantiles"]["q50"] > distances["grouped_folds_quantiles"]["q50"]
    assert all(row["median_distance_to_training"] > 0 for row in report["per_family"].values())


def test_the_shipped_tc_card_carries_the_grouped_random_and_leave_one_family_out_figures():
    """Issue 19: the card the Models page reads has all three protocols, LOFO beside 1-NN."""
    import json

    from superdiff_core.artifacts import DEFAULT_MODELS_DIR

    card = json.loads((DEFAULT_MODELS_DIR / "tc" / "card.json").read_text())
    regressor = card["regressor"]
    assert 0 < regressor["cross_validated"]["overall"]["r2"] <= 1
    assert 0 < regressor["random_row_folds"]["overall"]["r2"] <= 1
    lofo = regressor["leave_one_family_out"]
    assert len(lofo["per_family"]) >= 10 and {"model", "one_nn"} <= set(lofo["mean_r2"])
    assert card["targets_met"]["leave_one_family_out_beats_one_nn"] == (lofo["mean_r2"]["model"] > lofo["mean_r2"]["one_nn"])
    assert regressor["config"]["target_radius"] == 0.003  # the radius the benchmark chose
