"""What the main window keeps between sessions in QSettings: its layout (geometry, docks, toolbars), the
window/level preset last chosen, and the last folder of each file dialog.

The QSettings object is handed in: the app passes the user's (``user_settings()``), tests an ini file of
their own, so a test never reads or writes the user's settings. A window given none keeps nothing."""

from __future__ import annotations

from pathlib import Path

from PySide6 import QtCore, QtWidgets

LAYOUT_VERSION = 1  # raise when docks or toolbars change so much that an old saved state no longer fits


def user_settings() -> QtCore.QSettings:
    """The user's settings (the platform's place: ~/.config/LiverView/LiverView.conf on Linux)."""
    return QtCore.QSettings(QtCore.QSettings.Format.IniFormat, QtCore.QSettings.Scope.UserScope,
                            "LiverView", "LiverView")


def ini_settings(path: Path) -> QtCore.QSettings:
    """Settings in an explicit ini file (tests, or a portable install)."""
    return QtCore.QSettings(str(path), QtCore.QSettings.Format.IniFormat)


class WindowSettings:
    def __init__(self, settings: QtCore.QSettings) -> None:
        self.settings = settings

    # --- layout -------------------------------------------------------------------------------
    def save_layout(self, window: QtWidgets.QMainWindow) -> None:
        self.settings.setValue("window/geometry", window.saveGeometry())
        self.settings.setValue("window/state", window.saveState(LAYOUT_VERSION))
        self.settings.sync()

    def restore_layout(self, window: QtWidgets.QMainWindow) -> bool:
        """Put the window, its docks and toolbars back where they were; False when nothing (usable) is kept."""
        geometry = self.settings.value("window/geometry")
        state = self.settings.value("window/state")
        restored = False
        if isinstance(geometry, QtCore.QByteArray) and not geometry.isEmpty():
            restored = window.restoreGeometry(geometry)
        if isinstance(state, QtCore.QByteArray) and not state.isEmpty():
            restored = window.restoreState(state, LAYOUT_VERSION) and restored
        return restored

    # --- window / level -------------------------------------------------------------------------
    def preset_name(self) -> str | None:
        value = self.settings.value("view/preset")
        return str(value) if value else None

    def set_preset_name(self, name: str) -> None:
        self.settings.setValue("view/preset", name)

    # --- file dialogs ---------------------------------------------------------------------------
    def last_folder(self, kind: str) -> str:
        """The folder a dialog of this kind ("open-dicom", "open-volumes", "import", "export") last used, if it
        still exists; else "" (Qt's default)."""
        value = self.settings.value(f"folders/{kind}")
        return str(value) if value and Path(str(value)).is_dir() else ""

    def set_last_folder(self, kind: str, folder: str | Path) -> None:
        self.settings.setValue(f"folders/{kind}", str(folder))
