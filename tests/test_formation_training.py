"""Resumable formation training: a run stopped after k epochs and resumed ends with the weights of an uninterrupted run."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest
import torch

from superdiff_core.errors import InputError
from superdiff_core.properties.formation_training import (
    FormationConfig,
    fit_formation,
    learning_rate_factor,
    load_element_table,
    running_average,
    train_formation,
)

SMALL = FormationConfig(width=16, heads=2, layers=1, feedforward=32, batch_size=32, epochs=4, learning_rate=3e-3,
                        swa_epochs=2, swa_learning_rate=1e-3, max_minutes=60.0)


@pytest.fixture(scope="module")
def table():
    torch.set_num_threads(1)
    return load_element_table(None)[0]


def test_stopped_and_resumed_run_ends_with_the_uninterrupted_weights(tmp_path, table, make_formation_data):
    train, validation = make_formation_data(0, 200), make_formation_data(1, 40)
    straight = fit_formation(train, validation, table, SMALL, progress=False)
    state = tmp_path / "formation.resume.pt"
    first = fit_formation(train, validation, table, SMALL, resume_path=state, progress=False, stop_after_epoch=3)
    assert first.epochs_run == 3 and first.stopped_because == "stopped after epoch" and state.is_file()
    saved = torch.load(state, weights_only=True)  # tensors and plain containers only
    assert saved["state"]["epoch"] == 3 and saved["state"]["swa_count"] == 1 and "state" in saved["optimiser"]
    resumed = fit_formation(train, validation, table, SMALL, resume_path=state, progress=False)
    assert resumed.epochs_run == 4 and resumed.stopped_because == "all epochs run"
    assert [row["epoch"] for row in resumed.history] == [1, 2, 3, 4] and resumed.history[:3] == first.history
    assert [(s["from_epoch"], s["to_epoch"]) for s in resumed.sittings] == [(0, 3), (3, 4)]
    assert resumed.seconds >= first.seconds
    assert resumed.chosen == straight.chosen
    for (name, a), b in zip(straight.network.state_dict().items(), resumed.network.state_dict().values()):
        assert torch.allclose(a, b), name
    assert [row["validation_mae"] for row in resumed.history] == pytest.approx([row["validation_mae"] for row in straight.history])


def test_resume_refuses_a_state_saved_with_other_settings(tmp_path, table, make_formation_data):
    train, validation = make_formation_data(0, 80), make_formation_data(1, 20)
    state = tmp_path / "formation.resume.pt"
    fit_formation(train, validation, table, SMALL, resume_path=state, progress=False, stop_after_epoch=1)
    with pytest.raises(InputError, match="learning_rate"):
        fit_formation(train, validation, table, dataclasses.replace(SMALL, learning_rate=1e-2), resume_path=state, progress=False)
    fit_formation(train, validation, table, dataclasses.replace(SMALL, max_minutes=5.0), resume_path=state, progress=False,
                  stop_after_epoch=2)  # the time budget may change


def test_schedule_warms_up_decays_to_the_swa_rate_and_stays():
    factors = [learning_rate_factor(step, 10, 100, 0.1) for step in range(150)]
    assert factors[0] == pytest.approx(0.1) and factors[9] == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(factors[9:100], factors[10:101]))
    assert factors[100:] == pytest.approx([0.1] * 50)


def test_running_average_is_the_mean_of_the_states():
    states = [{"w": torch.tensor([float(i), 2.0 * i]), "n": torch.tensor(i)} for i in range(1, 5)]
    average = None
    for count, state in enumerate(states, start=1):
        average = running_average(average, state, count)
    assert torch.allclose(average["w"], torch.tensor([2.5, 5.0])) and int(average["n"]) == 4


def test_train_formation_needs_resume_to_continue_and_something_to_resume(tmp_path):
    rows = [(f"Mg{a}O{b}", -0.3 * a) for a in range(1, 4) for b in range(1, 5)] * 4
    for name in ("train.csv", "eval.csv"):
        pd.DataFrame(rows, columns=["formula", "formation_energy_per_atom"]).to_csv(tmp_path / name, index=False)
    out = tmp_path / "formation"
    with pytest.raises(InputError, match="no training state"):
        train_formation(out, tmp_path / "train.csv", tmp_path / "eval.csv", SMALL, progress=False, resume=True)
    out.mkdir()
    (out / "formation.resume.pt").write_bytes(b"")
    with pytest.raises(InputError, match="--resume"):
        train_formation(out, tmp_path / "train.csv", tmp_path / "eval.csv", SMALL, progress=False)
