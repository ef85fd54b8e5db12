import dataclasses
import threading

import numpy as np
import pytest

from superdiff_core.composition import SYMBOL_TO_INDEX, parse_formula
from superdiff_core.pipeline import generate, load_engine
from superdiff_core.sampler import CLIP_MODES, SamplingCancelled, resampling_repeats, widened_elements
from superdiff_core.screening import ScreeningOptions, round_and_threshold
from superdiff_core.settings import GenerationSettings
from superdiff_core.substitution import plausible_substitutes

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
    def distance(x):
        return np.abs(x - reference).sum(axis=1).mean()
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
    result = generate(engine, settings)
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


PAPER_REFERENCE = "YBa1.4Sr0.6Cu3O6Se0.51"


@pytest.fixture(scope="module")
def cuprate_engine():
    return load_engine("cuprates")


@pytest.mark.parametrize("clip", [c for c in CLIP_MODES if c != "training"])
def test_conditioning_clip_never_forbids_a_reference_element(cuprate_engine, clip):
    reference = parse_formula(PAPER_REFERENCE + "As0.2")  # As is absent from the cuprate training data
    assert cuprate_engine.checkpoint.x0_upper[SYMBOL_TO_INDEX["As"]] == 0
    for order in ("z", "pettifor"):
        lower, upper = cuprate_engine.sampler.conditioning_clip_range(reference, order, clip)
        present = reference > 0
        assert (lower.numpy()[present] <= 0).all()
        if upper is not None:
            assert (upper.numpy()[present] >= reference[present]).all()


def test_widened_clip_covers_the_filters_neighbours_of_the_reference():
    reference = parse_formula(PAPER_REFERENCE)
    z, pettifor = widened_elements(reference, "z"), widened_elements(reference, "pettifor")
    assert z[SYMBOL_TO_INDEX["As"]] and z[SYMBOL_TO_INDEX["Br"]]
    assert pettifor[SYMBOL_TO_INDEX["S"]] and pettifor[SYMBOL_TO_INDEX["Te"]]
    assert (z[reference > 0]).all() and (pettifor[reference > 0]).all()
    assert not z[SYMBOL_TO_INDEX["Au"]]


def test_plausible_clip_adds_only_the_references_plausible_substitutes(cuprate_engine):
    reference = parse_formula("HgBa2Ca2Cu3O8.27")
    allowed = plausible_substitutes(reference) | (reference > 0)
    lower, upper = cuprate_engine.sampler.conditioning_clip_range(reference, "z", "plausible")
    assert (upper.numpy()[~allowed] == 0).all() and (upper.numpy()[allowed] > 0).all()
    drawn = {}
    for clip in ("plausible", "widened"):
        samples = round_and_threshold(cuprate_engine.sampler.sample(48, 10, reference=reference, scale_factor=2, seed=0, clip=clip))
        drawn[clip] = (samples > 0) & ~allowed  # elements outside the reference and its plausible substitutes
    assert not drawn["plausible"].any()
    assert drawn["widened"].any()  # the filter's atomic-number neighbours (Au beside Hg) come in without it


def test_a_reference_element_absent_from_the_training_data_survives_conditioning(cuprate_engine):
    """As never occurs in the cuprate training set; under ILVR it must not be clipped away."""
    reference = parse_formula("YBa2Cu3O6As0.5")
    arsenic = SYMBOL_TO_INDEX["As"]
    samples = cuprate_engine.sampler.sample(16, 10, reference=reference, scale_factor=2, seed=0)
    kept = np.round(samples[:, arsenic], 2) >= 0.08
    assert kept.mean() >= 0.5
    old = cuprate_engine.sampler.sample(16, 10, reference=reference, scale_factor=2, seed=0, clip="training", conditioning_stop=100)
    assert (np.round(old[:, arsenic], 2) >= 0.08).mean() < kept.mean()


def test_filter_order_is_a_setting_and_changes_the_samples(cuprate_engine):
    reference = parse_formula(PAPER_REFERENCE)
    z = cuprate_engine.sampler.sample(8, 5, reference=reference, scale_factor=3, seed=0)
    pettifor = cuprate_engine.sampler.sample(8, 5, reference=reference, scale_factor=3, seed=0, filter_order="pettifor")
    assert not np.allclose(z, pettifor)
    with pytest.raises(ValueError, match="filter order"):
        cuprate_engine.sampler.sample(8, 5, reference=reference, scale_factor=3, filter_order="alphabetical")
    settings = GenerationSettings("cuprates", references=(PAPER_REFERENCE,), filter_order="pettifor")
    assert settings.resolved().to_dict()["filter_order"] == "pettifor"


def test_resampling_repeats_only_the_last_conditioned_steps():
    assert resampling_repeats(6, 2, 3) == [1, 3, 3, 1, 1, 1]  # index k: k = 0 is the final step
    assert resampling_repeats(6, 0, 3) == [1] * 6
    for bad in ((-1, 2), (2, 0), (2, 21), (1.5, 2)):
        with pytest.raises(ValueError, match="whole number"):
            resampling_repeats(6, *bad)


def test_resampling_counts_in_progress_and_leaves_unconditional_sampling_alone(engine):
    reference = parse_formula(REFERENCE)
    seen = []
    engine.sampler.sample(4, 6, reference=reference, scale_factor=2, seed=0, resample_steps=2, resample_count=3,
                          progress=lambda done, total: seen.append((done, total)))
    assert seen == [(i, 10) for i in range(1, 11)]  # 6 steps, two of them run three times
    plain = engine.sampler.sample(4, 6, seed=0, resample_steps=0)
    assert np.array_equal(plain, engine.sampler.sample(4, 6, seed=0, resample_steps=3, resample_count=4))


def test_resampling_cleans_the_filters_spread_at_n_3(cuprate_engine):
    """At N = 3 the filter spreads the reference onto its neighbours; resampling lets the network
    reconcile its sample with the imposed low frequencies, so more candidates stay within the
    cuprate limit of 7 elements and none turns negative."""
    reference = parse_formula(PAPER_REFERENCE)

    def within_limits(resample_steps: int) -> float:
        samples = cuprate_engine.sampler.sample(60, 50, reference=reference, scale_factor=3, seed=0, resample_steps=resample_steps)
        rounded = round_and_threshold(samples)
        count = (rounded > 0).sum(axis=1)
        return float(((rounded >= 0).all(axis=1) & (count >= 2) & (count <= 7)).mean())

    assert within_limits(5) >= within_limits(0) + 0.15


def test_guided_runs_do_not_resample_unless_asked():
    from superdiff_core.guidance_weights import GuidanceWeights

    conditioned = GenerationSettings("cuprates", references=("La2CuO4",))
    assert conditioned.resolved().resample_steps > 0
    guided = dataclasses.replace(conditioned, guidance=GuidanceWeights(tc=1.0))
    assert guided.resolved().resample_steps == 0  # replace on the user's settings, resolve last: no stale default
    assert dataclasses.replace(conditioned, guidance={"tc": 1.0}).resolved().resample_steps == 0  # as read from a settings JSON
    assert dataclasses.replace(guided, resample_steps=3).resolved().resample_steps == 3
    assert GenerationSettings("cuprates").resolved().resample_steps == 0  # unconditional: nothing to resample
