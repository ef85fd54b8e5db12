"""SuperDiff: conditional generation of candidate superconductors with a composition
diffusion model (Yuan & Dordevic, Sci. Rep. 14, 10275, 2024), built to run on a CPU.

The public API that the CLI, the app and the tests use::

    from superdiff_core import parse_formulas, load_engine, GenerationSettings, generate

The names are loaded on first use (PEP 562 ``__getattr__``): importing the package, or a
light submodule such as :mod:`superdiff_core.cli`, does not import torch, pandas or
pymatgen, so ``superdiff --help`` and ``superdiff campaign status`` start fast.

The engine never imports Streamlit.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_PUBLIC_NAMES: dict[str, str] = {
    "CANDIDATE_COLUMNS": "results",
    "CheckpointError": "errors",
    "FormulaError": "composition",
    "GenerationResult": "pipeline",
    "GenerationSettings": "settings",
    "InputError": "errors",
    "MODEL_CLASSES": "model_classes",
    "ParsedFormula": "composition",
    "ScreeningOptions": "screening",
    "SuperDiffError": "errors",
    "candidates_to_csv": "results",
    "generate": "pipeline",
    "load_engine": "pipeline",
    "parse_formula": "composition",
    "parse_formulas": "composition",
    "vector_to_formula": "composition",
    "write_candidates_csv": "results",
}
"""Public name → the submodule that defines it."""

__all__ = [
    "CANDIDATE_COLUMNS",
    "CheckpointError",
    "FormulaError",
    "GenerationResult",
    "GenerationSettings",
    "InputError",
    "MODEL_CLASSES",
    "ParsedFormula",
    "ScreeningOptions",
    "SuperDiffError",
    "candidates_to_csv",
    "generate",
    "load_engine",
    "parse_formula",
    "parse_formulas",
    "vector_to_formula",
    "write_candidates_csv",
]

if TYPE_CHECKING:  # for type checkers and editors; nothing is imported at run time
    from .composition import FormulaError, ParsedFormula, parse_formula, parse_formulas, vector_to_formula
    from .errors import CheckpointError, InputError, SuperDiffError
    from .model_classes import MODEL_CLASSES
    from .pipeline import GenerationResult, generate, load_engine
    from .results import CANDIDATE_COLUMNS, candidates_to_csv, write_candidates_csv
    from .screening import ScreeningOptions
    from .settings import GenerationSettings


def __getattr__(name: str) -> Any:
    """Import a public name's submodule on first access (PEP 562)."""
    module = _PUBLIC_NAMES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_PUBLIC_NAMES})
