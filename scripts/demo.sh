#!/usr/bin/env bash
# Set up, then open the app on the synthetic 4-phase demo study.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python main.py --demo "$@"
