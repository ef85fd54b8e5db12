"""Noise schedule, timestep respacing and the reverse steps (Ho et al. 2020; Nichol & Dhariwal
2021; Song et al. 2021; Lu et al. 2022).

Small pure functions, named as in the papers: ``betas`` (beta_t), ``alphas`` (alpha_t =
1 - beta_t), ``alphas_cumprod`` (abar_t). Index t runs 0 .. T-1, where index 0 is the least
noisy step. The schedule is float64 NumPy; the reverse steps (bottom of the module) work on
tensors or arrays of shape (B, 96), take every random draw as an argument and return a
:class:`StepOutput`, in the manner of diffusers' schedulers: the loop that calls them
(:mod:`superdiff_core.sampler`) owns the network, the random numbers and the conditioning.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

NUM_TRAIN_TIMESTEPS = 1000
"""T of the method."""

MAX_BETA = 0.999
"""Betas are clipped here, as in improved-diffusion."""


def cosine_alpha_bar(t: np.ndarray | float, s: float = 0.008) -> np.ndarray:
    """abar(t) = cos²(((t + s) / (1 + s)) · π/2) for t in [0, 1] (unnormalised, abar(0) ≈ 1)."""
    return np.cos((np.asarray(t, dtype=np.float64) + s) / (1 + s) * math.pi / 2) ** 2


def cosine_betas(num_timesteps: int = NUM_TRAIN_TIMESTEPS, max_beta: float = MAX_BETA) -> np.ndarray:
    """beta_t = min(1 − abar((t+1)/T) / abar(t/T), max_beta), shape (T,)."""
    steps = np.arange(num_timesteps + 1, dtype=np.float64) / num_timesteps
    alpha_bar = cosine_alpha_bar(steps)
    return np.minimum(1.0 - alpha_bar[1:] / alpha_bar[:-1], max_beta)


def alphas_cumprod_from_betas(betas: np.ndarray) -> np.ndarray:
    """abar_t = prod_{s <= t} (1 − beta_s), shape (T,)."""
    return np.cumprod(1.0 - np.asarray(betas, dtype=np.float64))


def spaced_timesteps(num_timesteps: int, num_steps: int) -> np.ndarray:
    """The kept subset S of ``num_steps`` timesteps, evenly strided over 0..T-1, ascending.

    Always contains 0 and T-1, so sampling starts from pure noise and ends at the data.
    """
    if not 1 <= num_steps <= num_timesteps:
        raise ValueError(f"num_steps must be in 1..{num_timesteps}, got {num_steps}")
    if num_steps == 1:
        return np.array([num_timesteps - 1])
    return np.unique(np.round(np.linspace(0, num_timesteps - 1, num_steps)).astype(np.int64))


def respaced_betas(alphas_cumprod: np.ndarray, timesteps: np.ndarray) -> np.ndarray:
    """Betas of the respaced process (improved-diffusion ``space_timesteps``):
    beta'_k = 1 − abar_{S_k} / abar_{S_{k-1}} with abar_{S_{-1}} = 1, so that the new
    cumulative product equals abar at every kept step. Shape (len(timesteps),)."""
    kept = np.asarray(alphas_cumprod, dtype=np.float64)[timesteps]
    previous = np.concatenate([[1.0], kept[:-1]])
    return 1.0 - kept / previous


def posterior_mean_coefficients(betas: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Coefficients of the mean of q(x_{t-1} | x_t, x0) = c0 · x0 + ct · x_t (Ho et al. eq. 7):
    c0 = beta_t sqrt(abar_{t-1}) / (1 − abar_t), ct = (1 − abar_{t-1}) sqrt(alpha_t) / (1 − abar_t)."""
    alphas_cumprod = alphas_cumprod_from_betas(betas)
    alphas_cumprod_prev = np.concatenate([[1.0], alphas_cumprod[:-1]])
    coefficient_x0 = betas * np.sqrt(alphas_cumprod_prev) / (1.0 - alphas_cumprod)
    coefficient_xt = (1.0 - alphas_cumprod_prev) * np.sqrt(1.0 - betas) / (1.0 - alphas_cumprod)
    return coefficient_x0, coefficient_xt


def posterior_variance(betas: np.ndarray) -> np.ndarray:
    """beta-tilde_t = beta_t (1 − abar_{t-1}) / (1 − abar_t), the variance of q(x_{t-1} | x_t, x0)."""
    alphas_cumprod = alphas_cumprod_from_betas(betas)
    alphas_cumprod_prev = np.concatenate([[1.0], alphas_cumprod[:-1]])
    return betas * (1.0 - alphas_cumprod_prev) / (1.0 - alphas_cumprod)


def predict_x0_from_eps(x_t: np.ndarray, eps: np.ndarray, alpha_cumprod_t: float) -> np.ndarray:
    """x0_hat = (x_t − sqrt(1 − abar_t) · eps) / sqrt(abar_t). Works on arrays or tensors."""
    return (x_t - math.sqrt(1.0 - alpha_cumprod_t) * eps) / math.sqrt(alpha_cumprod_t)


# ---------------------------------------------------------------------------------------
# The respaced process of one step count
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StepSchedule:
    """The respaced process for one step count, as float64 arrays of length S (ascending t).

    Reverse step k (k = S-1 .. 0) goes from the level abar_k to abar_{k-1} ("prev", 1 at k = 0).

    Attributes:
        timesteps: kept original timesteps S_k (model input).
        alphas_cumprod: abar at the kept steps.
        alphas_cumprod_prev: abar at the previous kept step (1 before the first).
        betas: respaced betas.
        coefficient_x0, coefficient_xt: posterior mean coefficients.
        sigmas: noise standard deviation per step, sigma² = beta (method), 0 at the last step.
        posterior_sigmas: sigma² = beta-tilde, the variance of q(x_{t-1} | x_t, x0) (the
            "small" choice of Ho et al.), 0 at the last step.
    """

    timesteps: np.ndarray
    alphas_cumprod: np.ndarray
    alphas_cumprod_prev: np.ndarray
    betas: np.ndarray
    coefficient_x0: np.ndarray
    coefficient_xt: np.ndarray
    sigmas: np.ndarray
    posterior_sigmas: np.ndarray


@functools.lru_cache(maxsize=32)
def step_schedule(num_steps: int, num_train_timesteps: int = NUM_TRAIN_TIMESTEPS) -> StepSchedule:
    """The respaced cosine schedule for ``num_steps`` reverse steps."""
    alphas_cumprod_full = alphas_cumprod_from_betas(cosine_betas(num_train_timesteps))
    timesteps = spaced_timesteps(num_train_timesteps, num_steps)
    betas = respaced_betas(alphas_cumprod_full, timesteps)
    alphas_cumprod = alphas_cumprod_from_betas(betas)
    coefficient_x0, coefficient_xt = posterior_mean_coefficients(betas)
    sigmas = np.sqrt(betas)
    sigmas[0] = 0.0
    posterior_sigmas = np.sqrt(posterior_variance(betas))
    return StepSchedule(
        timesteps,
        alphas_cumprod,
        np.concatenate([[1.0], alphas_cumprod[:-1]]),
        betas,
        coefficient_x0,
        coefficient_xt,
        sigmas,
        posterior_sigmas,
    )


def log_snr(alpha_cumprod: float) -> float:
    """lambda = log(alpha / sigma) = ½ log(abar / (1 − abar)) (Lu et al. 2022); +inf at abar = 1."""
    if alpha_cumprod >= 1.0:
        return math.inf
    return 0.5 * math.log(alpha_cumprod / (1.0 - alpha_cumprod))


# ---------------------------------------------------------------------------------------
# Reverse steps: x_{k-1} from x_k and the (clipped, possibly guided) x0 prediction
# ---------------------------------------------------------------------------------------

Tensor = Any
"""A torch tensor or NumPy array of shape (B, 96); the steps use only arithmetic on it."""


@dataclass(frozen=True)
class StepOutput:
    """What one reverse step returns (diffusers' ``SchedulerOutput``).

    Attributes:
        prev_sample: x_{k-1}, shape (B, 96), before any ILVR correction.
        x0_hat: the x0 prediction the step used (clipped, guided), shape (B, 96).
    """

    prev_sample: Tensor
    x0_hat: Tensor


def posterior_step(
    x_t: Tensor, x0_hat: Tensor, coefficient_x0: float, coefficient_xt: float, sigma: float,
    noise: Tensor | None = None, mean_shift: Tensor | None = None,
) -> StepOutput:
    """Ancestral step from the x0-parameterised posterior (Ho et al. eq. 7):
    x_{t-1} = c0 · x0_hat + ct · x_t (+ mean_shift) + sigma · noise.

    Args:
        sigma: the step's noise standard deviation (sqrt(beta) or sqrt(beta-tilde)); 0: no noise
            (``noise`` is then not used and may be None).
        noise: standard normal, shape of ``x_t``.
        mean_shift: a guide's shift of the mean (Dhariwal & Nichol's s · Sigma · grad), or None.
    """
    mean = coefficient_x0 * x0_hat + coefficient_xt * x_t
    if mean_shift is not None:
        mean = mean + mean_shift
    if sigma == 0:
        return StepOutput(mean, x0_hat)
    return StepOutput(mean + sigma * noise, x0_hat)


def ddim_step(
    x_t: Tensor, x0_hat: Tensor, alpha_cumprod_t: float, alpha_cumprod_prev: float, shift: Tensor | None = None,
) -> StepOutput:
    """Deterministic DDIM step (eta = 0, Song et al. 2021 eq. 12), with eps re-derived from the
    clipped x0_hat: x_{t-1} = sqrt(abar_{t-1}) x0_hat + sqrt(1 − abar_{t-1}) eps_hat (+ shift)."""
    eps = (x_t - math.sqrt(alpha_cumprod_t) * x0_hat) / math.sqrt(1.0 - alpha_cumprod_t)
    x_previous = math.sqrt(alpha_cumprod_prev) * x0_hat + math.sqrt(1.0 - alpha_cumprod_prev) * eps
    return StepOutput(x_previous if shift is None else x_previous + shift, x0_hat)


def dpm_solver_pp_2m_step(
    x_t: Tensor, x0_hat: Tensor, alpha_cumprod_t: float, alpha_cumprod_prev: float,
    x0_hat_last: Tensor | None = None, alpha_cumprod_last: float | None = None,
    noise: Tensor | None = None, shift: Tensor | None = None,
) -> StepOutput:
    """One step of DPM-Solver++(2M), data prediction (Lu et al. 2022, Algorithm 2), from level
    abar_t to abar_{t-1} with the x0 predictions of this level and of the last one.

    With alpha = sqrt(abar), sigma = sqrt(1 − abar), lambda = log(alpha / sigma), h = lambda_{t-1} − lambda_t
    and D = (1 + 1/(2r)) x0_hat − 1/(2r) x0_hat_last, r = (lambda_t − lambda_last) / h (second order)
    or D = x0_hat (first order: the first step, where there is no last prediction):

    - ODE (``noise`` None): x_{t-1} = (sigma_{t-1} / sigma_t) x_t + alpha_{t-1} (1 − e^{−h}) D
      (first order: DDIM);
    - SDE (``noise`` given, diffusers' ``sde-dpmsolver++``, midpoint):
      x_{t-1} = (sigma_{t-1} / sigma_t) e^{−h} x_t + alpha_{t-1} (1 − e^{−2h}) D
      + sigma_{t-1} sqrt(1 − e^{−2h}) noise (first order: the ancestral posterior step, sigma² = beta-tilde).

    The final step to abar = 1 (h infinite) returns x0_hat.

    Args:
        x0_hat_last, alpha_cumprod_last: the x0 prediction made at the previous (noisier) level
            and that level's abar; None for a first-order step.
        noise: standard normal of the shape of ``x_t`` for the SDE form, else None.
        shift: a guide's shift of the output, or None.
    """
    if alpha_cumprod_prev >= 1.0:
        x_previous = x0_hat
    else:
        lambda_t, lambda_prev = log_snr(alpha_cumprod_t), log_snr(alpha_cumprod_prev)
        h = lambda_prev - lambda_t
        data = x0_hat
        if x0_hat_last is not None and alpha_cumprod_last is not None:
            r = (lambda_t - log_snr(alpha_cumprod_last)) / h
            data = (1.0 + 0.5 / r) * x0_hat - (0.5 / r) * x0_hat_last
        ratio = math.sqrt((1.0 - alpha_cumprod_prev) / (1.0 - alpha_cumprod_t))
        if noise is None:
            x_previous = ratio * x_t - math.sqrt(alpha_cumprod_prev) * math.expm1(-h) * data
        else:
            x_previous = (ratio * math.exp(-h)) * x_t - math.sqrt(alpha_cumprod_prev) * math.expm1(-2.0 * h) * data
            x_previous = x_previous + math.sqrt((1.0 - alpha_cumprod_prev) * -math.expm1(-2.0 * h)) * noise
    return StepOutput(x_previous if shift is None else x_previous + shift, x0_hat)


def step_sigma(method: str, k: int, steps: StepSchedule) -> float:
    """The noise standard deviation of reverse step k: sqrt(beta-tilde) for ``"ancestral"``,
    sqrt(beta) for ``"ddpm"`` (0 at the final step), 0 for the deterministic methods."""
    if method == "ancestral":
        return float(steps.posterior_sigmas[k])
    if method == "ddpm":
        return float(steps.sigmas[k])
    return 0.0


def step_uses_noise(method: str, k: int, steps: StepSchedule) -> bool:
    """Whether reverse step k of ``method`` takes a standard-normal draw (the caller draws it,
    so the random stream is the caller's)."""
    if method == "dpmpp2m_sde":
        return float(steps.alphas_cumprod_prev[k]) < 1.0
    return step_sigma(method, k, steps) != 0


def guide_variance(method: str, target: str, k: int, steps: StepSchedule) -> float:
    """The variance a guide's step scales with at reverse step k.

    ``"x0"``: 1 − abar_k, the variance of x_k around x0. ``"xt"``: Dhariwal & Nichol's Sigma,
    the variance of the step the method takes (beta-tilde for ``"ancestral"``, beta for
    ``"ddpm"``); the deterministic methods take no noise, and their guide uses beta-tilde, the
    variance of the posterior whose mean their first-order step follows (0 at the final step).
    """
    if target == "x0":
        return 1.0 - float(steps.alphas_cumprod[k])
    if method == "ddpm":
        return float(steps.sigmas[k]) ** 2
    return float(steps.posterior_sigmas[k]) ** 2


def reverse_step(
    method: str, x_t: Tensor, x0_hat: Tensor, k: int, steps: StepSchedule,
    x0_hat_last: Tensor | None = None, noise: Tensor | None = None, shift: Tensor | None = None,
) -> StepOutput:
    """Reverse step k (level abar_k → abar_{k-1}) of ``method``, pure: the one place the methods differ.

    Args:
        method: ``"ancestral"``, ``"ddpm"`` (:func:`posterior_step` with sigma from
            :func:`step_sigma`), ``"ddim"`` (:func:`ddim_step`), ``"dpmpp2m"`` or
            ``"dpmpp2m_sde"`` (:func:`dpm_solver_pp_2m_step`).
        x_t: x_k, shape (B, 96).
        x0_hat: the clipped (and possibly guided) x0 prediction at level k, shape (B, 96).
        k: the step's index in ``steps`` (S-1 .. 0).
        x0_hat_last: the x0 prediction made at level k+1 (the multistep history), or None;
            only DPM-Solver++ reads it.
        noise: standard normal of shape (B, 96) where :func:`step_uses_noise` says so, else None.
        shift: a guide's shift of the mean or output, or None.

    Returns:
        :class:`StepOutput` with x_{k-1} (before any ILVR correction) and x0_hat.
    """
    alpha_cumprod, previous = float(steps.alphas_cumprod[k]), float(steps.alphas_cumprod_prev[k])
    if method == "ddim":
        return ddim_step(x_t, x0_hat, alpha_cumprod, previous, shift)
    if method in ("dpmpp2m", "dpmpp2m_sde"):
        alpha_cumprod_last = None if x0_hat_last is None else float(steps.alphas_cumprod[k + 1])
        return dpm_solver_pp_2m_step(x_t, x0_hat, alpha_cumprod, previous, x0_hat_last, alpha_cumprod_last,
                                     noise if method == "dpmpp2m_sde" else None, shift)
    if method not in ("ancestral", "ddpm"):
        raise ValueError(f"unknown sampling method {method!r}")
    sigma = step_sigma(method, k, steps)
    return posterior_step(x_t, x0_hat, float(steps.coefficient_x0[k]), float(steps.coefficient_xt[k]), sigma, noise, shift)


def forward_jump(x_prev: Tensor, alpha_cumprod_t: float, alpha_cumprod_prev: float, noise: Tensor) -> Tensor:
    """x_t ~ q(x_t | x_{t-1}): a step's output noised back to the level of its input (RePaint's
    jump), x_t = sqrt(abar_t / abar_{t-1}) x_{t-1} + sqrt(1 − abar_t / abar_{t-1}) noise."""
    ratio = float(alpha_cumprod_t / alpha_cumprod_prev)
    return math.sqrt(ratio) * x_prev + math.sqrt(1.0 - ratio) * noise


def noised_to_level(y: Tensor, alpha_cumprod: float, noise: Tensor | None) -> Tensor:
    """y_t ~ q(y_t | y) = sqrt(abar) y + sqrt(1 − abar) noise; ``y`` itself at abar = 1 (noise unused)."""
    if alpha_cumprod >= 1.0:
        return y
    return math.sqrt(alpha_cumprod) * y + math.sqrt(1.0 - alpha_cumprod) * noise
