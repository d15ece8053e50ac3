"""Keeps the 3D view's proposal boxes and RECIST axes in step with the open study.

Anything may have changed (a store change, queue navigation, a study opened, the 3D view created):
``request`` asks for one update from the event loop, which reads the project as it is then.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6 import QtCore

from liverview.review.scene_items import SceneOverlays, overlays_from_records
from liverview.store.records import StoreError

if TYPE_CHECKING:
    from liverview.ui.main_window import MainWindow


class VolumeOverlaySync:
    def __init__(self, window: "MainWindow") -> None:
        self.window = window
        self._pending = False

    def request(self) -> None:
        """One update soon, however many changes come before it (no work when there is no 3D view)."""
        if self._pending or getattr(self.window, "volume_view", None) is None:
            return
        self._pending = True
        QtCore.QTimer.singleShot(0, self.update)

    def update(self) -> None:
        self._pending = False
        view = getattr(self.window, "volume_view", None)
        if view is not None:
            view.set_overlays(self.current_overlays())

    def current_overlays(self) -> SceneOverlays:
        """The open study's proposals and lesions; nothing when no study or project is open."""
        session, review = self.window.session, getattr(self.window, "review", None)
        if session is None or self.window.study is None:
            return SceneOverlays()
        queue = None if review is None else review.queue
        current = None if queue is None or queue.current is None else queue.current.id
        try:
            proposals = session.project.list_proposals(session.study_id)
            lesions = session.project.list_lesions(session.study_id)
        except StoreError:  # the project was closed under us: draw nothing rather than fail
            return SceneOverlays()
        return overlays_from_records(proposals, lesions, current)
