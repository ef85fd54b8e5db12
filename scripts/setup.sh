#!/usr/bin/env bash
# Install everything SuperDiff needs on a fresh machine: Python packages from
# requirements.txt (torch==2.13.0 as its CPU build, from the PyTorch CPU wheel index that
# requirements.txt adds, or a local wheel that pip's find-links names; SUPERDIFF_TORCH_INDEX_URL
# installs torch from another index first, e.g. a CUDA build, see README "A GPU?"), the package
# itself (the `superdiff` command), and, with --browser, Chromium and Playwright for the
# end-to-end test.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ -n "${SUPERDIFF_TORCH_INDEX_URL:-}" ]]; then
  # another build than the CPU one: replace a CPU build (or none) once; a build of that index stays
  installed=$(python3 -c "import importlib.metadata as m; print(m.version('torch'))" 2>/dev/null || true)
  if [[ -z "$installed" || ( "$installed" == *+cpu && "${SUPERDIFF_TORCH_INDEX_URL%/}" != */cpu ) ]]; then
    python3 -m pip install --quiet --disable-pip-version-check --force-reinstall torch==2.13.0 --index-url "$SUPERDIFF_TORCH_INDEX_URL"
  fi
fi
python3 -m pip install --quiet --disable-pip-version-check -r requirements.txt
python3 -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
if [[ "${1:-}" == "--browser" ]]; then
  if ! command -v chromium >/dev/null 2>&1; then
    if [[ $(id -u) -eq 0 ]]; then
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
    else
      sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
    fi
  fi
  python3 -m pip install --quiet --disable-pip-version-check -r requirements-browser.txt
fi
