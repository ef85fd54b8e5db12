"""Noise schedule and timestep respacing (Ho et al. 2020; Nichol & Dhariwal 2021).

Small pure functions on float64 NumPy arrays, named as in the papers:
``betas`` (beta_t), ``alphas`` (alpha_t = 1 - beta_t), ``alphas_cumprod`` (abar_t).
Index t runs 0 .. T-1, where index 0 is the least noisy step.
"""

from __future__ import annotations

import math

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
