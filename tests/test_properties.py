"""Property models: committed artifacts on known compounds, refitting on tiny data, rho, storage."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest
import torch

from superdiff_core.composition import parse_formula
from superdiff_core.errors import CheckpointError
from superdiff_core.properties import (
    SCORE_COLUMNS,
    encode_formulas,
    estimate_true_fraction,
    load_property_models,
    superconductivity_summary,
)
from superdiff_core.properties.features import composition_property_features, element_property_table
from superdiff_core.properties.formation import (
    STD_COLUMN,
    WEIGHTS_FILE,
    FormationModel,
    load_formation_weights,
    save_formation_weights,
    tokens_from_amounts,
)
from superdiff_core.properties.formation_training import FormationConfig, fit_formation, load_element_table
from superdiff_core.properties.superconductor import (
    BoostedClassifierConfig,
    ClassifierConfig,
    GuidanceConfig,
    RegressorConfig,
    SuperconductorModels,
    TcInterval,
    pack_vectors,
    regression_features,
    unpack_vectors,
)
from superdiff_core.properties.superconductor_training import (
    conformal_interval,
    fit_boosted_logit,
    fit_classifier,
    fit_guidance,
    fit_regressor,
    isotonic_knots,
    label_noise_ceiling,
    listed_tc,
    neighbourhood_median,
)
from superdiff_core.properties.tree_ensemble import export_ensemble


@pytest.fixture(scope="module")
def models():
    return load_property_models()


def score(models, formulas: list[str]) -> pd.DataFrame:
    return models.score_formulas(formulas).set_index("formula")


# ---------------------------------------------------------------- committed artifacts


def test_cuprate_is_a_superconductor_with_its_measured_tc(models):
    row = score(models, ["YBa2Cu3O7"]).loc["YBa2Cu3O7"]
    assert bool(row["is_superconductor"]) and row["sc_probability"] > 0.5
    assert 80.0 <= row["tc_kelvin"] <= 95.0  # measured about 92 K (SuperCon's own row says 30.3 K)
    assert row["note"] == ""


@pytest.mark.parametrize("formula", ["NaCl", "Al2O3", "Cu", "Au"])
def test_ordinary_compounds_and_metals_are_not_superconductors(models, formula):
    row = score(models, [formula]).loc[formula]
    assert not bool(row["is_superconductor"])
    assert row["tc_kelvin"] == 0.0


def test_superconductor_columns_carry_a_calibrated_probability_and_an_interval():
    models = SuperconductorModels.load("checkpoints")
    vectors = np.array([parse_formula(f) for f in ("YBa2Cu3O7", "MgB2", "NaCl")])
    predicted = models.predict(vectors)
    assert predicted["is_superconductor"].tolist() == [True, True, False]
    low, tc, high = predicted["tc_kelvin_low"], predicted["tc_kelvin"], predicted["tc_kelvin_high"]
    assert np.all(low[:2] < tc[:2]) and np.all(tc[:2] < high[:2]) and (low[2], tc[2], high[2]) == (0.0, 0.0, 0.0)
    card = models.card
    coverage = card["regressor"]["interval"]["held_out_coverage"]
    assert abs(coverage - card["regressor"]["interval"]["level"]) < 0.05  # measured on folds it was not calibrated on
    assert card["classifier"]["calibration"].startswith("isotonic")
    for source in ("supercon_non_superconductor", "cod", "pooled"):
        assert 0.5 < card["classifier"]["cross_validated"][source]["roc_auc"] <= 1.0


def test_score_carries_the_tc_interval_and_the_formation_spread(models):
    table = score(models, ["YBa2Cu3O7", "MgB2", "La1.85Sr0.15CuO4", "NaCl", "Cm2O3"])
    low, tc, high = table["tc_kelvin_low"], table["tc_kelvin"], table["tc_kelvin_high"]
    assert (low <= tc).all() and (tc <= high).all() and (low >= 0).all()
    for formula in ("YBa2Cu3O7", "MgB2", "La1.85Sr0.15CuO4"):  # superconductors: a real interval around Tc
        assert table.loc[formula, "is_superconductor"] and low[formula] < tc[formula] < high[formula]
    assert not table.loc["NaCl", "is_superconductor"]
    assert (low["NaCl"], tc["NaCl"], high["NaCl"]) == (0.0, 0.0, 0.0)  # no Tc shown for a non-superconductor
    spread = table["formation_energy_std_ev_per_atom"]
    assert 0.001 < spread["NaCl"] < 1.0 and np.isnan(spread["Cm2O3"]) and np.isnan(table.loc["Cm2O3", "formation_energy_ev_per_atom"])
    # the coverage of both spreads is measured on held-out rows and recorded in the cards
    interval = models.superconductor.card["regressor"]["interval"]
    assert interval["level"] == 0.9 and abs(interval["held_out_coverage"] - 0.9) < 0.05
    assert 0.55 < models.formation.card["metrics"]["spread"]["test_coverage"]["within_1_std"] < 0.8


def test_guidance_network_gradients_match_finite_differences():
    network = SuperconductorModels.load("checkpoints").guidance.double()
    amounts = torch.tensor(np.array([parse_formula(f) for f in ("YBa2Cu3O6.9", "MgB2")]), dtype=torch.float64, requires_grad=True)
    logit, tc = network(amounts)
    (gradient,) = torch.autograd.grad(tc.sum() + logit.sum(), amounts)
    assert gradient.shape == (2, 96) and torch.isfinite(gradient).all() and gradient.abs().sum() > 0
    step = 1e-6
    for row, element in ((0, 7), (0, 28), (1, 4), (1, 30)):  # O, Cu, B, and Ga (absent from MgB2)
        # amounts >= 0 is the domain: at an absent element (amount 0) only the one-sided
        # difference into the domain is defined (a central one would step to a negative amount)
        absent = float(amounts.detach()[row, element]) == 0.0
        shifted = amounts.detach().clone()
        shifted[row, element] += step
        with torch.no_grad():
            up = sum(part[row] for part in network(shifted))
            shifted[row, element] -= step if absent else 2 * step
            down = sum(part[row] for part in network(shifted))
        numeric = float((up - down) / (step if absent else 2 * step))
        assert numeric == pytest.approx(float(gradient[row, element]), rel=1e-3, abs=1e-5)


OQMD_MGB2_EV_PER_ATOM = -0.14
"""MgB2's formation energy in the OQMD file (an external reference, not a result of ours)."""


def test_textbook_compounds_have_negative_formation_energy(models):
    energy = score(models, ["NaCl", "Al2O3", "MgO"])["formation_energy_ev_per_atom"]
    # the issue asks for the right sign; OQMD gives about -2.1, -3.4 and -3.0 (the shipped model: -2.05, -3.06, -1.71)
    assert energy["NaCl"] < -1.5 and energy["Al2O3"] < -2.5 and energy["MgO"] < -1.0


def test_mgb2_has_negative_formation_energy_and_oqmds_value_inside_its_interval(models):
    scored = score(models, ["MgB2"])
    energy, std = scored["formation_energy_ev_per_atom"]["MgB2"], scored["formation_energy_std_ev_per_atom"]["MgB2"]
    # the issue asks for the sign (the first model said +0.20); OQMD says -0.14 eV/atom, which the model's own
    # 2-sigma interval must hold (the three-member ensemble: -0.025 +- 0.135, its members disagree on MgB2)
    assert energy < 0 and abs(energy - OQMD_MGB2_EV_PER_ATOM) <= 2 * std


def test_formation_spread_is_positive_and_nan_with_the_energy():
    model = FormationModel.load("checkpoints")
    vectors = np.array([parse_formula(f) for f in ("MgB2", "NaCl", "Cm2O3")])
    energies, stds, notes = model.predict_with_spread(vectors)
    assert np.all(stds[:2] > 0.001) and np.all(stds[:2] < 1.0) and np.isnan(stds[2]) and np.isnan(energies[2])
    assert model.card["metrics"]["spread"]["column"] == STD_COLUMN
    np.testing.assert_allclose(model.predict(vectors)[0][:2], energies[:2])
    coverage = model.card["metrics"]["spread"]["test_coverage"]["within_1_std"]
    assert 0.55 < coverage < 0.8  # calibrated to 68.3 % on validation, measured on test


def test_formation_gradient_matches_finite_differences():
    import copy

    reference = FormationModel.load("checkpoints")
    model = FormationModel.load("checkpoints")
    model.network = copy.deepcopy(model.network).double()
    amounts = torch.tensor(np.array([parse_formula("MgB2"), parse_formula("Al2O3")]), dtype=torch.float64, requires_grad=True)
    for all_elements in (False, True):
        energy = model.energy_of_amounts(amounts, all_elements=all_elements)
        (gradient,) = torch.autograd.grad(energy.sum(), amounts)
        with torch.no_grad():
            loaded = reference.predict(amounts.detach().numpy())[0]
            # same function as predict (float64 vs float32)
            np.testing.assert_allclose(energy.detach().numpy(), loaded, rtol=2e-4, atol=1e-4)
            for row, column in ((0, 11), (0, 4), (1, 12), (1, 7)):  # Mg, B, Al, O
                step = torch.zeros_like(amounts)
                step[row, column] = 1e-5
                numeric = (model.energy_of_amounts(amounts + step, all_elements)
                           - model.energy_of_amounts(amounts - step, all_elements))[row] / 2e-5
                assert abs(float(numeric) - float(gradient[row, column])) < 1e-5 + 1e-3 * abs(float(numeric))
    assert float(gradient.abs().sum()) > 0
    # with all 96 tokens the function is smooth in an absent element too (one-sided derivative at 0)
    energy = model.energy_of_amounts(amounts, all_elements=True)
    (gradient,) = torch.autograd.grad(energy[0], amounts)
    assert float(gradient[0, 12]) != 0.0  # Al is absent from MgB2


def test_elements_outside_formation_coverage_get_a_reason_not_a_number(models):
    table = score(models, ["Cm2O3", "AmO2", "HeNa2", "Al2O3"])
    for formula, element in (("Cm2O3", "Cm"), ("AmO2", "Am"), ("HeNa2", "He")):
        assert np.isnan(table.loc[formula, "formation_energy_ev_per_atom"])
        assert element in table.loc[formula, "note"]
        assert not np.isnan(table.loc[formula, "sc_probability"])  # the classifier covers all 96
    assert table.loc["Al2O3", "note"] == ""


def test_score_schema_and_batch_equals_one_by_one(models):
    formulas = ["YBa2Cu3O7", "NaCl", "MgB2", "La1.85Sr0.15CuO4", "Al2O3", "Nb3Sn"]
    vectors, notes = encode_formulas(formulas)
    assert notes == [""] * len(formulas)
    batch = models.score(vectors)
    assert tuple(batch.columns) == SCORE_COLUMNS
    assert list(batch.index) == list(range(len(formulas)))
    singles = pd.concat([models.score(vectors[i : i + 1]) for i in range(len(formulas))], ignore_index=True)
    pd.testing.assert_frame_equal(batch, singles, check_exact=False, rtol=1e-5)


def test_bad_formula_never_raises(models):
    table = models.score_formulas(["YBa2Cu3O7", "Xx2Q", "", "NaCl"])
    assert list(table["formula"]) == ["YBa2Cu3O7", "Xx2Q", "", "NaCl"]
    assert table.loc[1, "note"].startswith("unparsable formula")
    assert table.loc[2, "note"].startswith("unparsable formula")
    assert table.loc[[1, 2], ["sc_probability", "tc_kelvin", "formation_energy_ev_per_atom"]].isna().all().all()
    assert table.loc[0, "note"] == "" and not np.isnan(table.loc[0, "sc_probability"])


def test_missing_artifact_names_file_and_command(tmp_path):
    with pytest.raises(CheckpointError, match=r"tc.*superdiff train-tc"):
        load_property_models(tmp_path)


# ---------------------------------------------------------------- rho and summary


def test_rho_formula_and_clipping(models):
    assert estimate_true_fraction(0.6, 0.9, 0.3) == pytest.approx(0.5)
    assert estimate_true_fraction(0.1, 0.9, 0.3) == 0.0
    assert estimate_true_fraction(0.99, 0.9, 0.3) == 1.0
    with pytest.raises(ValueError):
        estimate_true_fraction(0.5, 0.3, 0.3)
    tp, fp = models.true_positive_rate, models.false_positive_rate
    assert 0.0 <= fp < tp <= 1.0
    assert models.rho(fp) == 0.0 and models.rho(tp) == pytest.approx(1.0)


def test_superconductivity_summary(models):
    scored = pd.DataFrame({
        "sc_probability": [0.9, 0.8, 0.2, np.nan],
        "is_superconductor": pd.array([True, True, False, pd.NA], dtype="boolean"),
        "tc_kelvin": [10.0, 30.0, 0.0, np.nan],
        "formation_energy_ev_per_atom": [-1.0, 0.5, -0.2, np.nan],
        "note": ["", "", "", "unparsable formula: x"],
    })
    summary = superconductivity_summary(scored, models)
    assert summary["candidates"] == 3
    assert summary["predicted_sc_percent"] == pytest.approx(200 / 3)
    assert summary["rho_percent"] == pytest.approx(100 * models.rho(2 / 3))
    assert (summary["tc_mean_kelvin"], summary["tc_max_kelvin"]) == (20.0, 30.0)
    assert summary["tc_sd_kelvin"] == pytest.approx(np.std([10.0, 30.0], ddof=1))
    assert summary["formation_energy_mean_ev_per_atom"] == pytest.approx(-0.7 / 3)
    assert summary["formation_energy_below_zero_fraction"] == pytest.approx(2 / 3)


# ---------------------------------------------------------------- refitting on tiny data

TINY_SUPERCONDUCTORS = {
    "YBa2Cu3O7": 92.0, "YBa2Cu3O6.9": 91.0, "La1.85Sr0.15CuO4": 38.0, "La1.9Sr0.1CuO4": 30.0,
    "HgBa2Ca2Cu3O8": 133.0, "Bi2Sr2CaCu2O8": 85.0, "MgB2": 39.0, "Nb3Sn": 18.0, "Nb3Ge": 23.0,
    "NbTi": 9.5, "Pb": 7.2, "Nb": 9.2, "Al": 1.2, "LaFeAsO0.9F0.1": 26.0, "Ba0.6K0.4Fe2As2": 38.0,
}
TINY_NON_SUPERCONDUCTORS = ["NaCl", "KCl", "NaBr", "LiF", "MgO", "CaO", "SiO2", "Al2O3", "Fe2O3", "ZnS"]


def tiny_data():
    formulas = list(TINY_SUPERCONDUCTORS) + TINY_NON_SUPERCONDUCTORS
    vectors = np.array([parse_formula(formula) for formula in formulas])
    labels = np.array([formula in TINY_SUPERCONDUCTORS for formula in formulas])
    return vectors, labels


def test_classifier_refits_on_tiny_subset():
    vectors, labels = tiny_data()
    classifier = fit_classifier(vectors, labels, ClassifierConfig(n_neighbors=1, scaling="fraction", weighting="uniform"))
    queries = np.array([parse_formula(f) for f in ("YBa2Cu3O6.95", "KBr", "Nb3Sn0.9Ge0.1")])
    assert classifier.predict(queries).tolist() == [True, False, True]
    balanced = fit_classifier(vectors, labels, ClassifierConfig(n_neighbors=3, balanced=True, weighting="distance"))
    probability = balanced.probability(vectors)
    assert np.all((probability >= 0) & (probability <= 1))
    assert balanced.predict(vectors).tolist() == labels.tolist()  # exact matches decide alone


def test_boosted_classifier_refits_on_tiny_subset_and_matches_scikit_learn():
    vectors, labels = tiny_data()
    config = BoostedClassifierConfig(n_estimators=20, max_leaf_nodes=4, min_samples_leaf=2, features="fraction+properties")
    classifier = fit_boosted_logit(vectors, labels, config, element_property_table())
    from sklearn.ensemble import HistGradientBoostingClassifier

    reference = HistGradientBoostingClassifier(max_iter=20, max_leaf_nodes=4, min_samples_leaf=2, early_stopping=False,
                                               random_state=0)
    features = regression_features(vectors, config.features, element_property_table())
    reference.fit(features, labels)
    np.testing.assert_allclose(classifier.logit(vectors), reference.decision_function(features), rtol=1e-6, atol=1e-6)
    classifier.calibration_logit, classifier.calibration_probability = isotonic_knots(classifier.logit(vectors), labels)
    probability = classifier.probability(vectors)
    assert np.all(np.diff(classifier.calibration_probability) >= 0) and np.all((probability >= 0) & (probability <= 1))
    assert probability[labels].mean() > 0.8 and probability[~labels].mean() < 0.2


@pytest.mark.parametrize("model", ["random_forest", "extra_trees", "hist_gradient_boosting"])
def test_regressor_refits_and_exported_trees_match_scikit_learn(model):
    vectors = np.array([parse_formula(f) for f in TINY_SUPERCONDUCTORS])
    tc = np.array(list(TINY_SUPERCONDUCTORS.values()))
    config = RegressorConfig(model=model, features="fraction+properties", n_estimators=10, max_leaf_nodes=7)
    regressor = fit_regressor(vectors, tc, config)
    predicted = regressor.predict(vectors)
    assert predicted.shape == (len(tc),) and np.all(predicted >= 0)
    assert np.corrcoef(predicted, tc)[0, 1] > 0.6
    from superdiff_core.properties.superconductor_training import _make_estimator

    estimator = _make_estimator(config)
    features = regression_features(vectors, config.features, element_property_table())
    estimator.fit(features, tc)
    rng = np.random.default_rng(0)
    probes = features * rng.uniform(0.8, 1.2, size=features.shape)
    np.testing.assert_allclose(export_ensemble(estimator).predict(probes), estimator.predict(probes), rtol=1e-6, atol=1e-5)


def test_neighbourhood_median_replaces_an_outlier_by_its_close_relatives():
    vectors = np.array([parse_formula(f) for f in ("YBa2Cu3O7", "YBa2Cu3O6.95", "YBa2Cu3O6.9", "MgB2", "YBa2Cu3O6")])
    tc = np.array([30.3, 88.0, 85.0, 33.0, 0.5])
    smoothed = neighbourhood_median(vectors, tc, radius=0.01)
    assert smoothed.tolist() == [85.0, 85.0, 85.0, 33.0, 0.5]  # O6 is 0.04 away: not a relative
    np.testing.assert_array_equal(neighbourhood_median(vectors, tc, radius=0.0), tc)


def test_label_noise_ceiling_measures_repeats_and_near_twins():
    formulas = ["YBa2Cu3O7", "YBa2Cu3O7", "YBa2Cu3O6.9", "MgB2", "MgB2", "Nb3Sn"]
    vectors = np.array([parse_formula(f) for f in formulas])
    tc = np.array([30.0, 90.0, 88.0, 33.0, 39.0, 18.0])
    ceiling = label_noise_ceiling(vectors, tc)
    assert ceiling["rows_in_repeated_compositions"] == 4
    within = (((30 - 60) ** 2 + (90 - 60) ** 2) + ((33 - 36) ** 2 + (39 - 36) ** 2)) / 2  # pooled, one degree of freedom per pair
    assert ceiling["within_composition_sd_kelvin"] == pytest.approx(np.sqrt(within))
    assert ceiling["r2_ceiling_if_every_row_had_that_noise"] == pytest.approx(1 - within / tc.var())
    assert ceiling["rows_with_near_twin"] == 3  # the two O7 rows and O6.9 (0.004 apart); MgB2's twin is itself
    assert listed_tc(vectors, tc, np.array([parse_formula("YBa2Cu3O7"), parse_formula("NaCl")])) == [[30.0, 90.0], []]


def test_conformal_interval_covers_its_level_on_fresh_errors():
    rng = np.random.default_rng(0)
    predicted = rng.uniform(0, 100, 4000)
    actual = predicted + rng.normal(size=4000) * (1 + predicted / 10)  # errors grow with Tc
    interval = conformal_interval(predicted[:2000], actual[:2000], level=0.9, bins=5)
    low, high = interval.bounds(predicted[2000:])
    assert 0.87 < np.mean((actual[2000:] >= low) & (actual[2000:] <= high)) < 0.93
    assert interval.half_widths[-1] > 3 * interval.half_widths[0] and np.all(low >= 0)


def test_tc_models_round_trip_through_npz(tmp_path):
    vectors, labels = tiny_data()
    table = element_property_table()
    classifier_config = BoostedClassifierConfig(n_estimators=5, max_leaf_nodes=4, min_samples_leaf=2, threshold=0.4)
    classifier = fit_boosted_logit(vectors, labels, classifier_config, table)
    classifier.calibration_logit, classifier.calibration_probability = isotonic_knots(classifier.logit(vectors), labels)
    regressor_config = RegressorConfig(model="extra_trees", features="fraction", n_estimators=5)
    tc = np.array(list(TINY_SUPERCONDUCTORS.values()))
    guidance_config = GuidanceConfig(hidden=8, epochs=2, batch_size=8)
    guidance = fit_guidance(vectors, labels, np.r_[tc, np.zeros((~labels).sum())], guidance_config, table)
    models = SuperconductorModels(
        classifier, fit_regressor(vectors[labels], tc, regressor_config), 0.9, 0.2, card={},
        interval=TcInterval(np.array([20.0]), np.array([5.0, 15.0]), 0.9), guidance=guidance,
    )
    folder = tmp_path / "tc"
    folder.mkdir()
    models.save(folder)
    from superdiff_core.artifacts import write_card

    write_card(folder, {
        "classifier": {"kind": "boosted", "config": dataclasses.asdict(classifier_config),
                       "rates_used_for_rho": {"true_positive_rate": 0.9, "false_positive_rate": 0.2}},
        "regressor": {"config": dataclasses.asdict(regressor_config)},
        "guidance": {"config": dataclasses.asdict(guidance_config)},
    })
    loaded = SuperconductorModels.load(tmp_path)
    queries = np.array([parse_formula(f) for f in ("YBa2Cu3O6.5", "NaI", "MgB1.9C0.1")])
    for name, values in models.predict(queries).items():
        np.testing.assert_array_equal(loaded.predict(queries)[name], values)
    np.testing.assert_array_equal(loaded.guidance.predict(queries)[1], models.guidance.predict(queries)[1])
    assert loaded.classifier.config.threshold == 0.4 and loaded.rho(0.55) == pytest.approx(0.5)
    np.testing.assert_array_equal(loaded.interval.bounds(np.array([10.0, 30.0]))[1], [15.0, 45.0])


def test_tc_artifact_loads_without_unpickling(tmp_path, monkeypatch):
    import pickle

    def refuse(*args, **kwargs):
        raise AssertionError("something was unpickled")

    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    models = SuperconductorModels.load("checkpoints")
    assert models.guidance is not None and models.interval is not None
    with np.load("checkpoints/tc/tc_models.npz", allow_pickle=False) as stored:
        assert all(stored[name].dtype != object for name in stored.files)


def test_pack_vectors_round_trip():
    vectors, _ = tiny_data()
    packed = pack_vectors(vectors)
    np.testing.assert_array_equal(unpack_vectors(packed["rows"], packed["elements"], packed["amounts"], len(vectors)), vectors)


def test_property_features_match_a_hand_computed_mean():
    table = element_property_table()
    features = composition_property_features(np.array([parse_formula("NaCl")]), table)
    z_mean, z_deviation, z_min, z_max = features[0, [0, 15, 30, 45]]
    assert (z_mean, z_deviation, z_min, z_max) == (14.0, 3.0, 11.0, 17.0)


def test_formation_refits_on_a_tiny_subset_and_resumes(tmp_path, make_formation_data):
    table, source = load_element_table(None)  # the committed weight file carries the element table
    assert table.shape == (96, 200) and "mat2vec" in source["citation"]
    train, validation = make_formation_data(0, 160), make_formation_data(1, 40)
    config = FormationConfig(width=16, heads=2, layers=1, feedforward=32, batch_size=32, epochs=3, learning_rate=3e-3, max_minutes=1e-6)
    resume = tmp_path / "resume.pt"
    first = fit_formation(train, validation, table, config, resume_path=resume, progress=False)
    assert first.epochs_run == 1 and first.stopped_because == "time limit" and resume.is_file()
    second = fit_formation(train, validation, table, dataclasses.replace(config, max_minutes=60.0), resume_path=resume, progress=False)
    assert second.epochs_run == 3 and second.history[0] == first.history[0]  # continued, not restarted
    best = min(second.history, key=lambda row: row["validation_mae"])
    assert second.best_epoch == best["epoch"]
    assert best["validation_mae"] < np.mean(np.abs(validation.energies - train.energies.mean()))  # learnt something
    path = tmp_path / WEIGHTS_FILE
    save_formation_weights(path, second.network, config.network_config(), {"std_scale": 1.5})
    network, stored_config, calibration = load_formation_weights(path)
    assert stored_config["width"] == 16 and calibration["std_scale"] == 1.5 and not list(tmp_path.glob(".*tmp*"))
    tokens, fractions = tokens_from_amounts(validation.vectors)
    with torch.inference_mode():
        torch.testing.assert_close(network(torch.from_numpy(tokens), torch.from_numpy(fractions))[0],
                                   second.network(torch.from_numpy(tokens), torch.from_numpy(fractions))[0])


def test_formation_weights_load_without_unpickling(tmp_path):
    payload = torch.load(f"checkpoints/formation/{WEIGHTS_FILE}", weights_only=True)
    tables = [key for key in payload["state_dict"] if key.split(".")[-1] == "element_table"]  # one per ensemble member
    assert payload["config"]["architecture"] in ("attention", "mlp") and len(tables) == payload["config"].get("members", 1)

    class Evil:
        def __reduce__(self):
            return (print, ("unpickled!",))

    bad = tmp_path / "formation"
    bad.mkdir()
    torch.save({"format": "superdiff-formation-v2", "config": Evil()}, bad / WEIGHTS_FILE)
    (bad / "card.json").write_text("{}")
    with pytest.raises(CheckpointError, match="corrupt"):
        FormationModel.load(tmp_path)


def test_train_formation_command_writes_a_loadable_model_card_and_plot(tmp_path, capsys):
    from superdiff_core.cli import main

    rng = np.random.default_rng(2)
    symbols = ["Li", "Na", "Mg", "Al", "Si", "Cu", "Zn", "Nb", "Ba", "La"]
    for name, n in (("train.csv", 150), ("eval.csv", 120)):
        rows = []
        for _ in range(n):
            metal, amount = rng.choice(symbols), int(rng.integers(1, 4))
            rows.append((f"{metal}{amount}O{rng.integers(1, 5)}", -0.5 * amount))
        rows.append(("Na1Cl1", 7.5))  # a failed DFT row: dropped from training and counted
        pd.DataFrame(rows, columns=["formula", "formation_energy_per_atom"]).to_csv(tmp_path / name, index=False)
    out = tmp_path / "models" / "formation"
    status = main(["train-formation", "--train", str(tmp_path / "train.csv"), "--data", str(tmp_path / "eval.csv"),
                   "--out", str(out), "--epochs", "2", "--ensemble", "2", "--quiet", "--threads", "1"])
    assert status == 0 and "test MAE" in capsys.readouterr().out
    card = json.loads((out / "card.json").read_text())
    assert card["split"]["training_file_outliers_dropped"] == 1 and card["training"]["epochs_run"] == 4  # 2 members x 2 epochs
    assert len(card["data"]["training"]["sha256"]) == 64 and len(card["data"]["evaluation"]["sha256"]) == 64
    assert len(card["metrics"]["member_test_mae_without_dft_outliers"]) == 2 and card["hyperparameters"]["members"] == 2
    assert (out / "parity.png").is_file() and not (out / "formation.resume.pt").exists() and not (out / "members").exists()
    energies, notes = FormationModel.load(tmp_path / "models").predict(np.array([parse_formula("MgO"), parse_formula("Cm2O3")]))
    assert np.isfinite(energies[0]) and np.isnan(energies[1]) and "Cm" in notes[1]
    assert main(["train-formation", "--train", str(tmp_path / "missing.csv"), "--out", str(out), "--quiet"]) == 2


def test_models_page_shows_current_figures_and_no_bare_tc_for_insulators():
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file("../app_pages/models.py", default_timeout=120).run()
    assert not at.exception
    frames = [frame.value for frame in at.dataframe]
    probes = next(frame for frame in frames if "predicted Tc (K)" in frame.columns).set_index("formula")
    for insulator in ("NaCl", "MgO", "Al2O3"):
        assert probes.loc[insulator, "predicted Tc (K)"].startswith("– (classified not")
        assert probes.loc[insulator, "Tc 90 % interval (K)"] == ""
    assert float(probes.loc["YBa2Cu3O7", "predicted Tc (K)"]) > 0 and "–" in probes.loc["YBa2Cu3O7", "Tc 90 % interval (K)"]
    comparison = next(frame for frame in frames if "metric" in frame.columns and "ours" in frame.columns).set_index("metric")
    assert 0.85 < comparison.loc["Tc 90 % interval: held-out coverage", "ours"] < 0.95
    assert any("k-NN" in str(model) for frame in frames if "model" in frame.columns for model in frame["model"])
