"""SuperCon data: loading, model-class subsets, checksums and the data's quirks.

Only the build commands read the raw files in ``../shared/data``; everything the app and
CLI need at run time is written under ``checkpoints/`` by :func:`write_training_set`.
"""

from __future__ import annotations

import hashlib
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .artifacts import save_npz_atomically
from .composition import N_ELEMENTS, FormulaError, parse_formula
from .errors import CheckpointError, InputError
from .model_classes import get_model_class

DEFAULT_SUPERCON_PATH = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "supercon" / "SuperCon_with_types.dat"
"""Where the build commands look for SuperCon when no path is given (``../shared`` beside the repo)."""


def sha256_of_file(path: str | os.PathLike) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass
class LoadReport:
    """What a loader skipped or flagged in the rows it read: never silent.

    Attributes:
        rows_read: data rows in the file.
        skipped: reason -> count of rows left out.
        flagged: reason -> count of rows kept but worth knowing about.
        examples: reason -> a few offending formulas, for the message.
    """

    rows_read: int = 0
    skipped: Counter = field(default_factory=Counter)
    flagged: Counter = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=dict)

    def note(self, kind: Counter, reason: str, formula: str) -> None:
        kind[reason] += 1
        examples = self.examples.setdefault(reason, [])
        if len(examples) < 3:
            examples.append(formula)

    def lines(self) -> list[str]:
        """Human-readable summary, one line per reason."""
        kept = self.rows_read - sum(self.skipped.values())
        out = [f"read {self.rows_read} rows, kept {kept}"]
        for label, counter in (("skipped", self.skipped), ("flagged", self.flagged)):
            for reason, count in counter.most_common():
                out.append(f"{label} {count}: {reason} (e.g. {', '.join(self.examples[reason])})")
        return out


@dataclass
class SuperConSet:
    """SuperCon compounds as vectors.

    Attributes:
        formulas: formula text as in the file, shape (n,).
        vectors: amounts, shape (n, 96), float64.
        tc_kelvin: critical temperature, shape (n,).
        class_codes: 1 cuprate, 2 pnictide, 3 other, shape (n,).
        sha256: checksum of the source file.
        report: what the loader skipped or altered.
    """

    formulas: np.ndarray
    vectors: np.ndarray
    tc_kelvin: np.ndarray
    class_codes: np.ndarray
    sha256: str
    report: LoadReport

    def subset(self, model_class: str) -> "SuperConSet":
        """The compounds of one model class."""
        mask = np.isin(self.class_codes, get_model_class(model_class).supercon_codes)
        return SuperConSet(
            self.formulas[mask], self.vectors[mask], self.tc_kelvin[mask], self.class_codes[mask], self.sha256, self.report
        )


def _encode_row(formula: str, report: LoadReport) -> np.ndarray | None:
    """Vector of one data-file formula, or None with the reason noted in ``report``."""
    try:
        vector = parse_formula(formula, max_elements=N_ELEMENTS)
    except FormulaError as error:
        reason = str(error).split(": ", 1)[-1]
        if "unknown element symbol" in reason:
            reason = "placeholder symbol that is not an element"
        report.note(report.skipped, reason, formula)
        return None
    if np.any((vector > 0) & (vector < 1e-3)):
        report.note(report.flagged, "amount below 0.001 kept as written (SMACT integer ratio would be astronomical)", formula)
    return vector


def load_supercon(path: str | os.PathLike = DEFAULT_SUPERCON_PATH) -> SuperConSet:
    """Read ``SuperCon_with_types.dat`` (tab-separated: index, formula, Tc [K], class).

    Raises:
        InputError: if the file is missing or has no usable row.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"SuperCon file not found: {path}")
    report = LoadReport()
    formulas, vectors, tcs, codes = [], [], [], []
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            fields = line.rstrip("\n").split("\t")
            if len(fields) < 4:
                continue
            report.rows_read += 1
            formula = fields[1].strip()
            try:
                tc, code = float(fields[2]), int(fields[3])
            except ValueError:
                report.note(report.skipped, "Tc or class is not a number", formula)
                continue
            vector = _encode_row(formula, report)
            if vector is None:
                continue
            formulas.append(formula)
            vectors.append(vector)
            tcs.append(tc)
            codes.append(code)
    if not vectors:
        raise InputError(f"no usable SuperCon row in {path}")
    return SuperConSet(
        np.array(formulas), np.array(vectors), np.array(tcs), np.array(codes), sha256_of_file(path), report
    )


def vector_keys(vectors: np.ndarray, decimals: int = 2) -> list[bytes]:
    """Hashable key per row after rounding, for duplicate and novelty checks."""
    rounded = np.round(np.asarray(vectors, dtype=np.float64), decimals) + 0.0  # +0.0 folds -0.0
    return [row.tobytes() for row in rounded]


TRAINING_SET_FILE = Path("supercon") / "supercon.npz"
"""Where :func:`write_training_set` puts the encoded SuperCon set, inside a models folder."""


def write_training_set(dataset: SuperConSet, models_dir: str | os.PathLike) -> Path:
    """Save the encoded SuperCon set (formulas, vectors, Tc, class, source sha256) as a
    compressed ``.npz`` under ``models_dir``: the run-time copy used for novelty checks
    and maps, so the app never needs ``../shared``. Written atomically."""
    target = Path(models_dir) / TRAINING_SET_FILE
    save_npz_atomically(
        target,
        formulas=dataset.formulas.astype(str),
        vectors=dataset.vectors.astype(np.float64),
        tc_kelvin=dataset.tc_kelvin.astype(np.float32),
        class_codes=dataset.class_codes.astype(np.int8),
        sha256=np.array(dataset.sha256),
        report=np.array("\n".join(dataset.report.lines())),
    )
    return target


def load_training_set(models_dir: str | os.PathLike) -> SuperConSet:
    """Load the encoded SuperCon set written by :func:`write_training_set`.

    Raises:
        CheckpointError: naming the file and the command that rebuilds it.
    """
    path = Path(models_dir) / TRAINING_SET_FILE
    rebuild = f"superdiff prepare-data --supercon ../shared/data/supercon/SuperCon_with_types.dat --out {models_dir}"
    if not path.is_file():
        raise CheckpointError(f"missing {path}; rebuild it with: {rebuild}")
    try:
        with np.load(path, allow_pickle=False) as stored:
            report = LoadReport()
            return SuperConSet(
                stored["formulas"],
                stored["vectors"].astype(np.float64),
                stored["tc_kelvin"].astype(np.float64),
                stored["class_codes"].astype(np.int64),
                str(stored["sha256"]),
                report,
            )
    except (OSError, ValueError, KeyError) as error:
        raise CheckpointError(f"corrupt {path} ({error}); rebuild it with: {rebuild}") from None
