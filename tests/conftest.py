"""Shared fixtures: the committed checkpoints, loaded once per test session."""

from __future__ import annotations

import os

import pytest
import torch

from superdiff_core.artifacts import DEFAULT_MODELS_DIR
from superdiff_core.checkpoints import available_classes

# Tests run on the CPU with the committed artifacts; keep them quick and deterministic.
os.environ.setdefault("SUPERDIFF_DEVICE", "cpu")
torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))

PREFERRED_TEST_CLASSES = ("pnictides", "cuprates", "others", "everything")


@pytest.fixture(scope="session")
def test_class() -> str:
    """The smallest committed model class (pnictides trains and samples fastest)."""
    classes = available_classes(DEFAULT_MODELS_DIR)
    assert classes, f"no diffusion checkpoint committed under {DEFAULT_MODELS_DIR}/diffusion"
    return next(c for c in PREFERRED_TEST_CLASSES if c in classes)


@pytest.fixture(scope="session")
def engine(test_class):
    from superdiff_core.pipeline import load_engine

    return load_engine(test_class)


@pytest.fixture(scope="module")
def one_torch_thread():
    """Small runs are fastest on one thread, and the machine may be shared (modules opt in
    with ``pytestmark = pytest.mark.usefixtures("one_torch_thread")``)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def make_formation_data():
    """A factory ``(seed, n) -> FormationData`` of small synthetic formation-energy sets: one to three
    of nine elements per row, the energy a random linear function of the atomic fractions plus a
    -0.8 eV/atom step wherever element index 10 (Na) is present, so a network has something to learn."""
    import numpy as np

    from superdiff_core.properties.formation_training import FormationData

    def make(seed: int, n: int) -> FormationData:
        rng = np.random.default_rng(seed)
        vectors = np.zeros((n, 96))
        for row in vectors:
            chosen = rng.choice([2, 3, 10, 11, 12, 13, 25, 28, 55], size=rng.integers(1, 4), replace=False)
            row[chosen] = rng.integers(1, 4, size=len(chosen))
        energies = -0.8 * (vectors[:, 10] > 0) + (vectors / vectors.sum(1, keepdims=True)) @ rng.normal(size=96) * 0.1
        return FormationData(np.array([f"row{i}" for i in range(n)]), vectors, energies, "", None)

    return make
