"""``superdiff screen``: text and CSV input, bad lines, order, notes, exit status 2 for bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from superdiff_core.cli import main


def run(capsys, *argv: str) -> tuple[int, str, str]:
    status = main(["screen", *argv, "--quiet"])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_text_file_with_good_and_bad_lines_keeps_order_and_explains(tmp_path, capsys):
    source = tmp_path / "formulas.txt"
    source.write_text("YBa2Cu3O7\nNotAFormula\n\n# a comment\nNaCl\nCm2O3\nLa1.85Sr0.15CuO4\n", encoding="utf-8")
    out = tmp_path / "scored.csv"
    status, stdout, stderr = run(capsys, "--in", str(source), "--out", str(out))
    assert status == 0, stderr
    table = pd.read_csv(out, keep_default_na=False, na_values=[""])
    assert table["formula"].tolist() == ["YBa2Cu3O7", "NotAFormula", "NaCl", "Cm2O3", "La1.85Sr0.15CuO4"]
    for column in ("smact_valid", "sc_probability", "is_superconductor", "tc_kelvin", "formation_energy_ev_per_atom", "note"):
        assert column in table.columns
    rows = table.set_index("formula")
    assert rows.loc["NotAFormula", "note"].startswith("unparsable formula")
    assert rows.loc[["NotAFormula"], ["sc_probability", "tc_kelvin", "formation_energy_ev_per_atom", "smact_valid"]].isna().all().all()
    assert "Cm" in rows.loc["Cm2O3", "note"] and np.isnan(rows.loc["Cm2O3", "formation_energy_ev_per_atom"])
    assert rows.loc["YBa2Cu3O7", "is_superconductor"] == True  # noqa: E712 (read back from CSV)
    assert rows.loc["NaCl", "smact_valid"] == True  # noqa: E712
    # the default (bounded) check: Cu2.3+ is within 0.5 of Cu2+; the paper's check balances La2+ and Cu4+
    assert rows.loc["La1.85Sr0.15CuO4", "smact_valid"] == True  # noqa: E712
    assert rows.loc["La1.85Sr0.15CuO4", "smact_valid_integer"] == True  # noqa: E712
    assert "valid (bounded charge balance)" in stdout
    assert "screened 5 formulas" in stdout and "1 unparsable" in stdout and "1 element outside" in stdout


def test_csv_with_formula_column_keeps_other_columns(tmp_path, capsys):
    source = tmp_path / "candidates.csv"
    pd.DataFrame({"id": [7, 8, 9], "formula": ["MgB2", "Al2O3", "??"]}).to_csv(source, index=False)
    out = tmp_path / "scored.csv"
    status, _, stderr = run(capsys, "--in", str(source), "--out", str(out))
    assert status == 0, stderr
    table = pd.read_csv(out)
    assert table["id"].tolist() == [7, 8, 9]
    assert table["formula"].tolist() == ["MgB2", "Al2O3", "??"]
    assert table.loc[1, "formation_energy_ev_per_atom"] < -1.5
    assert table.loc[2, "note"].startswith("unparsable formula")


def test_csv_without_formula_column_is_exit_2_with_one_line(tmp_path, capsys):
    source = tmp_path / "candidates.csv"
    source.write_text("name,tc\nMgB2,39\n", encoding="utf-8")
    status, _, stderr = run(capsys, "--in", str(source), "--out", str(tmp_path / "scored.csv"))
    assert status == 2
    assert len(stderr.strip().splitlines()) == 1 and "formula" in stderr and "Traceback" not in stderr
    assert not (tmp_path / "scored.csv").exists()


def test_missing_models_is_exit_2_naming_file_and_command(tmp_path, capsys):
    source = tmp_path / "formulas.txt"
    source.write_text("MgB2\n", encoding="utf-8")
    status, _, stderr = run(capsys, "--in", str(source), "--out", str(tmp_path / "o.csv"), "--models", str(tmp_path / "none"))
    assert status == 2
    assert len(stderr.strip().splitlines()) == 1
    assert "card.json" in stderr and "superdiff train-tc" in stderr


@pytest.mark.parametrize("content", ["", "\n\n# only a comment\n"])
def test_empty_input_is_exit_2(tmp_path, capsys, content):
    source = tmp_path / "formulas.txt"
    source.write_text(content, encoding="utf-8")
    status, _, stderr = run(capsys, "--in", str(source), "--out", str(tmp_path / "o.csv"))
    assert status == 2 and "no formula" in stderr


def test_every_stage_of_a_long_list_shows_progress_and_batches_change_nothing(tmp_path, capsys, monkeypatch):
    """A long list (100,000 lines) must not go silent after its validity bar: every stage
    reports as it works. Checked on a short list cut into batches of 2 formulas."""
    from superdiff_core import run as engine

    formulas = ["BaFe2As2", "NotAFormula", "Ba0.6K0.4Fe2As2", "LaFeAsO0.9F0.1", "FeSe", "MgB2", "YBa2Cu3O7"]
    from superdiff_core.artifacts import DEFAULT_MODELS_DIR

    models = engine.load_run_models(DEFAULT_MODELS_DIR, "pnictides", with_map=True)
    whole = engine.screen_formulas(formulas, models, map_class="pnictides")
    monkeypatch.setattr(engine, "SCREEN_BATCH", 2)
    reports: list[tuple[str, int, int]] = []
    batched = engine.screen_formulas(formulas, models, map_class="pnictides", progress=lambda *report: reports.append(report))
    pd.testing.assert_frame_equal(batched.table, whole.table, check_exact=False, atol=1e-6)  # distances: float sums
    stages = list(dict.fromkeys(stage for stage, _, _ in reports))
    assert stages == [s for s in engine.SCREEN_STAGES if s != "hull" or models.phases is not None]
    for stage in stages:  # each stage starts at 0 and ends at its total, in steps
        counts = [(done, total) for name, done, total in reports if name == stage]
        assert counts[0][0] == 0 and counts[-1][0] == counts[-1][1] and len(counts) >= 2, (stage, counts)
    assert len([r for r in reports if r[0] == "parsing"]) == 1 + 4  # 7 formulas in batches of 2

    source = tmp_path / "formulas.txt"
    source.write_text("\n".join(formulas) + "\n")
    assert main(["screen", "--in", str(source), "--out", str(tmp_path / "o.csv"), "--map", "pnictides"]) == 0
    err = capsys.readouterr().err
    for stage in stages:
        assert f"{stage}: 100%" in err, stage
