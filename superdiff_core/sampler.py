"""Reverse diffusion: unconditional and ILVR-conditioned sampling, batched.

One loop serves every method and both modes (the reference is optional). The loop walks a
:func:`timetable` (the reverse steps, with RePaint's jumps back when resampling) and calls
one pure reverse step (:func:`superdiff_core.schedule.reverse_step`, where the methods differ) per entry, in the manner of diffusers'
schedulers: the step gets x_k, the clipped x0_hat and its random draw and returns x_{k-1} and
x0_hat; the loop owns the network, the random numbers, the guide and the ILVR correction.

Methods (:data:`SAMPLING_METHODS`, labels in :data:`METHOD_LABELS`):

- ``"ancestral"`` (default): the x0-parameterised posterior q(x_{t-1} | x_t, x0_hat) with x0_hat
  clipped (improved-diffusion's ``clip_denoised``, with the data's range instead of [−1, 1])
  and sigma² = beta-tilde; the plain eps-form update of Ho et al. blows up at few steps with
  the cosine schedule (method section 2).
- ``"ddpm"``: the same posterior mean with the paper's sigma² = beta (needs ~1,000 steps).
- ``"ddim"``: the deterministic DDIM update (eta = 0) with the same clipping.
- ``"dpmpp2m"``: DPM-Solver++(2M) (Lu et al. 2022), the multistep data-prediction solver, on
  the same clipped x0_hat: second order from the last level's x0_hat, first order at the first
  step and at the final one (which returns x0_hat). One network call per step, written here
  rather than driven through diffusers because the loop already owns the clipping, the ILVR
  correction at every step (the official DPM-Solver's ``correcting_xt_fn`` hook) and the
  resampling jumps, and the update is five lines (:func:`schedule.dpm_solver_pp_2m_step`).

Clipping (:data:`ClipMode`). Unconditional sampling clips x0_hat per element to the class's
training range. With a reference that range would forbid every element the class never
contained (the cuprate set has no As, so As is clipped to 0) and cap rare reference elements
below the reference's own amount (Se at 0.50 < 0.51): conditioning could not extend the
reference. ILVR therefore clips by default with the per-element range *widened* on the
reference's elements and on the support of the filtered reference phi_N(y) (the elements
the filter spreads it onto) to the widest range of any element (``"widened"``); the other
elements keep their training range. ``"plausible"`` widens the range on the reference's
elements and on their plausible substitutes by Hautier's data-mined substitution
probabilities (:func:`superdiff_core.substitution.plausible_substitutes`) and closes it
(upper bound 0) on every other element: a candidate may add Sr or La to a cuprate, not the
atomic-number neighbours the filter leaks onto (As and Br beside Se, Au beside Hg, N beside
O). ``"global"`` (one range for all elements),
``"lower"`` (from below only, at 0) and ``"training"`` (the old per-element range) are
there for the measurements in benchmarks/README.md ("New families").

ILVR noise. y_{t-1} ~ q(y_{t-1} | y) is drawn per sample and at the level of the step's
*output* x_{t-1} (Choi et al.'s algorithm: the correction replaces the low frequencies of
x'_{t-1} with those of a reference noised to the same level), for every method. The paper's
code noised y to the level of the step's *input* and shared one noise draw across the batch;
we keep ours because the levels then match exactly (at few steps the input's level is far
noisier than the output's: the inpainting pitfall of diffusers #3730 / PR #3749), and because
independent draws keep the samples of a batch independent (a shared draw correlates them, so
results would depend on batch size).

ILVR resampling. phi_N imposes the reference's low frequencies; the network's own
deviations keep their high frequencies, and at N = 3 and 4 these spread small amounts onto
the reference's neighbours in the filter order, so most samples exceed the class's element
limit. Near the end the loop therefore runs each of the last few conditioned steps several
times, noising the corrected output back to the step's input level in between (RePaint's
"resampling", Lugmayr et al., CVPR 2022): the network gets to make its sample consistent with
the imposed low frequencies (see :data:`DEFAULT_RESAMPLE_STEPS`). Under ``"dpmpp2m"`` a rerun
of step k combines its new x0_hat with the one made at level k+1, as the first run did.

Property guidance (a :class:`StepGuide`, built by :func:`superdiff_core.guidance.build_guide`)
is an optional term of the same step: x0_hat (target ``"x0"``) or the step's output (``"xt"``)
moves along the gradient of the guide's objective before the ILVR correction, which still
imposes the reference's low frequencies afterwards. The step size scales with the variance the
method's step actually has (:func:`schedule.guide_variance`). Without a guide (or with all weights 0)
nothing of it runs and no random number is drawn for it.

Long runs report progress through a callback and stop when a cancel flag is set, so
the CLI (tqdm) and the app (st.progress) share this loop.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import torch

from . import schedule
from .chemical_order import DEFAULT_FILTER_ORDER, check_filter_order, order_permutation
from .ilvr import SAFE_SCALE_FACTOR, check_scale_factor, ilvr_correction, low_pass_matrix
from .schedule import StepOutput, StepSchedule, step_schedule
from .timetable import (  # noqa: F401  (the sampler's options, re-read by its callers)
    CLIP_MODES,
    DEFAULT_CLIP,
    DEFAULT_CONDITIONING_STOP,
    DEFAULT_METHOD,
    DEFAULT_NUM_STEPS,
    DEFAULT_RESAMPLE_COUNT,
    DEFAULT_RESAMPLE_STEPS,
    DETERMINISTIC_METHODS,
    LEGACY_PRECISION,
    METHOD_LABELS,
    PRECISIONS,
    SAMPLING_METHODS,
    ClipMode,
    Precision,
    SamplingMethod,
    TimetableEntry,
    check_method,
    check_num_steps,
    check_precision,
    network_calls_per_sample,
    resampling_repeats,
    timetable,
    timetable_length,
)

FILTER_NEIGHBOURS = 1
"""Under ``"widened"`` clipping, the elements this many places either side of a reference
element in the filter's order (:mod:`superdiff_core.chemical_order`) are widened too: the
filter spreads the reference most onto them (Se onto As and Br in Z order)."""

DEFAULT_BATCH_SIZE = 1000

ProgressCallback = Callable[[int, int], None]
"""Called as ``progress(steps_done, steps_total)`` after every reverse step."""

# ---------------------------------------------------------------------------------------
# What the loop knows of its collaborators
# ---------------------------------------------------------------------------------------


class CancelFlag(Protocol):
    def is_set(self) -> bool: ...


class StepGuide(Protocol):
    """A property guide as the loop sees it (:class:`superdiff_core.guidance.Guide` is one).

    Attributes:
        target: ``"x0"`` (move x0_hat, then re-clip) or ``"xt"`` (move the step's output).
        active: False when it would not move anything (the loop then ignores it entirely).
    """

    target: str

    @property
    def active(self) -> bool: ...

    def step_size(self, timestep: int, variance: float) -> float:
        """Multiplier of the gradient at original timestep ``timestep`` for a step of noise
        variance ``variance`` (see :func:`superdiff_core.schedule.guide_variance`); 0: no move."""
        ...

    def gradient(self, x0: torch.Tensor) -> torch.Tensor:
        """∇J with respect to x0_hat, shape (B, 96), on x0's device and dtype."""
        ...


class SamplingCancelled(Exception):
    """Raised when the cancel flag was set.

    Attributes:
        finished: the raw samples of the batches finished before the stop, shape (m, 96)
            (m = 0 when the stop came in the first batch), so a caller can keep them.
    """

    def __init__(self, message: str = "sampling was stopped", finished: np.ndarray | None = None) -> None:
        super().__init__(message)
        self.finished = np.zeros((0, 96)) if finished is None else finished


# ---------------------------------------------------------------------------------------
# A request: everything one call of the sampler decides
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class ConditioningSpec:
    """ILVR conditioning of a request (Choi et al. 2021, with RePaint's resampling).

    Attributes:
        reference: y, shape (96,) amounts in Z order (stored as a read-only float64 copy).
        scale_factor: N (1..32); above 4 a warning is issued (many invalid compounds, as the
            paper found).
        conditioning_stop: ILVR is applied at the steps with timestep t ≥ this (Choi et al.'s
            conditioning range [T, t_stop]); 0 applies it at every step, as in the paper.
        filter_order: the element order phi_N smooths along, ``"z"`` (the paper's) or
            ``"pettifor"`` (see :mod:`superdiff_core.chemical_order`).
        clip: how x0_hat is clipped (:data:`ClipMode`).
        resample_steps: the last this many steps before the final one (the last conditioned
            ones at the default ``conditioning_stop``) are each run ``resample_count`` times,
            jumping back to the step's input level in between; 0 is the paper's loop.
        resample_count: runs of each resampled step (1 = no resampling).
    """

    reference: np.ndarray
    scale_factor: int
    conditioning_stop: int = DEFAULT_CONDITIONING_STOP
    filter_order: str = DEFAULT_FILTER_ORDER
    clip: ClipMode = DEFAULT_CLIP
    resample_steps: int = DEFAULT_RESAMPLE_STEPS
    resample_count: int = DEFAULT_RESAMPLE_COUNT

    def __post_init__(self) -> None:
        reference = np.array(self.reference, dtype=np.float64)
        if reference.ndim != 1:
            raise ValueError(f"a reference is one vector of amounts, got shape {reference.shape}")
        reference.setflags(write=False)
        object.__setattr__(self, "reference", reference)
        if self.scale_factor is None:
            raise ValueError("ILVR needs a scale factor N")
        object.__setattr__(self, "scale_factor", check_scale_factor(self.scale_factor))
        check_filter_order(self.filter_order)
        if self.clip not in CLIP_MODES:
            raise ValueError(f"unknown clip mode {self.clip!r}: choose one of {', '.join(CLIP_MODES)}")
        resampling_repeats(1, self.resample_steps, self.resample_count)
        if self.scale_factor > SAFE_SCALE_FACTOR:
            warnings.warn(
                f"scale factor N = {self.scale_factor} > {SAFE_SCALE_FACTOR}: the paper found many invalid "
                "compounds (negative amounts) above N = 4",
                stacklevel=3,
            )


@dataclass(frozen=True)
class SamplingRequest:
    """One call of :meth:`Sampler.draw`: what to draw and how.

    Attributes:
        num_samples: how many vectors (≥ 1).
        num_steps: reverse steps (1..1000); fewer is faster.
        method: one of :data:`SAMPLING_METHODS`.
        seed: random seed; the same seed, device and request give the same samples.
        batch_size: vectors per network call.
        conditioning: ILVR (:class:`ConditioningSpec`); None for unconditional sampling.
        guide: property guidance (:class:`StepGuide`); None (or inactive) is the unguided
            loop, bit for bit.
        precision: the network's number format (:data:`Precision`); the default ``"fp32"``
            gives the samples every earlier version gave.

    Raises:
        ValueError: for out-of-range values or an unknown method.
    """

    num_samples: int
    num_steps: int = DEFAULT_NUM_STEPS
    method: SamplingMethod = DEFAULT_METHOD
    seed: int = 0
    batch_size: int = DEFAULT_BATCH_SIZE
    conditioning: ConditioningSpec | None = None
    guide: StepGuide | None = field(default=None, compare=False)
    precision: Precision = LEGACY_PRECISION

    def __post_init__(self) -> None:
        if self.num_samples < 1:
            raise ValueError(f"number of samples must be at least 1, got {self.num_samples}")
        if int(self.batch_size) != self.batch_size or self.batch_size < 1:
            raise ValueError(f"batch size must be a whole number ≥ 1, got {self.batch_size}")
        object.__setattr__(self, "num_steps", check_num_steps(self.num_steps))
        check_method(self.method)
        check_precision(self.precision)

    @property
    def batches(self) -> list[int]:
        """Sizes of the batches, in order."""
        return [min(self.batch_size, self.num_samples - start) for start in range(0, self.num_samples, self.batch_size)]

    @property
    def timetable(self) -> tuple[TimetableEntry, ...]:
        """The entries each batch walks (:func:`timetable`); resampling only with conditioning."""
        if self.conditioning is None:
            return timetable(self.num_steps)
        return timetable(self.num_steps, self.conditioning.resample_steps, self.conditioning.resample_count)

    @property
    def network_calls_per_sample(self) -> int:
        return len(self.timetable)

    @property
    def progress_total(self) -> int:
        """What ``progress`` counts to: timetable entries × batches."""
        return self.network_calls_per_sample * len(self.batches)


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


@dataclass
class _Conditioning:
    """A :class:`ConditioningSpec` on the sampler's device (tensors built once per draw)."""

    spec: ConditioningSpec
    reference: torch.Tensor
    low_pass: torch.Tensor


class Sampler:
    """Draws samples from a trained eps-model.

    Args:
        model: the trained network in Z order, ``model(x, t)`` → eps for x of shape (B, L) with
            ``model.config.length`` = L (a UNet1D, or one wrapped in
            :class:`superdiff_core.ordered_model.ElementOrderedModel`); put in eval mode, moved
            to ``device``, not otherwise modified.
        x0_lower, x0_upper: per-element clipping range of x0_hat, shape (96,).
        device: where to run.
    """

    def __init__(self, model: torch.nn.Module, x0_lower: np.ndarray, x0_upper: np.ndarray, device: torch.device):
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
        guide: StepGuide | None = None,
        resample_steps: int = DEFAULT_RESAMPLE_STEPS,
        resample_count: int = DEFAULT_RESAMPLE_COUNT,
        precision: Precision = LEGACY_PRECISION,
    ) -> np.ndarray:
        """Draw ``num_samples`` vectors: the keyword form of :meth:`draw` (the arguments are the
        fields of :class:`SamplingRequest` and :class:`ConditioningSpec`; the conditioning ones
        are ignored without a ``reference``)."""
        conditioning = None
        if reference is not None:
            conditioning = ConditioningSpec(
                reference, scale_factor, conditioning_stop=conditioning_stop, filter_order=filter_order,
                clip=clip, resample_steps=resample_steps, resample_count=resample_count,
            )
        request = SamplingRequest(num_samples, num_steps, method=method, seed=seed, batch_size=batch_size,
                                  conditioning=conditioning, guide=guide, precision=precision)
        return self.draw(request, progress=progress, cancel=cancel)

    def draw(self, request: SamplingRequest, progress: ProgressCallback | None = None, cancel: CancelFlag | None = None) -> np.ndarray:
        """Draw the samples of ``request``.

        Args:
            request: what to draw (:class:`SamplingRequest`).
            progress: see :data:`ProgressCallback`; counts to ``request.progress_total``.
            cancel: an object with ``is_set()`` (e.g. ``threading.Event``), checked every step.

        Returns:
            Raw samples, shape (num_samples, 96), float64, before any rounding.

        Raises:
            SamplingCancelled: if ``cancel`` was set (with the finished batches).
        """
        steps = step_schedule(request.num_steps)
        conditioning = None if request.conditioning is None else self._on_device(request.conditioning)
        lower, upper = self.x0_lower, self.x0_upper
        if conditioning is not None:
            spec = conditioning.spec
            lower, upper = self.conditioning_clip_range(spec.reference, spec.filter_order, spec.clip)
        guide = request.guide if request.guide is not None and request.guide.active else None
        generator = torch.Generator(device=self.device).manual_seed(int(request.seed))
        entries = request.timetable
        total = request.progress_total
        done = 0
        outputs = []
        with torch.inference_mode():
            for size in request.batches:
                x = torch.randn(size, self.model.config.length, generator=generator, device=self.device)
                x0_by_step: dict[int, torch.Tensor] = {}  # the last x0_hat made at each level (multistep history)
                for entry in entries:
                    if cancel is not None and cancel.is_set():
                        finished = np.concatenate(outputs) if outputs else np.zeros((0, self.model.config.length))
                        raise SamplingCancelled("sampling was stopped", finished)
                    k = entry.step
                    if entry.jump:  # RePaint's jump back: x_k ~ q(x_k | x_{k-1}), then the step again
                        noise = torch.randn(x.shape, generator=generator, device=self.device)
                        x = schedule.forward_jump(x, float(steps.alphas_cumprod[k]), float(steps.alphas_cumprod_prev[k]), noise)
                    output = self._step(x, k, steps, request.method, generator, lower, upper, guide, x0_by_step, request.precision)
                    x = output.prev_sample
                    if conditioning is not None and steps.timesteps[k] >= conditioning.spec.conditioning_stop:
                        x = ilvr_correction(x, self._noised_reference(conditioning.reference, k, steps, generator, size),
                                            conditioning.low_pass)
                    x0_by_step[k] = output.x0_hat
                    x0_by_step.pop(k + 2, None)
                    done += 1
                    if progress is not None:
                        progress(done, total)
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
        if clip == "plausible":  # the reference's elements and their plausible substitutes; nothing else
            from .substitution import plausible_substitutes

            mask = torch.as_tensor(plausible_substitutes(reference) | (np.asarray(reference) > 0), device=self.device)
            return (
                torch.where(mask, widest_lower, torch.clamp(self.x0_lower, max=0.0)),
                torch.where(mask, widest_upper, torch.zeros_like(self.x0_upper)),
            )
        mask = torch.as_tensor(widened_elements(reference, filter_order), device=self.device)
        return (
            torch.where(mask, widest_lower, self.x0_lower),
            torch.where(mask, widest_upper, self.x0_upper),
        )

    def _on_device(self, spec: ConditioningSpec) -> _Conditioning:
        phi = low_pass_matrix(spec.scale_factor, order=spec.filter_order)
        return _Conditioning(
            spec,
            torch.tensor(spec.reference, dtype=torch.float32, device=self.device),
            torch.tensor(phi, dtype=torch.float32, device=self.device),
        )

    def _step(
        self, x: torch.Tensor, k: int, steps: StepSchedule, method: str, generator: torch.Generator,
        lower: torch.Tensor, upper: torch.Tensor | None, guide: StepGuide | None, x0_by_step: dict[int, torch.Tensor],
        precision: str = LEGACY_PRECISION,
    ) -> StepOutput:
        """Reverse step k of ``method``: the network's eps → x0_hat clipped to [lower, upper] (no upper
        bound if None) → the guide's move (x0_hat, re-clipped, or the output) → the pure step of
        :mod:`superdiff_core.schedule` (its noise drawn here, after the network call)."""
        timestep = torch.full((x.shape[0],), int(steps.timesteps[k]), device=self.device, dtype=torch.long)
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=precision == "bf16"):
            eps = self.model(x, timestep).float()
        alpha_cumprod = float(steps.alphas_cumprod[k])
        x0 = self._clip(schedule.predict_x0_from_eps(x, eps, alpha_cumprod), lower, upper)
        shift = None
        if guide is not None:
            size = guide.step_size(int(steps.timesteps[k]), schedule.guide_variance(method, guide.target, k, steps))
            if size > 0:
                shift = size * guide.gradient(x0)
                if guide.target == "x0":
                    x0, shift = self._clip(x0 + shift, lower, upper), None
        x0_hat_last = x0_by_step.get(k + 1)
        noise = torch.randn(x.shape, generator=generator, device=self.device) if schedule.step_uses_noise(method, k, steps) else None
        return schedule.reverse_step(method, x, x0, k, steps, x0_hat_last, noise, shift)

    @staticmethod
    def _clip(x0: torch.Tensor, lower: torch.Tensor, upper: torch.Tensor | None) -> torch.Tensor:
        """x0 clipped to [lower, upper] per element (no upper bound if None)."""
        if upper is not None:
            x0 = torch.minimum(x0, upper)
        return torch.maximum(x0, lower)

    def _noised_reference(
        self, reference: torch.Tensor, k: int, steps: StepSchedule, generator: torch.Generator, size: int
    ) -> torch.Tensor:
        """y_{k-1} ~ q(y_{k-1} | y): the reference noised to the level of the step's *output*, per sample."""
        previous = float(steps.alphas_cumprod_prev[k])
        if previous >= 1.0:
            return reference.expand(size, -1)
        noise = torch.randn((size, reference.shape[0]), generator=generator, device=self.device)
        return schedule.noised_to_level(reference, previous, noise)

