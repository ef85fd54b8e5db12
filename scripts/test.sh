#!/usr/bin/env bash
# Set up (including the browser for the end-to-end test), lint, and run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --browser
python3 -m ruff check .
python3 -m pytest -q "$@"
