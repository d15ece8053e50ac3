"""The review keys (A, R, E, F, N, P, U) as application-level shortcuts of one window.

A window shortcut loses to a focused line edit: after typing a number in a filter spin box, A / R / N
went to the spin box and did nothing. Here an application event filter takes the key press first,
wherever the focus is inside the window, unless the focus is in a field that takes free text (a note);
spin boxes, combo boxes, lists, buttons and panes never need these letters.
"""

from __future__ import annotations

from typing import Callable

from PySide6 import QtCore, QtWidgets

_NO_MODIFIERS = QtCore.Qt.KeyboardModifier.NoModifier


def _takes_text(widget: QtWidgets.QWidget) -> bool:
    """A field where a letter is text: an editable line edit (not a spin box's) or text edit."""
    if isinstance(widget, (QtWidgets.QTextEdit, QtWidgets.QPlainTextEdit)):
        return not widget.isReadOnly()
    if isinstance(widget, QtWidgets.QLineEdit):
        return not widget.isReadOnly() and not isinstance(widget.parent(), QtWidgets.QAbstractSpinBox)
    return False


class ReviewKeys(QtCore.QObject):
    """Calls ``act(action)`` for a review key pressed anywhere in ``window`` while ``enabled()``."""

    def __init__(self, window: QtWidgets.QWidget, keys: dict[str, str], act: Callable[[str], None],
                 enabled: Callable[[], bool]) -> None:
        super().__init__(window)
        self.window = window
        self.keys = {int(getattr(QtCore.Qt.Key, f"Key_{k}").value): action for k, action in keys.items()}
        self.act = act
        self.enabled = enabled
        app = QtWidgets.QApplication.instance()
        if app is not None:
            app.installEventFilter(self)  # removed by Qt when this object goes with its window

    def action_for(self, widget: QtCore.QObject, event: QtCore.QEvent) -> str | None:
        """The review action a key event in ``widget`` stands for, or None when it is not one."""
        if not isinstance(widget, QtWidgets.QWidget) or widget.window() is not self.window:
            return None
        mods = event.modifiers() & ~QtCore.Qt.KeyboardModifier.KeypadModifier
        if mods != _NO_MODIFIERS:
            return None
        action = self.keys.get(int(event.key()))
        if action is None or _takes_text(widget) or QtWidgets.QApplication.activeModalWidget() is not None:
            return None
        return action if self.enabled() else None

    def eventFilter(self, obj: QtCore.QObject, event: QtCore.QEvent) -> bool:  # noqa: N802
        kind = event.type()
        if kind not in (QtCore.QEvent.Type.KeyPress, QtCore.QEvent.Type.ShortcutOverride):
            return False
        action = self.action_for(obj, event)
        if action is None:
            return False
        if kind == QtCore.QEvent.Type.ShortcutOverride:
            event.accept()  # ours: no other shortcut takes it, the key press comes here next
            return True
        if not event.isAutoRepeat():
            self.act(action)
        return True
