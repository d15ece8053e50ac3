"""Every key the app handles, collected from where the code binds it (so the help cannot drift):
the QActions of the open windows (menus, toolbars, window-wide actions), the key table every image pane
dispatches on (``PANE_KEYS``) and the review queue's keys (``REVIEW_KEYS``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from PySide6 import QtCore, QtGui, QtWidgets

from liverview.ui.panes.slice_pane import PANE_KEYS
from liverview.ui.review.review_controller import REVIEW_KEYS

_NATIVE = QtGui.QKeySequence.SequenceFormat.NativeText

# What each review action does, for the help; the keys themselves come from REVIEW_KEYS.
_REVIEW_WHAT = {
    "accept": "accept the current proposal", "reject": "reject the current proposal",
    "edit": "edit the current proposal's RECIST", "flag": "flag the current proposal for a second look",
    "next": "next proposal", "previous": "previous proposal", "undo": "undo the last review decision",
}
PANE_WHERE = "Image pane (with keyboard focus)"
REVIEW_WHERE = "Review queue (while its dock is shown; not in text fields)"


@dataclass(frozen=True)
class Shortcut:
    """One row of the help: the key(s) as the platform writes them, what they do, and where they work."""

    keys: str
    what: str
    where: str


def key_text(key: QtCore.Qt.Key) -> str:
    """A single key as the platform names it ("PgUp", "Home", "A")."""
    return QtGui.QKeySequence(QtCore.QKeyCombination(key)).toString(_NATIVE)


def _plain(text: str) -> str:
    return text.replace("&", "").removesuffix("...").strip()


def _where_of(action: QtGui.QAction, window: QtWidgets.QWidget) -> str:
    """The menu (or toolbar) an action sits in, else the window itself."""
    for obj in action.associatedObjects():
        if isinstance(obj, QtWidgets.QMenu) and obj.title():
            return f"{_plain(obj.title())} menu"
    for obj in action.associatedObjects():
        if isinstance(obj, QtWidgets.QToolBar):
            return f"{obj.windowTitle() or 'Tool'} toolbar"
    return f"{_plain(window.windowTitle()) or 'Window'} (anywhere in the window)"


def action_shortcuts(window: QtWidgets.QWidget) -> list[Shortcut]:
    """Every QAction with a shortcut under ``window`` (its menus, toolbars, docks and own actions)."""
    rows = []
    seen: set[int] = set()
    for action in window.findChildren(QtGui.QAction):
        if id(action) in seen or not action.shortcuts():
            continue
        seen.add(id(action))
        keys = ", ".join(seq.toString(_NATIVE) for seq in action.shortcuts())
        rows.append(Shortcut(keys, _plain(action.text()), _where_of(action, window)))
    return rows


def pane_shortcuts() -> list[Shortcut]:
    return [Shortcut(" / ".join(key_text(k) for k in b.keys), b.what, PANE_WHERE) for b in PANE_KEYS]


def review_shortcuts() -> list[Shortcut]:
    return [Shortcut(letter, _REVIEW_WHAT.get(action, action), REVIEW_WHERE) for letter, action in REVIEW_KEYS.items()]


def collect_shortcuts(windows: Iterable[QtWidgets.QWidget]) -> list[Shortcut]:
    """All keys: the actions of ``windows`` first, then the pane and review keys."""
    rows: list[Shortcut] = []
    for window in windows:
        rows += action_shortcuts(window)
    return rows + pane_shortcuts() + review_shortcuts()


def clashes(rows: list[Shortcut]) -> dict[str, list[Shortcut]]:
    """Single keys bound in more than one place (e.g. R: reset a pane, reject in the review): the help
    says which one wins where."""
    by_key: dict[str, list[Shortcut]] = {}
    for row in rows:
        for key in {k.strip() for part in row.keys.split(",") for k in part.split(" / ")}:
            by_key.setdefault(key, []).append(row)
    return {k: v for k, v in by_key.items() if len({r.where for r in v}) > 1}
