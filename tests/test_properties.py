"""Property models: committed artifacts on known compounds, refitting on tiny data, rho, storage."""

from __future__ import annotations

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
from superdiff_core.properties.features import FORMATION_ELEMENTS, composition_property_features, element_property_table
from superdiff_core.properties.formation import (
    ElemNet, ElemNetEnsemble, FormationConfig, fit_formation_ensemble, fit_formation_network, save_state_atomically,
)
from superdiff_core.properties.superconductor import (
    ClassifierConfig,
    RegressorConfig,
    SuperconductorModels,
    fit_classifier,
    fit_regressor,
    pack_vectors,
    regression_features,
    unpack_vectors,
)
from superdiff_core.properties.tree_ensemble import export_ensemble


@pytest.fixture(scope="module")
def models():
    return load_property_models()


def score(models, formulas: list[str]) -> pd.DataFrame:
    return models.score_formulas(formulas).set_index("formula")


# ---------------------------------------------------------------- committed artifacts


def test_cuprate_is_a_superconductor_with_cuprate_tc(models):
    row = score(models, ["YBa2Cu3O7"]).loc["YBa2Cu3O7"]
    assert bool(row["is_superconductor"]) and row["sc_probability"] > 0.5
    assert 30.0 <= row["tc_kelvin"] <= 130.0
    assert row["note"] == ""


def test_simple_salt_is_not_a_superconductor(models):
    row = score(models, ["NaCl"]).loc["NaCl"]
    assert not bool(row["is_superconductor"])
    assert row["tc_kelvin"] == 0.0


def test_alumina_has_clearly_negative_formation_energy(models):
    energy = score(models, ["Al2O3"]).loc["Al2O3", "formation_energy_ev_per_atom"]
    assert energy < -1.5  # OQMD: about -3.4 eV/atom


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


@pytest.mark.parametrize("model", ["random_forest", "extra_trees", "hist_gradient_boosting"])
def test_regressor_refits_and_exported_trees_match_scikit_learn(model):
    vectors = np.array([parse_formula(f) for f in TINY_SUPERCONDUCTORS])
    tc = np.array(list(TINY_SUPERCONDUCTORS.values()))
    config = RegressorConfig(model=model, features="fraction+properties", n_estimators=10, max_leaf_nodes=7)
    regressor = fit_regressor(vectors, tc, config)
    predicted = regressor.predict(vectors)
    assert predicted.shape == (len(tc),) and np.all(predicted >= 0)
    assert np.corrcoef(predicted, tc)[0, 1] > 0.6
    from superdiff_core.properties.superconductor import _make_estimator

    estimator = _make_estimator(config)
    features = regression_features(vectors, config.features, element_property_table())
    estimator.fit(features, tc)
    rng = np.random.default_rng(0)
    probes = features * rng.uniform(0.8, 1.2, size=features.shape)
    np.testing.assert_allclose(export_ensemble(estimator).predict(probes), estimator.predict(probes), rtol=1e-6, atol=1e-5)


def test_tc_models_round_trip_through_npz(tmp_path):
    vectors, labels = tiny_data()
    classifier_config = ClassifierConfig(n_neighbors=3, scaling="sqrt_fraction")
    regressor_config = RegressorConfig(model="extra_trees", features="fraction", n_estimators=5)
    models = SuperconductorModels(
        fit_classifier(vectors, labels, classifier_config),
        fit_regressor(vectors[labels], np.array(list(TINY_SUPERCONDUCTORS.values())), regressor_config),
        0.9, 0.2, card={},
    )
    folder = tmp_path / "tc"
    folder.mkdir()
    models.save(folder)
    from dataclasses import asdict

    from superdiff_core.properties.artifacts import write_card

    write_card(folder, {
        "classifier": {"config": asdict(classifier_config), "rates_used_for_rho": {"true_positive_rate": 0.9, "false_positive_rate": 0.2}},
        "regressor": {"config": asdict(regressor_config)},
    })
    loaded = SuperconductorModels.load(tmp_path)
    queries = np.array([parse_formula(f) for f in ("YBa2Cu3O6.5", "NaI", "MgB1.9C0.1")])
    np.testing.assert_array_equal(loaded.classifier.probability(queries), models.classifier.probability(queries))
    np.testing.assert_array_equal(loaded.regressor.predict(queries), models.regressor.predict(queries))
    assert loaded.rho(0.55) == pytest.approx(0.5)


def test_pack_vectors_round_trip():
    vectors, _ = tiny_data()
    packed = pack_vectors(vectors)
    np.testing.assert_array_equal(unpack_vectors(packed["rows"], packed["elements"], packed["amounts"], len(vectors)), vectors)


def test_property_features_match_a_hand_computed_mean():
    table = element_property_table()
    features = composition_property_features(np.array([parse_formula("NaCl")]), table)
    z_mean, z_deviation, z_min, z_max = features[0, [0, 15, 30, 45]]
    assert (z_mean, z_deviation, z_min, z_max) == (14.0, 3.0, 11.0, 17.0)


def test_formation_network_refits_keeps_best_epoch_and_loads_weights_only(tmp_path):
    rng = np.random.default_rng(0)
    inputs = rng.dirichlet(np.ones(len(FORMATION_ELEMENTS)) * 0.1, size=300).astype(np.float32)
    energies = inputs @ rng.normal(size=len(FORMATION_ELEMENTS))
    config = FormationConfig(hidden_widths=(32, 16), dropout=0.2, epochs=4, batch_size=32, learning_rate=3e-3)
    path = tmp_path / "weights.pt"
    fit = fit_formation_network(inputs[:240], energies[:240], inputs[240:], energies[240:], config, checkpoint_path=path, progress=False)
    best = min(fit.history, key=lambda row: row["validation_mae"])
    assert fit.best_epoch == best["epoch"] and fit.epochs_run == 4
    network = ElemNet((32, 16), 0.2)
    network.load_state_dict(torch.load(path, weights_only=True))
    network.eval()
    x = torch.from_numpy(inputs[240:])
    with torch.inference_mode():
        first, second, fitted = network(x), network(x), fit.network(x)
    torch.testing.assert_close(first, second)  # dropout is off at inference
    torch.testing.assert_close(first, fitted)  # the file holds the best epoch's weights
    save_state_atomically(network.state_dict(), path)
    assert not list(tmp_path.glob(".*tmp"))


def test_formation_ensemble_averages_its_members_and_reloads_from_the_checkpoint(tmp_path):
    rng = np.random.default_rng(1)
    inputs = rng.dirichlet(np.ones(len(FORMATION_ELEMENTS)) * 0.1, size=200).astype(np.float32)
    energies = inputs @ rng.normal(size=len(FORMATION_ELEMENTS))
    config = FormationConfig(hidden_widths=(16, 8), epochs=2, batch_size=32, ensemble_size=2, seed=5)
    path = tmp_path / "ensemble.pt"
    fit = fit_formation_ensemble(inputs[:160], energies[:160], inputs[160:], energies[160:], config, checkpoint_path=path, progress=False)
    assert [member.seed for member in fit.members] == [5, 6]
    reloaded = ElemNetEnsemble.empty(2, (16, 8), 0.0)
    reloaded.load_state_dict(torch.load(path, weights_only=True))
    reloaded.eval()
    x = torch.from_numpy(inputs[160:])
    with torch.inference_mode():
        mean_of_members = (fit.members[0].network(x) + fit.members[1].network(x)) / 2
        torch.testing.assert_close(reloaded(x), mean_of_members)
        assert not torch.allclose(fit.members[0].network(x), fit.members[1].network(x))  # different seeds


def test_enrichment_uses_models_already_loaded_without_reading_the_folder(tmp_path):
    from superdiff_core.enrich import add_properties
    from superdiff_core.pipeline import GenerationResult, GenerationSettings

    vectors = np.array([parse_formula("YBa2Cu3O7"), parse_formula("NaCl")])
    result = GenerationResult(pd.DataFrame({"formula": ["YBa2Cu3O7", "NaCl"]}), vectors, [], 100.0, 100.0, 2,
                              GenerationSettings("cuprates"))
    empty_folder = tmp_path / "no-models"
    assert "no property scores" in add_properties(result, empty_folder)  # nothing to load there
    assert add_properties(result, empty_folder, models=load_property_models()) is None
    assert result.table["is_superconductor"].tolist() == [True, False]


def test_train_formation_command_writes_a_loadable_ensemble_card_and_plot(tmp_path, capsys):
    from superdiff_core.cli import main
    from superdiff_core.properties.formation import FormationModel

    rng = np.random.default_rng(2)
    symbols = ["Li", "Na", "Mg", "Al", "Si", "Cu", "Zn", "Nb", "Ba", "La"]
    rows = []
    for _ in range(150):
        metal, amount = rng.choice(symbols), rng.integers(1, 4)
        rows.append((f"{metal}{amount}O{rng.integers(1, 4)}", -0.5 * amount))
    csv = tmp_path / "energies.csv"
    pd.DataFrame(rows, columns=["formula", "formation_energy_per_atom"]).to_csv(csv, index=False)
    out = tmp_path / "models" / "formation"
    status = main(["train-formation", "--data", str(csv), "--out", str(out), "--epochs", "2", "--ensemble", "2", "--quiet"])
    assert status == 0 and "2 networks" in capsys.readouterr().out
    card = json.loads((out / "card.json").read_text())
    assert card["training"]["members"] == 2 and len(card["metrics"]["member_test_mae_ev_per_atom"]) == 2
    assert (out / "parity.png").is_file() and not list(out.glob("*.partial"))
    energies, notes = FormationModel.load(tmp_path / "models").predict(np.array([parse_formula("MgO"), parse_formula("Cm2O3")]))
    assert np.isfinite(energies[0]) and np.isnan(energies[1]) and "Cm" in notes[1]
