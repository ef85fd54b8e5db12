"""Lists of formulas to screen: pasted text, uploaded files and files given to the CLI.

A CSV file — or a text file whose first line is a CSV header with a ``formula`` column,
such as the output of ``superdiff screen`` renamed to ``.txt`` — is read by its
``formula`` column (its other columns are kept); any other text has one formula per line,
``#`` comments and blank lines skipped.
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from .composition import split_formulas
from .errors import InputError

MAX_SCREEN_FORMULAS = 20_000
"""Most formulas screened at once in the app (the CLI has no limit)."""

FORMULA_COLUMN = "formula"


def formulas_from_text(text: str) -> list[str]:
    """Formulas pasted in a text box: one per line, or separated by commas or semicolons;
    lines starting with ``#`` are comments."""
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    return split_formulas("\n".join(lines))


def _looks_like_csv_header(text: str) -> bool:
    """True when the first non-comment line is a comma-separated header naming ``formula``."""
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            return "," in line and FORMULA_COLUMN in [field.strip().strip('"').lower() for field in line.split(",")]
    return False


def read_formula_table(name: str, text: str) -> pd.DataFrame:
    """The formulas of a file's text, in file order, as a table with a ``formula`` column.

    Args:
        name: the file's name (its ``.csv`` suffix, or a CSV header line, selects CSV).
        text: the file's contents.

    Raises:
        InputError: a CSV without a ``formula`` column, an unreadable CSV, or no formula.
    """
    if name.lower().endswith(".csv") or _looks_like_csv_header(text):
        try:
            table = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, comment=None)
        except (pd.errors.ParserError, pd.errors.EmptyDataError) as error:
            raise InputError(f"cannot read {name}: {str(error).splitlines()[0]}") from None
        table.columns = [str(column).strip() for column in table.columns]
        if FORMULA_COLUMN not in table.columns:
            columns = ", ".join(map(str, table.columns)) or "none"
            raise InputError(f"{name} has no 'formula' column (columns: {columns})")
        table[FORMULA_COLUMN] = table[FORMULA_COLUMN].astype(str).str.strip()
        table = table[table[FORMULA_COLUMN] != ""].reset_index(drop=True)
    else:
        lines = [line.strip() for line in text.splitlines()]
        table = pd.DataFrame({FORMULA_COLUMN: [line for line in lines if line and not line.startswith("#")]})
    if table.empty:
        raise InputError(f"{name} has no formula")
    return table


def read_formula_file(path: str | os.PathLike) -> pd.DataFrame:
    """:func:`read_formula_table` of a file on disk (``superdiff screen --in``).

    Raises:
        InputError: missing or non-UTF-8 file, and the cases of :func:`read_formula_table`.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"input file not found: {path}")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise InputError(f"{path} is not a UTF-8 text file") from None
    return read_formula_table(str(path), text)


def formulas_from_upload(name: str, data: bytes) -> list[str]:
    """Formulas of an uploaded file (see :func:`read_formula_table`), in file order.

    Raises:
        InputError: unreadable file, CSV without a ``formula`` column, or no formula.
    """
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InputError(f"{name} is not a UTF-8 text file") from None
    return read_formula_table(name, text)[FORMULA_COLUMN].tolist()


def check_formula_count(formulas: Sequence[str]) -> None:
    """Raise InputError when there are no formulas or more than :data:`MAX_SCREEN_FORMULAS`."""
    if not formulas:
        raise InputError("paste or upload at least one formula")
    if len(formulas) > MAX_SCREEN_FORMULAS:
        raise InputError(
            f"{len(formulas)} formulas: the app screens at most {MAX_SCREEN_FORMULAS:,} at once "
            "(use `superdiff screen` for longer lists)"
        )
