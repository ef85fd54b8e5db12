"""The weights a user gives property guidance (``--guide tc=1,formation=0.5``): what is asked of
the steering, apart from how :mod:`superdiff_core.guidance` does it. Torch-free, so the settings
and the command line read it without importing the networks.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from .errors import InputError

GUIDE_KEYS: tuple[str, ...] = ("tc", "superconductor", "formation")
"""The properties a run can be steered toward, as written in ``--guide``."""

MAX_WEIGHT = 100.0
"""Largest weight accepted (far past the point where validity collapses)."""

RECOMMENDED_MAX_WEIGHT = 3.0
"""Largest weight worth using: at 2, unconditional runs keep a fifth to a quarter of their
valid candidates (benchmarks/README.md, "Property guidance"); the CLI warns above it."""


# ---------------------------------------------------------------------------------------
# The weights a user chooses
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GuidanceWeights:
    """How hard to push toward each property (0: not at all; all 0: no guidance).

    Attributes:
        tc: weight of the guidance network's predicted Tc (per 50 K).
        superconductor: weight of its log-probability of being a superconductor.
        formation: weight of minus the predicted formation energy (per eV/atom).
    """

    tc: float = 0.0
    superconductor: float = 0.0
    formation: float = 0.0

    def __post_init__(self) -> None:
        for name in GUIDE_KEYS:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise InputError(f"guidance weight {name} must be a number, got {value!r}")
            if not math.isfinite(value) or not 0.0 <= value <= MAX_WEIGHT:
                raise InputError(f"guidance weight {name} must be from 0 to {MAX_WEIGHT:g}, got {value}")
            object.__setattr__(self, name, float(value))

    @property
    def active(self) -> bool:
        """True when any weight is above 0."""
        return any(getattr(self, name) > 0 for name in GUIDE_KEYS)

    def to_text(self) -> str:
        """``"tc=1,formation=0.5"`` (the non-zero weights, as ``--guide`` takes them); "" when inactive."""
        return ",".join(f"{name}={getattr(self, name):g}" for name in GUIDE_KEYS if getattr(self, name) > 0)

    def to_dict(self) -> dict[str, float]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: object) -> "GuidanceWeights":
        """From a run-settings JSON section ``{"tc": 1.0, ...}`` (missing keys are 0).

        Raises:
            InputError: for unknown keys or bad values.
        """
        if values is None:
            return cls()
        if not isinstance(values, dict):
            raise InputError(f"guidance must be a mapping of weights, got {values!r}")
        unknown = sorted(set(values) - set(GUIDE_KEYS))
        if unknown:
            raise InputError(f"unknown guidance key {unknown[0]!r}: choose from {', '.join(GUIDE_KEYS)}")
        return cls(**values)


def parse_guide(text: str) -> GuidanceWeights:
    """``"tc=1.0,formation=0.5,superconductor=0.5"`` -> :class:`GuidanceWeights`.

    Keys not given are 0; ``""`` or ``"off"`` is no guidance.

    Raises:
        InputError: one line, for an unknown or repeated key, a missing ``=``, a value
            that is not a number, or a negative one.
    """
    text = text.strip()
    if text.lower() in ("", "off", "none"):
        return GuidanceWeights()
    values: dict[str, float] = {}
    for part in text.split(","):
        key, sep, value = (s.strip() for s in part.partition("="))
        key = key.lower()  # TC=1 as tc=1
        if not sep or not key:
            raise InputError(f"guidance weights are written key=value, got {part.strip()!r} (e.g. tc=1.0,formation=0.5)")
        if key not in GUIDE_KEYS:
            raise InputError(f"unknown guidance key {key!r}: choose from {', '.join(GUIDE_KEYS)}")
        if key in values:
            raise InputError(f"guidance key {key!r} is given twice")
        try:
            number = float(value)
        except ValueError:
            raise InputError(f"guidance weight {key} must be a number, got {value!r}") from None
        if number < 0:
            raise InputError(f"guidance weight {key} must not be negative, got {value}")
        values[key] = number
    return GuidanceWeights(**values)
