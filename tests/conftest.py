"""Shared test set-up: headless Qt, paths to the real data beside the repository."""

import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# VTK's default EGL window draws garbage offscreen; OSMesa renders correctly (needs libosmesa6).
os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkOSOpenGLRenderWindow")

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture
def shared_data() -> Path:
    """../shared/data, or a skip with the reason when this checkout has none beside it."""
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is not present beside this checkout")
    return SHARED_DATA


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory, monkeypatch):
    """Projects, demo studies and registration caches of a test go to a temporary folder."""
    monkeypatch.setenv("LIVERVIEW_CACHE", str(tmp_path_factory.mktemp("liverview-cache")))


@pytest.fixture(autouse=True)
def _fixed_terminal_width(monkeypatch):
    """Progress lines are cut to the terminal's width (COLUMNS, which gdb and some CI runners set): every test
    reads them at one width, whatever runs it."""
    monkeypatch.setenv("COLUMNS", "160")
