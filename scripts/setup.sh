#!/usr/bin/env bash
# Install everything SuperDiff needs on a fresh machine: Python packages from
# requirements.txt (torch==2.13.0: the CUDA build on Linux unless SUPERDIFF_TORCH_INDEX_URL
# names PyTorch's CPU wheel index, see README "No GPU?"), the package itself (the `superdiff`
# command), and, with --browser, Chromium and Playwright for the end-to-end test.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ -n "${SUPERDIFF_TORCH_INDEX_URL:-}" ]]; then
  python3 -m pip install --quiet --disable-pip-version-check torch==2.13.0 --index-url "$SUPERDIFF_TORCH_INDEX_URL"
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
