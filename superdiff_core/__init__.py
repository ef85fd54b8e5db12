"""SuperDiff: conditional generation of candidate superconductors with a composition
diffusion model (Yuan & Dordevic, Sci. Rep. 14, 10275, 2024), built to run on a CPU.

The public API that the CLI, the app and the tests use::

    from superdiff_core import parse_formulas, load_engine, GenerationSettings, generate

The engine never imports Streamlit.
"""

from .composition import FormulaError, ParsedFormula, parse_formula, parse_formulas, vector_to_formula
from .errors import CheckpointError, InputError, SuperDiffError
from .model_classes import MODEL_CLASSES
from .pipeline import GenerationResult, GenerationSettings, generate, load_engine
from .results import CANDIDATE_COLUMNS, candidates_to_csv, write_candidates_csv
from .screening import ScreeningOptions

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
