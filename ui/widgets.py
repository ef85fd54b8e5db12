"""The pages' shared widgets under one name: inputs (:mod:`ui.inputs`), the run with its
progress and Stop (:mod:`ui.running`), and the results section (:mod:`ui.results`).

Kept so pages that import ``ui.widgets`` go on working; new code imports the module it needs.
"""

from __future__ import annotations

from .inputs import (  # noqa: F401
    METHODS,
    STEER_MAX,
    STEER_SLIDERS,
    advanced_inputs,
    class_label,
    device_caption,
    model_class_picker,
    sampling_inputs,
    steer_key,
    steering_inputs,
)
from .results import (  # noqa: F401
    changed_inputs,
    changed_inputs_of_runs,
    history_section,
    partial_notice,
    show_results,
    show_run_results,
    stale_notice,
)
from .running import (  # noqa: F401
    clear_confirmation,
    confirmed_by_click,
    cost_and_confirm,
    estimated_seconds,
    run_in_progress,
    show_active_run,
    show_unexpected,
    start_run,
)
