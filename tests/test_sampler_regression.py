"""Old runs stay reproducible, and the few-step solver is the solver it claims to be (issue 20)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from make_sampler_fixture import FIXTURE, MODEL_CLASS, checkpoint_sha256, draw  # noqa: E402

from superdiff_core.composition import parse_formula  # noqa: E402
from superdiff_core.pipeline import load_engine  # noqa: E402
from superdiff_core.timetable import timetable_length  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def engine():
    return load_engine(MODEL_CLASS)


def test_todays_sampler_reruns_its_recorded_outputs(engine):
    recorded = np.load(FIXTURE, allow_pickle=False)
    assert str(recorded["checkpoint_sha256"]) == checkpoint_sha256(), "the pnictide checkpoint changed: rewrite the fixture"
    for name, case in json.loads(str(recorded["cases"])).items():
        np.testing.assert_allclose(draw(engine, case), recorded[name], atol=1e-5, err_msg=name)


def test_dpm_solver_converges_to_ddim_as_steps_grow(engine):
    """Both integrate the same probability-flow ODE from the same seeded start noise."""
    def gap(steps: int) -> float:
        ddim = engine.sampler.sample(6, steps, seed=0, method="ddim")
        return float(np.abs(engine.sampler.sample(6, steps, seed=0, method="dpmpp2m") - ddim).mean())

    assert gap(100) < 0.3 * gap(20)


@pytest.mark.parametrize("method", ["dpmpp2m", "dpmpp2m_sde", "ancestral"])
def test_progress_total_is_the_timetable_length(engine, method):
    calls: list[tuple[int, int]] = []
    engine.sampler.sample(4, 10, seed=0, method=method, reference=parse_formula("BaFe2As2"), scale_factor=2,
                          resample_steps=3, resample_count=2, progress=lambda done, total: calls.append((done, total)))
    assert calls[-1] == (timetable_length(10, 3, 2),) * 2 == (13, 13)


def test_bfloat16_draws_near_the_float32_samples_and_reruns_exactly(engine):
    """bf16 changes only the network's arithmetic: the same seed lands near the float32 sample
    (not on it), twice on the same one, and keeps the reference's elements as float32 does."""
    reference = parse_formula("BaFe2As2")

    def draw_with(precision: str) -> np.ndarray:
        return engine.sampler.sample(16, 20, seed=3, reference=reference, scale_factor=2, precision=precision)

    full, half = draw_with("fp32"), draw_with("bf16")
    np.testing.assert_array_equal(half, draw_with("bf16"))
    gap = np.abs(half - full)
    assert gap.max() > 0 and np.median(gap) < 0.05, (gap.max(), np.median(gap))
    present = reference > 0
    assert ((half[:, present] > 0.08).mean(axis=0) >= (full[:, present] > 0.08).mean(axis=0) - 0.25).all()
