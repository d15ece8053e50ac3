"""Shared test set-up: headless Qt, paths to the real data beside the repository."""

import os
import sys
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


@pytest.fixture(autouse=True)
def _collect_after_gui_tests():
    """Once a UI test has started a worker, Python collects cycles only on the GUI thread's timer
    (liverview.ui.gui_thread_gc); tests that spin no event loop afterwards collect at their end instead."""
    yield
    gui_gc = sys.modules.get("liverview.ui.gui_thread_gc")
    if gui_gc is not None and gui_gc.collects_on_the_gui_thread():
        gui_gc.collect_if_due()
