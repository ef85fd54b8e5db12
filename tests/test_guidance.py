"""Property guidance (issue 11): weights, the guided sampler, the CLI flag and the app control.

Small runs (a few dozen samples, few steps) on the committed checkpoints.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from superdiff_core import run_settings
from superdiff_core.composition import parse_formula
from superdiff_core.errors import InputError
from superdiff_core.guidance import Guide, build_guide, decoded_amounts, guidance_objective, schedule_factor
from superdiff_core.guidance_weights import GuidanceWeights, parse_guide
from superdiff_core.properties import load_property_models
from superdiff_core.settings import GenerationSettings


@pytest.fixture(scope="module")
def property_models():
    return load_property_models()


pytestmark = pytest.mark.usefixtures("one_torch_thread")


# --------------------------------------------------------------------------- weights


def test_parse_guide_reads_weights_and_writes_them_back():
    weights = parse_guide("tc=1.0, formation=0.5,superconductor=0.25")
    assert weights == GuidanceWeights(tc=1.0, superconductor=0.25, formation=0.5)
    assert weights.active and parse_guide(weights.to_text()) == weights
    assert parse_guide("tc=2") == GuidanceWeights(tc=2.0)
    assert parse_guide("TC=1,Formation=0.5") == GuidanceWeights(tc=1.0, formation=0.5)  # keys in any case
    assert not parse_guide("off").active and not parse_guide("tc=0").active and GuidanceWeights().to_text() == ""


@pytest.mark.parametrize(
    ("text", "fragment"),
    [("tc=-1", "must not be negative"), ("density=1", "unknown guidance key"), ("tc=abc", "must be a number"),
     ("tc", "key=value"), ("tc=1,tc=2", "given twice"), ("tc=1e9", "from 0 to"), ("tc=nan", "from 0 to")],
)
def test_parse_guide_rejects_bad_weights(text, fragment):
    with pytest.raises(InputError, match=fragment):
        parse_guide(text)


def test_weights_round_trip_through_the_run_settings_json():
    settings = GenerationSettings(model_class="pnictides", references=("BaFe2As2",), guidance=GuidanceWeights(tc=1.5, formation=0.5))
    text = run_settings.run_settings_json(settings)
    document = json.loads(text)
    assert document["settings"]["guidance"] == {"tc": 1.5, "superconductor": 0.0, "formation": 0.5}
    assert "--guide tc=1.5,formation=0.5" in document["command"] and document["guidance_method"]["target"]
    loaded, _ = run_settings.settings_from_json(text)
    assert loaded == settings.resolved()
    old = json.loads(run_settings.run_settings_json(GenerationSettings(model_class="pnictides")))
    del old["settings"]["guidance"]  # a file written before guidance existed
    assert not run_settings.settings_from_json(json.dumps(old))[0].guidance.active
    old["settings"]["guidance"] = {"tc": 1, "density": 2}
    with pytest.raises(InputError, match="unknown guidance key"):
        run_settings.settings_from_json(json.dumps(old))


# --------------------------------------------------------------------------- objective and sampler


def test_objective_sees_physical_compositions_and_has_gradients(property_models):
    x0 = torch.tensor(np.stack([parse_formula("BaFe2As2"), parse_formula("YBa2Cu3O7")]), dtype=torch.float32)
    x0[:, 0] = -0.5  # a negative amount and a residual one are not part of the composition
    x0[:, 2] = 0.05
    amounts = decoded_amounts(x0)
    assert (amounts >= 0).all() and amounts[:, 0].eq(0).all() and amounts[:, 2].eq(0).all()
    guide = build_guide(GuidanceWeights(tc=1.0, superconductor=0.5, formation=0.5), property_models)
    gradient = guide.gradient(x0)
    assert gradient.shape == x0.shape and torch.isfinite(gradient).all() and gradient.abs().sum() > 0
    assert gradient[:, 0].eq(0).all() and gradient[:, 2].eq(0).all()
    values = guidance_objective(amounts, GuidanceWeights(formation=1.0), None, property_models.formation)
    energies, _ = property_models.formation.predict(amounts.numpy())
    np.testing.assert_allclose(-values.detach().numpy(), energies, atol=1e-4)  # top elements = every element here
    assert build_guide(GuidanceWeights(), property_models) is None
    with pytest.raises(InputError, match="property models"):
        build_guide(GuidanceWeights(tc=1.0), None)
    assert [schedule_factor("noisy", t) for t in (999, 500, 499)] == [1.0, 1.0, 0.0]


def test_weight_zero_reproduces_unguided_samples_exactly(engine, property_models):
    reference = parse_formula("BaFe2As2")
    for extra in ({}, {"reference": reference, "scale_factor": 2}):
        plain = engine.sampler.sample(12, 6, seed=3, **extra)
        zero = engine.sampler.sample(12, 6, seed=3, guide=Guide(GuidanceWeights(), property_models.superconductor.guidance), **extra)
        assert np.array_equal(plain, zero)
        guided = engine.sampler.sample(12, 6, seed=3, guide=build_guide(GuidanceWeights(tc=2.0), property_models), **extra)
        assert not np.array_equal(plain, guided)


def test_strong_tc_weight_raises_the_guides_own_predicted_tc(engine, property_models):
    guide = build_guide(GuidanceWeights(tc=3.0), property_models)
    plain = engine.sampler.sample(64, 10, seed=1)
    guided = engine.sampler.sample(64, 10, seed=1, guide=guide)
    tc_plain = guide.predict(decoded_amounts(torch.tensor(plain)).numpy())["tc_kelvin"]
    tc_guided = guide.predict(decoded_amounts(torch.tensor(guided)).numpy())["tc_kelvin"]
    assert tc_guided.mean() > tc_plain.mean() + 1.0


def test_generate_records_the_guidance_in_the_candidate_table(engine, property_models):
    from superdiff_core.pipeline import generate
    from superdiff_core.results import GUIDANCE_COLUMN
    from superdiff_core.screening import ScreeningOptions

    weights = GuidanceWeights(tc=1.0, formation=0.5)
    settings = GenerationSettings(model_class=engine.model_class, samples=16, steps=6, guidance=weights,
                                  screening=ScreeningOptions(keep_invalid=True, keep_known=True))
    with pytest.raises(InputError, match="guidance"):
        generate(engine, settings)  # the guide must come with the settings that ask for it
    result = generate(engine, settings, guide=build_guide(weights, property_models))
    assert len(result.table) and (result.table[GUIDANCE_COLUMN] == "tc=1,formation=0.5").all()
    unguided = generate(engine, GenerationSettings(model_class=engine.model_class, samples=16, steps=6))
    assert GUIDANCE_COLUMN not in unguided.table.columns


# --------------------------------------------------------------------------- command line


@pytest.mark.parametrize(
    ("guide", "fragment"),
    [("tc=-1", "must not be negative"), ("speed=1", "unknown guidance key"), ("tc=lots", "must be a number")],
)
def test_bad_guide_argument_exits_2_with_one_line(guide, fragment, capsys):
    from superdiff_core.cli import main

    try:
        status = main(["generate", "--model", "pnictides", f"--guide={guide}"])
    except SystemExit as exit_:
        status = exit_.code
    stderr = capsys.readouterr().err
    assert status == 2 and len(stderr.strip().splitlines()) == 1 and fragment in stderr and "Traceback" not in stderr


def test_generate_with_guide_writes_it_to_the_csv_and_the_settings(tmp_path, capsys, test_class):
    import pandas as pd

    from superdiff_core.cli import main

    out = tmp_path / "c.csv"
    status = main(["generate", "--model", test_class, "--reference", "BaFe2As2", "--scale-factor", "2", "--samples", "10",
                   "--steps", "5", "--guide", "tc=1,formation=0.5", "--keep-invalid", "--keep-known", "--no-map", "--out", str(out)])
    assert status == 0, capsys.readouterr().err
    table = pd.read_csv(out)
    assert (table["guidance"] == "tc=1,formation=0.5").all()
    settings, _ = run_settings.settings_from_json((tmp_path / "c.settings.json").read_text())
    assert settings.guidance == GuidanceWeights(tc=1.0, formation=0.5)


# --------------------------------------------------------------------------- app


def test_steer_sliders_round_trip_through_the_settings_json(test_class):
    from streamlit.testing.v1 import AppTest

    from superdiff_core.artifacts import DEFAULT_MODELS_DIR
    from superdiff_core.checkpoints import available_classes

    if test_class not in available_classes(DEFAULT_MODELS_DIR):
        pytest.skip("no diffusion checkpoint")
    at = AppTest.from_file(str(Path(__file__).resolve().parent.parent / "app.py"), default_timeout=60).run()
    assert at.slider(key="generate_guide_tc").value == 0.0  # off by default
    text = run_settings.run_settings_json(GenerationSettings(
        model_class=test_class, references=("BaFe2As2",), scale_factors=(2,), samples=8, steps=4,
        guidance=GuidanceWeights(tc=1.5, formation=0.5),
    ))
    at.file_uploader(key="generate_settings_file").upload("run.json", text.encode(), "application/json").run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.slider(key="generate_guide_tc").value == 1.5
    assert at.slider(key="generate_guide_formation").value == 0.5
    assert at.slider(key="generate_guide_superconductor").value == 0.0
    at.slider(key="generate_guide_superconductor").set_value(0.7).run()
    at.button(key="generate_go").click().run()
    active = at.session_state["active:generate"]
    active.background.wait(120)
    at.run(timeout=120)
    assert not at.exception, [e.value for e in at.exception]
    record = at.session_state["run:generate"]
    assert record.settings.guidance == GuidanceWeights(tc=1.5, superconductor=0.7, formation=0.5)
    again, _ = run_settings.settings_from_json(run_settings.run_settings_json(record.settings))
    assert again.guidance == record.settings.guidance


def test_the_decoding_hides_absent_elements_from_the_gradient_unless_told_to_pass_it_through():
    """Why the pnictide guide cannot propose a dopant (benchmarks/README.md): an absent element gets no gradient."""
    x0 = torch.zeros(1, 96)
    x0[0, 55], x0[0, 25], x0[0, 32] = 1.0, 2.0, 2.0  # BaFe2As2
    weights = torch.arange(96, dtype=torch.float32)  # any objective that depends on every amount
    for through, expected_k in ((None, 0.0), (torch.ones(96, dtype=torch.bool), 18.0)):
        leaf = x0.clone().requires_grad_(True)
        amounts = decoded_amounts(leaf, gradient_through=through)
        assert torch.equal(amounts.detach(), decoded_amounts(x0))  # the same composition either way
        (grad,) = torch.autograd.grad((amounts * weights).sum(), leaf)
        assert grad[0, 18].item() == expected_k and grad[0, 55].item() == 55.0  # K (absent), Ba (present)
