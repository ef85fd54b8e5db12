"""What the README and the set-up scripts claim is what the repository does."""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def page_constant(page: str, name: str):
    """A literal constant of an app page, read without running Streamlit."""
    tree = ast.parse((ROOT / page).read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == name for t in node.targets):
            return ast.literal_eval(node.value)
    raise AssertionError(f"{page} has no {name}")


def test_the_two_commands_for_a_fresh_machine():
    section = README.split("## Two commands", 1)[1].split("\n## ", 1)[0]
    commands = [line.strip() for line in section.splitlines() if line.startswith("    bash ")]
    assert commands == ["bash scripts/app.sh", "bash scripts/test.sh"]
    assert "bash scripts/setup.sh" in (ROOT / "scripts/app.sh").read_text()
    assert "setup.sh --browser" in (ROOT / "scripts/test.sh").read_text()


def test_torch_is_the_cpu_build_as_the_readme_says():
    requirements = (ROOT / "requirements.txt").read_text().splitlines()
    options = [line for line in requirements if line.startswith("--")]
    assert options == ["--extra-index-url https://download.pytorch.org/whl/cpu"]  # where pip finds 2.13.0+cpu
    assert "torch==2.13.0" in requirements
    assert "**CPU build**" in README and "--extra-index-url" in README
    setup = (ROOT / "scripts/setup.sh").read_text()
    assert "-r requirements.txt" in setup and "CUDA build on Linux unless" not in setup


def test_a_virtual_environment_is_ignored():
    assert ".venv/" in (ROOT / ".gitignore").read_text().splitlines()


def test_the_readme_says_the_app_opens_a_browser_only_if_it_does():
    config = tomllib.loads((ROOT / ".streamlit/config.toml").read_text())
    headless = config["server"]["headless"]
    opens = [README[max(0, m.start() - 120):m.end()] for m in re.finditer(r"\b(?:opens|will open|is opened)\b[^.]{0,40}browser", README)]
    if headless:  # only where the reader turns headless off
        assert all("--server.headless false" in context for context in opens), opens
        assert "runs headless" in README
    else:
        assert opens


def test_the_first_run_example_is_an_example_button():
    examples = page_constant("app_pages/generate.py", "EXAMPLES")
    named = re.findall(r"the (\S+) example button", README)
    assert named and all(formula in examples.values() for formula in named), named
