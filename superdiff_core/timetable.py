"""What a sampling run is made of, apart from the network: the method names and defaults, the
step-count checks, and the timetable of network calls the sampler walks (with RePaint's
resampling jumps), which the progress bar counts and a time estimate multiplies by.

Pure Python and no torch, so the front ends (``superdiff --help``, the settings, the app's
estimate) read these without importing the network code; :mod:`superdiff_core.sampler`
runs what this module describes.
"""

from __future__ import annotations

import typing
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

from .schedule import NUM_TRAIN_TIMESTEPS

DEFAULT_NUM_STEPS = 50
"""Fallback number of sampling steps (respaced from T = 1000); each model class has its own
default (:attr:`superdiff_core.model_classes.ModelClass.recommended_steps`)."""

DEFAULT_CONDITIONING_STOP = 1
"""ILVR acts on every step but the last (t = 0): the final denoising step runs unconditioned,
which removes the negative amounts the last correction would leave (13 % → 0 % at N = 2 on
the paper's example). Stopping earlier (t < 100, the old default) lets the unconditional
model remove the reference's rare elements (Se kept by 1 % instead of 100 %); measured in
benchmarks/README.md ("New families")."""

ClipMode = Literal["widened", "plausible", "global", "lower", "training"]
"""How x0_hat is clipped under ILVR (see the module docstring); unconditional sampling
always uses the class's per-element training range."""

CLIP_MODES: tuple[str, ...] = typing.get_args(ClipMode)

DEFAULT_CLIP: ClipMode = "plausible"

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

SamplingMethod = Literal["ancestral", "ddpm", "ddim", "dpmpp2m", "dpmpp2m_sde"]
"""The reverse updates (see the module docstring)."""

SAMPLING_METHODS: tuple[str, ...] = typing.get_args(SamplingMethod)
"""Every method name, in the order front ends list them: the one list everyone reads."""

METHOD_LABELS: Mapping[str, str] = MappingProxyType({
    "ancestral": "ancestral (default)",
    "ddpm": "DDPM, the paper's (needs ~1,000 steps)",
    "ddim": "DDIM (deterministic)",
    "dpmpp2m": "DPM-Solver++(2M) (deterministic, few steps)",
    "dpmpp2m_sde": "SDE-DPM-Solver++(2M) (few steps)",
})
"""A short label per method, for menus and help texts."""

DETERMINISTIC_METHODS: tuple[str, ...] = ("ddim", "dpmpp2m")
"""Methods whose step draws no noise (the start noise, ILVR's reference noise and
resampling jumps still draw)."""

Precision = Literal["fp32", "bf16"]
"""The number format of the network's forward pass: ``fp32`` (float32 throughout) or ``bf16``
(the convolutions and matrix products in bfloat16 under ``torch.autocast``, everything else,
the update, ILVR and clipping included, in float32)."""

PRECISIONS: tuple[str, ...] = typing.get_args(Precision)

LEGACY_PRECISION: Precision = "fp32"
"""The precision of every run recorded before precision was a setting (a settings file or a
campaign manifest without the key): reading it so reruns those runs exactly."""

DEFAULT_METHOD: SamplingMethod = "ancestral"
"""The x0-parameterised posterior with sigma² = beta-tilde keeps quality at few steps; the
paper's sigma² = beta ("ddpm") needs ~1,000 steps, DDIM loses the others class at 50
(measured in benchmarks/README.md)."""


def check_precision(precision: str) -> str:
    """Return ``precision`` if it is one of :data:`PRECISIONS`, else raise ValueError naming them."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}: choose one of {', '.join(PRECISIONS)}")
    return precision


def check_method(method: str) -> str:
    """Return ``method`` if it is one of :data:`SAMPLING_METHODS`, else raise ValueError naming them."""
    if method not in SAMPLING_METHODS:
        raise ValueError(f"unknown sampling method {method!r}: choose one of {', '.join(SAMPLING_METHODS)}")
    return method


def check_num_steps(num_steps: int, num_train_timesteps: int = NUM_TRAIN_TIMESTEPS) -> int:
    if int(num_steps) != num_steps or not 1 <= num_steps <= num_train_timesteps:
        raise ValueError(f"steps must be an integer from 1 to {num_train_timesteps}, got {num_steps}")
    return int(num_steps)


# ---------------------------------------------------------------------------------------
# The timetable: which reverse steps run, in which order, with RePaint's jumps
# ---------------------------------------------------------------------------------------


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


@dataclass(frozen=True)
class TimetableEntry:
    """One network call of the loop.

    Attributes:
        step: the reverse step k (x_k → x_{k-1}; k = 0 is the final step).
        jump: True when the loop first noises its sample back from level k-1 to level k
            (RePaint's resampling jump) and then runs step k again.
    """

    step: int
    jump: bool


def timetable(num_steps: int, resample_steps: int = 0, resample_count: int = 1) -> tuple[TimetableEntry, ...]:
    """The entries the loop walks, noisiest first, as diffusers' ``RePaintScheduler.set_timesteps``
    builds its list (here with jumps of one step): step k runs ``resampling_repeats(...)[k]``
    times, every run but the first preceded by a jump back.

    Raises:
        ValueError: for a bad step count or resampling setting.
    """
    repeats = resampling_repeats(check_num_steps(num_steps), resample_steps, resample_count)
    return tuple(TimetableEntry(k, repeat > 0) for k in reversed(range(num_steps)) for repeat in range(repeats[k]))


def timetable_length(num_steps: int, resample_steps: int = 0, resample_count: int = 1) -> int:
    """Entries of :func:`timetable` (network calls per sample), without building it."""
    return sum(resampling_repeats(check_num_steps(num_steps), resample_steps, resample_count))


def network_calls_per_sample(
    num_steps: int, *, conditioned: bool, resample_steps: int = DEFAULT_RESAMPLE_STEPS, resample_count: int = DEFAULT_RESAMPLE_COUNT,
) -> int:
    """Network calls one sample takes for these sampling settings (every method makes one call
    per timetable entry; resampling only acts with a reference): what the progress bar counts
    per batch and what a time estimate multiplies by."""
    return timetable_length(num_steps, resample_steps if conditioned else 0, resample_count)
