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
from superdiff_core.device import describe_device, select_device
from superdiff_core.run_worker import WorkerPool, configured_threads

MODELS_DIR_VARIABLE = "SUPERDIFF_MODELS_DIR"


def models_dir() -> Path:
    """The models folder the app reads."""
    return Path(os.environ.get(MODELS_DIR_VARIABLE) or DEFAULT_MODELS_DIR)


@st.cache_resource(show_spinner=False)
def configure_torch() -> int:
    """Set the server's own torch threads once per process, as the run workers do
    (``SUPERDIFF_TORCH_THREADS``, else all cores but one: :func:`superdiff_core.run_worker.configured_threads`);
    returns the number used. The server itself only scores screened lists and maps."""
    import torch

    threads = configured_threads()
    torch.set_num_threads(threads)
    return threads


def trained_classes() -> list[str]:
    """Model classes with a diffusion checkpoint (checked on every call: cheap)."""
    return available_classes(models_dir())


@st.cache_resource(show_spinner="Loading the diffusion model…", max_entries=8)
def engine(model_class: str, folder: str, element_order: str = "z"):
    """The sampling engine of one class whose network reads the element axis in
    ``element_order`` (checkpoint, sampler, training-set keys)."""
    from superdiff_core.pipeline import load_engine

    return load_engine(model_class, folder, select_device(), element_order)


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


@st.cache_resource(show_spinner="Loading the known OQMD phases…", max_entries=2)
def known_phases(folder: str):
    """The known phases for hull distances, loaded once: their phase diagrams are cached on the object."""
    from superdiff_core.stability import load_known_phases

    return load_known_phases(folder)


def run_models(folder: str, model_class: str | None, with_map: bool = True):
    """The optional models of a run (cached ones), with a note for each that is missing."""
    from superdiff_core.run import load_run_models

    return load_run_models(folder, model_class, with_map, load_properties=property_models, load_map=class_map,
                           load_phases=known_phases)


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
    return describe_device(select_device())


def read_json_card(*parts: str) -> dict:
    """A ``card.json`` under the models folder, or {} when absent or unreadable."""
    path = models_dir().joinpath(*parts)
    return read_card(path.parent) if path.name == "card.json" else {}


@st.cache_resource(show_spinner=False)
def run_pool():
    """The server's worker processes that run generations (one pool shared by all sessions;
    each worker loads a class's models once, :mod:`superdiff_core.run_worker`)."""
    return WorkerPool()
