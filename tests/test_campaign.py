"""Campaigns: plans, shards on a local Ray, resume, DuckDB queries and the Campaigns page.

One local Ray session (2 CPUs) serves the whole module; the commands reuse it. The
campaign is small: 2 references × N = 2, 3 × 40 samples in shards of 20, 10 steps.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from superdiff_core import campaign
from superdiff_core.artifacts import DEFAULT_MODELS_DIR
from superdiff_core.campaign import queries as campaign_queries
from superdiff_core.campaign.runner import run_plan_here
from superdiff_core.campaign.shard import checkpoint_file
from superdiff_core.cli import main
from superdiff_core.composition import element_system
from superdiff_core.data import sha256_of_file
from superdiff_core.errors import InputError
from superdiff_core.results import CANDIDATE_COLUMNS

APP = str(Path(__file__).resolve().parent.parent / "app.py")
PLAN = """\
model = "pnictides"
references = ["BaFe2As2", "LaFeAsO0.9F0.1"]
scale_factors = [2, 3]
samples = 40
batch = 20
steps = 10
keep_invalid = true
"""
SHARDS = 2 * 2 * 2


@pytest.fixture(scope="module")
def ray_session():
    import logging

    import ray

    ray.init(num_cpus=2, include_dashboard=False, logging_level=logging.ERROR, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def finished(ray_session, tmp_path_factory) -> Path:
    """A finished campaign folder, run through ``superdiff campaign run``."""
    root = tmp_path_factory.mktemp("campaign")
    (root / "plan.toml").write_text(PLAN)
    folder = root / "run"
    assert main(["campaign", "run", "--plan", str(root / "plan.toml"), "--out", str(folder), "--workers", "2"]) == 0
    return folder


def rows_of(folder: Path) -> pd.DataFrame:
    """Every row of a campaign folder in shard order (file order within a shard)."""
    tables = [pq.read_table(path).to_pandas() for path in campaign.finished_shard_files(folder)]
    return pd.concat(tables, ignore_index=True)


def test_plan_expands_to_shards():
    plan = campaign.plan_from_mapping({"model": "pnictides", "references": ["BaFe2As2"], "scale_factors": [2, 4],
                                       "samples": 45, "batch": 20, "seeds": 2, "steps": 5})
    shards = campaign.expand_shards(plan)
    assert len(shards) == 1 * 2 * 2 * 3
    assert [s.samples for s in shards[:3]] == [20, 20, 5]
    assert len({s.shard_id for s in shards}) == len(shards)
    assert len({(s.scale_factor, s.sampling_seed) for s in shards}) == len(shards)
    assert shards[0].sampling_seed == 0  # batch 0 of seed 0 samples as generate --seed 0 does


def test_a_manifest_from_before_precision_resumes_in_float32(tmp_path):
    from superdiff_core.campaign.store import open_campaign, plan_from_manifest, read_manifest

    plan = campaign.plan_from_mapping({"model": "pnictides", "references": ["BaFe2As2"], "samples": 4, "steps": 2})
    open_campaign(tmp_path, plan)
    manifest = read_manifest(tmp_path)
    assert manifest["plan"]["precision"] == plan.settings.precision  # recorded when the plan was made
    del manifest["plan"]["precision"]  # as manifests written before the setting
    assert plan_from_manifest(manifest).settings.precision == "fp32"
    assert campaign.plan_from_mapping({"model": "pnictides", "precision": "FP32"}).settings.precision == "fp32"


@pytest.mark.slow
def test_campaign_end_to_end(finished, capsys):
    files = campaign.finished_shard_files(finished)
    assert [path.stem for path in files] == sorted(s.shard_id
                                                   for s in campaign.expand_shards(campaign.read_plan(finished.parent / "plan.toml")))
    manifest = json.loads((finished / "campaign.json").read_text())
    assert manifest["state"] == "finished" and manifest["shard_count"] == SHARDS
    assert {record["state"] for record in manifest["shards"].values()} == {"done"}
    assert {"ray", "duckdb", "torch"} <= set(manifest["versions"])
    rows = rows_of(finished)
    assert len(rows) > 0
    schema = [c for c in CANDIDATE_COLUMNS if c in rows.columns]
    assert list(rows.columns[: len(schema)]) == schema
    assert set(campaign.RUN_COLUMNS) <= set(rows.columns)
    assert (rows["steps"] == 10).all()
    sha = sha256_of_file(checkpoint_file(DEFAULT_MODELS_DIR, "pnictides"))
    assert (rows["checkpoint_sha256"] == sha).all()
    assert set(rows["reference"]) <= {"BaFe2As2", "LaFeAsO0.9F0.1"} and set(rows["scale_factor"]) <= {2, 3}
    assert sum(r["raw"] for r in manifest["shards"].values()) == 2 * 2 * 40

    capsys.readouterr()
    assert main(["campaign", "status", str(finished)]) == 0
    assert f"{SHARDS} / {SHARDS}" in capsys.readouterr().out

    out = finished.parent / "report"
    assert main(["campaign", "report", str(finished), "--out", str(out), "--top", "5", "--all"]) == 0
    funnel = pd.read_csv(out / "funnel.csv")
    assert funnel.loc[0, "raw"] == 160 and funnel.loc[0, "candidates"] == len(rows)
    assert funnel.loc[0, "campaign-unique"] == rows["formula"].nunique()
    by_reference = pd.read_csv(out / "funnel_by_reference.csv")
    assert sorted(by_reference["reference"]) == ["BaFe2As2", "LaFeAsO0.9F0.1"] and by_reference["raw"].sum() == 160
    assert sorted(pd.read_csv(out / "funnel_by_n.csv")["N"]) == [2, 3]
    top = pd.read_csv(out / "top_candidates.csv")
    assert 0 < len(top) <= 5 and top["tc_kelvin"].is_monotonic_decreasing
    systems = top["formula"].map(element_system)
    assert not systems.duplicated().any()  # the best of each element system, as the shortlist
    new_rows = rows[~rows["formula"].isin(campaign_queries.supercon_formulas())].drop_duplicates("formula")
    assert (top["same_elements_in_run"] == systems.map(new_rows["formula"].map(element_system).value_counts())).all()
    assert "at most 1 per element system" in (out / "summary.md").read_text()
    assert main(["campaign", "report", str(finished), "--out", str(out), "--top", "5", "--top-per-elements", "0"]) == 0
    every = pd.read_csv(out / "top_candidates.csv")
    assert every["tc_kelvin"].is_monotonic_decreasing and "same_elements_in_run" not in every.columns
    assert every["formula"].map(element_system).duplicated().any()  # without the limit one system repeats
    assert len(pd.read_csv(out / "candidates.csv")) == funnel.loc[0, "not in SuperCon"]
    assert (out / "families.csv").is_file() and "# Campaign run" in (out / "summary.md").read_text()


def test_same_plan_gives_identical_rows(finished):
    """The shards run on Ray give exactly the rows of the same shards run in one process."""
    plan = campaign.read_plan(finished.parent / "plan.toml")
    tables = run_plan_here(plan, campaign.expand_shards(plan))
    here = pd.concat([table.to_pandas() for table in tables], ignore_index=True)
    pd.testing.assert_frame_equal(here, rows_of(finished))


def test_resume_after_removed_shard_and_half_written_file(finished, tmp_path, capsys):
    folder = tmp_path / "resumed"
    shutil.copytree(finished, folder)
    removed = campaign.finished_shard_files(folder)[3]
    removed.unlink()
    half_written = folder / "shards" / f".{campaign.finished_shard_files(folder)[0].stem}.x1y2.tmp.parquet"
    half_written.write_bytes(b"PAR1 half a file")
    capsys.readouterr()
    assert main(["campaign", "run", "--out", str(folder), "--workers", "1"]) == 0
    assert f"{SHARDS - 1} already finished, 1 to run" in capsys.readouterr().out
    assert not half_written.exists()
    assert removed.exists()
    pd.testing.assert_frame_equal(rows_of(folder), rows_of(finished))
    # a rerun of a finished campaign runs nothing
    capsys.readouterr()
    assert main(["campaign", "run", "--out", str(folder)]) == 0
    assert "0 to run" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("plan", "extra", "message"),
    [
        ('model = "superconductors"\nreferences = ["BaFe2As2"]\n', [], "unknown model class"),
        ('model = "pnictides"\nreferences = ["BaFe2As2"]\nscale_factors = [40]\n', [], "scale factor"),
        ('model = "pnictides"\nreferences = ["YBa2Cu3O7-x"]\n', [], "bad reference"),
        ('model = "pnictides"\nreferences = ["BaFe2As2"]\nsample = 10\n', [], "unknown key"),
        ('model = "pnictides"\nreferences = [\n', [], "not valid TOML"),
        ('model = "pnictides"\nreferences = ["BaFe2As2"]\n', ["--address", "127.0.0.1:1"], "no Ray cluster answers"),
        ('model = "pnictides"\nreferences = ["BaFe2As2"]\nvalidity_check = "nonsense"\n', [],
         "unknown validity check 'nonsense': choose one of integer, mixed_valence, bounded"),
        ('model = "pnictides"\nreferences = ["BaFe2As2"]\nmixed_valence = "yes"\n', [], "mixed_valence must be true or false"),
        ('model = "pnictides"\nreferences = ["BaFe2As2"]\nmethod = "nope"\n', [], "unknown method 'nope'"),
        ('model = "pnictides"\nreferences = ["BaFe2As2"]\nclip = "sideways"\n', [], "unknown clip mode 'sideways'"),
        ('model = "pnictides"\nbaseline = "substitution"\n', [], "substitutes into references: give references"),
        ('model = "pnictides"\nreferences = ["BaFe2As2"]\nbaseline = "mutation"\n', [], "unknown baseline 'mutation'"),
    ],
)
def test_bad_plans_exit_2_with_one_line(tmp_path, capsys, plan, extra, message):
    (tmp_path / "plan.toml").write_text(plan)
    status = main(["campaign", "run", "--plan", str(tmp_path / "plan.toml"), "--out", str(tmp_path / "out"), *extra])
    error = capsys.readouterr().err.strip()
    assert status == 2
    assert message in error.lower() or message in error
    assert len(error.splitlines()) == 1
    assert not (tmp_path / "out" / "campaign.json").exists()


@pytest.mark.parametrize("lines, check", [
    ("mixed_valence = true\n", "mixed_valence"),  # plans written before the validity registry
    ("mixed_valence = false\n", "integer"),
    ("[screening]\nmixed_valence = true\n", "mixed_valence"),
    ('validity_check = "integer"\n', "integer"),
    ("", "bounded"),
])
def test_plans_record_their_validity_check_old_flag_included(tmp_path, lines, check):
    (tmp_path / "plan.toml").write_text('model = "pnictides"\nreferences = ["BaFe2As2"]\n' + lines)
    plan = campaign.read_plan(tmp_path / "plan.toml")
    assert plan.settings.screening.validity_check == check
    assert plan.to_dict()["screening"]["validity_check"] == check  # what the manifest records
    assert campaign.plan_from_mapping(plan.to_dict()) == plan  # a resume screens as the start did
    assert campaign.shard_settings(plan, campaign.expand_shards(plan)[0]).screening.validity_check == check


@pytest.mark.parametrize("flags, check", [(["--validity", "integer"], "integer"), (["--mixed-valence"], "mixed_valence"), ([], "bounded")])
def test_campaign_run_validity_flag_goes_into_the_plan(flags, check):
    from superdiff_core.cli import build_parser
    from superdiff_core.commands.campaign import plan_from_args

    args = build_parser().parse_args(["campaign", "run", "--out", "x", "--model", "pnictides", "--reference", "BaFe2As2", *flags])
    assert plan_from_args(args).settings.screening.validity_check == check


def test_campaign_run_with_an_unknown_validity_exits_2_with_one_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:  # argparse's own error
        main(["campaign", "run", "--model", "pnictides", "--reference", "BaFe2As2", "--validity", "nonsense",
              "--out", str(tmp_path / "run")])
    error = capsys.readouterr().err.strip()
    assert exit_.value.code == 2 and "invalid choice: 'nonsense'" in error and len(error.splitlines()) == 1


def test_unwritable_folder_exits_2(tmp_path, capsys):
    (tmp_path / "a_file").write_text("not a folder")
    status = main(["campaign", "run", "--model", "pnictides", "--reference", "BaFe2As2", "--out", str(tmp_path / "a_file" / "run")])
    error = capsys.readouterr().err.strip()
    assert status == 2 and "cannot write campaign folder" in error and len(error.splitlines()) == 1


def test_different_plan_on_existing_folder_exits_2(finished, capsys):
    status = main(["campaign", "run", "--model", "pnictides", "--reference", "FeSe", "--out", str(finished)])
    error = capsys.readouterr().err.strip()
    assert status == 2 and "different plan" in error and len(error.splitlines()) == 1
    assert "references: ['BaFe2As2', 'LaFeAsO0.9F0.1'] there, ['FeSe'] given" in error and "ParsedFormula" not in error


def synthetic_campaign(folder: Path, formulas_per_shard: list[list[str]], systems_per_shard: list[list[str]] | None = None) -> None:
    """A campaign folder whose shards hold the given formulas (no sampling), with the stored
    element systems ``systems_per_shard`` when given."""
    plan = campaign.plan_from_mapping({"model": "pnictides", "references": ["BaFe2As2"], "scale_factors": [2],
                                       "samples": len(formulas_per_shard), "batch": 1, "steps": 5, "properties": False})
    opened = campaign.open_campaign(folder, plan)
    for shard, formulas in zip(opened.shards, formulas_per_shard):
        table = pd.DataFrame({"formula": formulas, "model_class": "pnictides", "reference": "BaFe2As2",
                              "scale_factor": 2, "smact_valid": True, "novel": True,
                              "tc_kelvin": [float(i) for i in range(len(formulas))], "shard_id": shard.shard_id})
        if systems_per_shard is not None:
            table[campaign.ELEMENT_SYSTEM_COLUMN] = systems_per_shard[opened.shards.index(shard)]
        record = {"shard_id": shard.shard_id, "reference": "BaFe2As2", "scale_factor": 2, "rows": len(formulas), "raw": 1,
                  "stages": {"raw": 1}, "finished_at": time.time(), "state": "done"}
        campaign.write_shard(folder, campaign.shard_arrow_table(table, record))


def test_queries_count_duplicates_once_and_flag_supercon(tmp_path):
    known = campaign_queries.supercon_formulas()[0]
    synthetic_campaign(tmp_path, [["Ba1Fe2As2.5", known], ["Ba1Fe2As2.5", "Ba1.5Fe2As2"]])
    queries = campaign_queries.open_queries(tmp_path)
    try:
        assert queries.scalar("SELECT count(*) FROM candidates") == 4
        unique = queries.frame("SELECT formula, shard_id, in_supercon FROM unique_candidates ORDER BY formula")
        assert sorted(unique["formula"]) == sorted(["Ba1Fe2As2.5", known, "Ba1.5Fe2As2"])
        assert unique.set_index("formula").loc["Ba1Fe2As2.5", "shard_id"].endswith("b00000")
        assert unique.set_index("formula").loc[known, "in_supercon"]
        assert campaign_queries.count_candidates(queries) == 2  # new only
        best = campaign_queries.select_candidates(queries, sort_by="tc_kelvin", descending=True, limit=1)
        assert list(best["formula"]) == ["Ba1.5Fe2As2"]
        with pytest.raises(InputError, match="unknown column"):
            campaign_queries.select_candidates(queries, sort_by="tc; DROP TABLE x")
    finally:
        queries.close()


def test_families_key_is_alphabetical_also_for_shards_written_in_writing_order(tmp_path):
    # the first shard was written before the key was alphabetical (writing order), the second after
    formulas = [["Ba1Fe2As2.5", "Sr1Fe2As2"], ["Ba1.5Fe2As2", "Ba1Fe2.5As2"]]
    synthetic_campaign(tmp_path, formulas, [["Ba-Fe-As", "Sr-Fe-As"], ["As-Ba-Fe", "As-Ba-Fe"]])
    queries = campaign_queries.open_queries(tmp_path)
    try:
        families = campaign_queries.campaign_families(queries).set_index("element_system")["candidates"].to_dict()
    finally:
        queries.close()
    assert families == {element_system("BaFe2As2"): 3, element_system("SrFe2As2"): 1} == {"As-Ba-Fe": 3, "As-Fe-Sr": 1}


def test_sigterm_stops_a_run_that_ray_interrupts_as_stop_requested():
    import os
    import signal

    from superdiff_core.campaign.runner import StopRequested, sigterm_stops_the_run

    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(StopRequested) as stopped:
        with sigterm_stops_the_run():
            try:
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(5)
            except StopRequested:
                raise KeyboardInterrupt from None  # what ray.wait raises when the signal came during its C++ wait
    assert stopped.value.signal_number == signal.SIGTERM and signal.getsignal(signal.SIGTERM) is before
    with pytest.raises(KeyboardInterrupt) as interrupted, sigterm_stops_the_run():
        raise KeyboardInterrupt  # Ctrl-C stays Ctrl-C
    assert not isinstance(interrupted.value, StopRequested)


@pytest.mark.slow
@pytest.mark.parametrize("stop_signal, whole_group", [("SIGTERM", False), ("SIGINT", True)])
def test_stopped_run_ends_with_one_clean_line(tmp_path, stop_signal, whole_group):
    """``campaign run`` stopped after its first shard by SIGTERM to the driver (``kill PID``)
    or by Ctrl-C (SIGINT to the whole process group, as a terminal sends it): the "stopped"
    line and the progress bar, nothing from Ray (no "will be retried", no stack trace), the
    signal's exit status. (SIGTERM to the whole group also kills Ray's own processes at the
    same moment; Ray's C++ may then log lines of its own, see superdiff_core.campaign.runner.)"""
    import os
    import signal
    import subprocess
    import sys

    folder = tmp_path / "run"
    command = [sys.executable, "-m", "superdiff_core", "campaign", "run", "--model", "pnictides", "--reference", "BaFe2As2",
               "--scale-factor", "2", "--samples", "2000", "--batch", "20", "--steps", "10", "--out", str(folder),
               "--workers", "2", "--cpus", "2"]
    # as a terminal starts it: a suite launched in the background (``pytest &``) ignores SIGINT, and a child inherits that
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
                               cwd=Path(__file__).resolve().parent.parent,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.time() + 240
        while time.time() < deadline and process.poll() is None and not campaign.finished_shard_files(folder):
            time.sleep(0.2)
        assert campaign.finished_shard_files(folder), "no shard finished"
        number = getattr(signal, stop_signal)
        if whole_group:
            os.killpg(process.pid, number)
        else:
            process.send_signal(number)
        out, err = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    assert process.returncode == 128 + number, (out, err)
    assert out.strip().splitlines()[-1].startswith("stopped: ") and "rerun the same command to resume" in out
    noise = [line for line in err.replace("\r", "\n").splitlines() if line.strip() and not line.startswith("shards:")]
    assert noise == [], err
    assert campaign.open_campaign(folder).pending()  # stopped before the end, resumable


def new_app():
    from streamlit.testing.v1 import AppTest

    return AppTest.from_file(APP, default_timeout=60)


def open_page(folder: Path):
    at = new_app().run()
    at.switch_page("app_pages/campaigns.py").run()
    at.text_input(key="campaigns_folder").input(str(folder)).run()
    assert not at.exception, at.exception
    return at


def test_campaign_page_renders_finished_and_running(finished, tmp_path):
    at = open_page(finished)
    assert not at.error
    assert "finished" in at.get("progress")[0].proto.text
    queries = campaign_queries.open_queries(finished)
    try:
        expected = campaign_queries.count_candidates(queries)
    finally:
        queries.close()
    assert any(f"{expected:,} candidates match" in caption.value for caption in at.caption)
    assert len(at.dataframe[-1].value) == min(expected, 200)

    running = tmp_path / "running"
    shutil.copytree(finished, running)
    for path in campaign.finished_shard_files(running)[SHARDS // 2:]:
        path.unlink()
    manifest = json.loads((running / "campaign.json").read_text())
    manifest.update(state="running", updated_at=time.time())
    (running / "campaign.json").write_text(json.dumps(manifest))
    at = open_page(running)
    assert not at.error
    assert "running" in at.get("progress")[0].proto.text and f"{SHARDS // 2} / {SHARDS} shards" in at.get("progress")[0].proto.text
    assert "time left" in at.get("progress")[0].proto.text
    assert at.button(key="campaigns_refresh")

    manifest.update(state="stopped")
    (running / "campaign.json").write_text(json.dumps(manifest))
    at = open_page(running)
    assert at.get("progress")[0].proto.text.startswith("stopped: ") and "time left" not in at.get("progress")[0].proto.text


# ---------------------------------------------------------------------------------------
# The substitution baseline in a campaign
# ---------------------------------------------------------------------------------------

BASELINE_PLAN = {"model": "cuprates", "references": ["La2CuO4"], "scale_factors": [2, 3], "samples": 20, "batch": 40,
                 "steps": 20, "baseline": "substitution"}


def test_baseline_shards_draw_what_diffusion_draws_per_reference_and_seed():
    plan = campaign.plan_from_mapping({**BASELINE_PLAN, "references": ["La2CuO4", "YBa2Cu3O7"], "seeds": 2, "batch": 15})
    without = campaign.plan_from_mapping({**BASELINE_PLAN, "references": ["La2CuO4", "YBa2Cu3O7"], "seeds": 2, "batch": 15,
                                          "baseline": None})
    shards = campaign.expand_shards(plan)
    baseline = [shard for shard in shards if shard.source == "substitution"]
    assert [s for s in shards if s.source == "diffusion"] == campaign.expand_shards(without)  # diffusion's shards unchanged
    assert len({shard.shard_id for shard in shards}) == len(shards)
    for reference in (0, 1):
        for seed in (0, 1):
            mine = [s for s in baseline if s.reference_index == reference and s.seed == seed]
            assert [s.samples for s in mine] == [15, 15, 10]  # samples × N = 40, in batches of 15
            assert all(s.scale_factor is None for s in mine)
    for shard in shards:  # a shard draws one source only: the template's baseline is not run again inside it
        assert campaign.shard_settings(plan, shard).baseline is None
    assert plan.to_dict()["baseline"] == "substitution" and campaign.plan_from_mapping(plan.to_dict()) == plan


def test_campaign_run_baseline_flag_goes_into_the_plan():
    from superdiff_core.cli import build_parser
    from superdiff_core.commands.campaign import plan_from_args

    args = build_parser().parse_args(["campaign", "run", "--out", "x", "--model", "cuprates", "--reference", "La2CuO4",
                                      "--baseline", "Substitution"])
    assert plan_from_args(args).settings.baseline == "substitution"


@pytest.mark.slow
def test_campaign_baseline_is_generates_baseline_and_the_report_compares_sources(tmp_path):
    from superdiff_core.campaign.shard import load_shard_context
    from superdiff_core.run import run_generation

    plan = campaign.plan_from_mapping(BASELINE_PLAN)
    opened = campaign.open_campaign(tmp_path / "run", plan)
    for table in run_plan_here(plan, opened.shards):
        campaign.write_shard(opened.folder, table)
    rows = rows_of(opened.folder)
    baseline_rows = rows[rows["source"] == "substitution"]
    assert len(baseline_rows) and baseline_rows["scale_factor"].isna().all()
    assert set(rows.loc[rows["source"] == "diffusion", "scale_factor"]) == {2, 3}

    # the same seed and count as generate --baseline substitution: the same baseline candidates
    context = load_shard_context(plan)
    record = run_generation(context.engine, plan.settings.resolved(), context.models)
    generated = record.table[record.table["source"] == "substitution"]
    assert list(generated["formula"]) == list(baseline_rows["formula"])

    report = campaign_queries.write_report(opened.folder)
    comparison = pd.read_csv(report.files["diffusion_vs_substitution"])
    assert list(comparison["source"]) == ["diffusion", "substitution"]
    assert list(comparison["drawn"]) == [40, 40]  # samples × N each
    assert set(record.comparison.columns) - {"source"} <= set(comparison.columns)  # generate's vocabulary
    per_source = comparison.set_index("source")
    for source in ("diffusion", "substitution"):
        formulas = set(rows.loc[rows["source"] == source, "formula"])
        assert per_source.loc[source, "candidates"] == len(formulas)
    both = set(rows.loc[rows["source"] == "diffusion", "formula"]) & set(baseline_rows["formula"])
    assert list(comparison["found_by_both"]) == [len(both), len(both)]
    by_source = pd.read_csv(report.files["funnel_by_source"]).set_index("source")
    assert by_source.loc["substitution", "raw"] == 40 and by_source.loc["diffusion", "raw"] == 40
    assert list(pd.read_csv(report.files["funnel_by_n"])["N"]) == [2, 3]  # the baseline has no N
    assert "Diffusion vs substitution" in report.files["summary"].read_text()
    at = open_page(opened.folder)
    assert not at.error and "Diffusion vs substitution" in [tab.label for tab in at.tabs]


def test_found_by_names_every_source_and_old_shards_read_as_diffusion(tmp_path):
    plan = campaign.plan_from_mapping({**BASELINE_PLAN, "references": ["La2CuO4"], "scale_factors": [2], "samples": 1,
                                       "batch": 1, "properties": False})
    opened = campaign.open_campaign(tmp_path, plan)
    diffusion_shard, baseline_shard = opened.shards
    drawn = {diffusion_shard: ["La1.8Sr0.2CuO4", "La1.9Ca0.1CuO4"], baseline_shard: ["La1.8Sr0.2CuO4", "La1.8Ba0.2CuO4"]}
    for shard, formulas in drawn.items():
        table = pd.DataFrame({"formula": formulas, "model_class": "cuprates", "reference": "La2CuO4", "scale_factor": 2,
                              "smact_valid": True, "novel": True, "shard_id": shard.shard_id})
        if shard.source != "diffusion":  # the diffusion shard is written as shards were before they had a source column
            table["source"] = shard.source
        record = {"shard_id": shard.shard_id, "reference": "La2CuO4", "source": shard.source, "rows": 2, "raw": 1,
                  "stages": {"raw": 1}, "finished_at": time.time(), "state": "done"}
        campaign.write_shard(tmp_path, campaign.shard_arrow_table(table, record))
    queries = campaign_queries.open_queries(tmp_path)
    try:
        found = queries.frame("SELECT formula, source, found_by FROM unique_candidates").set_index("formula")
        assert found.loc["La1.8Sr0.2CuO4", "found_by"] == "diffusion+substitution"
        assert found.loc["La1.8Sr0.2CuO4", "source"] == "diffusion"  # counted once, at its first shard
        assert found.loc["La1.9Ca0.1CuO4", "found_by"] == "diffusion"
        assert found.loc["La1.8Ba0.2CuO4", "found_by"] == "substitution"
        comparison = campaign_queries.source_comparison(queries).set_index("source")
        assert list(comparison["candidates"]) == [2, 2] and list(comparison["found_by_both"]) == [1, 1]
        funnel = campaign_queries.campaign_funnel(queries, "source").set_index("source")
        assert list(funnel["campaign-unique"]) == [2, 2]  # once per source
    finally:
        queries.close()
