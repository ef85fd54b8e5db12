#!/usr/bin/env bash
# Set up and start the app (http://localhost:8501).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec python3 -m streamlit run app.py "$@"
