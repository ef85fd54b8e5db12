"""The GPU check script runs end to end (on the CPU here; issue 20 item 7)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_gpu_check_runs_on_cpu_and_reports_its_figures(tmp_path):
    out = tmp_path / "gpu.json"
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "gpu_check.py"), "--device", "cpu", "--samples", "16",
         "--agreement-samples", "16", "--batch-size", "16", "--json", str(out)],
        capture_output=True, text=True, timeout=600, env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(out.read_text())
    assert report["agree"] and report["eps_max_abs_difference_vs_cpu"] == 0.0
    for name in ("unconditional", "ilvr"):
        assert report[name]["samples"] == 16 and report[name]["candidates_per_s"] > 0
    assert report["batch_size"] == 16
