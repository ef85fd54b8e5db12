import threading

import numpy as np
import pytest

from superdiff_core.composition import parse_formula, ParsedFormula
from superdiff_core.pipeline import GenerationSettings, generate
from superdiff_core.sampler import SamplingCancelled
from superdiff_core.screening import ScreeningOptions

REFERENCE = "BaFe2As2"


def test_unconditional_samples_have_the_right_shape_and_are_deterministic(engine):
    first = engine.sampler.sample(8, 5, seed=3)
    again = engine.sampler.sample(8, 5, seed=3)
    other = engine.sampler.sample(8, 5, seed=4)
    assert first.shape == (8, 96) and np.isfinite(first).all()
    assert np.array_equal(first, again)
    assert not np.allclose(first, other)


def test_batching_does_not_change_the_number_of_samples(engine):
    assert engine.sampler.sample(7, 3, seed=0, batch_size=3).shape == (7, 96)


def test_ilvr_pulls_samples_towards_the_reference(engine):
    reference = parse_formula(REFERENCE)
    conditioned = engine.sampler.sample(16, 10, reference=reference, scale_factor=2, seed=0, method="ddim")
    unconditioned = engine.sampler.sample(16, 10, seed=0, method="ddim")
    distance = lambda x: np.abs(x - reference).sum(axis=1).mean()
    assert distance(conditioned) < distance(unconditioned)


def test_progress_is_reported_and_cancel_stops_sampling(engine):
    seen = []
    engine.sampler.sample(4, 6, seed=0, progress=lambda done, total: seen.append((done, total)))
    assert seen == [(i, 6) for i in range(1, 7)]
    flag = threading.Event()
    flag.set()
    with pytest.raises(SamplingCancelled):
        engine.sampler.sample(4, 6, seed=0, cancel=flag)


def test_screening_counts_add_up_in_a_small_generation(engine, test_class):
    settings = GenerationSettings(
        test_class, references=(REFERENCE,), scale_factors=(2, 3), samples=24, steps=10, method="ddim",
        screening=ScreeningOptions(keep_invalid=True),
    )
    result = generate(engine, settings, [ParsedFormula(REFERENCE, parse_formula(REFERENCE))])
    assert result.raw_samples == 48
    assert result.stages[0].remaining == 48
    for before, after in zip(result.stages, result.stages[1:]):
        if after.stage != "SMACT-valid":
            assert after.remaining + after.removed == before.remaining
    smact = result.stages[-1]
    assert smact.remaining == int(result.table["smact_valid"].sum())
    assert len(result.table) == result.stages[-2].remaining == len(result.vectors)
    assert set(result.table["scale_factor"]) <= {2, 3}
    assert (result.table["reference"] == REFERENCE).all()
