"""Optional stages after screening: property scores, then map placement and families.

Each stage runs only if its artifacts exist in the models folder; otherwise it says so
in one line and the run goes on (the columns are then absent from the CSV).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from .errors import CheckpointError
from .pipeline import GenerationResult

if TYPE_CHECKING:
    from .maps import ClassMap
    from .properties import PropertyModels


def add_properties(result: GenerationResult, models_dir: str | os.PathLike, models: "PropertyModels | None" = None) -> str | None:
    """Append the property columns; returns a note if the models are missing.

    ``models`` already loaded (e.g. cached by the app) are used as they are; otherwise
    they are loaded from ``models_dir``.
    """
    if models is None:
        try:
            from .properties import load_property_models
        except ImportError:
            return "property models not available in this build"
        try:
            models = load_property_models(models_dir)
        except CheckpointError as error:
            return f"no property scores: {error}"
    scores = models.score(result.vectors)
    for column in scores.columns:
        if column != "note" or scores[column].astype(bool).any():
            result.table[column if column != "note" else "property_note"] = scores[column].to_numpy()
    return None


def add_map(
    result: GenerationResult, models_dir: str | os.PathLike, preview: bool = False, class_map: "ClassMap | None" = None
) -> str | None:
    """Append the map and family columns; returns a note if the map is missing.

    ``class_map`` (already loaded, of the run's class) is used as it is; otherwise the
    class map is loaded from ``models_dir``.
    """
    try:
        from .families import annotate_candidates
        from .maps import load_class_map
    except ImportError:
        return "maps not available in this build"
    if class_map is None:
        try:
            class_map = load_class_map(models_dir, result.settings.model_class)
        except CheckpointError as error:
            return f"no map placement: {error}"
    if len(result.table) == 0:
        return None
    result.table, result.families = annotate_candidates(result.table, result.vectors, class_map, preview=preview)
    return None


def enrich_candidates(result: GenerationResult, models_dir: str | os.PathLike, with_map: bool = True) -> list[str]:
    """Run the optional stages in order; returns their notes (empty when all ran)."""
    notes = [add_properties(result, models_dir)]
    if with_map:
        notes.append(add_map(result, models_dir))
    return [note for note in notes if note]
