"""The model classes of the method (section 1): one home for everything a class decides.

A *model class* is one version of the diffusion model, trained on one slice of SuperCon:
``cuprates``, ``pnictides``, ``others`` (the three SuperCon families) or ``everything``
(all three together). Every per-class default — which SuperCon rows it is trained on, how
many sampling steps it needs, how many elements a candidate may have, whether its map has
clusters of its own, the paper's Table-1 row — is a field of :class:`ModelClass` here, and
every other module reads it from :data:`REGISTRY`.

The class suggestion for a reference (Cu and O make a cuprate, ...) lives here too, so the
app and the CLI suggest the same model.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

from .errors import InputError

SUPERCON_FAMILY_NAMES: Mapping[int, str] = MappingProxyType({1: "cuprate", 2: "pnictide", 3: "other"})
"""SuperCon's class codes (column 4 of the processed file) and what each code means."""


@dataclass(frozen=True)
class ModelClass:
    """Everything that depends on the model class.

    Attributes:
        name: the class's name on the command line, in the app and in the models folder.
        supercon_codes: SuperCon class codes (1 cuprate, 2 pnictide, 3 other) it is trained on.
        recommended_steps: default reverse steps, the fewest that keep the 1,000-step
            quality (benchmarks/README.md): the others/everything data (alloys written per
            100 atoms, amounts up to 120) need more.
        max_elements: the paper's element-count filter (at most this many elements).
        own_clusters: True when the class's map has clusters of its own (the three SuperCon
            families); ``everything``'s map reuses theirs.
        published_table_1: Yuan & Dordevic 2024, Table 1 (500,000 unconditional samples).
    """

    name: str
    supercon_codes: tuple[int, ...]
    recommended_steps: int
    max_elements: int
    own_clusters: bool
    published_table_1: Mapping[str, float] = field(default_factory=dict)

    def train_command(self, models_dir: object = "checkpoints/", element_order: str = "z") -> str:
        """The command that rebuilds this class's diffusion checkpoint (for ``element_order``)."""
        order = "" if element_order == "z" else f" --element-order {element_order}"
        return f"superdiff train --model {self.name}{order} --data ../shared/data/supercon/SuperCon_with_types.dat --out {models_dir}"


REGISTRY: Mapping[str, ModelClass] = MappingProxyType(
    {
        model_class.name: model_class
        for model_class in (
            ModelClass(
                "cuprates", (1,), recommended_steps=50, max_elements=7, own_clusters=True,
                published_table_1={"novel_percent": 100.00, "unique_percent": 99.92, "valid_per_1000": 22.0,
                                   "predicted_sc_percent": 64.53, "tc_mean_kelvin": 64.68, "tc_max_kelvin": 110.5},
            ),
            ModelClass(
                "pnictides", (2,), recommended_steps=50, max_elements=5, own_clusters=True,
                published_table_1={"novel_percent": 100.00, "unique_percent": 99.98, "valid_per_1000": 4.4,
                                   "predicted_sc_percent": 95.74, "tc_mean_kelvin": 22.00, "tc_max_kelvin": 29.5},
            ),
            ModelClass(
                "others", (3,), recommended_steps=100, max_elements=5, own_clusters=True,
                published_table_1={"novel_percent": 100.00, "unique_percent": 99.39, "valid_per_1000": 345.0,
                                   "predicted_sc_percent": 55.82, "tc_mean_kelvin": 6.33, "tc_max_kelvin": 30.5},
            ),
            ModelClass(
                "everything", (1, 2, 3), recommended_steps=100, max_elements=7, own_clusters=False,
                published_table_1={"novel_percent": 100.00, "unique_percent": 99.32, "valid_per_1000": 160.0,
                                   "predicted_sc_percent": 67.81, "tc_mean_kelvin": 8.51, "tc_max_kelvin": 97.0},
            ),
        )
    }
)
"""The four model classes, in the order the app and the help list them."""

MODEL_CLASSES: tuple[str, ...] = tuple(REGISTRY)
"""The class names, in registry order."""

FAMILY_CLASSES: tuple[str, ...] = tuple(name for name, spec in REGISTRY.items() if spec.own_clusters)
"""The classes whose maps have clusters of their own (one SuperCon family each)."""


def check_model_class(model_class: str) -> str:
    """Return ``model_class`` or raise :class:`InputError` naming the choices."""
    if model_class not in REGISTRY:
        raise InputError(f"unknown model class {model_class!r}: choose one of {', '.join(MODEL_CLASSES)}")
    return model_class


def get_model_class(model_class: str) -> ModelClass:
    """The registry entry of a class; raises :class:`InputError` for an unknown name."""
    return REGISTRY[check_model_class(model_class)]


# ---------------------------------------------------------------------------------------
# Which class a reference belongs to
# ---------------------------------------------------------------------------------------

PNICTIDE_METALS = frozenset({"Fe", "Ni"})
PNICTIDE_PARTNERS = frozenset({"As", "P", "Se", "Te"})


@dataclass(frozen=True)
class ClassSuggestion:
    """The model class a reference looks like, and why (shown to the user)."""

    model_class: str
    reason: str


def suggest_class(elements: Iterable[str]) -> ClassSuggestion:
    """Suggest a model class from one compound's elements.

    Cu and O make a cuprate; Fe or Ni with As, P, Se or Te make a pnictide (the
    iron-based family, chalcogenides included, as SuperCon files them); anything else is
    an "other" superconductor.
    """
    present = set(elements)
    if {"Cu", "O"} <= present:
        return ClassSuggestion("cuprates", "it contains Cu and O")
    metals = sorted(present & PNICTIDE_METALS)
    partners = sorted(present & PNICTIDE_PARTNERS)
    if metals and partners:
        return ClassSuggestion("pnictides", f"it contains {' and '.join(metals)} with {' and '.join(partners)}")
    return ClassSuggestion("others", "it is neither a Cu–O compound nor Fe/Ni with As, P, Se or Te")


def suggest_class_for(element_sets: Sequence[Iterable[str]]) -> ClassSuggestion | None:
    """One suggestion for several references: their common class, or ``everything`` when
    they disagree; None without references."""
    suggestions = [suggest_class(elements) for elements in element_sets]
    if not suggestions:
        return None
    classes = {s.model_class for s in suggestions}
    if len(classes) == 1:
        return suggestions[0]
    return ClassSuggestion("everything", f"the references belong to different classes ({', '.join(sorted(classes))})")


def default_class(suggestion: ClassSuggestion | None, available: Sequence[str]) -> str | None:
    """The class to preselect: the suggestion when its model exists, else ``everything``,
    else the first available one; None when no model exists."""
    if suggestion is not None and suggestion.model_class in available:
        return suggestion.model_class
    if "everything" in available:
        return "everything"
    return available[0] if available else None


def class_mismatch_warning(chosen: str, suggestion: ClassSuggestion | None) -> str | None:
    """A warning when the chosen model does not match the references, else None.

    The ``everything`` model has seen every class, so it never mismatches.
    """
    if suggestion is None or chosen == suggestion.model_class or chosen == "everything":
        return None
    if suggestion.model_class == "everything":
        return (
            f"The references span several classes ({suggestion.reason.split('(')[-1].rstrip(')')}), but the "
            f"{chosen} model has only seen {chosen}: the 'everything' model is the better choice."
        )
    return (
        f"The reference looks like one of the {suggestion.model_class} ({suggestion.reason}), but the {chosen} "
        f"model is selected. It has only seen {chosen}, so its candidates will drift away from the reference."
    )
