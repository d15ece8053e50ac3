#!/usr/bin/env bash
# Install LiverView into .venv (system libraries for headless Qt/VTK too, when we are root).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}

if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
    need=""
    for pkg in xvfb libxcb-icccm4 libxcb-keysyms1 libosmesa6 libgl1 libegl1 libxkbcommon0 libfontconfig1 libdbus-1-3 dicom3tools dcmtk; do
        dpkg -s "$pkg" >/dev/null 2>&1 || need="$need $pkg"
    done
    if [ -n "$need" ]; then
        echo "apt: installing$need"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $need >/dev/null
    fi
fi

if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
fi
# torch is bounded in pyproject (<2.14): a CPU build installs fast; see README for CUDA.
.venv/bin/python -m pip install -q -e ".[test]"
.venv/bin/python -c "import liverview, torch, PySide6, pyqtgraph, vtk, SimpleITK, pydicom" \
    || { echo "setup: the installation is incomplete" >&2; exit 1; }
