"""The real-synthesis-attempts list (Konno et al.'s copy of Hosono's), its cleaning, its
scores, the classifier card's figures on it, and the Magpie-style features."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from superdiff_core.artifacts import DEFAULT_MODELS_DIR, REPOSITORY_ROOT
from superdiff_core.composition import parse_formula
from superdiff_core.properties.features import element_property_table, magpie_feature_names, magpie_features
from superdiff_core.properties.real_attempts import (
    KONNO_PUBLISHED,
    TYPOS,
    load_real_attempts,
    real_attempts_report,
)

CARD = DEFAULT_MODELS_DIR / "tc" / "card.json"


def test_the_committed_list_is_cleaned_with_every_drop_counted():
    attempts = load_real_attempts()
    counts = attempts.counts
    dropped = (counts["dropped_unparseable"] + counts["dropped_typo"] + counts["dropped_without_tc"]
               + counts["dropped_duplicate_composition"] + counts["dropped_conflicting_labels"])
    assert counts["rows_read"] == counts["usable"] + dropped
    assert counts["usable"] == len(attempts.formulas) == len(attempts.vectors) == counts["superconductors"] + counts["non_superconductors"]
    assert any(entry.startswith("LaIrPn") for entry in counts["unparseable"])
    assert "LaIrPn" not in attempts.formulas and not set(TYPOS) & set(attempts.formulas)
    assert "1T-TaS2 -> TaS2" in counts["mapped_polytype_prefix"] and "TaS2" in attempts.formulas
    assert attempts.formulas.count("PtSb2") == 1 and "PtSb2" in counts["duplicates"]
    # every kept formula parses to the vector kept for it, and no composition is kept twice
    for formula, vector in zip(attempts.formulas, attempts.vectors):
        np.testing.assert_allclose(parse_formula(formula), vector)
    fractions = np.round(attempts.vectors / attempts.vectors.sum(axis=1, keepdims=True), 9)
    assert len(np.unique(fractions, axis=0)) == len(fractions)
    assert attempts.is_superconductor.sum() == counts["superconductors"] and (attempts.tc_kelvin[~attempts.is_superconductor] == 0).all()


def test_cleaning_rules_on_a_small_list(tmp_path):
    path = tmp_path / "list.csv"
    path.write_text("matter, Tc \n2H-NbSe2, 7.0 \nNbSe2, 7.1 \nXyZ2, 0.0 \nFeSe, 8.0 \nFe2Se2, 0.0 \nMgO, 0.0 \n"
                    "Ca0.85La0.15FeAs21.98Sb0.02, 43.0 \n")
    attempts = load_real_attempts(path)
    assert attempts.formulas == ["NbSe2", "MgO"]  # NbSe2 twice: kept once; FeSe listed both ways: dropped
    assert attempts.counts["dropped_duplicate_composition"] == 1 and attempts.counts["dropped_conflicting_labels"] == 2
    assert attempts.counts["dropped_unparseable"] == 1 and attempts.counts["dropped_typo"] == 1
    assert attempts.is_superconductor.tolist() == [True, False]


def test_report_of_a_perfect_and_of_a_useless_score():
    labels = np.array([True] * 10 + [False] * 30)
    perfect = real_attempts_report(labels.astype(float), labels, threshold=0.5)
    assert perfect["roc_auc"] == 1.0 and perfect["at_shipped_threshold"]["precision"] == 1.0
    assert perfect["at_shipped_threshold"]["false_positive_rate"] == 0.0
    everything = real_attempts_report(np.ones(40), labels, threshold=0.5)
    assert everything["roc_auc"] == 0.5 and everything["at_shipped_threshold"]["precision"] == pytest.approx(0.25)  # the list's balance
    ranked = real_attempts_report(np.linspace(0, 1, 40), labels[::-1], threshold=2.0)
    assert ranked["at_shipped_threshold"]["true_positive_rate"] == 0.0
    assert ranked["at_threshold_for_tp_on_list"]["true_positive_rate"] >= 0.8


def test_classifier_card_carries_the_real_attempts_figures_the_benchmark_prints():
    sys.path.insert(0, str(REPOSITORY_ROOT / "benchmarks"))
    from bench_real_attempts import markdown_table

    card = json.loads(CARD.read_text())
    attempts = card["classifier"]["real_synthesis_attempts"]
    cleaned = load_real_attempts()
    assert attempts["cleaning"]["usable"] == attempts["all_usable"]["n"] == cleaned.counts["usable"]
    assert attempts["sha256"] == cleaned.sha256
    leaked = attempts["leakage"]["rows_within_tolerance"]
    assert attempts["not_in_training"]["n"] == attempts["all_usable"]["n"] - leaked
    assert (attempts["not_in_training"]["superconductors"]
            == attempts["all_usable"]["superconductors"] - attempts["leakage"]["superconductors_within_tolerance"])
    for subset in ("all_usable", "not_in_training"):
        report = attempts[subset]
        assert 0.5 < report["roc_auc"] <= 1.0
        assert report["at_shipped_threshold"]["threshold"] == card["classifier"]["config"]["threshold"]
        for point in ("at_shipped_threshold", "at_threshold_for_tp_on_list"):
            for rate in ("true_positive_rate", "false_positive_rate", "precision"):
                assert 0.0 <= report[point][rate] <= 1.0
        assert report["at_threshold_for_tp_on_list"]["true_positive_rate"] >= 0.8
    assert attempts["published"]["precision"] == KONNO_PUBLISHED["precision"] == 0.62
    assert "real_attempts_precision" in card["targets_met"] and "real_attempts_precision" in card["targets"]
    table = markdown_table(attempts)
    assert f"{attempts['not_in_training']['at_shipped_threshold']['precision']:.3f}" in table and "0.62" in table


def test_the_committed_classifier_reproduces_its_card_on_the_list():
    from superdiff_core.properties.superconductor import SuperconductorModels

    models = SuperconductorModels.load(DEFAULT_MODELS_DIR)
    attempts = load_real_attempts()
    report = real_attempts_report(models.classifier.probability(attempts.vectors), attempts.is_superconductor,
                                  models.classifier.config.threshold)
    stored = models.card["classifier"]["real_synthesis_attempts"]["all_usable"]
    assert report["roc_auc"] == pytest.approx(stored["roc_auc"], abs=1e-3)
    assert report["at_shipped_threshold"]["precision"] == pytest.approx(stored["at_shipped_threshold"]["precision"], abs=1e-3)


def test_magpie_features_of_mgb2_and_nacl():
    table = element_property_table()
    features = magpie_features(np.array([parse_formula("MgB2"), parse_formula("NaCl")]), table)
    named = dict(zip(magpie_feature_names(), features.T))
    assert features.shape[1] == len(magpie_feature_names())
    # Mg: 3s2; B: 2s2 2p1. Na: 3s1; Cl: 3s2 3p5
    np.testing.assert_allclose(named["mean valence_electrons"], [(2 + 2 * 3) / 3, (1 + 7) / 2])
    np.testing.assert_allclose(named["share of valence electrons in s"], [(2 + 2 * 2) / 8, (1 + 2) / 8])
    np.testing.assert_allclose(named["mean unfilled_p"], [2 * 5 / 3, 1 / 2])
    np.testing.assert_allclose(named["range valence_electrons"], [1, 6])
    np.testing.assert_allclose(named["elements present"], [2, 2])
    np.testing.assert_allclose(named["L2 norm of fractions"], [np.sqrt(1 / 9 + 4 / 9), np.sqrt(0.5)])
    np.testing.assert_allclose(named["max atomic_number"], [12, 17])


def test_benchmark_data_readme_names_the_source_commit():
    readme = (Path(REPOSITORY_ROOT) / "benchmarks" / "data" / "README.md").read_text()
    assert "8e3147dc96368085fb42235d5af79e6714f704fc" in readme and "MIT" in readme


def test_classifier_only_retraining_keeps_the_regressor_and_records_the_list(tmp_path):
    import shutil

    from superdiff_core.properties.superconductor import BoostedClassifierConfig
    from superdiff_core.properties.superconductor_training import retrain_classifier

    superconductors = {"YBa2Cu3O7": 92.0, "YBa2Cu3O6.9": 91.0, "La1.85Sr0.15CuO4": 38.0, "La1.9Sr0.1CuO4": 30.0,
                       "HgBa2Ca2Cu3O8": 133.0, "Bi2Sr2CaCu2O8": 85.0, "MgB2": 39.0, "Nb3Sn": 18.0, "Nb3Ge": 23.0,
                       "NbTi": 9.5, "Pb": 7.2, "Nb": 9.2, "Al": 1.2, "LaFeAsO0.9F0.1": 26.0, "Ba0.6K0.4Fe2As2": 38.0}
    (tmp_path / "sc.dat").write_text("".join(f"{i}\t{f}\t{tc}\t3\n" for i, (f, tc) in enumerate(superconductors.items())))
    (tmp_path / "stanev.csv").write_text("name,Tc\nLaFeAsO,0\nBaFe2As2,0\nLa2CuO4,0\nYBa2Cu3O6,0\n")
    (tmp_path / "cod.csv").write_text("formula\nNaCl\nKCl\nNaBr\nLiF\nMgO\nCaO\nSiO2\nAl2O3\nFe2O3\nZnS\nKBr\nCsI\n")
    folder = tmp_path / "tc"
    shutil.copytree(DEFAULT_MODELS_DIR / "tc", folder)
    before = json.loads((folder / "card.json").read_text())
    with np.load(folder / "tc_models.npz") as stored:
        regressor_before = {name: stored[name] for name in stored.files if not name.startswith("classifier_")}
    config = BoostedClassifierConfig(features="amount+fraction+magpie", n_estimators=5, max_leaf_nodes=4, min_samples_leaf=2)
    card = retrain_classifier(tmp_path / "sc.dat", tmp_path / "stanev.csv", folder, cod_path=tmp_path / "cod.csv",
                              classifier_config=config, n_folds=2, progress=False)
    with np.load(folder / "tc_models.npz") as stored:
        for name, values in regressor_before.items():
            np.testing.assert_array_equal(stored[name], values, err_msg=name)
    assert card["regressor"] == before["regressor"] and card["command"] == before["command"]
    assert card["classifier"]["config"]["features"] == "amount+fraction+magpie" and card["data"]["positives"] == len(superconductors)
    assert ("--classifier-only" in card["classifier_command"]
            and "--classifier-features amount+fraction+magpie" in card["classifier_command"])
    assert card["classifier"]["real_synthesis_attempts"]["all_usable"]["n"] == load_real_attempts().counts["usable"]
    assert "real_attempts_precision" in card["targets_met"] and card["targets_met"]["regressor_r2"] == before["targets_met"]["regressor_r2"]
