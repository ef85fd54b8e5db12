"""Property guidance: steer sampling toward higher predicted Tc, a higher probability of
superconductivity and a lower (more negative) formation energy (issue 11).

At each reverse step the sampler (:mod:`superdiff_core.sampler`) moves the sample along
the gradient of a weighted objective of differentiable property models, the classifier
guidance of Dhariwal & Nichol (2021, "Diffusion models beat GANs", eq. 11: the step's mean
moves by ``s · Sigma · grad log p(y | x)``), with the gradient taken on the *decoded
composition* of the step's x0 prediction rather than on the noisy x_t (our property models
only ever saw physical compositions):

    J(a) = w_tc · Tc(a) / 50 K + w_sc · log sigmoid(logit(a)) − w_f · E_f(a) / (1 eV/atom)

where ``a`` are the decoded amounts (:func:`decoded_amounts`: negative amounts clamped to
0 and amounts below the screening's residual threshold set to 0, exactly what the
screening would keep, so the guide neither sees nor grows the noise the screening
removes). ``Tc`` and ``logit`` come from
:class:`~superdiff_core.properties.superconductor.GuidanceNetwork`, ``E_f`` from the
formation network (:class:`~superdiff_core.properties.formation.FormationModel`).
The shipped scores (boosted trees and extra trees) are *not* differentiable and are kept
as the independent judge of guided candidates (``benchmarks/bench_guidance.py``): a guided
sampler can fool the model that guides it.

Where the gradient is applied (:data:`GuidanceTarget`) and how its size follows the steps
(:data:`GuidanceSchedule`) were measured (``benchmarks/README.md``, "Property guidance"):

- ``"x0"``: x0_hat += w · c · (1 − abar_t) · g(t) · ∇J, then re-clipped; the posterior
  mean carries the shift into x_{t-1}. (1 − abar_t) is the variance of x_t around x0.
- ``"xt"``: mean += w · c · sigma_t² · g(t) · ∇J, Dhariwal & Nichol's form with the
  variance sigma_t² of the step the sampling method takes (beta-tilde for ``ancestral``, beta
  for ``ddpm``, beta-tilde for the deterministic ``ddim`` and ``dpmpp2m``:
  :func:`superdiff_core.schedule.guide_variance`; nothing at the last step, where sigma = 0).

Here ``c`` is :data:`GUIDANCE_SCALE` (so that weight 1 is a moderate push) and ``g(t)`` the
schedule: ``"constant"`` (1), ``"decaying"`` (t / T: strongest while the sample is noisy)
or ``"noisy"`` (1 for t ≥ T / 2, else 0). With every weight 0 the sampler never calls
this module, so unguided samples are reproduced bit for bit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np
import torch

from .errors import InputError
from .guidance_weights import GuidanceWeights
from .screening import RESIDUAL_THRESHOLD

if TYPE_CHECKING:
    from .properties import PropertyModels
    from .properties.formation import FormationModel
    from .properties.superconductor import GuidanceNetwork

TC_SCALE_KELVIN = 50.0
"""Tc enters the objective as Tc / 50 K (the guidance network's own output scale)."""

ENERGY_SCALE_EV = 1.0
"""Formation energy enters the objective in eV/atom."""

GuidanceTarget = Literal["x0", "xt"]
GuidanceSchedule = Literal["constant", "decaying", "noisy"]
TARGETS: tuple[str, ...] = ("x0", "xt")
SCHEDULES: tuple[str, ...] = ("constant", "decaying", "noisy")

DEFAULT_TARGET: GuidanceTarget = "xt"
"""Moving the step's mean (x_t) raised the independent trees' Tc; moving x0_hat raised mostly
the guide's own Tc (an adversarial push the trees do not follow): benchmarks/README.md,
"Property guidance"."""

DEFAULT_SCHEDULE: GuidanceSchedule = "noisy"
"""Guiding only while t ≥ T / 2 picks the composition family while it is being decided and
keeps validity; guiding the late steps too mostly fine-tunes amounts against the guide
(lower validity, smaller gain by the trees): benchmarks/README.md, "Property guidance"."""

GUIDANCE_SCALE = 20.0
"""``c`` of the module docstring: the step size per unit weight, chosen so that weight 1 gained
≥ 20 % mean Tc (trees) on the cuprate ILVR benchmark at ≥ 80 % of the unguided valid yield
with the loop without ILVR resampling; with resampling (``sampler.DEFAULT_RESAMPLE_STEPS``)
the same weight lowered it (benchmarks/README.md, "Property guidance")."""

FORMATION_TOKENS = 12
"""The formation network sees each row's this-many largest amounts (its cost grows with the
square of the tokens; candidates have at most 10 elements)."""


# ---------------------------------------------------------------------------------------
# The objective (pure functions of amounts)
# ---------------------------------------------------------------------------------------


def decoded_amounts(
    x0: torch.Tensor, residual_threshold: float = RESIDUAL_THRESHOLD, gradient_through: torch.Tensor | None = None,
) -> torch.Tensor:
    """The composition the screening would read from x0, differentiably: negative amounts
    clamped to 0, amounts below ``residual_threshold`` set to 0 (no rounding).

    Args:
        x0: predicted clean sample, shape (B, 96) amounts.
        gradient_through: None (the engine's guide): the gradient flows to the kept amounts
            only, so an element the composition lacks gets none. A bool mask (96,): on those
            elements the gradient passes straight through the decoding (the same values, the
            derivative of J at the decoded composition), so absent elements get one too
            (``benchmarks/bench_guide_gradient.py`` and ``bench_stay_near.py --gradient``).

    Returns:
        (B, 96), non-negative.
    """
    amounts = x0.clamp(min=0.0)
    amounts = amounts * (amounts >= residual_threshold).to(amounts.dtype)
    if gradient_through is None:
        return amounts
    return torch.where(gradient_through.to(x0.device), x0 + (amounts - x0).detach(), amounts)


def formation_energy_top_elements(formation: "FormationModel", amounts: torch.Tensor, max_tokens: int = FORMATION_TOKENS) -> torch.Tensor:
    """Formation energy (eV/atom, (B,)) from each row's ``max_tokens`` largest amounts, differentiable.

    The formation network's cost grows with the square of its tokens; the batch-wide element
    set of :meth:`FormationModel.energy_of_amounts` reaches 70–96 elements on noisy batches
    (8 s per 300 rows on one core), a row's own largest amounts stay ≤ 12 (0.1 s). Elements
    outside the 86 the model covers are left out; a row with no amount gets energy 0.

    Args:
        amounts: non-negative amounts, shape (B, 96).
    """
    from .properties.formation import COVERED_INDICES

    mask = torch.zeros(amounts.shape[1], dtype=amounts.dtype, device=amounts.device)
    mask[torch.as_tensor(COVERED_INDICES, device=amounts.device)] = 1.0
    covered = amounts * mask
    k = min(max_tokens, covered.shape[1])
    values, tokens = covered.topk(k, dim=1)
    total = values.sum(dim=1, keepdim=True)
    fractions = values / total.clamp_min(1e-12)
    parameter = next(formation.network.parameters())
    energy, _ = formation.network(tokens.to(parameter.device), fractions.to(parameter.dtype))
    return torch.where(total.squeeze(1) > 0, energy, torch.zeros_like(energy))


def guidance_objective(
    amounts: torch.Tensor,
    weights: GuidanceWeights,
    network: "GuidanceNetwork | None",
    formation: "FormationModel | None",
) -> torch.Tensor:
    """J per row (see the module docstring), to be increased; shape (B,).

    Args:
        amounts: decoded, non-negative amounts, shape (B, 96).
        weights: the weights (a term with weight 0 is not computed).
        network: the Tc / superconductor network (needed when tc or superconductor > 0).
        formation: the formation model (needed when formation > 0).
    """
    objective = torch.zeros(amounts.shape[0], dtype=amounts.dtype, device=amounts.device)
    if weights.tc > 0 or weights.superconductor > 0:
        if network is None:
            raise InputError("Tc / superconductor guidance needs the guidance network in checkpoints/tc (rebuild with superdiff train-tc)")
        empty = amounts.sum(dim=1) <= 0
        logit, tc = network(amounts)
        if weights.tc > 0:
            objective = objective + weights.tc * torch.where(empty, torch.zeros_like(tc), tc) / TC_SCALE_KELVIN
        if weights.superconductor > 0:
            log_p = torch.nn.functional.logsigmoid(logit)
            objective = objective + weights.superconductor * torch.where(empty, torch.zeros_like(log_p), log_p)
    if weights.formation > 0:
        if formation is None:
            raise InputError("formation guidance needs the formation model in checkpoints/formation "
                             "(rebuild with superdiff train-formation)")
        objective = objective - weights.formation * formation_energy_top_elements(formation, amounts).to(amounts.dtype) / ENERGY_SCALE_EV
    return objective


# ---------------------------------------------------------------------------------------
# The step
# ---------------------------------------------------------------------------------------


def schedule_factor(schedule: str, timestep: int, num_train_timesteps: int = 1000) -> float:
    """g(t) of the module docstring for the original timestep ``timestep``."""
    if schedule == "constant":
        return 1.0
    if schedule == "decaying":
        return float(timestep) / num_train_timesteps
    if schedule == "noisy":
        return 1.0 if timestep >= num_train_timesteps // 2 else 0.0
    raise ValueError(f"unknown guidance schedule {schedule!r}: choose one of {', '.join(SCHEDULES)}")


@dataclass
class Guide:
    """What the sampler needs to guide: the weights, the models and where / how to step.

    Attributes:
        weights: see :class:`GuidanceWeights`.
        network: the Tc / superconductor network (None when those weights are 0).
        formation: the formation model (None when its weight is 0).
        target: ``"x0"`` or ``"xt"`` (:data:`GuidanceTarget`).
        schedule: ``"constant"``, ``"decaying"`` or ``"noisy"`` (:data:`GuidanceSchedule`).
        scale: ``c`` of the module docstring.
        residual_threshold: amounts below this are not part of the guided composition.
    """

    weights: GuidanceWeights
    network: GuidanceNetwork | None = None
    formation: FormationModel | None = None
    target: str = DEFAULT_TARGET
    schedule: str = DEFAULT_SCHEDULE
    scale: float = GUIDANCE_SCALE
    residual_threshold: float = RESIDUAL_THRESHOLD

    def __post_init__(self) -> None:
        if self.target not in TARGETS:
            raise ValueError(f"unknown guidance target {self.target!r}: choose one of {', '.join(TARGETS)}")
        schedule_factor(self.schedule, 0)  # validates

    @property
    def active(self) -> bool:
        return self.weights.active

    def objective(self, x0: torch.Tensor) -> torch.Tensor:
        """J of the decoded amounts of x0 (B, 96): (B,)."""
        return guidance_objective(decoded_amounts(x0, self.residual_threshold), self.weights, self.network, self.formation)

    def gradient(self, x0: torch.Tensor) -> torch.Tensor:
        """∇J with respect to x0 (B, 96), computed on a detached copy with gradients on
        (the sampler runs under ``torch.inference_mode``) on the models' device; returned
        on x0's device and dtype."""
        with torch.inference_mode(False), torch.enable_grad():
            leaf = x0.detach().to(self.device).clone().float().requires_grad_(True)
            (grad,) = torch.autograd.grad(self.objective(leaf).sum(), leaf)
        return grad.detach().to(x0.device, x0.dtype)

    @property
    def device(self) -> torch.device:
        """Where the guide's models are (the sampler may run elsewhere, e.g. on a GPU)."""
        for module in (self.network, None if self.formation is None else self.formation.network):
            if module is not None:
                return next(module.parameters()).device
        return torch.device("cpu")

    def step_size(self, timestep: int, variance: float) -> float:
        """c · variance · g(t): multiplies ∇J (the weights are inside J).

        Args:
            timestep: the step's original timestep t (0..T-1).
            variance: the noise variance the sampler gives the step for this guide's target
                (:func:`superdiff_core.schedule.guide_variance`: 1 − abar_t for ``"x0"``, the
                method's own step variance for ``"xt"``).
        """
        return self.scale * variance * schedule_factor(self.schedule, int(timestep))

    def predict(self, vectors: np.ndarray) -> dict[str, np.ndarray]:
        """The guide's own view of compositions (n, 96): ``tc_kelvin`` (clipped at 0) and
        ``sc_probability`` from the network, ``formation_energy_ev_per_atom`` from the top-element encoding,
        each (n,) (NaN where that model is absent)."""
        amounts = torch.as_tensor(np.atleast_2d(vectors), dtype=torch.float32)
        out = {name: np.full(len(amounts), np.nan) for name in ("tc_kelvin", "sc_probability", "formation_energy_ev_per_atom")}
        with torch.no_grad():
            if self.network is not None:
                logit, tc = self.network(amounts)
                out["tc_kelvin"] = tc.clamp(min=0.0).double().numpy()
                out["sc_probability"] = torch.sigmoid(logit).double().numpy()
            if self.formation is not None:
                out["formation_energy_ev_per_atom"] = formation_energy_top_elements(self.formation, amounts).double().numpy()
        return out


def build_guide(
    weights: GuidanceWeights,
    property_models: PropertyModels | None,
    *,
    target: str = DEFAULT_TARGET,
    schedule: str = DEFAULT_SCHEDULE,
    scale: float = GUIDANCE_SCALE,
) -> Guide | None:
    """The :class:`Guide` of a run, or None when no weight is above 0.

    Args:
        weights: what to steer toward.
        property_models: the loaded property models (their guidance network and formation
            network are used; the trees are not).

    Raises:
        InputError: when a needed model is missing (one line naming it).
    """
    if not weights.active:
        return None
    if property_models is None:
        raise InputError("guidance needs the property models (checkpoints/tc and checkpoints/formation), which are missing")
    network = property_models.superconductor.guidance
    if (weights.tc > 0 or weights.superconductor > 0) and network is None:
        raise InputError("Tc / superconductor guidance needs the guidance network in checkpoints/tc (rebuild with superdiff train-tc)")
    return Guide(
        weights,
        network if (weights.tc > 0 or weights.superconductor > 0) else None,
        property_models.formation if weights.formation > 0 else None,
        target=target, schedule=schedule, scale=scale,
    )


__all__ = [
    "DEFAULT_SCHEDULE", "DEFAULT_TARGET", "GUIDANCE_SCALE", "Guide",
    "build_guide", "decoded_amounts", "guidance_objective", "schedule_factor",
]
