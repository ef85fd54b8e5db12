"""The property models' view of :mod:`superdiff_core.artifacts` (where the helpers live)."""

from ..artifacts import (  # noqa: F401  (re-exported for the property modules)
    CARD_FILE,
    command_line,
    default_models_dir,
    read_card,
    required_file,
    save_npz_atomically,
    write_card,
)
