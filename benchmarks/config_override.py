"""``--set NAME=VALUE`` for the benchmarks that try variants of a model's configuration dataclass."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import fields


def override_parser(config_class: type) -> Callable[[str], tuple[str, object]]:
    """An argparse ``type`` reading ``NAME=VALUE`` into (name, value) for a field of ``config_class``,
    the value converted to the field's int or float type (else kept as text)."""
    kinds = {field.name: str(field.type) for field in fields(config_class)}

    def parse(text: str) -> tuple[str, object]:
        name, _, value = text.partition("=")
        if name not in kinds:
            raise argparse.ArgumentTypeError(f"unknown setting {name!r}; choose from {', '.join(kinds)}")
        return name, {"int": int, "float": float}.get(kinds[name], str)(value)

    return parse
