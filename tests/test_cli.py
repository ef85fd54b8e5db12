import json
import subprocess
import sys

import pandas as pd
import pytest

from superdiff_core.cli import main
from superdiff_core.results import ENGINE_COLUMNS


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
    table = pd.read_csv(out)
    assert list(table.columns[: len(ENGINE_COLUMNS)]) == list(ENGINE_COLUMNS)
    assert len(table) > 0
    assert set(table["scale_factor"]) <= {2, 3}
    assert (table["reference"] == "BaFe2As2").all() and (table["model_class"] == test_class).all()


def test_generate_is_reproducible_by_seed(tmp_path, capsys, test_class):
    outputs = []
    for name in ("a.csv", "b.csv"):
        out = tmp_path / name
        args = ["generate", "--model", test_class, "--samples", "10", "--steps", "8", "--seed", "5", "--out", str(out), "--keep-invalid", "--keep-known", "--no-map"]
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
        (["train-formation", "--dropout", "1"], "below 1"),
        (["train-formation", "--weight-decay", "-0.1"], "at least 0"),
        (["train-formation", "--weight-decay", "lots"], "expected a number"),
        (["train-formation", "--threads", "0"], "at least 1"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(argv, fragment, tmp_path, capsys, test_class):
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
