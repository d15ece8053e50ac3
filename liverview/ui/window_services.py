"""What the controllers of the main window use of it, as small protocols, so that they receive the window
instead of importing it: the main window composes them and satisfies these; a test may pass a stand-in.

Qt chrome (the dock, menu, status bar, key and dialog parent) comes separately, as a plain QMainWindow.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from PySide6 import QtGui

    from liverview.core.study import Study
    from liverview.core.view_state import ViewState
    from liverview.review.scene_items import SceneOverlays
    from liverview.ui.annotation_session import AnnotationSession
    from liverview.ui.pane_grid import PaneGrid


class Messages(Protocol):
    """Telling the user: a line in the status bar, or a non-blocking error."""

    def notify(self, text: str) -> None: ...

    def show_error(self, title: str, text: str) -> None: ...


class StudyHost(Messages, Protocol):
    """The study open now and its project session (None when there is none, or its project could not be
    opened). Both change whenever another study is opened: read them when needed, never keep them."""

    @property
    def study(self) -> Study | None: ...

    @property
    def session(self) -> AnnotationSession | None: ...


class SceneView(Protocol):
    """A view that draws proposal boxes and RECIST axes in 3D (the VTK volume view)."""

    def set_overlays(self, overlays: SceneOverlays) -> None: ...


class SceneHost(StudyHost, Protocol):
    """The open study and the 3D view (None until it is first shown)."""

    @property
    def volume_view(self) -> SceneView | None: ...


class ReviewHost(SceneHost, Protocol):
    """What the review uses beyond the open study and the 3D view: the panes and their shared view state,
    and the RECIST tool's toggle."""

    @property
    def grid(self) -> PaneGrid: ...

    @property
    def state(self) -> ViewState: ...

    @property
    def measure_action(self) -> QtGui.QAction: ...
