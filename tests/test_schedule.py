import numpy as np
import pytest

from superdiff_core import schedule
from superdiff_core.sampler import step_schedule


def test_cosine_schedule_matches_its_definition():
    betas = schedule.cosine_betas(1000)
    abar = schedule.alphas_cumprod_from_betas(betas)
    t = np.arange(1, 1001) / 1000
    expected = schedule.cosine_alpha_bar(t) / schedule.cosine_alpha_bar(0.0)
    unclipped = betas < schedule.MAX_BETA
    assert np.allclose(abar[unclipped], expected[unclipped])
    assert betas.max() <= schedule.MAX_BETA
    assert np.all(np.diff(abar) < 0) and 0 < abar[-1] < 1e-3 and abar[0] > 0.999


@pytest.mark.parametrize("num_steps", [1, 10, 50, 100, 250, 1000])
def test_respaced_alpha_bar_equals_original_at_kept_steps(num_steps):
    abar = schedule.alphas_cumprod_from_betas(schedule.cosine_betas())
    kept = schedule.spaced_timesteps(1000, num_steps)
    assert len(kept) == num_steps and kept[-1] == 999
    respaced = schedule.alphas_cumprod_from_betas(schedule.respaced_betas(abar, kept))
    assert np.allclose(respaced, abar[kept])
    assert np.all(np.diff(respaced) < 0)


def test_full_respacing_is_the_original_schedule():
    betas = schedule.cosine_betas()
    abar = schedule.alphas_cumprod_from_betas(betas)
    assert np.allclose(schedule.respaced_betas(abar, np.arange(1000)), betas)


def test_posterior_coefficients_reproduce_x0_when_xt_is_exact():
    # With x_t = sqrt(abar) x0 and no noise, the posterior mean must be sqrt(abar_prev) x0.
    steps = step_schedule(50)
    x0 = 1.7
    x_t = np.sqrt(steps.alphas_cumprod) * x0
    mean = steps.coefficient_x0 * x0 + steps.coefficient_xt * x_t
    assert np.allclose(mean, np.sqrt(steps.alphas_cumprod_prev) * x0)
    assert steps.sigmas[0] == 0 and np.all(steps.sigmas[1:] > 0)


def test_bad_step_counts_are_rejected():
    with pytest.raises(ValueError):
        schedule.spaced_timesteps(1000, 0)
    with pytest.raises(ValueError):
        schedule.spaced_timesteps(1000, 1001)


@pytest.mark.parametrize("method", ["ancestral", "ddpm", "ddim", "dpmpp2m", "dpmpp2m_sde"])
def test_reverse_step_is_the_methods_update_and_pure(method):
    """The one method switch gives each method's own update, and the same inputs give the same output."""
    steps = schedule.step_schedule(20)
    rng = np.random.default_rng(0)
    x_t, x0_hat, x0_last, noise = (rng.normal(size=(3, 96)) for _ in range(4))
    k = 7
    abar, abar_prev = float(steps.alphas_cumprod[k]), float(steps.alphas_cumprod_prev[k])
    draw = noise if schedule.step_uses_noise(method, k, steps) else None
    output = schedule.reverse_step(method, x_t, x0_hat, k, steps, x0_last, draw)
    if method == "ddim":
        expected = schedule.ddim_step(x_t, x0_hat, abar, abar_prev)
    elif method.startswith("dpmpp2m"):
        expected = schedule.dpm_solver_pp_2m_step(x_t, x0_hat, abar, abar_prev, x0_last, float(steps.alphas_cumprod[k + 1]), draw)
    else:
        expected = schedule.posterior_step(x_t, x0_hat, float(steps.coefficient_x0[k]), float(steps.coefficient_xt[k]),
                                           schedule.step_sigma(method, k, steps), draw)
    np.testing.assert_array_equal(output.prev_sample, expected.prev_sample)
    np.testing.assert_array_equal(output.x0_hat, x0_hat)
    again = schedule.reverse_step(method, x_t.copy(), x0_hat.copy(), k, steps, x0_last, draw)
    np.testing.assert_array_equal(again.prev_sample, output.prev_sample)
    assert schedule.step_uses_noise(method, k, steps) == (method in ("ancestral", "ddpm", "dpmpp2m_sde"))
    # the final step takes no noise, whatever the method
    assert not schedule.step_uses_noise(method, 0, steps)


def test_reverse_step_refuses_an_unknown_method():
    steps = schedule.step_schedule(5)
    with pytest.raises(ValueError, match="unknown sampling method"):
        schedule.reverse_step("DDIM", np.zeros((1, 96)), np.zeros((1, 96)), 2, steps)
