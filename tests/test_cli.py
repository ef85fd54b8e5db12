import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from superdiff_core.cli import main
from superdiff_core.composition import element_system
from superdiff_core.results import ENGINE_COLUMNS
from superdiff_core.shortlist import shortlist


def run_cli(capsys, *argv):
    """Run the CLI in-process; argparse errors (SystemExit) count as their exit status."""
    try:
        status = main(list(argv))
    except SystemExit as exit_:
        status = exit_.code
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_generate_writes_the_candidate_csv(tmp_path, capsys, test_class):
    out = tmp_path / "candidates.csv"
    status, stdout, _ = run_cli(
        capsys, "generate", "--model", test_class, "--reference", "BaFe2As2", "--scale-factor", "2", "3",
        "--samples", "12", "--steps", "10", "--seed", "1", "--out", str(out), "--keep-invalid", "--no-map",
    )
    assert status == 0
    assert "SMACT-valid" in stdout and "raw" in stdout
    assert "seconds: sampling " in stdout and " screening " in stdout  # each phase's time in the run's log
    assert "doping variants of known compounds:" in stdout
    table = pd.read_csv(out)
    assert list(table.columns[: len(ENGINE_COLUMNS)]) == list(ENGINE_COLUMNS)
    assert len(table) > 0
    assert set(table["scale_factor"]) <= {2, 3}
    assert (table["reference"] == "BaFe2As2").all() and (table["model_class"] == test_class).all()
    assert "note" in table.columns  # the same schema in every run, the note empty where nothing is flagged


def test_generate_is_reproducible_by_seed(tmp_path, capsys, test_class):
    outputs = []
    for name in ("a.csv", "b.csv"):
        out = tmp_path / name
        args = ["generate", "--model", test_class, "--samples", "10", "--steps", "8", "--seed", "5", "--out", str(out),
                "--keep-invalid", "--keep-known", "--no-map"]
        assert run_cli(capsys, *args)[0] == 0
        outputs.append(out.read_text())
    assert outputs[0] == outputs[1]


def test_evaluate_prints_and_writes_table_1_metrics(tmp_path, capsys, test_class):
    out = tmp_path / "metrics.json"
    status, stdout, _ = run_cli(capsys, "evaluate", "--model", test_class, "--samples", "20", "--steps", "5", "--json", str(out))
    assert status == 0 and "valid_per_1000" in stdout and "published" in stdout
    metrics = json.loads(out.read_text())
    assert metrics["raw_samples"] == 20
    assert 0 <= metrics["smact_valid"] <= metrics["passed_basic_filters"] <= 20
    assert metrics["valid_per_1000"] == pytest.approx(1000 * metrics["smact_valid"] / 20, abs=0.05)


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["generate", "--model", "superconductors"], "invalid choice"),
        (["generate", "--model", "{cls}", "--scale-factor", "0"], "scale factor"),
        (["generate", "--model", "{cls}", "--scale-factor", "33"], "scale factor"),
        (["generate", "--model", "{cls}", "--samples", "0"], "at least 1"),
        (["generate", "--model", "{cls}", "--samples", "100001"], "samples"),
        (["generate", "--model", "{cls}", "--steps", "0"], "steps"),
        (["generate", "--model", "{cls}", "--steps", "1001"], "steps"),
        (["generate", "--model", "{cls}", "--reference", "YBa2Cu3O7-x"], "YBa2Cu3O7-x"),
        (["generate", "--model", "{cls}", "--reference", "Xx2O"], "Xx"),
        (["generate", "--model", "{cls}", "--out", "/nonexistent-folder/c.csv"], "does not exist"),
        (["generate", "--model", "{cls}", "--models", "{tmp}"], "superdiff train --model"),
        (["evaluate", "--model", "{cls}", "--samples", "abc"], "whole number"),
        (["train-formation", "--ensemble", "0"], "at least 1"),
        (["train-formation", "--architecture", "gnn"], "invalid choice"),
        (["train-formation", "--epochs", "0"], "at least 1"),
        (["train-formation", "--epochs", "lots"], "whole number"),
        (["train-formation", "--threads", "0"], "at least 1"),
        (["screen", "--in", "{tmp}/f.txt", "--out", "{tmp}/o.csv", "--smact-timeout", "-1"], "must be a positive number"),
        (["screen", "--in", "{tmp}/f.txt", "--out", "{tmp}/o.csv", "--smact-timeout", "0"], "must be a positive number"),
        (["generate", "--model", "{cls}", "--reference", "YBa2Cu3O1e3"], "exponents are not amounts"),
        (["generate", "--model", "{cls}", "--reference", "YBa2Cu3O7e-1"], "exponents are not amounts"),
        (["generate", "--samples", "5"], "give --model CLASS"),
        (["generate", "--settings", "{tmp}/missing.json"], "settings file not found"),
        (["generate", "--settings", "{tmp}/run.json", "--seed", "3"], "leave out --seed"),
        (["generate", "--settings", "{tmp}/run.json", "--validity", "integer"], "leave out --validity"),
        (["generate", "--model", "{cls}", "--validity", "nonsense"], "invalid choice: 'nonsense'"),
        (["evaluate", "--model", "{cls}", "--validity", "nonsense"], "invalid choice: 'nonsense'"),
        (["screen", "--in", "{tmp}/f.txt", "--out", "{tmp}/o.csv", "--validity", "nonsense"], "invalid choice: 'nonsense'"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(argv, fragment, tmp_path, capsys, test_class):
    (tmp_path / "f.txt").write_text("MgB2\n")
    (tmp_path / "run.json").write_text("{}")
    argv = [a.format(cls=test_class, tmp=tmp_path) for a in argv]
    status, _, stderr = run_cli(capsys, *argv)
    assert status == 2
    _check_one_line(stderr, fragment)


def test_corrupt_checkpoint_names_file_and_rebuild_command(tmp_path, capsys, test_class):
    folder = tmp_path / "diffusion" / test_class
    folder.mkdir(parents=True)
    (folder / "model.pt").write_bytes(b"not a checkpoint")
    status, _, stderr = run_cli(capsys, "generate", "--model", test_class, "--models", str(tmp_path), "--out", str(tmp_path / "c.csv"))
    assert status == 2
    _check_one_line(stderr, "corrupt")
    assert str(folder / "model.pt") in stderr and "superdiff train" in stderr


def test_console_entry_point_runs_as_a_module():
    completed = subprocess.run([sys.executable, "-m", "superdiff_core", "generate", "--model", "nope"], capture_output=True, text=True)
    assert completed.returncode == 2
    assert "Traceback" not in completed.stderr and "invalid choice" in completed.stderr


def _check_one_line(stderr: str, fragment: str) -> None:
    assert "Traceback" not in stderr
    assert len(stderr.strip().splitlines()) == 1, stderr
    assert fragment in stderr


def test_settings_file_reproduces_a_run_and_help_shows_defaults(tmp_path, capsys, test_class):
    first = tmp_path / "a.csv"
    common = ["--samples", "12", "--steps", "8", "--keep-invalid", "--no-map"]
    assert run_cli(capsys, "generate", "--model", test_class, "--reference", "BaFe2As2", "--scale-factor", "2",
                   "--seed", "4", "--out", str(first), *common)[0] == 0
    settings = tmp_path / "a.settings.json"
    assert json.loads(settings.read_text())["settings"]["seed"] == 4
    second = tmp_path / "b.csv"
    status, stdout, stderr = run_cli(capsys, "generate", "--settings", str(settings), "--no-map", "--out", str(second))
    assert status == 0, stderr
    assert pd.read_csv(first).equals(pd.read_csv(second))
    help_text = subprocess.run([sys.executable, "-m", "superdiff_core", "generate", "--help"], capture_output=True, text=True).stdout
    for fragment in ("--seed", "same seed gives the same candidates", "default: 500", "default: 2 3 4", "default: candidates.csv"):
        assert fragment in " ".join(help_text.split()), fragment



@pytest.mark.parametrize("key, value, message", [
    ("method", "euler", "unknown method 'euler'"), ("method", "nope", "unknown method 'nope'"),
    ("clip", "sideways", "unknown clip mode 'sideways'"),
])
def test_a_bad_method_or_clip_mode_in_a_settings_file_is_one_line(tmp_path, capsys, test_class, key, value, message):
    """A settings JSON that names no method the sampler has is refused, not run as another method."""
    out = tmp_path / "a.csv"
    assert run_cli(capsys, "generate", "--model", test_class, "--samples", "4", "--steps", "4", "--no-map",
                   "--out", str(out))[0] == 0
    settings_file = tmp_path / "a.settings.json"
    document = json.loads(settings_file.read_text())
    document["settings"][key] = value
    settings_file.write_text(json.dumps(document))
    status, _, stderr = run_cli(capsys, "generate", "--settings", str(settings_file), "--out", str(tmp_path / "b.csv"))
    assert status == 2 and message in stderr and len(stderr.strip().splitlines()) == 1
    assert not (tmp_path / "b.csv").exists()


def test_generate_writes_a_shortlist_without_doping_variants_unless_asked(tmp_path, capsys, test_class):
    out = tmp_path / "c.csv"
    common = ["generate", "--model", test_class, "--reference", "BaFe2As2", "--scale-factor", "2", "--samples", "24",
              "--steps", "10", "--seed", "1", "--keep-invalid", "--no-map", "--shortlist", "5", "--out", str(out)]
    status, stdout, _ = run_cli(capsys, *common, "--no-shortlist-new-only", "--shortlist-per-elements", "0")
    assert status == 0 and "wrote the top" in stdout and "left out" not in stdout
    everything = pd.read_csv(tmp_path / "c.shortlist.csv", keep_default_na=False)
    assert 0 < len(everything) <= 5 and everything["shortlist_rank"].tolist() == list(range(1, len(everything) + 1))
    table = pd.read_csv(out, keep_default_na=False)
    variants = int((table["doping_variant_of"] != "").sum())
    assert variants > 0  # BaFe2As2's neighbourhood is full of measured doped 122s
    status, stdout, _ = run_cli(capsys, *common)  # the default leaves them out and says how many
    assert status == 0 and f"{variants:,} doping variants of known compounds left out" in stdout
    new_only = pd.read_csv(tmp_path / "c.shortlist.csv", keep_default_na=False)
    assert (new_only["doping_variant_of"] == "").all()
    assert len(new_only) <= min(5, len(table) - variants)
    assert "at most 1 per element set" in stdout and not new_only["formula"].map(element_system).duplicated().any()
    assert "inside the training domain first" in stdout
    status, stdout, _ = run_cli(capsys, *common, "--no-shortlist-new-only")  # the limit alone: the best of each set
    one_each = pd.read_csv(tmp_path / "c.shortlist.csv", keep_default_na=False)
    written = pd.read_csv(out)
    assert one_each["formula"].tolist() == shortlist(written, size=5, new_only=False)["formula"].tolist()
    assert everything["formula"].tolist() == shortlist(written, size=5, new_only=False, max_per_element_set=0)["formula"].tolist()
    status, stdout, _ = run_cli(capsys, *common, "--no-shortlist-in-domain-first")
    assert status == 0 and "inside the training domain first" not in stdout
    by_score = pd.read_csv(tmp_path / "c.shortlist.csv", keep_default_na=False)
    assert by_score["formula"].tolist() == shortlist(pd.read_csv(out), size=5, in_domain_first=False)["formula"].tolist()
    assert table["formula"].map(element_system).duplicated().any()  # so the limit had something to do


def test_screen_prints_the_funnel(tmp_path, capsys):
    source = tmp_path / "f.txt"
    source.write_text("formula,actual\nYBa2Cu3O7,92\nMgB2,39\nNotAFormula,0\n")
    status, stdout, _ = run_cli(capsys, "screen", "--in", str(source), "--out", str(tmp_path / "o.csv"), "--quiet")
    assert status == 0
    assert "funnel:" in stdout and "parsed" in stdout and "predicted superconductor" in stdout
    table = pd.read_csv(tmp_path / "o.csv")
    assert table["formula"].tolist() == ["YBa2Cu3O7", "MgB2", "NotAFormula"] and "actual" in table.columns


def test_unconditional_run_with_no_basic_candidate_says_so(tmp_path, capsys, test_class):
    from superdiff_core.commands.generate import funnel_lines
    from superdiff_core.run import RunRecord

    record = RunRecord("generate", test_class, pd.DataFrame(), np.zeros((0, 96)))
    assert funnel_lines(record) == ["unique –, novel – (no sample passed the basic filters)"]


@pytest.mark.parametrize("flags, warning", [
    (["--guide", "tc=100"], "guidance weight tc=100 is above 3"),
    (["--reference", "BaFe2As2", "--scale-factor", "2", "--resample-steps", "1000", "--steps", "2"],
     "--resample-steps 1000 is more than the 1 step(s) a 2-step run can resample"),
])
def test_suspicious_settings_warn_in_one_line(flags, warning, tmp_path, capsys, test_class):
    base = ["generate", "--model", test_class, "--samples", "4", "--steps", "2", "--no-map", "--keep-invalid",
            "--threads", "1", "--out", str(tmp_path / "c.csv")]
    status, _, err = run_cli(capsys, *base, *flags)
    lines = [line for line in err.splitlines() if "warning" in line]
    assert status == 0 and len(lines) == 1 and warning in lines[0]


@pytest.mark.parametrize("flags, check", [([], "bounded"), (["--validity", "integer"], "integer"), (["--mixed-valence"], "mixed_valence")])
def test_validity_flag_and_its_deprecated_alias(flags, check, test_class):
    from superdiff_core.cli import build_parser
    from superdiff_core.commands.generate import settings_from_args
    from superdiff_core.run_settings import cli_command

    parser = build_parser()
    settings = settings_from_args(parser.parse_args(["generate", "--model", test_class, *flags]))
    assert settings.screening.validity_check == check
    assert f"--validity {check}" in cli_command(settings)  # the reproducing command line names it
    assert parser.parse_args(["screen", "--in", "f.txt", "--out", "o.csv", *flags]).validity == check


def test_filter_order_and_guide_keys_ignore_case():
    from superdiff_core.commands.generate import filter_order_argument, guide_argument

    assert filter_order_argument("Z") == "z" and filter_order_argument("Pettifor") == "pettifor"
    assert guide_argument("TC=1").tc == 1.0 and guide_argument("Formation=0.5").formation == 0.5


def test_report_with_a_bad_memory_limit_exits_2_with_one_line(tmp_path, capsys):
    from superdiff_core import campaign

    plan = campaign.plan_from_mapping({"model": "pnictides", "references": ["BaFe2As2"], "scale_factors": [2],
                                       "samples": 1, "batch": 1, "steps": 5, "properties": False})
    campaign.open_campaign(tmp_path, plan)
    status, _, err = run_cli(capsys, "campaign", "report", str(tmp_path), "--memory-limit", "lots")
    assert status == 2 and len(err.strip().splitlines()) == 1 and "memory limit must be a positive size" in err


def test_status_of_a_stopped_campaign_shows_no_time_left(tmp_path, capsys):
    from superdiff_core import campaign

    plan = campaign.plan_from_mapping({"model": "pnictides", "references": ["BaFe2As2"], "scale_factors": [2],
                                       "samples": 2, "batch": 1, "steps": 5, "properties": False})
    opened = campaign.open_campaign(tmp_path, plan)
    opened.manifest["state"] = "stopped"
    opened.save_manifest()
    status, out, _ = run_cli(capsys, "campaign", "status", str(tmp_path))
    assert status == 0 and "not running" in out and "time left" not in out and "to resume" in out


def test_resume_with_a_different_plan_names_the_keys(tmp_path, capsys):
    from superdiff_core import campaign
    from superdiff_core.errors import InputError

    plan = {"model": "pnictides", "references": ["BaFe2As2"], "scale_factors": [2], "samples": 2, "batch": 1, "steps": 5}
    campaign.open_campaign(tmp_path, campaign.plan_from_mapping(plan))
    with pytest.raises(InputError, match=r"samples: 2 there, 4 given; .*steps: 5 there, 6 given"):
        campaign.open_campaign(tmp_path, campaign.plan_from_mapping({**plan, "samples": 4, "steps": 6}))


def test_choices_are_read_in_any_case():
    from superdiff_core.cli import build_parser

    args = build_parser().parse_args(["generate", "--model", "pnictides", "--validity", "Bounded", "--filter-order", "Z",
                                      "--guide", "TC=1", "--method", "DDIM"])
    assert args.validity == "bounded" and args.filter_order == "z" and args.guide.tc == 1.0 and args.method == "ddim"


def test_a_run_prints_its_headline_families_and_counts_the_other_new_ones():
    from superdiff_core.commands.generate import family_lines

    families = pd.DataFrame({
        "family_id": ["N1", "N2", "N3", "K1"], "general_formula": ["La2-xSrxCuO4", "Hg-Tl-Ba-Ca-Cu-F-O, around …", "x", "y"],
        "variable_ranges": ["x = 0.1–0.2", "", "", ""], "n_members": [5, 14, 2, 9], "mean_tc_kelvin": [31.4, 120.0, np.nan, 80.0],
        "is_new_family": [True, True, True, False], "headline": [True, False, False, False],
    })
    assert family_lines(families) == ["new families: 1 headline; 2 more new element systems not headlined (family_formula 'around …')",
                                      "  N1 La2-xSrxCuO4 (x = 0.1–0.2): 5 members, mean Tc 31 K"]
    assert family_lines(families.assign(is_new_family=[True, False, False, False])) == [
        "new families: 1 headline", "  N1 La2-xSrxCuO4 (x = 0.1–0.2): 5 members, mean Tc 31 K"]
    assert family_lines(None) == [] and family_lines(families.iloc[:0]) == []
