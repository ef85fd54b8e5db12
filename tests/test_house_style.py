"""House style as a gate (issue 21.7): what ruff cannot check.

A function-local import of one of the project's own modules is allowed only when it defers
something heavy: the imported module, by its own top-level imports (followed through the
project), pulls in a library outside Python's standard library (numpy, pandas, torch, …). A
function-local import of a light module only hides a dependency (or a cycle) and goes to the top.
"""

from __future__ import annotations

import ast
import functools
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("superdiff_core", "ui", "app_pages")
STDLIB = frozenset(sys.stdlib_module_names) | {"__future__"}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def project_files() -> dict[str, Path]:
    files = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            files[module_name(path)] = path
    return files


def absolute(module: str, node: ast.ImportFrom | ast.Import, is_package: bool) -> list[str]:
    """The absolute module names an import statement in ``module`` names (a `from x import y`
    may import the submodule x.y, so both are returned)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = node.module or ""
    if node.level:
        anchor = module.split(".")
        anchor = anchor if is_package else anchor[:-1]
        anchor = anchor[: len(anchor) - (node.level - 1)]
        base = ".".join([*anchor, base] if base else anchor)
    return [base] + [f"{base}.{alias.name}" for alias in node.names]


def imports(module: str, top_level: bool) -> list[tuple[int, list[str]]]:
    """(line, the absolute modules it may name) of each import statement of ``module``, at top
    level (not under ``if TYPE_CHECKING``) or inside functions."""
    path = project_files()[module]
    tree = ast.parse(path.read_text())
    is_package = path.name == "__init__.py"
    found = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                continue
            if isinstance(child, (ast.Import, ast.ImportFrom)) and in_function != top_level:
                found.append((child.lineno, absolute(module, child, is_package)))
            visit(child, in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)))

    visit(tree, False)
    return found


@functools.cache
def heavy_reason(module: str, seen: frozenset[str] = frozenset()) -> str | None:
    """The first library outside the standard library that importing ``module`` loads, or None."""
    files = project_files()
    for _, names in imports(module, top_level=True):
        for name in names:
            root = name.split(".")[0]
            if name in files:
                if name not in seen and name != module:
                    reason = heavy_reason(name, seen | {module})
                    if reason:
                        return reason
            elif root not in PACKAGES and root not in STDLIB:
                return root
    return None


def test_function_local_imports_of_the_project_defer_something_heavy():
    files = project_files()
    light = []
    for module in sorted(files):
        at_top = {name for _, names in imports(module, top_level=True) for name in names}
        for line, names in imports(module, top_level=False):
            own = [name for name in names if name in files]
            if own and not any(heavy_reason(name) for name in own):
                light.append(f"{files[module].relative_to(ROOT)}:{line} imports {own[-1]} inside a function, but it is light")
            elif own and own[-1] in at_top:
                light.append(f"{files[module].relative_to(ROOT)}:{line} imports {own[-1]} inside a function, "
                             "but the module already imports it")
    assert not light, "\n".join(light)


def test_the_rule_sees_a_heavy_module_and_a_light_one():
    assert heavy_reason("superdiff_core.sampler") is not None  # imports torch
    assert heavy_reason("superdiff_core.errors") is None
