"""Loaded models and data, cached once per server process with ``st.cache_resource``.

Every object cached here is shared by all sessions and only read afterwards: sampling
draws its noise from a generator of its own (per call), the property models and maps are
read-only. A missing artifact raises :class:`~superdiff_core.errors.CheckpointError`,
which ``st.cache_resource`` does not cache, so it is retried once the file appears.

The models folder is the repository's ``checkpoints/`` unless ``SUPERDIFF_MODELS_DIR``
points elsewhere (the CLI's ``--models``).
"""

from __future__ import annotations

import os
from pathlib import Path

import streamlit as st

from superdiff_core.artifacts import DEFAULT_MODELS_DIR, read_card
from superdiff_core.checkpoints import available_classes

MODELS_DIR_VARIABLE = "SUPERDIFF_MODELS_DIR"
TORCH_THREADS_VARIABLE = "SUPERDIFF_TORCH_THREADS"
"""Intra-op threads of torch in the app. The default leaves one core to the server, so the
progress line keeps moving: on 2 cores, 2 torch threads were no faster than 1 and let the
progress stall for 3 s, 1 thread updated it every 0.25 s (benchmarks/app.md)."""


def default_torch_threads() -> int:
    """All cores but one (at least one)."""
    return max(1, (os.cpu_count() or 1) - 1)


def models_dir() -> Path:
    """The models folder the app reads."""
    return Path(os.environ.get(MODELS_DIR_VARIABLE) or DEFAULT_MODELS_DIR)


@st.cache_resource(show_spinner=False)
def configure_torch() -> int:
    """Set torch's threads once per process (``SUPERDIFF_TORCH_THREADS``, else
    :func:`default_torch_threads`); returns the number used."""
    import torch

    value = os.environ.get(TORCH_THREADS_VARIABLE, "").strip()
    threads = int(value) if value.isdigit() and int(value) > 0 else default_torch_threads()
    torch.set_num_threads(threads)
    return threads


def trained_classes() -> list[str]:
    """Model classes with a diffusion checkpoint (checked on every call: cheap)."""
    return available_classes(models_dir())


@st.cache_resource(show_spinner="Loading the diffusion model…", max_entries=8)
def engine(model_class: str, folder: str):
    """The sampling engine of one class (checkpoint, sampler, training-set keys)."""
    from superdiff_core.device import select_device
    from superdiff_core.pipeline import load_engine

    return load_engine(model_class, folder, select_device())


@st.cache_resource(show_spinner="Loading the property models…")
def property_models(folder: str):
    """Superconductor classifier, Tc regressor and formation-energy model."""
    from superdiff_core.properties import load_property_models

    return load_property_models(folder)


@st.cache_resource(show_spinner="Loading the SuperCon map…", max_entries=8)
def class_map(folder: str, model_class: str):
    """The t-SNE map of one class's SuperCon compounds."""
    from superdiff_core.maps import load_class_map

    return load_class_map(folder, model_class)


def run_models(folder: str, model_class: str | None, with_map: bool = True):
    """The optional models of a run (cached ones), with a note for each that is missing."""
    from superdiff_core.run import load_run_models

    return load_run_models(folder, model_class, with_map, load_properties=property_models, load_map=class_map)


@st.cache_resource(show_spinner=False, max_entries=8)
def map_points(folder: str, model_class: str):
    """The SuperCon points of a class map as a table (built once per class)."""
    return class_map(folder, model_class).reference_table()


@st.cache_resource(show_spinner="Loading SuperCon…")
def training_set(folder: str):
    """The encoded SuperCon set (formulas, vectors, Tc, class codes)."""
    from superdiff_core.data import load_training_set

    return load_training_set(folder)


@st.cache_resource(show_spinner=False)
def device_description() -> str:
    """"GPU: name" or "CPU (N threads)"."""
    from superdiff_core.device import describe_device, select_device

    return describe_device(select_device())


def read_json_card(*parts: str) -> dict:
    """A ``card.json`` under the models folder, or {} when absent or unreadable."""
    path = models_dir().joinpath(*parts)
    return read_card(path.parent) if path.name == "card.json" else {}


RATE_SAMPLES, RATE_STEPS = 250, 4
"""The tiny sampling call timed once per class to estimate run times."""


@st.cache_resource(show_spinner="Measuring the sampling speed of this machine…", max_entries=8)
def sampling_rate(model_class: str, folder: str) -> float:
    """Sample-steps per second of the class's model on this machine: one tiny
    unconditional call (:data:`RATE_SAMPLES` × :data:`RATE_STEPS`), timed once per process.
    A rough figure: the machine may be shared, and ILVR adds a little per step."""
    import time

    sampler = engine(model_class, folder).sampler
    start = time.perf_counter()
    sampler.sample(RATE_SAMPLES, RATE_STEPS, seed=0)
    return RATE_SAMPLES * RATE_STEPS / max(time.perf_counter() - start, 1e-6)
