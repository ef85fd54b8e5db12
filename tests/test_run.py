"""The one engine behind both front ends: superdiff_core.run, the registry, artifacts,
settings JSON, formula lists and the funnel."""

from __future__ import annotations

import json
import threading

import numpy as np
import pandas as pd
import pytest

from superdiff_core import artifacts, model_classes
from superdiff_core.composition import parse_formula
from superdiff_core.errors import CheckpointError, InputError
from superdiff_core.formula_lists import read_formula_table
from superdiff_core.funnel import Thresholds, table_funnel, validity_stage_words
from superdiff_core.run import RunModels, add_properties, load_run_models, run_generation, screen_formulas
from superdiff_core.run_settings import run_settings_json, settings_from_json
from superdiff_core.sampler import SamplingCancelled, resampling_repeats
from superdiff_core.settings import GenerationSettings


def test_registry_is_the_one_home_of_class_defaults():
    assert model_classes.MODEL_CLASSES == ("cuprates", "pnictides", "others", "everything")
    assert model_classes.FAMILY_CLASSES == ("cuprates", "pnictides", "others")
    everything = model_classes.get_model_class("everything")
    union = sorted(c for name in model_classes.FAMILY_CLASSES for c in model_classes.get_model_class(name).supercon_codes)
    assert sorted(everything.supercon_codes) == union
    with pytest.raises(InputError, match="unknown model class 'metals'"):
        model_classes.get_model_class("metals")
    # the defaults every module reads come from the registry
    assert GenerationSettings("others").resolved().steps == model_classes.get_model_class("others").recommended_steps
    from superdiff_core.screening import ScreeningOptions

    assert ScreeningOptions().element_limit("pnictides") == model_classes.get_model_class("pnictides").max_elements


def test_atomic_path_leaves_the_old_file_when_writing_fails(tmp_path):
    target = tmp_path / "card.json"
    artifacts.write_json_atomically(target, {"value": np.float32(1.5), "array": np.arange(2), "nan": float("nan")})
    assert json.loads(target.read_text()) == {"value": 1.5, "array": [0, 1], "nan": None}
    with pytest.raises(RuntimeError):
        with artifacts.atomic_path(target) as temporary:
            temporary.write_text("half a fi")
            raise RuntimeError("interrupted")
    assert json.loads(target.read_text())["value"] == 1.5
    assert sorted(p.name for p in tmp_path.iterdir()) == ["card.json"]  # no temporary left behind


def test_read_card_is_empty_or_raises_by_request(tmp_path):
    assert artifacts.read_card(tmp_path) == {}
    with pytest.raises(CheckpointError, match="rebuild it with: superdiff x"):
        artifacts.read_card(tmp_path, "superdiff x")
    (tmp_path / "card.json").write_text("{not json")
    assert artifacts.read_card(tmp_path) == {}
    with pytest.raises(CheckpointError, match="corrupt"):
        artifacts.read_card(tmp_path, "superdiff x")


def test_missing_models_become_notes_not_errors(tmp_path):
    models = load_run_models(tmp_path, "cuprates")
    assert models.property_models is None and models.class_map is None and models.phases is None
    assert [note.split(":")[0] for note in models.notes] == ["no property scores", "no map placement", "no known-compound columns",
                                                            "no hull distances"]


def test_add_properties_uses_models_already_loaded():
    from superdiff_core.properties import load_property_models

    vectors = np.array([parse_formula("YBa2Cu3O7"), parse_formula("NaCl")])
    table = add_properties(pd.DataFrame({"formula": ["YBa2Cu3O7", "NaCl"]}), vectors, load_property_models())
    assert table["is_superconductor"].tolist() == [True, False]


def test_screen_formulas_keeps_input_order_and_extra_columns():
    extra = pd.DataFrame({"formula": ["MgB2", "??", "NaCl"], "source": ["a", "b", "c"]})
    record = screen_formulas(extra["formula"].tolist(), RunModels(), extra_columns=extra)
    assert list(record.table["formula"]) == ["MgB2", "??", "NaCl"]
    assert list(record.table["source"]) == ["a", "b", "c"]
    assert record.table.loc[1, "note"].startswith("unparsable formula")
    assert [stage.count for stage in record.leading_stages] == [3, 2]
    assert pd.isna(record.table.loc[1, "smact_valid"]) and record.table.loc[2, "smact_valid"]


def test_screen_csv_carries_the_tc_interval_and_the_formation_spread(tmp_path):
    from superdiff_core.properties import load_property_models
    from superdiff_core.results import write_candidates_csv

    record = screen_formulas(["YBa2Cu3O7", "NaCl", "??"], RunModels(property_models=load_property_models()))
    written = pd.read_csv(write_candidates_csv(record.table, tmp_path / "screened.csv"))
    columns = list(written.columns)
    start = columns.index("tc_kelvin")
    assert columns[start : start + 3] == ["tc_kelvin", "tc_kelvin_low", "tc_kelvin_high"]
    assert columns[columns.index("formation_energy_ev_per_atom") + 1] == "formation_energy_std_ev_per_atom"
    ybco, nacl, bad = (written.iloc[row] for row in range(3))
    assert ybco["tc_kelvin_low"] < ybco["tc_kelvin"] < ybco["tc_kelvin_high"] and ybco["formation_energy_std_ev_per_atom"] > 0
    assert (nacl["tc_kelvin_low"], nacl["tc_kelvin"], nacl["tc_kelvin_high"]) == (0.0, 0.0, 0.0)
    assert bad[["tc_kelvin_low", "tc_kelvin_high", "formation_energy_std_ev_per_atom"]].isna().all()


def test_stopping_a_run_keeps_the_runs_already_finished(engine, test_class):
    settings = GenerationSettings(test_class, references=("BaFe2As2",), scale_factors=(2, 3), samples=8, steps=4,
                                  screening=GenerationSettings(test_class).screening.__class__(keep_invalid=True)).resolved()
    cancel = threading.Event()
    steps_per_run = sum(resampling_repeats(settings.steps, settings.resample_steps, settings.resample_count))

    def progress(done: int, total: int) -> None:
        if done > steps_per_run:  # the first (reference, N) run is finished: stop during the second
            cancel.set()

    record = run_generation(engine, settings, RunModels(), progress=progress, cancel=cancel)
    assert record.partial and record.raw_samples == 8 and record.engine_stages[0].remaining == 8
    assert set(record.table["scale_factor"]) <= {2}

    cancel.set()
    with pytest.raises(SamplingCancelled):
        run_generation(engine, settings, RunModels(), cancel=cancel, keep_partial=False)


def test_settings_json_round_trips():
    settings = GenerationSettings("cuprates", references=("HgBa2Ca2Cu3O8.27",), scale_factors=(2, 4), samples=123, seed=7)
    text = run_settings_json(settings, Thresholds(10.0, -0.1))
    again, thresholds = settings_from_json(text)
    assert again == settings.resolved() and thresholds == Thresholds(10.0, -0.1)
    assert "superdiff generate --model cuprates --reference HgBa2Ca2Cu3O8.27" in json.loads(text)["command"]
    with pytest.raises(InputError, match="not a SuperDiff run-settings file"):
        settings_from_json('{"format": "other"}')


def test_text_file_with_a_csv_header_is_read_as_csv():
    table = read_formula_table("scored.txt", "formula,actual,note\nMgB2,39,\nNaCl,0,x\n")
    assert table["formula"].tolist() == ["MgB2", "NaCl"] and "actual" in table.columns
    plain = read_formula_table("list.txt", "# mine\nMgB2\n\nformulas are here\n")
    assert plain["formula"].tolist() == ["MgB2", "formulas are here"]
    with pytest.raises(InputError, match="no 'formula' column"):
        read_formula_table("x.csv", "name,Tc\nMgB2,39\n")


def test_funnel_counts_stop_at_a_missing_stage():
    table = pd.DataFrame({"smact_valid": [True, True, False], "is_superconductor": [True, False, True]})
    stages, mask = table_funnel(table, Thresholds())
    assert [s.count for s in stages] == [2, 1, None, None]
    assert not mask.any()


def test_funnel_counts_smact_valid_and_names_the_check_the_run_applied():
    table = pd.DataFrame({"smact_valid": [True, False, False], "smact_valid_integer": [True, True, True],
                          "is_superconductor": [True, True, False]})
    default, _ = table_funnel(table, Thresholds())
    mixed, _ = table_funnel(table, Thresholds(), "mixed_valence")
    assert (default[0].label, default[0].count, default[1].count) == ("valid (bounded charge balance)", 1, 1)
    assert (mixed[0].label, mixed[0].count) == ("valid (mixed-valence SMACT)", 1)  # smact_valid holds the run's verdict
    with pytest.raises(InputError, match="unknown validity check 'nonsense': choose one of integer, mixed_valence, bounded"):
        table_funnel(table, Thresholds(), "nonsense")
    record = screen_formulas(["YBa2Cu3O6.9"], RunModels(), map_class="cuprates", validity_check="mixed_valence")
    assert record.validity_check == "mixed_valence"
    assert {"smact_valid", "smact_status", "smact_valid_integer", "smact_valid_mixed_valence",
            "smact_valid_bounded"} <= set(record.table.columns)


@pytest.mark.parametrize("flag, check", [(True, "mixed_valence"), (False, "integer")])
def test_old_settings_json_with_the_mixed_valence_flag_reruns_its_check(flag, check):
    document = json.loads(run_settings_json(GenerationSettings("cuprates", references=("YBa2Cu3O7",))))
    screening = document["settings"]["screening"]
    assert screening["validity_check"] == "bounded" and "mixed_valence" not in screening  # new files write the check
    del screening["validity_check"]
    screening["mixed_valence"] = flag  # as files written before the validity registry
    settings, _ = settings_from_json(json.dumps(document))
    assert settings.screening.validity_check == check
    assert f"--validity {check}" in json.loads(run_settings_json(settings))["command"]


def test_a_settings_file_from_before_precision_reruns_in_float32_and_new_ones_name_theirs():
    from superdiff_core.device import default_precision

    document = json.loads(run_settings_json(GenerationSettings("cuprates", references=("YBa2Cu3O7",))))
    assert document["settings"]["precision"] == default_precision() in ("fp32", "bf16")  # this machine's, written out
    assert f"--precision {default_precision()}" in document["command"]
    del document["settings"]["precision"]  # as every file written before the setting
    settings, _ = settings_from_json(json.dumps(document))
    assert settings.precision == "fp32" and "--precision fp32" in json.loads(run_settings_json(settings))["command"]
    with pytest.raises(InputError, match="unknown precision 'fp16': choose one of fp32, bf16"):
        GenerationSettings("cuprates", precision="fp16").resolved()


@pytest.mark.parametrize("screening, message", [
    ({"validity_check": "nonsense"}, "unknown validity check 'nonsense': choose one of integer, mixed_valence, bounded"),
    ({"validity_check": 3}, "validity_check must be text"),
    ({"mixed_valence": "yes"}, "mixed_valence must be true or false"),
    ({"mixed_valence": True, "validity_check": "bounded"}, "not both"),
])
def test_bad_validity_in_a_settings_json_is_one_line(screening, message):
    document = json.loads(run_settings_json(GenerationSettings("cuprates", references=("YBa2Cu3O7",))))
    document["settings"]["screening"].update(screening)
    with pytest.raises(InputError, match=message) as error:
        settings_from_json(json.dumps(document))
    assert "\n" not in str(error.value)


def test_known_compounds_sit_next_to_the_prediction():
    from superdiff_core.maps import load_class_map

    known_map = load_class_map(model_class="everything")
    formulas = ["YBa2Cu3O7", "Xe2Kr3", "??", "Pu3Np2Am5"]
    record = screen_formulas(formulas, RunModels(known_map=known_map))
    rows = record.table.set_index("formula")
    ybco = rows.loc["YBa2Cu3O7"]
    assert ybco["nearest_known_formula"].startswith("YBa2Cu3O") and ybco["distance_to_known"] < 0.01
    assert ybco["known_close_count"] >= 5 and 80 <= ybco["known_close_tc_median_kelvin"] <= 95
    assert not ybco["outside_training_domain"]
    for far in ("Xe2Kr3", "Pu3Np2Am5"):
        assert rows.loc[far, "outside_training_domain"] and "outside the training domain" in rows.loc[far, "note"]
        assert rows.loc[far, "known_close_count"] == 0 and np.isnan(rows.loc[far, "known_close_tc_median_kelvin"])
    assert rows.loc["??", "nearest_known_formula"] == "" and pd.isna(rows.loc["??", "outside_training_domain"])


def test_a_run_times_each_phase_and_logs_them(engine, test_class):
    """Sampling and screening are timed apart (issue 20.5: the per-stage times in the run's log)."""
    settings = GenerationSettings(test_class, references=("BaFe2As2",), scale_factors=(2,), samples=8, steps=4)
    record = run_generation(engine, settings, RunModels())
    assert list(record.timings)[:2] == ["sampling", "screening"] and list(record.timings)[-1] == "total"
    assert all(seconds >= 0 for seconds in record.timings.values())
    assert record.timings["sampling"] + record.timings["screening"] <= record.timings["total"]
    line = record.timing_line()
    assert line.startswith("seconds: sampling ") and "screening" in line and line.endswith(f"total {record.timings['total']:.1f}")


def test_nearest_known_formulas_are_spelled_as_chemists_write_them():
    from superdiff_core.maps import load_class_map

    known_map = load_class_map(model_class="everything")
    assert {"B2Mg1", "Nb3Sn0.2Sn0.8"} <= set(known_map.formulas)  # SuperCon's own spelling of MgB2 and Nb3Sn
    order = known_map.element_order
    assert order.write("B2Mg1") == "MgB2" and order.write("Nb3Sn0.2Sn0.8") == "Nb3Sn"
    assert order.write("La1.85Sr0.15Cu1O4") == "La1.85Sr0.15CuO4" and order.write("D0.13Nb1") == "D0.13Nb"
    record = screen_formulas(["MgB2", "Nb3Sn", "YBa2Cu3O7"], RunModels(known_map=known_map))
    assert record.table["nearest_known_formula"].tolist() == ["MgB2", "Nb3Sn", "YBa2Cu3O7"]
    written = set(known_map.reference_table()["formula"])  # the map's hover text too
    assert "MgB2" in written and "B2Mg1" not in written and "Nb3Sn0.2Sn0.8" not in written


@pytest.mark.parametrize("check", ["integer", "bounded"])
def test_families_count_valid_members_by_the_runs_own_check(check):
    """The funnel's SMACT stage and the families' valid members read the same verdict, for either check."""
    from superdiff_core.maps import load_class_map

    formulas = [f"YBa2Cu3O{oxygen}" for oxygen in (6.0, 6.2, 6.4, 6.5, 6.6, 6.8, 7.0)] + [
        f"Y{1 - x:.1f}Ca{x:.1f}Ba2Cu3O7" for x in (0.1, 0.2, 0.3)]
    record = screen_formulas(formulas, RunModels(class_map=load_class_map(model_class="cuprates")),
                             map_class="cuprates", validity_check=check)
    assert record.validity_check == check and record.families is not None and len(record.families)
    valid = record.table["smact_valid"].astype("boolean").fillna(False)
    for family in record.families.itertuples():
        members = record.table["family_id"] == family.family_id
        assert family.n_valid == int(valid[members].sum())
    stages, _ = table_funnel(record.table, Thresholds(), check)
    validity_stage = next(stage for stage in stages if stage.label in validity_stage_words(check))
    assert validity_stage.count == int(valid.sum())


def test_a_doping_variant_is_found_among_every_known_compound_of_its_elements():
    """Lightly fluorinated Hg-1223: its 32 nearest known compounds are all oxygen variants of Hg-1223,
    yet a fluorinated one lies within the doping distance; Sr for Ba is an element set SuperCon lacks."""
    from superdiff_core.known_compounds import DOPING_VARIANT_DISTANCE, nearest_known
    from superdiff_core.maps import load_class_map

    known_map = load_class_map(model_class="cuprates")
    vectors = np.array([parse_formula(f) for f in ("Hg0.99Ba1.91Ca2.01Cu2.95O7.98F0.29", "HgBa2Ca2Cu3O8.27", "HgSr2Ca2Cu3O8")])
    table, _ = nearest_known(vectors, known_map)
    fluorinated, itself, new = table["doping_variant_of"].tolist()
    assert "F" in fluorinated and table["nearest_known_formula"].iloc[0] != fluorinated
    assert itself == "HgBa2Ca2Cu3O8.27" and new == ""
    variant = parse_formula(fluorinated)
    gap = np.linalg.norm(vectors[0] / vectors[0].sum() - variant / variant.sum())
    assert gap <= DOPING_VARIANT_DISTANCE


def test_names_in_a_settings_mapping_are_read_in_any_case():
    """A settings file saying "DDIM" runs DDIM, as ``--method DDIM`` does on the command line."""
    settings = GenerationSettings.from_mapping({"model_class": "cuprates", "method": "DDIM", "filter_order": "Z", "clip": "Widened"})
    assert (settings.method, settings.filter_order, settings.clip) == ("ddim", "z", "widened")
    with pytest.raises(InputError, match="unknown method 'euler'"):
        GenerationSettings.from_mapping({"model_class": "cuprates", "method": "Euler"}).resolved()
