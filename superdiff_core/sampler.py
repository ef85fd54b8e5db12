"""Reverse diffusion: unconditional and ILVR-conditioned sampling, batched.

One loop serves both (the reference is optional). Each reverse step uses the
x0-parameterised posterior q(x_{t-1} | x_t, x0_hat) with x0_hat clipped (improved-diffusion's
``clip_denoised``, with the data's range instead of [−1, 1]); the plain eps-form update of
Ho et al. blows up at few steps with the cosine schedule (method section 2).
``method="ddim"`` is the deterministic DDIM update (eta = 0) with the same clipping.

Clipping (:data:`ClipMode`). Unconditional sampling clips x0_hat per element to the class's
training range. With a reference that range would forbid every element the class never
contained (the cuprate set has no As, so As is clipped to 0) and cap rare reference elements
below the reference's own amount (Se at 0.50 < 0.51): conditioning could not extend the
reference. ILVR therefore clips by default with the per-element range *widened* on the
reference's elements and on the support of the filtered reference phi_N(y) (the elements
the filter spreads it onto) to the widest range of any element (``"widened"``); the other
elements keep their training range. ``"global"`` (one range for all elements),
``"lower"`` (from below only, at 0) and ``"training"`` (the old per-element range) are
there for the measurements in benchmarks/README.md ("New families").

ILVR noise. y_{t-1} ~ q(y_{t-1} | y) is drawn per sample and at the level of the step's
*output* x_{t-1} (Choi et al.'s algorithm: the correction replaces the low frequencies of
x'_{t-1} with those of a reference noised to the same level). The paper's code noised y to
the level of the step's *input* and shared one noise draw across the batch; we keep ours
because the levels then match exactly, and because independent draws keep the samples of
a batch independent (a shared draw correlates them, so results would depend on batch size).

ILVR resampling. phi_N imposes the reference's low frequencies; the network's own
deviations keep their high frequencies, and at N = 3 and 4 these spread small amounts onto
the reference's neighbours in the filter order, so most samples exceed the class's element
limit. Near the end the loop therefore runs each of the last few conditioned steps several
times, noising the corrected output back to the step's input level in between (RePaint's
"resampling", Lugmayr et al., CVPR 2022): the network gets to make its sample consistent with
the imposed low frequencies (see :data:`DEFAULT_RESAMPLE_STEPS`).

Property guidance (:mod:`superdiff_core.guidance`) is an optional term of the same step:
the step's mean (or x0_hat) moves along the gradient of the guide's objective before the
ILVR correction, which still imposes the reference's low frequencies afterwards. Without a
guide (or with all weights 0) nothing of it runs and no random number is drawn for it.

Long runs report progress through a callback and stop when a cancel flag is set, so
the CLI (tqdm) and the app (st.progress) share this loop.
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol

import numpy as np
import torch

from . import schedule
from .chemical_order import DEFAULT_FILTER_ORDER, check_filter_order, order_permutation
from .ilvr import SAFE_SCALE_FACTOR, check_scale_factor, ilvr_correction, low_pass_matrix
from .unet1d import UNet1D

if TYPE_CHECKING:
    from .guidance import Guide

DEFAULT_NUM_STEPS = 50
"""Fallback number of sampling steps (respaced from T = 1000); each model class has its own
default (:attr:`superdiff_core.model_classes.ModelClass.recommended_steps`)."""

DEFAULT_CONDITIONING_STOP = 1
"""ILVR acts on every step but the last (t = 0): the final denoising step runs unconditioned,
which removes the negative amounts the last correction would leave (13 % → 0 % at N = 2 on
the paper's example). Stopping earlier (t < 100, the old default) lets the unconditional
model remove the reference's rare elements (Se kept by 1 % instead of 100 %); measured in
benchmarks/README.md ("New families")."""

ClipMode = Literal["widened", "global", "lower", "training"]
"""How x0_hat is clipped under ILVR (see the module docstring); unconditional sampling
always uses the class's per-element training range."""

CLIP_MODES: tuple[str, ...] = ("widened", "global", "lower", "training")

DEFAULT_CLIP: ClipMode = "widened"

FILTER_NEIGHBOURS = 1
"""Under ``"widened"`` clipping, the elements this many places either side of a reference
element in the filter's order (:mod:`superdiff_core.chemical_order`) are widened too: the
filter spreads the reference most onto them (Se onto As and Br in Z order)."""

DEFAULT_RESAMPLE_STEPS = 5
DEFAULT_RESAMPLE_COUNT = 2
"""ILVR resampling (RePaint, Lugmayr et al., CVPR 2022): the last 5 conditioned steps before
the final one each run twice, noising the output back to the input's level in between, so
the network can reconcile its sample with the imposed low frequencies. Without it the filter's
spread onto neighbouring elements survives at N = 3 and 4 and most candidates exceed the
class's element limit. On the paper's example at 50 steps (300 samples per N), basic yield
at N = 2 / 3 / 4 goes from 55 / 19 / 12 % to 85 / 40 / 28 % and the SMACT-valid yield from
14 to 26 %, at 10 % more network calls; the share keeping every reference element falls from
88 to 82 %. More repeats raise the yield further but lose more of the reference (5 × 4:
97 / 51 / 47 %, 75 % keep all). Measured in benchmarks/README.md ("New families")."""


def resampling_repeats(num_steps: int, resample_steps: int, resample_count: int) -> list[int]:
    """Runs of each reverse step k = 0..num_steps-1 (index k as in :class:`StepSchedule`).

    Steps 1..``resample_steps`` run ``resample_count`` times; the final step (k = 0) and the
    noisier ones run once.
    """
    if int(resample_steps) != resample_steps or resample_steps < 0:
        raise ValueError(f"resampled steps must be a whole number ≥ 0, got {resample_steps}")
    if int(resample_count) != resample_count or not 1 <= resample_count <= 20:
        raise ValueError(f"resampling runs per step must be a whole number from 1 to 20, got {resample_count}")
    return [int(resample_count) if 0 < k <= resample_steps else 1 for k in range(num_steps)]


DEFAULT_METHOD = "ancestral"
"""The x0-parameterised posterior with sigma² = beta-tilde keeps quality at few steps; the
paper's sigma² = beta ("ddpm") needs ~1,000 steps, DDIM loses the others class at 50
(measured in benchmarks/README.md)."""


DEFAULT_BATCH_SIZE = 1000

SamplingMethod = Literal["ddpm", "ddim", "ancestral"]
ProgressCallback = Callable[[int, int], None]
"""Called as ``progress(steps_done, steps_total)`` after every reverse step."""


class CancelFlag(Protocol):
    def is_set(self) -> bool: ...


class SamplingCancelled(Exception):
    """Raised when the cancel flag was set; nothing partial is returned."""


@dataclass(frozen=True)
class StepSchedule:
    """The respaced process for one step count, as float64 arrays of length S (ascending t).

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
def step_schedule(num_steps: int, num_train_timesteps: int = schedule.NUM_TRAIN_TIMESTEPS) -> StepSchedule:
    """The respaced cosine schedule for ``num_steps`` reverse steps."""
    alphas_cumprod_full = schedule.alphas_cumprod_from_betas(schedule.cosine_betas(num_train_timesteps))
    timesteps = schedule.spaced_timesteps(num_train_timesteps, num_steps)
    betas = schedule.respaced_betas(alphas_cumprod_full, timesteps)
    alphas_cumprod = schedule.alphas_cumprod_from_betas(betas)
    coefficient_x0, coefficient_xt = schedule.posterior_mean_coefficients(betas)
    sigmas = np.sqrt(betas)
    sigmas[0] = 0.0
    posterior_sigmas = np.sqrt(schedule.posterior_variance(betas))
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


def check_num_steps(num_steps: int, num_train_timesteps: int = schedule.NUM_TRAIN_TIMESTEPS) -> int:
    if int(num_steps) != num_steps or not 1 <= num_steps <= num_train_timesteps:
        raise ValueError(f"steps must be an integer from 1 to {num_train_timesteps}, got {num_steps}")
    return int(num_steps)


def widened_elements(reference: np.ndarray, filter_order: str = DEFAULT_FILTER_ORDER) -> np.ndarray:
    """Bool mask, shape (96,): the reference's elements and their :data:`FILTER_NEIGHBOURS`
    nearest neighbours in the filter's element order."""
    permutation = order_permutation(check_filter_order(filter_order), len(reference))
    present = np.asarray(reference)[permutation] > 0  # in filter order
    spread = present.copy()
    for shift in range(1, FILTER_NEIGHBOURS + 1):
        spread[shift:] |= present[:-shift]
        spread[:-shift] |= present[shift:]
    mask = np.zeros(len(reference), dtype=bool)
    mask[permutation] = spread
    return mask


class Sampler:
    """Draws samples from a trained eps-model.

    Args:
        model: the trained network (put in eval mode, moved to ``device``; not modified).
        x0_lower, x0_upper: per-element clipping range of x0_hat, shape (96,).
        device: where to run.
    """

    def __init__(self, model: UNet1D, x0_lower: np.ndarray, x0_upper: np.ndarray, device: torch.device):
        self.model = model.to(device).eval()
        self.device = device
        self.x0_lower = torch.as_tensor(x0_lower, dtype=torch.float32, device=device)
        self.x0_upper = torch.as_tensor(x0_upper, dtype=torch.float32, device=device)

    def sample(
        self,
        num_samples: int,
        num_steps: int = DEFAULT_NUM_STEPS,
        *,
        reference: np.ndarray | None = None,
        scale_factor: int | None = None,
        seed: int = 0,
        batch_size: int = DEFAULT_BATCH_SIZE,
        method: SamplingMethod = DEFAULT_METHOD,
        progress: ProgressCallback | None = None,
        cancel: CancelFlag | None = None,
        conditioning_stop: int = DEFAULT_CONDITIONING_STOP,
        filter_order: str = DEFAULT_FILTER_ORDER,
        clip: ClipMode = DEFAULT_CLIP,
        guide: Guide | None = None,
        resample_steps: int = DEFAULT_RESAMPLE_STEPS,
        resample_count: int = DEFAULT_RESAMPLE_COUNT,
    ) -> np.ndarray:
        """Draw ``num_samples`` vectors.

        Args:
            num_samples: how many vectors.
            num_steps: reverse steps (1..1000); fewer is faster.
            reference: y for ILVR, shape (96,) amounts; None for unconditional sampling.
            scale_factor: ILVR's N (1..32); required with a reference. Above 4 a warning
                is issued (many invalid compounds, as the paper found).
            seed: random seed; the same seed, device and arguments give the same samples.
            batch_size: vectors per network call.
            method: ``"ddpm"`` (x0-parameterised posterior mean, sigma² = beta as in the paper),
                ``"ancestral"`` (the same with sigma² = beta-tilde) or ``"ddim"`` (eta = 0).
            progress: see :data:`ProgressCallback`.
            cancel: an object with ``is_set()`` (e.g. ``threading.Event``), checked every step.
            conditioning_stop: ILVR is applied at the steps with timestep t ≥ this (Choi et al.'s
                conditioning range [T, t_stop]); 0 applies it at every step, as in the paper.
            filter_order: the element order phi_N smooths along, ``"z"`` (the paper's) or
                ``"pettifor"`` (see :mod:`superdiff_core.chemical_order`); ILVR only.
            clip: how x0_hat is clipped with a reference (:data:`ClipMode`); ILVR only.
            guide: property guidance (:class:`superdiff_core.guidance.Guide`), an extra term
                of each reverse step before the ILVR correction; None (or all weights 0) is
                the unguided loop, bit for bit.
            resample_steps: with a reference, the last this many steps before the final one
                (the last conditioned ones at the default ``conditioning_stop``) are each run
                ``resample_count`` times, jumping back to the step's input level in between
                (RePaint's resampling, Lugmayr et al. 2022); 0 is the paper's loop. Ignored
                without a reference.
            resample_count: runs of each resampled step (1 = no resampling).

        Returns:
            Raw samples, shape (num_samples, 96), float64, before any rounding.

        Raises:
            SamplingCancelled: if ``cancel`` was set.
            ValueError: for out-of-range arguments.
        """
        if num_samples < 1:
            raise ValueError(f"number of samples must be at least 1, got {num_samples}")
        steps = step_schedule(check_num_steps(num_steps))
        low_pass = None
        lower, upper = self.x0_lower, self.x0_upper
        if reference is not None:
            if scale_factor is None:
                raise ValueError("ILVR needs a scale factor N")
            scale_factor = check_scale_factor(scale_factor)
            if scale_factor > SAFE_SCALE_FACTOR:
                warnings.warn(
                    f"scale factor N = {scale_factor} > {SAFE_SCALE_FACTOR}: the paper found many invalid "
                    "compounds (negative amounts) above N = 4",
                    stacklevel=2,
                )
            phi = low_pass_matrix(scale_factor, order=check_filter_order(filter_order))
            low_pass = torch.tensor(phi, dtype=torch.float32, device=self.device)
            reference_tensor = torch.as_tensor(np.asarray(reference), dtype=torch.float32, device=self.device)
            lower, upper = self.conditioning_clip_range(np.asarray(reference, dtype=np.float64), filter_order, clip)
        if guide is not None and not guide.active:
            guide = None
        generator = torch.Generator(device=self.device).manual_seed(int(seed))
        batches = [min(batch_size, num_samples - start) for start in range(0, num_samples, batch_size)]
        repeats = resampling_repeats(len(steps.timesteps), resample_steps if low_pass is not None else 0, resample_count)
        total_steps = sum(repeats) * len(batches)
        done = 0
        outputs = []
        with torch.inference_mode():
            for size in batches:
                x = torch.randn(size, self.model.config.length, generator=generator, device=self.device)
                for k in reversed(range(len(steps.timesteps))):
                    for repeat in range(repeats[k]):
                        if cancel is not None and cancel.is_set():
                            raise SamplingCancelled("sampling was stopped")
                        if repeat > 0:  # RePaint's jump back: x_k ~ q(x_k | x_{k-1}), then the step again
                            x = self._renoise(x, k, steps, generator)
                        x = self._reverse_step(x, k, steps, method, generator, lower, upper, guide=guide)
                        if low_pass is not None and steps.timesteps[k] >= conditioning_stop:
                            x = ilvr_correction(x, self._noised_reference(reference_tensor, k, steps, generator, size), low_pass)
                        done += 1
                        if progress is not None:
                            progress(done, total_steps)
                outputs.append(x.double().cpu().numpy())
        return np.concatenate(outputs)

    def conditioning_clip_range(
        self, reference: np.ndarray, filter_order: str = DEFAULT_FILTER_ORDER, clip: ClipMode = DEFAULT_CLIP
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The (lower, upper) clipping range of x0_hat for ILVR with ``reference``.

        Args:
            reference: y, shape (96,) amounts.
            filter_order: the order the filter smooths along (sets the neighbours widened).
            clip: see :data:`ClipMode`.

        Returns:
            lower, upper: shape (96,) tensors on the sampler's device (upper is None for
            ``"lower"``: no upper bound). Every reference amount lies inside the range.
        """
        if clip not in CLIP_MODES:
            raise ValueError(f"unknown clip mode {clip!r}: choose one of {', '.join(CLIP_MODES)}")
        if clip == "training":
            return self.x0_lower, self.x0_upper
        widest_lower = torch.minimum(self.x0_lower.min(), torch.tensor(0.0, device=self.device))
        if clip == "lower":
            return torch.full_like(self.x0_lower, float(widest_lower)), None
        widest_upper = torch.maximum(self.x0_upper.max(), torch.tensor(float(reference.max()), device=self.device))
        if clip == "global":
            return torch.full_like(self.x0_lower, float(widest_lower)), torch.full_like(self.x0_upper, float(widest_upper))
        mask = torch.as_tensor(widened_elements(reference, filter_order), device=self.device)
        return (
            torch.where(mask, widest_lower, self.x0_lower),
            torch.where(mask, widest_upper, self.x0_upper),
        )

    def _reverse_step(
        self, x: torch.Tensor, k: int, steps: StepSchedule, method: SamplingMethod, generator: torch.Generator,
        lower: torch.Tensor, upper: torch.Tensor | None, guide: Guide | None = None,
    ) -> torch.Tensor:
        """x_{k-1} from x_k with the x0 prediction clipped to [lower, upper] (no upper bound if None);
        an active ``guide`` moves x0_hat (target ``"x0"``, then re-clipped) or the step's mean
        (``"xt"``) along its gradient."""
        timestep = torch.full((x.shape[0],), int(steps.timesteps[k]), device=self.device, dtype=torch.long)
        eps = self.model(x, timestep)
        alpha_cumprod = float(steps.alphas_cumprod[k])
        x0 = self._clip(schedule.predict_x0_from_eps(x, eps, alpha_cumprod), lower, upper)
        shift = None
        if guide is not None and (size := guide.step_size(k, steps)) > 0:
            shift = size * guide.gradient(x0)
            if guide.target == "x0":
                x0, shift = self._clip(x0 + shift, lower, upper), None
        if method == "ddim":
            eps = (x - math.sqrt(alpha_cumprod) * x0) / math.sqrt(1.0 - alpha_cumprod)
            previous = float(steps.alphas_cumprod_prev[k])
            x_previous = math.sqrt(previous) * x0 + math.sqrt(1.0 - previous) * eps
            return x_previous if shift is None else x_previous + shift
        mean = float(steps.coefficient_x0[k]) * x0 + float(steps.coefficient_xt[k]) * x
        if shift is not None:
            mean = mean + shift
        sigma = float(steps.posterior_sigmas[k] if method == "ancestral" else steps.sigmas[k])
        if sigma == 0:
            return mean
        return mean + sigma * torch.randn(x.shape, generator=generator, device=self.device)

    def _renoise(self, x: torch.Tensor, k: int, steps: StepSchedule, generator: torch.Generator) -> torch.Tensor:
        """x_k ~ q(x_k | x_{k-1}): noise a step's output back to the level of its input."""
        ratio = float(steps.alphas_cumprod[k] / steps.alphas_cumprod_prev[k])
        noise = torch.randn(x.shape, generator=generator, device=self.device)
        return math.sqrt(ratio) * x + math.sqrt(1.0 - ratio) * noise

    @staticmethod
    def _clip(x0: torch.Tensor, lower: torch.Tensor, upper: torch.Tensor | None) -> torch.Tensor:
        """x0 clipped to [lower, upper] per element (no upper bound if None)."""
        if upper is not None:
            x0 = torch.minimum(x0, upper)
        return torch.maximum(x0, lower)

    def _noised_reference(
        self, reference: torch.Tensor, k: int, steps: StepSchedule, generator: torch.Generator, size: int
    ) -> torch.Tensor:
        """y_{k-1} ~ q(y_{k-1} | y): the reference noised to the level of the step's output."""
        previous = float(steps.alphas_cumprod_prev[k])
        if previous >= 1.0:
            return reference.expand(size, -1)
        noise = torch.randn((size, reference.shape[0]), generator=generator, device=self.device)
        return math.sqrt(previous) * reference + math.sqrt(1.0 - previous) * noise
