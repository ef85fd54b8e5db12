"""The Streamlit app: plain UI logic (no Streamlit) and every page through AppTest.

AppTest runs the real pages in this process with the committed checkpoints, on small
runs (a few dozen samples, 20 steps) and one torch thread.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from superdiff_core import formula_lists, funnel, model_classes, run_settings
from superdiff_core.artifacts import DEFAULT_MODELS_DIR
from superdiff_core.candidate_filter import CandidateFilter, filter_candidates
from superdiff_core.checkpoints import available_classes
from superdiff_core.composition import ELEMENT_SYMBOLS, parse_formula
from superdiff_core.errors import InputError
from superdiff_core.funnel import validity_stage_words
from superdiff_core.results import CANDIDATE_COLUMNS, candidates_to_csv
from superdiff_core.run import RunModels, RunRecord, screen_formulas
from superdiff_core.screening import ScreeningOptions, StageCount
from superdiff_core.settings import GenerationSettings
from superdiff_core.shortlist import shortlist
from superdiff_core.validity import CHECK_COLUMNS, DEFAULT_VALIDITY_CHECK, VALIDITY_CHECKS
from ui import candidate_table, formatting, model_facts, periodic_table, plots

APP = str(Path(__file__).resolve().parent.parent / "app.py")
RUN_TIMEOUT = 180
PAGES = ("app_pages/generate.py", "app_pages/explore.py", "app_pages/screen.py", "app_pages/elements.py", "app_pages/models.py",
         "app_pages/help.py")


pytestmark = pytest.mark.usefixtures("one_torch_thread")


# =======================================================================================
# Plain logic
# =======================================================================================


def elements(formula: str) -> frozenset[str]:
    vector = parse_formula(formula)
    return frozenset(ELEMENT_SYMBOLS[i] for i in np.flatnonzero(vector))


@pytest.mark.parametrize(
    ("formula", "expected"),
    [
        ("YBa2Cu3O7", "cuprates"),
        ("La1.85Sr0.15CuO4", "cuprates"),
        ("BaFe2As2", "pnictides"),
        ("FeSe", "pnictides"),
        ("LaNiPO", "pnictides"),
        ("FeTe0.5Se0.5", "pnictides"),
        ("MgB2", "others"),
        ("Nb3Sn", "others"),
        ("CuS", "others"),
        ("FeO", "others"),
    ],
)
def test_suggest_class(formula, expected):
    suggestion = model_classes.suggest_class(elements(formula))
    assert suggestion.model_class == expected
    assert suggestion.reason


def test_suggestion_for_several_references():
    assert model_classes.suggest_class_for([]) is None
    assert model_classes.suggest_class_for([elements("YBa2Cu3O7"), elements("HgBa2CuO4")]).model_class == "cuprates"
    mixed = model_classes.suggest_class_for([elements("YBa2Cu3O7"), elements("BaFe2As2")])
    assert mixed.model_class == "everything" and "cuprates" in mixed.reason and "pnictides" in mixed.reason


def test_references_are_grouped_by_their_class():
    from superdiff_core.composition import parse_formulas
    from superdiff_core.run import references_by_class, run_generation_per_class

    parsed, _ = parse_formulas("BaFe2As2\nYBa2Cu3O7\nFeSe")
    groups = references_by_class(parsed, ["cuprates", "pnictides", "others", "everything"])
    assert {c: [r.text for r in refs] for c, refs in groups.items()} == {"pnictides": ["BaFe2As2", "FeSe"], "cuprates": ["YBa2Cu3O7"]}
    assert list(references_by_class(parsed, ["cuprates", "everything"])) == ["everything", "cuprates"]  # no pnictides model
    assert references_by_class(parsed, []) == {}
    stopped = __import__("threading").Event()
    stopped.set()
    loaded = []
    records = run_generation_per_class(loaded.append, settings(), groups, loaded.append, cancel=stopped)
    assert records == [] and loaded == []  # stopped before the first class: nothing loaded, nothing run


def test_default_class_and_mismatch():
    cuprate = model_classes.ClassSuggestion("cuprates", "it contains Cu and O")
    assert model_classes.default_class(cuprate, ["cuprates", "pnictides"]) == "cuprates"
    assert model_classes.default_class(cuprate, ["pnictides", "everything"]) == "everything"
    assert model_classes.default_class(cuprate, ["pnictides", "others"]) == "pnictides"
    assert model_classes.default_class(None, []) is None
    assert model_classes.class_mismatch_warning("cuprates", cuprate) is None
    assert model_classes.class_mismatch_warning("everything", cuprate) is None
    assert model_classes.class_mismatch_warning("pnictides", None) is None
    warning = model_classes.class_mismatch_warning("pnictides", cuprate)
    assert "cuprates" in warning and "pnictides" in warning
    assert "everything" in model_classes.class_mismatch_warning("others",
                                                               model_classes.ClassSuggestion("everything", "x (cuprates, others)"))


def five_candidates() -> pd.DataFrame:
    """Five candidates covering the funnel's cases."""
    return pd.DataFrame({
        "formula": ["A", "B", "C", "D", "E"],
        "scale_factor": pd.array([2, 2, 3, 4, 4], dtype="Int64"),
        "smact_valid": [True, True, True, False, True],
        "novel": [True, True, True, True, False],
        "sc_probability": [0.9, 0.8, 0.2, 0.9, 0.9],
        "is_superconductor": pd.array([True, True, False, True, True], dtype="boolean"),
        "tc_kelvin": [30.0, 4.0, 0.0, 40.0, 50.0],
        "formation_energy_ev_per_atom": [-0.5, -0.2, -0.1, -0.3, np.nan],
        "family_id": ["N1", "N1", "", "K1", ""],
    })


def test_funnel_counts_and_thresholds():
    stages = [
        StageCount("raw", 0, 100), StageCount("non-negative", 40, 60), StageCount("element count", 10, 50),
        StageCount("unique", 2, 48), StageCount("novel", 1, 47), StageCount("SMACT-valid", 42, 5),
    ]
    shown, mask = funnel.engine_funnel(stages, five_candidates(), funnel.Thresholds(5.0, 0.0))
    assert [s.label for s in shown][:4] == ["raw samples", "basic filters", "unique", "novel"]
    assert [s.count for s in shown] == [100, 50, 48, 47, 3, 2, 1, 1]  # E is known, D invalid, C not SC, B Tc 4 K
    assert shown[-2].label == "Tc > 5 K" and shown[-1].label == "formation energy < 0 eV/atom"
    assert mask.tolist() == [True, False, False, False, False]
    looser, _ = funnel.table_funnel(five_candidates(), funnel.Thresholds(3.0, 0.0))
    assert [s.count for s in looser] == [3, 2, 2, 2]


def test_funnel_without_property_models():
    table = five_candidates()[["formula", "smact_valid", "novel"]]
    shown, mask = funnel.table_funnel(table, funnel.Thresholds())
    assert [s.count for s in shown] == [3, None, None, None]
    assert not mask.any()
    frame = funnel.funnel_frame(shown)
    assert frame["remaining"].isna().sum() == 3 and frame.loc[0, "of first stage"] == "100.0 %"


def test_filter_candidates():
    table = five_candidates()
    assert list(filter_candidates(table, CandidateFilter(new_only=False))["formula"]) == list("ABCDE")
    assert list(filter_candidates(table, CandidateFilter(new_only=False, tc_min_kelvin=30))["formula"]) == ["A", "D", "E"]
    assert list(filter_candidates(table, CandidateFilter(new_only=False, formation_max_ev=-0.25))["formula"]) == ["A", "D"]
    assert list(filter_candidates(table, CandidateFilter(new_only=False, families=("N1",)))["formula"]) == ["A", "B"]
    assert list(filter_candidates(table, CandidateFilter(new_only=False, scale_factors=(4,)))["formula"]) == ["D", "E"]
    assert list(filter_candidates(table, CandidateFilter(new_only=False, rows=(1, 3, 99)))["formula"]) == ["B", "D"]
    assert list(filter_candidates(table, CandidateFilter(new_only=False, formula_contains="C"))["formula"]) == ["C"]
    mask = np.array([True, False, False, False, True])
    assert list(filter_candidates(table, CandidateFilter(new_only=False, funnel_only=True), mask)["formula"]) == ["A", "E"]
    # a Tc filter without predictions leaves nothing rather than everything
    assert filter_candidates(table[["formula"]], CandidateFilter(new_only=False, tc_min_kelvin=1)).empty


def test_selected_rows_keep_candidates_only():
    points = [
        {"legendgroup": "candidates", "customdata": ["A", "3 K", "x", 4]},
        {"legendgroup": "candidates", "customdata": ["B", "n/a", "x", 1]},
        {"legendgroup": "supercon:Ba-Fe-As", "customdata": ["BaFe2As2", "38 K", "Ba-Fe-As"]},
        {"legendgroup": "reference", "customdata": ["BaFe2As2", "n/a"]},
        {"legendgroup": "candidates"},
    ]
    assert candidate_table.selected_rows(points) == (1, 4)
    assert candidate_table.selected_rows([]) == ()


def test_every_table_column_has_the_help_of_the_csv_column():
    from superdiff_core.results import COLUMN_HELP
    from ui.results import _column_config

    config = _column_config(12)
    assert set(candidate_table.DISPLAY_COLUMNS) <= set(config)
    for column in candidate_table.DISPLAY_COLUMNS:
        assert COLUMN_HELP[column] in config[column]["help"], column  # one description: Help page, CSV and table
    assert "Euclidean distance between the atomic-fraction vectors" in config["distance_to_known"]["help"]


def settings(**changes) -> GenerationSettings:
    values = dict(model_class="pnictides", references=("BaFe₂As₂",), scale_factors=(2, 3, 4), samples=200, steps=50, seed=7)
    values.update(changes)
    return GenerationSettings(**values)


def test_file_stem_names_the_run():
    assert run_settings.file_stem(settings()) == "superdiff_BaFe2As2_pnictides_N2-4_200x50ancestral_seed7"
    assert run_settings.file_stem(settings(references=("Ba(Fe0.9Co0.1)2As2",), scale_factors=(2, 4))).startswith(
        "superdiff_BaFe1.8Co0.2As2_pnictides_N2_4_"
    )
    many = run_settings.file_stem(settings(references=("YBa2Cu3O7", "HgBa2CuO4", "La2CuO4", "Bi2Sr2CaCu2O8"), model_class="cuprates"))
    assert many.startswith("superdiff_YBa2Cu3O7+HgBa2CuO4+2more_cuprates_N2-4")
    unconditional = settings(references=(), model_class="others", method="ddpm")
    assert run_settings.file_stem(unconditional) == "superdiff_unconditional_others_200x50ddpm_seed7"
    assert run_settings.screen_file_stem(["A", "B"], "everything") == "superdiff_screen_2formulas_everything"
    guided = run_settings.file_stem(settings(guidance={"tc": 1.0, "formation": 0.5}))
    assert guided.endswith("_guided-tc1-formation0.5") and not run_settings.file_stem(settings()).count("guided")


def test_run_settings_json_round_trip():
    original = settings(screening=ScreeningOptions(residual_threshold=0.1, max_elements=4, validity_check="mixed_valence"))
    card = {"data": {"sha256": "abc"}, "architecture": {"parameters": 10}, "training": {"best_epoch": 3}}
    text = run_settings.run_settings_json(original, funnel.Thresholds(10.0, -0.1), card)
    document = json.loads(text)
    assert document["model"] == {"model_class": "pnictides", "data_sha256": "abc", "parameters": 10, "best_epoch": 3, "element_order": "z"}
    assert document["command"].startswith("superdiff generate --model pnictides --reference 'BaFe₂As₂' --scale-factor 2 3 4")
    from superdiff_core.sampler import DEFAULT_CONDITIONING_STOP

    assert "--validity mixed_valence" in document["command"] and f"--ilvr-stop {DEFAULT_CONDITIONING_STOP}" in document["command"]
    restored, thresholds = run_settings.settings_from_json(text)
    assert restored == original.resolved()  # the file records the settings with every default decided
    assert thresholds == funnel.Thresholds(10.0, -0.1)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("not json", "not a JSON file"),
        ("{}", "not a SuperDiff run-settings file"),
        ('{"format": "superdiff-run-settings"}', "no \"settings\""),
        ('{"format": "superdiff-run-settings", "settings": {"model_class": "pnictides", "colour": 1}}', "unknown setting 'colour'"),
        ('{"format": "superdiff-run-settings", "settings": {"model_class": "pnictides", "samples": 0}}', "samples must be"),
    ],
)
def test_bad_run_settings_json(text, message):
    with pytest.raises(InputError, match=message):
        run_settings.settings_from_json(text)


def test_formulas_from_uploads_and_text():
    assert formula_lists.formulas_from_text("YBa2Cu3O7\n# a comment\nMgB2, Nb3Sn\n\n") == ["YBa2Cu3O7", "MgB2", "Nb3Sn"]
    assert formula_lists.formulas_from_upload("list.txt", b"# mine\nYBa2Cu3O7\n\nMgB2\n") == ["YBa2Cu3O7", "MgB2"]
    assert formula_lists.formulas_from_upload("t.csv", b"formula,tc\nYBa2Cu3O7,92\nMgB2,39\n") == ["YBa2Cu3O7", "MgB2"]
    with pytest.raises(InputError, match="no 'formula' column"):
        formula_lists.formulas_from_upload("t.csv", b"name,tc\nx,1\n")
    with pytest.raises(InputError, match="not a UTF-8"):
        formula_lists.formulas_from_upload("t.txt", b"\xff\xfe\x00Y")
    with pytest.raises(InputError, match="no formula"):
        formula_lists.formulas_from_upload("t.txt", b"# only a comment\n")
    with pytest.raises(InputError, match="at most"):
        formula_lists.check_formula_count(["MgB2"] * (formula_lists.MAX_SCREEN_FORMULAS + 1))


def test_periodic_table_positions_and_heat_map_data():
    positions = {symbol: periodic_table.periodic_position(i + 1) for i, symbol in enumerate(ELEMENT_SYMBOLS)}
    assert positions["H"] == (1, 1) and positions["He"] == (1, 18)
    assert positions["B"] == (2, 13) and positions["Fe"] == (4, 8) and positions["Cu"] == (4, 11)
    assert positions["Ba"] == (6, 2) and positions["Hf"] == (6, 4) and positions["Rn"] == (6, 18)
    assert positions["La"] == (9, 3) and positions["Lu"] == (9, 17) and positions["Cm"] == (10, 10)
    assert len(set(positions.values())) == len(ELEMENT_SYMBOLS)  # no two elements share a cell
    vectors = np.array([parse_formula(f) for f in ("YBa2Cu3O7", "La2CuO4", "MgB2", "MgO")])
    data = periodic_table.element_tc_probability(vectors, np.array([92.0, 0.0, 39.0, np.nan]), 3.0)
    by_symbol = data.set_index("symbol")
    assert by_symbol.loc["Cu", "compounds"] == 2 and by_symbol.loc["Cu", "probability"] == 0.5
    assert by_symbol.loc["Mg", "compounds"] == 1 and by_symbol.loc["Mg", "probability"] == 1.0  # MgO has no Tc
    values, labels = periodic_table.periodic_grid(data, min_compounds=2)
    assert values.shape == labels.shape == (10, 18)
    assert values[3, 10] == 0.5 and np.isnan(values[2, 1])  # Cu coloured, Mg (1 compound) grey
    assert labels[0, 0] == "H" and labels[9, 9] == "Cm"


def test_table_1_and_card_helpers():
    frame = model_facts.table_1_frame({"novel_percent": 99.5, "tc_mean_kelvin": float("nan"), "published": {"novel_percent": 100.0}})
    assert frame.loc[0, "this run"] == 99.5 and frame.loc[0, "published (500,000 samples)"] == 100.0
    assert pd.isna(frame.loc[4, "this run"])
    card = {"training": {"best_epoch": 4, "loss": [1, 2]}, "flag": True, "config": {"k": 3, "scaling": "fraction"}}
    assert model_facts.card_value(card, "training.best_epoch") == 4 and model_facts.card_value(card, "training.x.y", 0) == 0
    rows = [("epoch", "training.best_epoch"), ("loss", "training.loss"), ("flag", "flag"), ("none", "x"), ("config", "config")]
    facts = model_facts.facts_frame(card, rows)
    assert facts["value"].tolist() == ["4", "1, 2", "yes", "k: 3; scaling: fraction"]
    assert formatting.progress_text(30, 120, 6.0) == "Sampling: step 30 of 120 · 6.0 s elapsed · about 18.0 s left"
    assert formatting.format_seconds(65) == "1 min 05 s"


def test_figures_build():
    reference = pd.DataFrame({
        "formula": ["BaFe2As2", "SrFe2As2", "FeSe"], "tsne_x": [0.0, 1.0, 5.0], "tsne_y": [0.0, 1.0, 5.0],
        "cluster_name": ["Ba-Fe-As", "Ba-Fe-As", "Fe-Se"], "tc_kelvin": [38.0, 37.0, 8.0],
    })
    candidates = five_candidates().assign(tsne_x=np.arange(5.0), tsne_y=np.arange(5.0), cluster_name="Ba-Fe-As")
    stars = pd.DataFrame({"formula": ["BaFe2As2"], "tsne_x": [0.0], "tsne_y": [0.0], "tc_kelvin": [np.nan]})
    figure = plots.map_figure(reference, candidates, stars, max_named=1)
    groups = [trace.legendgroup for trace in figure.data]
    assert groups == ["supercon:other SuperCon clusters", "supercon:Ba-Fe-As", candidate_table.CANDIDATE_GROUP, "reference:BaFe2As2"]
    assert figure.data[2].marker.symbol == "circle" and figure.data[2].marker.size >= 9 and figure.data[3].marker.symbol == "star"
    assert [row[-1] for row in figure.data[2].customdata] == [0, 1, 2, 3, 4]
    stages = [funnel.FunnelStage("raw", 10), funnel.FunnelStage("SC", None)]
    assert list(plots.funnel_figure(stages).data[0].y) == ["raw"]
    histogram = plots.histogram_figure([1.0, np.nan, 2.0], "Tc", "K", {"ref": 1.5}, threshold=5.0)
    assert "1 without a prediction" in histogram.layout.title.text
    assert histogram.layout.yaxis.tickformat == ",d" and histogram.layout.yaxis.dtick == 1  # whole counts
    heat = periodic_table.element_tc_probability(np.array([parse_formula("MgB2")]), np.array([39.0]), 3.0)
    assert len(plots.periodic_table_figure(heat, 3.0, "t").data) == 3


def test_per_reference_markers_and_histogram_colours():
    reference = pd.DataFrame({"formula": ["X"], "tsne_x": [0.0], "tsne_y": [0.0], "cluster_name": ["c"], "tc_kelvin": [1.0]})
    candidates = five_candidates().assign(
        tsne_x=np.arange(5.0), tsne_y=np.arange(5.0), reference=["BaFe2As2", "BaFe2As2", "FeSe", "FeSe", "FeSe"],
    )
    stars = pd.DataFrame({"formula": ["BaFe2As2", "FeSe"], "tsne_x": [0.0, 4.0], "tsne_y": [0.0, 4.0], "tc_kelvin": [30.0, 8.0]})
    figure = plots.map_figure(reference, candidates, stars)
    candidate_traces = [t for t in figure.data if t.legendgroup == candidate_table.CANDIDATE_GROUP]
    star_traces = [t for t in figure.data if t.marker.symbol == "star"]
    assert [t.name for t in candidate_traces] == ["candidates from BaFe2As2", "candidates from FeSe"]
    assert [t.name for t in star_traces] == ["★ BaFe2As2", "★ FeSe"] and [t.text[0] for t in star_traces] == ["BaFe2As2", "FeSe"]
    assert candidate_traces[0].marker.color == star_traces[0].marker.color != star_traces[1].marker.color
    assert candidate_traces[1].marker.color == star_traces[1].marker.color
    assert sorted(r[-1] for t in candidate_traces for r in t.customdata) == [0, 1, 2, 3, 4]  # rows map back
    histogram = plots.histogram_figure(candidates["tc_kelvin"], "Tc", "K", {"BaFe2As2": 30.0, "FeSe": 8.0}, groups=candidates["reference"])
    assert len(histogram.data) == 2 and histogram.data[0].marker.color != histogram.data[1].marker.color
    heights = [a.y for a in histogram.layout.annotations if a.text.startswith("★")]
    assert len(set(heights)) == 2  # labels at their own heights, no overlap
    spec = CandidateFilter(new_only=False, references=("FeSe",))
    assert filter_candidates(candidates, spec)["formula"].tolist() == ["C", "D", "E"]


def test_doping_plot_draws_points_and_a_fit():
    curve = pd.DataFrame({"x": [0.1, 0.3, 0.2, 0.4, 0.1], "tc_kelvin": [10.0, 30.0, 25.0, 20.0, 12.0], "formula": list("abcde")})
    figure = plots.doping_figure(curve)
    assert figure.data[0].mode == "markers" and figure.data[1].mode == "lines"
    assert np.all(np.diff(figure.data[1].x) > 0)  # the fitted curve is drawn left to right
    assert plots.doping_fit(np.array([1.0, 1.0]), np.array([2.0, 3.0])) is None


def test_format_seconds_in_hours():
    assert formatting.format_seconds(2 * 3600 + 5 * 60) == "2 h 05 min"
    assert formatting.format_seconds(59.0) == "59.0 s"


def test_screen_formulas_keeps_every_row():
    from superdiff_core.maps import load_class_map

    class_map = load_class_map(DEFAULT_MODELS_DIR, "pnictides")
    formulas = ["BaFe2As2", "Xx2O", "BaFe1.9Co0.1As2", "LaFeAsO0.9F0.1"]
    record = screen_formulas(formulas, RunModels(class_map=class_map), map_class="pnictides")
    table, vectors, leading = record.table, record.vectors, record.leading_stages
    assert list(table["formula"]) == formulas
    assert [stage.count for stage in leading] == [4, 3]
    assert table.loc[1, "note"].startswith("unparsable formula") and pd.isna(table.loc[1, "tsne_x"])
    assert table.loc[[0, 2, 3], "tsne_x"].notna().all()
    assert vectors.shape == (4, 96) and not vectors[1].any()
    assert "smact_valid" in table.columns and "tc_kelvin" not in table.columns


# =======================================================================================
# Pages through AppTest
# =======================================================================================

def new_app():
    from streamlit.testing.v1 import AppTest

    return AppTest.from_file(APP, default_timeout=60)


def no_exception(at) -> None:
    assert not at.exception, [e.value for e in at.exception]


def wait_for_run(at, kind: str, timeout: float = RUN_TIMEOUT):
    """Rerun the page (as the progress fragment does in a browser) until its background
    run is finished and stored; returns the app."""
    import time

    deadline = time.monotonic() + timeout
    while at.session_state[f"active:{kind}"] if f"active:{kind}" in at.session_state else False:
        assert time.monotonic() < deadline, "the run did not finish in time"
        active = at.session_state[f"active:{kind}"]
        active.background.wait(0.5)
        at.run(timeout=RUN_TIMEOUT)
    return at


@pytest.fixture(scope="module")
def test_class() -> str:
    classes = available_classes(DEFAULT_MODELS_DIR)
    if not classes:
        pytest.skip("no diffusion checkpoint committed")
    return next(c for c in ("pnictides", "cuprates", "others", "everything") if c in classes)


REFERENCES = {"pnictides": "BaFe2As2", "cuprates": "YBa₂Cu₃O₇", "others": "MgB2", "everything": "MgB2"}


def start_generate(test_class: str, samples: int, steps: int, toggles: tuple[str, ...] = ("generate_keep_invalid",)):
    """A new app session whose Generate page has started a run of the class's reference with
    ``samples`` per N and ``steps``, the toggles named switched on (keep invalid candidates, by
    default: a few rows whatever the yield of the checkpoint)."""
    at = new_app().run()
    at.text_area(key="generate_refs").input(REFERENCES[test_class]).run()
    at.selectbox(key="generate_class").set_value(test_class)
    at.number_input(key="generate_samples").set_value(samples)
    at.number_input(key="generate_steps").set_value(steps)
    for key in toggles:
        at.toggle(key=key).set_value(True)
    return at.button(key="generate_go").click().run(timeout=RUN_TIMEOUT)


@pytest.fixture(scope="module")
def generated(test_class):
    """An app session after one small Generate run (shared by the tests below)."""
    return wait_for_run(start_generate(test_class, 24, 20), "generate")


def test_no_page_has_a_bare_string_that_streamlit_magic_would_show():
    import ast

    root = Path(APP).parent
    for file in [Path(APP), *sorted((root / "app_pages").glob("*.py"))]:
        body = ast.parse(file.read_text(encoding="utf-8")).body
        bare = [node.lineno for node in body[1:]
                if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)]
        assert not bare, f"{file.name} lines {bare}: a string statement after the module docstring is shown on the page"


@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders(page):
    at = new_app().run()
    at.switch_page(page).run()
    no_exception(at)
    assert at.title, f"{page} has no title"


def test_generate_produces_table_and_funnel(generated, test_class):
    at = generated
    no_exception(at)
    assert not at.error
    record = at.session_state["run:generate"]
    assert isinstance(record, RunRecord) and record.model_class == test_class
    assert len(record.table) > 0 and record.vectors.shape == (len(record.table), 96)
    assert [s.stage for s in record.engine_stages][0] == "raw" and record.raw_samples == 72
    subheaders = [s.value for s in at.subheader]
    assert {"Screening funnel", "Candidates"} <= set(subheaders)
    frames = [frame.value for frame in at.dataframe]
    funnel = next(f for f in frames if "stage" in f.columns)
    assert funnel["stage"].iloc[0] == "raw samples" and funnel["remaining"].iloc[0] == 72
    candidates = next(f for f in frames if "formula" in f.columns)
    assert len(candidates) == len(record.table)
    from ui.results import new_family_definition

    assert {m.label: m.proto.help for m in at.metric}["New families"] == f"a new family is {new_family_definition()}"
    assert [m.value for m in at.metric][:2] == ["72", f"{len(record.table):,}"]
    # the page's default validity check screened the run, and the funnel names it
    assert record.validity_check == record.settings.screening.validity_check == DEFAULT_VALIDITY_CHECK
    assert validity_stage_words(DEFAULT_VALIDITY_CHECK)[0] in list(funnel["stage"])
    assert {"smact_valid", *CHECK_COLUMNS} <= set(record.table.columns)


def test_candidate_csv_columns_and_round_trip(generated):
    record = generated.session_state["run:generate"]
    text = candidates_to_csv(record.table)
    header = text.splitlines()[0].split(",")
    known = [c for c in CANDIDATE_COLUMNS if c in record.table.columns]
    assert header[: len(known)] == known and header[:4] == ["formula", "model_class", "reference", "scale_factor"]
    back = pd.read_csv(io.StringIO(text))
    assert len(back) == len(record.table)
    assert back["formula"].tolist() == record.table["formula"].tolist()
    assert set(back["scale_factor"]) <= {2, 3, 4}


def test_results_survive_page_switches(generated):
    at = generated
    record = at.session_state["run:generate"]
    at.switch_page("app_pages/help.py").run()
    no_exception(at)
    at.switch_page("app_pages/elements.py").run()
    no_exception(at)
    assert "Generate results" in at.selectbox(key="elements_source").options
    at.switch_page("app_pages/generate.py").run(timeout=RUN_TIMEOUT)
    no_exception(at)
    assert at.session_state["run:generate"] is record
    assert any(h.value.startswith("Results for") for h in at.header)
    assert at.text_area(key="generate_refs").value == record.settings.reference_texts[0]  # inputs kept too
    assert at.number_input(key="generate_samples").value == 24


def test_filters_narrow_the_table(generated):
    at = generated
    record = at.session_state["run:generate"]
    first = record.table["formula"].iloc[0]
    at.text_input(key="generate_res_text").input(first).run()
    no_exception(at)
    candidates = next(f.value for f in at.dataframe if "formula" in f.value.columns)
    assert len(candidates) >= 1 and all(first in f for f in candidates["formula"])
    at.text_input(key="generate_res_text").input("").run()


def test_changed_inputs_mark_results_out_of_date(generated):
    at = generated
    assert not any("Out of date" in w.value for w in at.warning)
    at.number_input(key="generate_samples").set_value(25).run()
    no_exception(at)
    stale = [w.value for w in at.warning if "Out of date" in w.value]
    assert len(stale) == 1 and "samples" in stale[0]
    at.number_input(key="generate_samples").set_value(24).run()
    assert not any("Out of date" in w.value for w in at.warning)


def test_two_runs_in_the_history_are_compared_and_reopened(generated):
    at = generated
    first = at.session_state["run:generate"]
    at.number_input(key="generate_seed").set_value(1)
    at.button(key="generate_go").click().run(timeout=RUN_TIMEOUT)
    wait_for_run(at, "generate")
    no_exception(at)
    history = at.session_state["run_history"]
    assert [entry.record for entry in history][-2] is first and history[-1].record is at.session_state["run:generate"]
    assert history[-1].record.settings.seed == 1
    assert len(at.multiselect(key="generate_compare").value) == 2
    compared = [m.value for m in at.markdown if m.value.startswith("**#")]
    assert len(compared) == 2 and "seed" not in compared[0]
    assert all("unguided" in label and "resampling" in label for label in compared)  # how each run was steered
    funnels = [f.value for f in at.dataframe if "stage" in f.value.columns]
    assert len(funnels) == 3  # this run's and the two compared
    at.selectbox(key="generate_history_pick").set_value(history[-2].number)
    at.button(key="generate_history_open").click().run()
    assert at.session_state["run:generate"] is first
    assert any("Out of date" in w.value and "seed" in w.value for w in at.warning)  # the inputs still say seed 1
    at.number_input(key="generate_seed").set_value(0).run()


@pytest.mark.slow
def test_run_keeps_going_on_other_pages(test_class):
    at = start_generate(test_class, 16, 100)
    active = at.session_state["active:generate"]
    at.switch_page("app_pages/help.py").run()
    at.switch_page("app_pages/screen.py").run()
    no_exception(at)
    assert not active.cancel.is_set()  # leaving the page does not stop it
    at.switch_page("app_pages/generate.py").run(timeout=RUN_TIMEOUT)
    wait_for_run(at, "generate")
    no_exception(at)
    record = at.session_state["run:generate"]
    assert not record.partial and record.raw_samples == 3 * 16 and record.settings.steps == 100
    assert any(h.value.startswith("Results for") for h in at.header)


@pytest.mark.slow
def test_stop_keeps_the_finished_runs(test_class):
    import time

    at = start_generate(test_class, 8, 400)  # each of the 3 runs long enough for Stop to land in the second
    active = at.session_state["active:generate"]
    deadline = time.monotonic() + RUN_TIMEOUT
    while active.progress.total == 0 or active.progress.done <= active.progress.total // 3:  # first of 3 runs done
        assert time.monotonic() < deadline and not active.background.finished
        time.sleep(0.02)
    at.button(key="generate_stop").click().run()
    wait_for_run(at, "generate")
    no_exception(at)
    record = at.session_state["run:generate"]
    finished = record.raw_samples // 8
    assert record.partial and 1 <= finished < 3
    assert set(record.table["scale_factor"].dropna().astype(int)) <= set(range(2, 2 + finished))
    assert any(f"Partial: stopped after {finished} of 3" in w.value for w in at.warning)
    assert at.session_state["run_history"][-1].record is record


def test_time_estimate_and_confirmation(test_class):
    at = new_app().run()
    at.text_area(key="generate_refs").input(REFERENCES[test_class]).run()
    at.selectbox(key="generate_class").set_value(test_class).run()
    assert any("Estimated time" in c.value for c in at.caption)
    assert not at.checkbox  # a short run asks nothing
    at.number_input(key="generate_samples").set_value(100_000)
    at.number_input(key="generate_steps").set_value(1000).run()
    no_exception(at)
    estimate = next(c.value for c in at.caption if "Estimated time" in c.value)
    assert " h " in estimate  # 300,000 samples × 1,000 steps is hours on a CPU
    assert at.button(key="generate_go").disabled
    at.checkbox(key="generate_confirm").check().run()
    assert not at.button(key="generate_go").disabled


TWO_REFERENCES = {"pnictides": "BaFe2As2\nFeSe", "cuprates": "YBa2Cu3O7\nLa2CuO4", "others": "MgB2\nNb3Sn", "everything": "MgB2\nNb3Sn"}
"""Two references of the test class."""


def chart_data(at, title_start: str) -> list[dict]:
    """The traces of the Plotly chart whose title starts with ``title_start`` (AppTest has
    no Plotly element of its own: the figure is the chart's JSON spec)."""
    for chart in at.get("plotly_chart"):
        spec = json.loads(chart.proto.spec)
        title = spec["layout"].get("title", {})
        if str(title.get("text", "") if isinstance(title, dict) else title).startswith(title_start):
            return spec["data"]
    raise AssertionError(f"no chart titled {title_start!r}")


def small_run(at, references: str, model_class: str | None = None, samples: int = 12):
    """Type ``references``, choose a small run (N 2–3, 20 steps, invalid candidates kept)
    and generate; returns the app once the run is stored."""
    at.text_area(key="generate_refs").input(references).run()
    if model_class is not None:
        at.selectbox(key="generate_class").set_value(model_class)
    at.slider(key="generate_n").set_value((2, 3))
    at.number_input(key="generate_samples").set_value(samples)
    at.number_input(key="generate_steps").set_value(20)
    at.toggle(key="generate_keep_invalid").set_value(True)
    at.button(key="generate_go").click().run(timeout=RUN_TIMEOUT)
    return wait_for_run(at, "generate")


def test_each_reference_has_its_own_marker_colour_and_filter(test_class):
    at = small_run(new_app().run(), TWO_REFERENCES[test_class], test_class)
    no_exception(at)
    record = at.session_state["run:generate"]
    first, second = record.settings.reference_texts
    traces = chart_data(at, f"{test_class}: SuperCon clusters")
    stars = {t["name"]: t for t in traces if t.get("marker", {}).get("symbol") == "star"}
    assert set(stars) == {f"★ {first}", f"★ {second}"}
    assert [stars[f"★ {r}"]["text"] for r in (first, second)] == [[first], [second]]  # labelled with the formula
    colours = {r: stars[f"★ {r}"]["marker"]["color"] for r in (first, second)}
    assert colours[first] != colours[second]
    for trace in traces:  # candidates in their reference's colour, large enough to see at a glance
        if trace["name"].startswith("candidates from "):
            assert trace["marker"]["color"] == colours[trace["name"].removeprefix("candidates from ")]
            assert trace["marker"]["size"] >= 9
    origins = set(record.table["reference"])
    assert len([t for t in traces if t["name"].startswith("candidates from ")]) == len(origins)
    energy = chart_data(at, "Formation energy")
    if record.table.groupby("reference")["formation_energy_ev_per_atom"].count().gt(0).sum() == 2:
        assert {t["marker"]["color"] for t in energy} == set(colours.values())  # one histogram colour per reference
    chosen = at.multiselect(key="generate_res_references")
    assert set(chosen.options) == origins
    chosen.set_value([second]).run()
    shown = next(f.value for f in at.dataframe if "formula" in f.value.columns)
    assert len(shown) == int((record.table["reference"] == second).sum())
    no_exception(at)


@pytest.mark.slow
def test_references_of_two_classes_run_on_their_own_models():
    classes = available_classes(DEFAULT_MODELS_DIR)
    if not {"pnictides", "cuprates"} <= set(classes):
        pytest.skip("needs the pnictides and cuprates models")
    at = new_app().run()
    at.text_area(key="generate_refs").input("BaFe2As2\nYBa2Cu3O7").run()
    assert at.toggle(key="generate_per_class").value  # the default: each on its own class model
    assert at.selectbox(key="generate_class").disabled
    assert any("BaFe2As2 on the **pnictides** model" in c.value and "YBa2Cu3O7 on the **cuprates** model" in c.value for c in at.caption)
    small_run(at, "BaFe2As2\nYBa2Cu3O7", samples=8)
    no_exception(at)
    records = at.session_state["run_group:generate"]
    assert [r.model_class for r in records] == ["pnictides", "cuprates"]
    assert [r.settings.reference_texts for r in records] == [("BaFe2As2",), ("YBa2Cu3O7",)]
    assert all(set(r.table["model_class"]) <= {r.model_class} and r.raw_samples == 2 * 8 for r in records)
    assert [t.label for t in at.tabs] == ["pnictides model: BaFe2As2", "cuprates model: YBa2Cu3O7"]
    assert at.session_state["run_history"][-1].records == tuple(records)
    assert not any("Out of date" in w.value for w in at.warning)
    at.toggle(key="generate_per_class").set_value(False).run()  # now all would run on one model
    assert any("Out of date" in w.value and "model class" in w.value for w in at.warning)
    no_exception(at)


def test_bad_references_show_errors_and_no_traceback():
    at = new_app().run()
    at.text_area(key="generate_refs").input("Xx2O\nYBa2Cu3O7-x").run()
    no_exception(at)
    errors = [e.value for e in at.error]
    assert any("'Xx2O'" in e and "unknown element" in e for e in errors)
    assert any("'YBa2Cu3O7-x'" in e and "plain numbers" in e for e in errors)
    assert at.button(key="generate_go").disabled


def test_good_lines_still_run_beside_bad_ones(test_class):
    at = new_app().run()
    at.text_area(key="generate_refs").input(f"{REFERENCES[test_class]}\nNotAFormula").run()
    no_exception(at)
    assert len(at.error) == 1 and "NotAFormula" in at.error[0].value
    assert any("1 good reference(s) will run" in w.value for w in at.warning)
    assert not at.button(key="generate_go").disabled


def test_class_suggestion_mismatch_and_n_warning(test_class):
    at = new_app().run()
    other = "YBa2Cu3O7" if test_class != "cuprates" else "BaFe2As2"
    at.text_area(key="generate_refs").input(other).run()
    at.selectbox(key="generate_class").set_value(test_class).run()
    no_exception(at)
    if test_class != "everything":
        assert any("model is selected" in w.value for w in at.warning)
    at.slider(key="generate_n").set_value((2, 6)).run()
    assert any("N > 4" in w.value for w in at.warning)


def test_run_settings_file_fills_the_form(test_class):
    text = run_settings.run_settings_json(
        GenerationSettings(model_class=test_class, references=("MgB2",), scale_factors=(1, 2), samples=33, steps=17, seed=5),
        funnel.Thresholds(12.0, -0.2),
    )
    at = new_app().run()
    at.file_uploader(key="generate_settings_file").upload("run.json", text.encode(), "application/json").run()
    no_exception(at)
    assert at.text_area(key="generate_refs").value == "MgB2"
    assert at.slider(key="generate_n").value == (1, 2)
    assert at.number_input(key="generate_samples").value == 33 and at.number_input(key="generate_steps").value == 17
    expander = next(e for e in at.expander if e.label.startswith("Repeat a run"))
    assert any("Loaded the settings of run.json" in s.value for s in expander.success)  # where the user is looking
    assert any("Loaded the settings" in t.value for t in at.toast)
    at.file_uploader(key="generate_settings_file").set_value(("bad.json", b"{", "application/json")).run()
    no_exception(at)
    assert any("Could not load bad.json" in e.value for e in at.error)


def test_steps_follow_the_class_until_changed():
    from superdiff_core.model_classes import get_model_class

    classes = available_classes(DEFAULT_MODELS_DIR)
    at = new_app().run()
    at.switch_page("app_pages/explore.py").run()
    for model_class in classes:
        at.selectbox(key="explore_class").set_value(model_class).run()
        assert at.number_input(key="explore_steps").value == get_model_class(model_class).recommended_steps
    at.number_input(key="explore_steps").set_value(7).run()
    at.selectbox(key="explore_class").set_value(classes[0]).run()
    assert at.number_input(key="explore_steps").value == 7  # the user's choice stays
    no_exception(at)


def test_explore_shows_table_1(test_class):
    at = new_app().run()
    at.switch_page("app_pages/explore.py").run()
    at.selectbox(key="explore_class").set_value(test_class)
    at.number_input(key="explore_samples").set_value(48)
    at.number_input(key="explore_steps").set_value(20)
    at.button(key="explore_go").click().run(timeout=RUN_TIMEOUT)
    wait_for_run(at, "explore")
    no_exception(at)
    table_1 = next(f.value for f in at.dataframe if "metric" in f.value.columns)
    assert table_1["metric"].iloc[0] == "novel %"
    assert table_1["published (500,000 samples)"].notna().all()
    assert at.session_state["run:explore"].metrics["raw_samples"] == 48


def test_screen_page_scores_pasted_formulas():
    at = new_app().run()
    at.switch_page("app_pages/screen.py").run()
    assert at.selectbox(key="screen_validity").value == DEFAULT_VALIDITY_CHECK
    at.selectbox(key="screen_validity").set_value("integer")
    at.selectbox(key="screen_map").set_value("pnictides")
    at.text_area(key="screen_text").input("BaFe2As2\nXx2O\nLaFeAsO0.9F0.1").run()
    at.button(key="screen_go").click().run(timeout=RUN_TIMEOUT)
    no_exception(at)
    record = at.session_state["run:screen"]
    assert list(record.table["formula"]) == ["BaFe2As2", "Xx2O", "LaFeAsO0.9F0.1"]
    assert "unparsable" in record.table.loc[1, "note"]
    assert record.file_stem == "superdiff_screen_3formulas_pnictides"
    assert record.validity_check == "integer"
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Formulas"] == "3" and metrics["Candidates"] == "2"  # the unparsable line is no candidate
    funnel_frame = next(f.value for f in at.dataframe if "stage" in f.value.columns).set_index("stage")["remaining"]
    assert int(funnel_frame["parsed"]) == 2
    assert int(funnel_frame["valid (paper's SMACT)"]) == int(record.table["smact_valid_integer"].sum())
    if record.has_properties:  # the metric and the funnel count the same predicted superconductors
        assert metrics["Predicted superconductors"] == f"{int(funnel_frame['predicted superconductor']):,}"
    # the user's own formulas are labelled on the map; the page speaks of formulas, not of a reference
    from ui.results import new_family_definition

    traces = chart_data(at, "pnictides: SuperCon clusters and screened formulas")
    screened = next(trace for trace in traces if trace.get("legendgroup") == candidate_table.CANDIDATE_GROUP)
    assert screened["mode"] == "markers+text" and screened["text"] == ["BaFe2As2", "", "LaFeAsO0.9F0.1"]  # Xx2O: no point
    assert "Families" in [h.value for h in at.subheader]
    notices = [element.value for element in (*at.info, *at.warning)] + [toggle.label for toggle in at.toggle]
    assert any(n.startswith(("No new family", "No family found")) for n in notices), notices
    assert not [n for n in notices if "reference" in n.lower()], notices
    help_texts = {m.label: m.proto.help for m in at.metric}
    assert help_texts["New families"] == f"a new family is {new_family_definition(from_references=False)}"


def test_screen_page_families_speak_of_formulas_not_of_a_reference():
    at = new_app().run()
    at.switch_page("app_pages/screen.py").run()
    at.selectbox(key="screen_map").set_value("pnictides")
    at.text_area(key="screen_text").input("BaFe1.9Co0.1As2\nBaFe1.85Co0.15As2\nBaFe1.8Co0.2As2\nBaFe1.75Co0.25As2").run()
    at.button(key="screen_go").click().run(timeout=RUN_TIMEOUT)
    no_exception(at)
    assert at.session_state["run:screen"].families is not None and len(at.session_state["run:screen"].families)
    notices = [element.value for element in at.info] + [toggle.label for toggle in at.toggle]
    assert any(n.startswith("No new family") for n in notices), notices  # a known family: listed behind the toggle
    assert not [n for n in notices if "reference" in n.lower()], notices


def test_screen_page_reads_an_uploaded_csv():
    at = new_app().run()
    at.switch_page("app_pages/screen.py").run()
    at.file_uploader(key="screen_file").upload("mine.csv", b"formula\nMgB2\nNb3Sn\n", "text/csv").run()
    no_exception(at)
    assert any("2 formulas in mine.csv" in c.value for c in at.caption)
    at.file_uploader(key="screen_file").set_value(("bad.csv", b"name\nMgB2\n", "text/csv")).run()
    assert any("no 'formula' column" in e.value for e in at.error)


def test_missing_checkpoints_are_explained(tmp_path, monkeypatch):
    monkeypatch.setenv("SUPERDIFF_MODELS_DIR", str(tmp_path))
    at = new_app().run()
    no_exception(at)
    assert any("No diffusion model is trained yet" in e.value for e in at.error)
    for page in ("app_pages/explore.py", "app_pages/models.py", "app_pages/elements.py", "app_pages/screen.py"):
        at.switch_page(page).run()
        no_exception(at)
    at.switch_page("app_pages/screen.py").run()
    at.text_area(key="screen_text").input("MgB2").run()
    at.button(key="screen_go").click().run(timeout=RUN_TIMEOUT)
    no_exception(at)
    assert any("no property scores" in i.value.lower() for i in at.info)
    assert len(at.session_state["run:screen"].table) == 1


def test_families_section_shows_new_families_and_the_toggle_adds_the_rest(generated):
    at = generated
    record = at.session_state["run:generate"]
    families = record.families
    assert families is not None and not families.empty  # 3 × 24 candidates of BaFe2As2 group into families
    toggle = at.toggle(key="generate_res_known_families")
    shown = [f.value for f in at.dataframe if "general_formula" in f.value.columns]
    headline = int(families["headline"].astype(bool).sum())
    if headline:
        assert len(shown) == 1 and len(shown[0]) == headline
    else:
        assert not shown and any("No new family" in i.value for i in at.info)
    unwritten = int((families["is_new_family"].astype(bool) & ~families["headline"].astype(bool)).sum())
    said = [c.value for c in at.caption if "of new element systems" in c.value]
    assert bool(said) == bool(unwritten)
    if unwritten:
        assert said[0].startswith(f"{unwritten:,} more group")
    toggle.set_value(True).run()
    assert not [c.value for c in at.caption if "of new element systems" in c.value]  # all listed now
    shown = [f.value for f in at.dataframe if "general_formula" in f.value.columns]
    assert len(shown) == 1 and len(shown[0]) == len(families)
    at.toggle(key="generate_res_known_families").set_value(False).run()


# =======================================================================================
# Help, Models and Campaigns pages say what the artifacts say
# =======================================================================================


def page_texts(at) -> str:
    """Every text the page shows: markdown, captions, notices, code, tables and JSON."""
    parts = [element.value for kind in ("markdown", "caption", "info", "warning", "error", "success", "code", "title", "header")
             for element in getattr(at, kind)]
    parts += [table.value.to_string() for table in at.table] + [frame.value.to_string() for frame in at.dataframe]
    parts += [json.dumps(element.value) if not isinstance(element.value, str) else element.value for element in at.json]
    return "\n".join(parts)


def open_page_at(page: str, monkeypatch=None, models_dir: Path | None = None):
    if models_dir is not None:
        monkeypatch.setenv("SUPERDIFF_MODELS_DIR", str(models_dir))
    at = new_app().run()
    at.switch_page(page).run()
    no_exception(at)
    return at


def test_help_names_the_shipped_model_kinds_read_from_the_cards(tmp_path, monkeypatch):
    from superdiff_core.results import COLUMN_HELP

    cards, diffusion = model_facts.shipped_cards(DEFAULT_MODELS_DIR)
    shipped = model_facts.model_summaries(cards, diffusion)
    assert {"Superconductor classifier", "Tc regressor", "Formation-energy model"} <= {s.name for s in shipped}
    text = page_texts(open_page_at("app_pages/help.py"))
    for summary in shipped:
        assert summary.kind in text and summary.trust in text, summary.name
    assert model_facts.kind_words(cards["tc"]["classifier"]["kind"]) in text
    if cards["tc"]["classifier"]["kind"] != "knn":
        assert "nearest-neighbour classifier" not in text
    for column in COLUMN_HELP:
        assert f"`{column}`" in text, column
    for words in ("guidance", "Campaign", "Nearest known compounds", "Outside the training domain", "90 % conformal interval"):
        assert words in text, words
    from ui.results import new_family_definition  # the Generate page's words (its "New families" help)

    assert new_family_definition(from_references=True) in " ".join(text.split())

    # the page follows the cards: other kinds in the cards, other words on the page
    for folder, card in cards.items():
        changed = json.loads(json.dumps(card))
        if folder == "tc":
            changed["classifier"]["kind"] = "knn"
        if folder == "formation":
            changed["hyperparameters"]["architecture"] = "elemnet"
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "card.json").write_text(json.dumps(changed))
    text = page_texts(open_page_at("app_pages/help.py", monkeypatch, tmp_path))
    assert model_facts.KIND_WORDS["knn"] in text and model_facts.KIND_WORDS["elemnet"] in text
    assert model_facts.KIND_WORDS["boosted"] not in text and model_facts.KIND_WORDS["attention"] not in text


def test_models_page_renders_no_stray_text():
    import re

    at = open_page_at("app_pages/models.py")
    first = at.main.children[min(at.main.children)]
    assert first.type == "title" and first.value == "Models", f"the page starts with {first.type}: {getattr(first, 'value', '')!r}"
    text = page_texts(at)
    assert not re.search(r"\bissues? #?\d+|\(#\d+\)", text), re.search(r".{40}\bissues? #?\d+.{20}", text)
    assert not re.search(r"(?<![\w.])/(work|tmp|home|root|Users)/", text), re.search(r".{40}/(work|tmp|home|root)/.{40}", text)
    commands = [code.value for code in at.code]
    assert any(command.startswith("superdiff train-tc") and "../shared/data/supercon/" in command for command in commands), commands
    # the classifier was replaced after train-tc (train-tc --classifier-only): its step is shown too
    tc_command = next(command for command in commands if command.startswith("superdiff train-tc"))
    assert "--classifier-only" in tc_command.splitlines()[-1]
    assert all("PATH/" not in command for command in commands)
    # the formation R² beside the parity plot says which test rows it is
    formation = next(frame.value for frame in at.dataframe if "test R²" in frame.value.columns)
    card = model_facts.shipped_cards(DEFAULT_MODELS_DIR)[0]["formation"]
    by_label = dict(zip(formation["model"], formation["test R²"]))
    assert by_label["ours (shipped), every test row"] == pytest.approx(card["metrics"]["test"]["r2"])
    clean = next(label for label in by_label if label.startswith("ours, without"))
    assert by_label[clean] == pytest.approx(card["metrics"]["test_without_dft_outliers"]["r2"])
    # per model, one line "how far to trust a number from it", read from its card
    cards, diffusion = model_facts.shipped_cards(DEFAULT_MODELS_DIR)
    lines = [i.value for i in at.info if "How far to trust it:" in i.value]
    for summary in model_facts.model_summaries(cards, {at.segmented_control(key="models_class").value: diffusion[
            at.segmented_control(key="models_class").value]}):
        assert sum(f"**{summary.name}** ({summary.kind}). How far to trust it: {summary.trust}." == line for line in lines) == 1, summary
    caption = model_facts.parity_caption(card)  # the parity plot's title gives the R² of these rows
    assert f"{card['metrics']['test_without_dft_outliers']['n']} test rows without" in caption and "without the failed-DFT" in caption


def test_portable_commands_and_reader_text():
    assert model_facts.portable_command(
        "superdiff train --data /home/x/shared/data/supercon/SuperCon_with_types.dat --out /home/x/main/checkpoints") == (
        "superdiff train --data ../shared/data/supercon/SuperCon_with_types.dat --out checkpoints")
    assert model_facts.portable_command("superdiff build-map --supercon PATH/SuperCon_with_types.dat --out checkpoints/maps/") == (
        "superdiff build-map --supercon ../shared/data/supercon/SuperCon_with_types.dat --out checkpoints/maps/")
    assert model_facts.portable_command("--element-table /tmp/crabnet/data/mat2vec.csv") == "--element-table mat2vec.csv"
    assert model_facts.reader_text("computed from CrabNet's predictions (issue 10)") == "computed from CrabNet's predictions"
    assert model_facts.reader_text("serves gradient guidance (issue 11): torch") == "serves gradient guidance: torch"


def write_synthetic_campaign(folder: Path, formulas_per_shard: list[list[str]], stages: dict[str, int]) -> dict:
    """A campaign folder whose shards hold the given formulas and report ``stages`` (no
    sampling); returns the manifest's plan."""
    import time

    from superdiff_core import campaign

    plan = campaign.plan_from_mapping({"model": "pnictides", "references": ["BaFe2As2"], "scale_factors": [2],
                                       "samples": len(formulas_per_shard), "batch": 1, "steps": 5, "properties": False})
    opened = campaign.open_campaign(folder, plan)
    for shard, formulas in zip(opened.shards, formulas_per_shard):
        table = pd.DataFrame({"formula": formulas, "model_class": "pnictides", "reference": "BaFe2As2", "scale_factor": 2,
                              "smact_valid": [i % 2 == 0 for i in range(len(formulas))], "novel": True, "shard_id": shard.shard_id})
        record = {"shard_id": shard.shard_id, "reference": "BaFe2As2", "scale_factor": 2, "rows": len(formulas),
                  "raw": stages["raw"], "stages": stages, "finished_at": time.time(), "state": "done"}
        campaign.write_shard(folder, campaign.shard_arrow_table(table, record))
    return campaign.read_manifest(folder)["plan"]


def test_campaigns_page_funnel_has_the_report_stages(tmp_path):
    from superdiff_core.campaign.queries import write_report
    from ui import campaigns

    folder = tmp_path / "campaign"
    stages = {"raw": 40, "non-negative": 36, "element count": 30, "unique": 29, "novel": 28, "SMACT-valid": 3}
    plan = write_synthetic_campaign(folder, [["Ba1Fe2As2.5", "Ba1.5Fe2As2", "Ba1Fe1.5As2"], ["Ba1Fe2As2.5", "Ba1Fe2.5As2"]], stages)
    totals = write_report(folder, out=tmp_path / "report", top_by="formula").totals
    assert "candidates" in totals.columns

    at = new_app().run()
    at.switch_page("app_pages/campaigns.py").run()
    at.text_input(key="campaigns_folder").input(str(folder)).run()
    no_exception(at)
    funnel = chart_data(at, "Campaign funnel")[0]
    words = campaigns.funnel_words(plan)
    assert funnel["y"] == [words.get(column, (column, ""))[0] for column in totals.columns]
    assert funnel["x"] == [int(value) for value in totals.iloc[0]]
    assert funnel["y"][list(totals.columns).index("candidates")] == "written by the shards"
    per_reference = next(frame.value for frame in at.dataframe if "Reference" in frame.value.columns)
    assert "written by the shards" in per_reference.columns and "unique in shard" not in per_reference.columns


# =======================================================================================
# Run control: Stop in the first run, out-of-date reasons, settings files, the worker
# =======================================================================================


def settings_file(test_class: str, **changes) -> bytes:
    """A run-settings JSON of a small run of ``test_class`` with ``changes``."""
    values = dict(model_class=test_class, references=(REFERENCES[test_class],), scale_factors=(2,), samples=8, steps=20, seed=3)
    return run_settings.run_settings_json(GenerationSettings(**(values | changes))).encode()


@pytest.mark.slow
def test_stop_in_the_first_run_keeps_its_finished_batches(test_class):
    import time

    from superdiff_core.sampler import DEFAULT_BATCH_SIZE

    at = new_app().run()
    at.text_area(key="generate_refs").input(REFERENCES[test_class]).run()
    at.selectbox(key="generate_class").set_value(test_class)
    at.slider(key="generate_n").set_value((2, 3))
    at.number_input(key="generate_samples").set_value(2 * DEFAULT_BATCH_SIZE)  # two batches per (reference, N) run
    at.number_input(key="generate_steps").set_value(20)
    at.toggle(key="generate_keep_invalid").set_value(True).run(timeout=RUN_TIMEOUT)
    if any(box.key == "generate_confirm" for box in at.checkbox):  # a loaded machine may call it a long run
        at.checkbox(key="generate_confirm").check().run()
    at.button(key="generate_go").click().run(timeout=RUN_TIMEOUT)
    active = at.session_state["active:generate"]
    deadline = time.monotonic() + 4 * RUN_TIMEOUT
    while active.progress.total == 0 or active.progress.done * 4 <= active.progress.total:  # past the first batch of run 1
        assert time.monotonic() < deadline and not active.background.finished
        time.sleep(0.01)
    active.stop()  # what the Stop button calls, at once: the first run is still sampling its second batch
    wait_for_run(at, "generate", timeout=4 * RUN_TIMEOUT)
    no_exception(at)
    record = at.session_state["run:generate"]
    assert record.partial and record.raw_samples == DEFAULT_BATCH_SIZE  # the finished batch of the stopped first run
    assert set(record.table["scale_factor"].dropna().astype(int)) <= {2}
    assert [stage.remaining for stage in record.engine_stages][0] == DEFAULT_BATCH_SIZE
    assert any("stopped during sampling run 1 of 2" in w.value and "1,000 of its 2,000 samples" in w.value for w in at.warning)
    assert at.session_state["run_history"][-1].record is record and "(partial)" in at.session_state["run_history"][-1].label


def test_guidance_change_is_the_only_reason_given(generated):
    at = generated
    record = at.session_state["run:generate"]
    assert record.settings.resample_steps > 0  # the unguided run resampled
    at.slider(key="generate_guide_tc").set_value(1.0).run()
    no_exception(at)
    stale = [w.value for w in at.warning if "Out of date" in w.value]
    assert len(stale) == 1 and "changed: guidance)" in stale[0] and "resample" not in stale[0]
    at.slider(key="generate_guide_tc").set_value(0.0).run()
    assert not any("Out of date" in w.value for w in at.warning)
    label = at.session_state["run_history"][-1].label
    assert "unguided" in label and f"resampling {record.settings.resample_steps}×{record.settings.resample_count}" in label


def test_a_clamped_settings_file_is_reported(test_class):
    at = new_app().run()
    text = settings_file(test_class, seed=-1, guidance={"tc": 50.0})
    at.file_uploader(key="generate_settings_file").upload("odd.json", text, "application/json").run()
    no_exception(at)
    assert at.number_input(key="generate_seed").value == 0 and at.slider(key="generate_guide_tc").value == 3.0
    expander = next(e for e in at.expander if e.label.startswith("Repeat a run"))
    message = next(w.value for w in expander.warning if "Loaded the settings of odd.json" in w.value)
    assert "seed -1 → 0" in message and "guidance 50 → 3" in message and "differs from the file's" in message
    document = json.loads(settings_file(test_class))
    document["settings"]["samples"] = 10**6  # more than a run may draw: the file is refused
    at.file_uploader(key="generate_settings_file").set_value(("far.json", json.dumps(document).encode(), "application/json")).run()
    assert any("Could not load far.json" in e.value and "samples" in e.value for e in at.error)  # refused, with the reason


def test_validity_select_box_defaults_to_the_registry_and_loads_old_files(test_class):
    at = new_app().run()
    box = at.selectbox(key="generate_validity")
    assert box.value == DEFAULT_VALIDITY_CHECK and len(box.options) == len(VALIDITY_CHECKS)
    assert all(check.label in box.help for check in VALIDITY_CHECKS.values())  # each check's own description
    document = json.loads(settings_file(test_class))
    screening = document["settings"]["screening"]
    del screening["validity_check"]
    screening["mixed_valence"] = True  # a file written before the validity registry
    at.file_uploader(key="generate_settings_file").upload("old.json", json.dumps(document).encode(), "application/json").run()
    no_exception(at)
    assert at.selectbox(key="generate_validity").value == "mixed_valence"
    del screening["mixed_valence"]
    screening["validity_check"] = "nonsense"
    at.file_uploader(key="generate_settings_file").set_value(("bad.json", json.dumps(document).encode(), "application/json")).run()
    assert any("Could not load bad.json" in e.value and "unknown validity check 'nonsense'" in e.value for e in at.error)


def test_loaded_settings_keep_filter_order_and_resampling(test_class):
    at = new_app().run()
    text = settings_file(test_class, filter_order="pettifor", resample_steps=3, resample_count=4)
    at.file_uploader(key="generate_settings_file").upload("run.json", text, "application/json").run()
    no_exception(at)
    kept = next(i.value for i in at.info if i.value.startswith("Kept from the loaded settings"))
    assert "ILVR filter order pettifor" in kept and "resampled steps 3" in kept and "runs per resampled step 4" in kept
    at.toggle(key="generate_keep_invalid").set_value(True)
    at.button(key="generate_go").click().run(timeout=RUN_TIMEOUT)
    wait_for_run(at, "generate")
    no_exception(at)
    ran = at.session_state["run:generate"].settings
    assert (ran.filter_order, ran.resample_steps, ran.resample_count, ran.seed) == ("pettifor", 3, 4, 3)
    assert not any("Out of date" in w.value for w in at.warning)
    at.button(key="generate_drop_extras").click().run()
    assert not any(i.value.startswith("Kept from the loaded settings") for i in at.info)
    assert any("Out of date" in w.value and "filter order" in w.value and "resample" in w.value for w in at.warning)


def test_a_settings_file_from_before_precision_runs_in_float32_on_the_page(test_class):
    from superdiff_core.device import default_precision

    document = json.loads(settings_file(test_class))
    del document["settings"]["precision"]  # as every file written before the setting
    at = new_app().run()
    at.file_uploader(key="generate_settings_file").upload("old.json", json.dumps(document).encode(), "application/json").run()
    no_exception(at)
    kept = [i.value for i in at.info if i.value.startswith("Kept from the loaded settings")]
    assert ("network number format fp32" in " ".join(kept)) == (default_precision() != "fp32")  # shown where it differs
    at.toggle(key="generate_keep_invalid").set_value(True)
    at.button(key="generate_go").click().run(timeout=RUN_TIMEOUT)
    wait_for_run(at, "generate")
    no_exception(at)
    assert at.session_state["run:generate"].settings.precision == "fp32"


def test_plausible_substitutes_toggle_sets_the_clip_and_a_loaded_file_sets_the_toggle(test_class):
    at = new_app().run()
    assert at.toggle(key="generate_plausible_only").value  # on by default: the engine's default clip
    text = settings_file(test_class, clip="widened")  # the paper's clipping
    at.file_uploader(key="generate_settings_file").upload("run.json", text, "application/json").run()
    no_exception(at)
    assert not at.toggle(key="generate_plausible_only").value
    assert not any(i.value.startswith("Kept from the loaded settings") for i in at.info)  # the toggle holds it
    at.toggle(key="generate_keep_invalid").set_value(True)
    at.button(key="generate_go").click().run(timeout=RUN_TIMEOUT)
    wait_for_run(at, "generate")
    assert at.session_state["run:generate"].settings.clip == "widened"
    at.toggle(key="generate_plausible_only").set_value(True).run()
    assert any("Out of date" in w.value for w in at.warning)


def test_worker_run_stops_and_leaves_no_process_behind(test_class):
    import os
    import threading
    import time

    from superdiff_core.run_worker import RunRequest, WorkerPool

    pool = WorkerPool(max_workers=1, threads=1)
    try:
        settings = GenerationSettings(model_class=test_class, references=(REFERENCES[test_class],), scale_factors=(2, 3),
                                      samples=2000, steps=500)
        steps: list[int] = []
        cancel = threading.Event()
        run = pool.submit(RunRequest(str(DEFAULT_MODELS_DIR), settings), lambda done, total: steps.append(done), cancel)
        deadline = time.monotonic() + 4 * RUN_TIMEOUT
        while not steps:
            assert time.monotonic() < deadline and not run.finished
            time.sleep(0.05)
        worker = run.worker_pid
        cancel.set()
        assert run.wait(RUN_TIMEOUT)  # stopped at the next step, not at the end of 2 × 2,000 samples × 500 steps
        record = run.result()
        assert record.partial and record.raw_samples == 0 and steps[-1] < 500
        assert pool.pids == [worker]  # the worker stays for the next run, idle, with its models loaded
    finally:
        pool.shutdown()
    assert pool.pids == []
    with pytest.raises(ProcessLookupError):
        os.kill(worker, 0)


def test_history_and_compare_labels_tell_a_guided_run_from_an_unguided_one():
    import datetime

    from ui.state import HistoryEntry

    when = datetime.datetime(2026, 1, 1, 14, 5, 10)

    def label(**changes) -> str:
        ran = settings(**changes).resolved()
        return HistoryEntry(3, RunRecord("generate", "pnictides", pd.DataFrame({"formula": ["A"]}), np.zeros((1, 96)),
                                         settings=ran), when).label

    unguided, guided = label(), label(guidance={"tc": 1.0})
    assert unguided != guided
    assert "unguided" in unguided and "resampling 5×2" in unguided
    assert "guided tc=1" in guided and "no resampling" in guided  # guidance turns resampling off by default
    assert "resampling 3×4" in label(resample_steps=3, resample_count=4)


def test_the_first_progress_line_reads_the_estimate_then_the_measured_speed(monkeypatch):
    from ui import runs

    clock = [100.0]
    monkeypatch.setattr(runs.time, "perf_counter", lambda: clock[0])
    progress = runs.RunProgress(estimate=60.0)
    clock[0] += 10  # loading the models: no step yet
    assert progress.seconds_left() == pytest.approx(50.0)  # the plan's estimate, less the time elapsed
    progress.update(1, 100)
    assert progress.seconds_left() == pytest.approx(50.0)  # one update is no speed yet
    clock[0] += 9
    progress.update(10, 100)  # 9 steps in 9 s, measured from the first step, not from the start
    assert progress.seconds_left() == pytest.approx(90.0)


def test_the_estimate_prices_what_runs():
    from superdiff_core import run_plan

    unguided, guided = settings(samples=1500).resolved(), settings(samples=1500, guidance={"tc": 1.0}).resolved()
    assert guided.resample_steps == 0 and run_plan.network_calls(guided) < run_plan.network_calls(unguided)
    assert run_plan.batch_sizes(1500) == [1000, 500] and run_plan.plan_size(unguided) == 3
    cost = run_plan.cost_from_two_batches(8, 0.01 + 8e-4, 256, 0.01 + 256e-4)
    assert cost.per_call == pytest.approx(0.01) and cost.per_sample == pytest.approx(1e-4)
    costs = {"": cost, "tc=1": cost.scaled(3.0)}  # a guided call also differentiates the guide's networks

    def estimate(one):
        return run_plan.estimated_seconds([one], lambda s: costs[s.guidance.to_text()])

    assert estimate(unguided) == pytest.approx(3 * unguided.network_calls_per_sample * (2 * 0.01 + 1500 * 1e-4))
    assert estimate(guided) > estimate(unguided)  # fewer calls without resampling, each dearer
    assert run_plan.estimated_seconds([unguided], lambda s: None) is None


def test_baseline_toggle_draws_the_substitution_baseline_beside_the_run(test_class):
    at = wait_for_run(start_generate(test_class, 24, 20, toggles=("generate_baseline",)), "generate")
    no_exception(at)
    record = at.session_state["run:generate"]
    assert record.settings.baseline == "substitution"
    assert record.comparison is not None and record.comparison["source"].tolist() == ["diffusion", "substitution"]
    assert set(record.table["source"]) <= {"diffusion", "substitution"} and (record.table["source"] == "substitution").any()
    assert any("Diffusion against plain ion substitution" in m.value for m in at.markdown)
    assert any(s.value == "Shortlist" for s in at.subheader)


def test_the_apps_settings_file_reruns_its_csv_from_the_command_line(generated, tmp_path, capsys):
    """App → settings JSON → ``generate --settings`` gives the CSV the app downloads (one description of a run)."""
    from superdiff_core.cli import main

    record = generated.session_state["run:generate"]
    settings_file = tmp_path / "run.json"
    settings_file.write_text(run_settings.run_settings_json(record.settings, funnel.Thresholds()))  # what the page offers
    out = tmp_path / "rerun.csv"
    assert main(["generate", "--settings", str(settings_file), "--out", str(out), "--threads", "1"]) == 0
    capsys.readouterr()
    app_csv = pd.read_csv(io.StringIO(candidates_to_csv(record.table)))  # the page's "Download all" CSV
    cli_csv = pd.read_csv(out)
    assert list(cli_csv.columns) == list(app_csv.columns)
    assert cli_csv["formula"].tolist() == app_csv["formula"].tolist()
    pd.testing.assert_frame_equal(cli_csv, app_csv, check_exact=False, rtol=1e-6)


def test_the_run_caption_names_the_network_precision(generated):
    record = generated.session_state["run:generate"]
    took = [c.value for c in generated.caption if c.value.startswith("Took")]
    assert took and took[0].endswith(f", network in {record.settings.precision}.")


def test_the_shortlist_shows_one_row_per_element_set_unless_told_otherwise(generated):
    """The Shortlist section's "per element set" limit: 1 by default, 0 lets every candidate compete."""
    from superdiff_core.composition import element_system
    from superdiff_core.shortlist import MAX_PER_ELEMENT_SET

    record = generated.session_state["run:generate"]
    limit = next(n for n in generated.number_input if n.key.endswith("_w_per_elements"))
    assert limit.value == MAX_PER_ELEMENT_SET == 1
    assert next(t for t in generated.toggle if t.key.endswith("_shortlist_in_domain_first")).value is True
    shown = next(frame.value for frame in generated.dataframe if "shortlist_rank" in frame.value.columns)
    assert not shown["formula"].map(element_system).duplicated().any() and "same_elements_in_run" in shown.columns
    in_full = [m.value for m in generated.markdown if m.value.startswith("1. **")]  # the top rows' reasons, uncut
    assert in_full and in_full[0].splitlines()[0] == f"1. **{shown['formula'].iloc[0]}**: {shown['shortlist_reasons'].iloc[0]}"
    assert len(in_full[0].splitlines()) == min(5, len(shown))
    at = limit.set_value(0).run()
    no_exception(at)
    shown = next(frame.value for frame in at.dataframe if "shortlist_rank" in frame.value.columns)
    assert shown["formula"].tolist() == shortlist(record.table, max_per_element_set=0)["formula"].tolist()
    at.number_input(key=limit.key).set_value(MAX_PER_ELEMENT_SET).run()


def test_the_shortlist_can_leave_out_doping_variants(generated):
    """The Shortlist section's switch leaves out candidates next to a known compound of the same elements."""
    at = generated
    variants = int((at.session_state["run:generate"].table["doping_variant_of"].fillna("") != "").sum())
    assert variants > 0  # BaFe2As2's neighbourhood is full of measured doped 122s
    assert any(f"{variants:,} of " in m.value and "doping variants of a known compound" in m.value for m in at.markdown)
    toggle = next(t for t in at.toggle if t.key.endswith("_shortlist_new_only"))
    assert toggle.value is True and f"({variants:,} in this run)" in toggle.label  # left out by default
    record = at.session_state["run:generate"]
    shortlists = [frame.value for frame in at.dataframe if "shortlist_rank" in frame.value.columns]
    assert shortlists and "doping_variant_of" in shortlists[0].columns
    assert (shortlists[0]["doping_variant_of"].fillna("") == "").all()
    assert len(shortlists[0]) <= int((record.table["doping_variant_of"].fillna("") == "").sum())
    at = toggle.set_value(False).run()
    no_exception(at)
    shortlists = [frame.value for frame in at.dataframe if "shortlist_rank" in frame.value.columns]
    assert shortlists[0]["formula"].tolist() == shortlist(record.table, new_only=False)["formula"].tolist()  # they compete again
    at.toggle(key=toggle.key).set_value(True).run()
