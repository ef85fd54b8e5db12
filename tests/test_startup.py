"""Start-up: light imports (issue 20.3) and the load-aware thread default (issue 20.6).

The import checks run in a fresh interpreter, so this test process's own imports do not mask them.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from superdiff_core.device import threads_for_load

HEAVY = ("torch", "sklearn")


def heavy_modules_after(code: str, heavy: tuple[str, ...] = HEAVY) -> list[str]:
    """The ``heavy`` modules a fresh interpreter holds after running ``code``."""
    script = f"import sys\n{code}\nprint(' '.join(m for m in {heavy!r} if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    return result.stdout.split()


def test_importing_the_package_and_the_cli_imports_no_torch():
    assert heavy_modules_after("import superdiff_core, superdiff_core.cli, superdiff_core.device") == []
    assert heavy_modules_after("from superdiff_core import InputError, MODEL_CLASSES") == []


def test_building_the_parser_imports_no_torch():
    assert heavy_modules_after("from superdiff_core.cli import build_parser\nbuild_parser()") == []


def test_campaign_package_imports_no_torch_and_no_ray():
    assert heavy_modules_after("import superdiff_core.campaign", HEAVY + ("ray",)) == []


def test_help_and_campaign_status_and_report_import_no_torch(tmp_path):
    from superdiff_core import campaign

    plan = campaign.plan_from_mapping({"model": "pnictides", "references": ["BaFe2As2"], "scale_factors": [2],
                                       "samples": 1, "batch": 1, "steps": 5, "properties": False})
    campaign.open_campaign(tmp_path / "run", plan)
    for argv in (["--help"], ["campaign", "status", str(tmp_path / "run")],
                 ["campaign", "report", str(tmp_path / "run"), "--out", str(tmp_path / "report")]):
        code = ("import contextlib, io\nfrom superdiff_core.cli import main\n"
                f"with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n    main({argv!r})")
        assert heavy_modules_after(code, HEAVY + ("ray",)) == [], argv


def test_lazy_package_names_resolve():
    import superdiff_core

    assert superdiff_core.InputError.__name__ == "InputError"
    with pytest.raises(AttributeError):
        superdiff_core.no_such_name  # noqa: B018


@pytest.mark.parametrize("cores, load, threads", [(2, 0.0, 2), (2, 0.4, 2), (2, 0.8, 1), (2, 5.0, 1), (16, 3.2, 13), (1, 0.0, 1)])
def test_thread_default_leaves_busy_cores_alone(cores, load, threads):
    assert threads_for_load(cores, load) == threads
