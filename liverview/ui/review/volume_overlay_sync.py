"""Keeps the 3D view's proposal boxes and RECIST axes in step with the open study.

Anything may have changed (a store change, queue navigation, a study opened, the 3D view created):
``request`` asks for one update from the event loop, which reads the project as it is then.
"""

from __future__ import annotations

from typing import Callable

from PySide6 import QtCore

from liverview.review.scene_items import SceneOverlays, overlays_from_records
from liverview.store.records import StoreError
from liverview.ui.window_services import SceneHost


class VolumeOverlaySync:
    """Reads the open study and its 3D view from ``host``; ``current_proposal`` gives the id of the proposal
    under review (drawn highlighted), or None."""

    def __init__(self, host: SceneHost, current_proposal: Callable[[], int | None]) -> None:
        self.host = host
        self.current_proposal = current_proposal
        self._pending = False

    def request(self) -> None:
        """One update soon, however many changes come before it (no work when there is no 3D view)."""
        if self._pending or self.host.volume_view is None:
            return
        self._pending = True
        QtCore.QTimer.singleShot(0, self.update)

    def update(self) -> None:
        self._pending = False
        view = self.host.volume_view
        if view is not None:
            view.set_overlays(self.current_overlays())

    def current_overlays(self) -> SceneOverlays:
        """The open study's proposals and lesions; nothing when no study or project is open."""
        session = self.host.session
        if session is None or self.host.study is None:
            return SceneOverlays()
        try:
            proposals = session.project.list_proposals(session.study_id)
            lesions = session.project.list_lesions(session.study_id)
        except StoreError:  # the project was closed under us: draw nothing rather than fail
            return SceneOverlays()
        return overlays_from_records(proposals, lesions, self.current_proposal())
