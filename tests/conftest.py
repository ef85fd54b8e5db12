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
