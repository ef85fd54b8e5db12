import json

import numpy as np
import pytest

from superdiff_core.checkpoints import load_diffusion
from superdiff_core.data import LoadReport, SuperConSet, load_supercon, load_training_set, write_training_set
from superdiff_core.errors import CheckpointError, InputError
from superdiff_core.train import TrainingSettings, clipping_range, split_indices, train_diffusion
from superdiff_core.unet1d import UNet1D, UNetConfig

ROWS = """1\tRh1\t0.00021\t3
2\tLa1.85Sr0.15Cu1O4\t38\t1
3\tNa0.8M0.6Fe1.86Se1S1\t30\t2
4\tBa1Fe2As2\t0\t2
5\tSr2Ru0.9995Ti0.0005O4\t1.2\t3
6\tP4Ph5\t3\t3
7\tK0.4Ba0.6Fe2As2\t38\t2
"""


def test_loader_reports_what_it_skips_and_flags(tmp_path):
    path = tmp_path / "supercon.dat"
    path.write_text(ROWS)
    data = load_supercon(path)
    assert list(data.formulas) == ["Rh1", "La1.85Sr0.15Cu1O4", "Ba1Fe2As2", "Sr2Ru0.9995Ti0.0005O4", "K0.4Ba0.6Fe2As2"]
    assert data.report.rows_read == 7 and sum(data.report.skipped.values()) == 2
    lines = "\n".join(data.report.lines())
    assert "Na0.8M0.6Fe1.86Se1S1" in lines and "P4Ph5" in lines and "Sr2Ru0.9995Ti0.0005O4" in lines
    assert list(data.subset("pnictides").formulas) == ["Ba1Fe2As2", "K0.4Ba0.6Fe2As2"]
    assert len(data.subset("everything").formulas) == 5


def test_training_set_round_trip_and_missing_file(tmp_path):
    path = tmp_path / "supercon.dat"
    path.write_text(ROWS)
    data = load_supercon(path)
    write_training_set(data, tmp_path)
    loaded = load_training_set(tmp_path)
    assert np.array_equal(loaded.vectors, data.vectors) and loaded.sha256 == data.sha256
    with pytest.raises(CheckpointError, match="prepare-data"):
        load_training_set(tmp_path / "nowhere")
    with pytest.raises(InputError):
        load_supercon(tmp_path / "missing.dat")


def test_split_is_fixed_by_seed_and_disjoint():
    train, validation = split_indices(100, 0.05, seed=0)
    again, _ = split_indices(100, 0.05, seed=0)
    assert np.array_equal(train, again) and len(validation) == 5
    assert not set(train) & set(validation) and len(train) + len(validation) == 100


def test_training_on_a_tiny_set_writes_a_loadable_checkpoint_and_card(tmp_path):
    rng = np.random.default_rng(0)
    vectors = np.zeros((40, 96))
    vectors[:, 55] = 1.0  # Ba
    vectors[:, 25] = 2.0 - rng.random(40) * 0.2  # Fe
    vectors[:, 32] = 2.0  # As
    data = SuperConSet(np.array([f"c{i}" for i in range(40)]), vectors, np.ones(40), np.full(40, 2), "abc", LoadReport())
    config = UNetConfig(base_channels=8, channel_multipliers=(1, 2), groups=4)
    result = train_diffusion(data, "pnictides", tmp_path, config, TrainingSettings(epochs=2, batch_size=16, max_minutes=5), progress=False)
    assert len(result.validation_losses) == 2 and 1 <= result.best_epoch <= 2
    checkpoint = load_diffusion(tmp_path, "pnictides")
    assert checkpoint.model.config == config
    train_index, _ = split_indices(40, 0.05, seed=0)
    lower, upper = clipping_range(vectors[train_index])  # the range of the training split only
    assert np.allclose(checkpoint.x0_upper, upper) and np.allclose(checkpoint.x0_lower, lower)
    card = json.loads((tmp_path / "diffusion" / "pnictides" / "card.json").read_text())
    assert card["data"]["sha256"] == "abc" and card["training"]["best_epoch"] == result.best_epoch
    assert card["architecture"]["parameters"] == sum(p.numel() for p in UNet1D(config).parameters())
    assert "superdiff train --model pnictides" in card["rebuild_command"]


def test_committed_cards_name_no_absolute_path():
    """A card's rebuild command and data paths run from any checkout (issue 21.6)."""
    import re

    from superdiff_core.artifacts import DEFAULT_MODELS_DIR, portable_card

    cards = sorted(DEFAULT_MODELS_DIR.rglob("card.json"))
    assert len(cards) >= 8
    absolute = re.compile(r"(?<![\w.:/])/(work|tmp|root|home|Users)/")
    for path in cards:
        text = path.read_text()
        assert not absolute.search(text), f"{path} names an absolute path"
    assert portable_card({"command": "x --out /nowhere/run/checkpoints"}) == {"command": "x --out checkpoints"}
