#!/usr/bin/env bash
# Set up (scripts/setup.sh), check the import contract, run every test headless.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export QT_QPA_PLATFORM=offscreen
export VTK_DEFAULT_OPENGL_WINDOW=vtkOSOpenGLRenderWindow
.venv/bin/lint-imports
.venv/bin/python -m pytest -q "$@"
