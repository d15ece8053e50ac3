"""Glue between one open project and the viewer: RECIST tool in the panes, lesion list, undo/redo."""

from __future__ import annotations

from liverview.annotate.recist_editor import RecistEditor
from liverview.core.view_state import ViewState
from liverview.store.project import Project
from liverview.store.records import LesionRecord, StoreChange
from liverview.ui.pane_grid import PaneGrid
from liverview.ui.panels.lesion_list import LesionListPanel, lesion_focus_point
from liverview.ui.tools.recist_tool import RecistTool


class AnnotationSession:
    """Everything the user edits on one study; every edit goes to the project at once."""

    def __init__(self, project: Project, study_id: int, grid: PaneGrid, state: ViewState,
                 panel: LesionListPanel, on_error=lambda message: None) -> None:
        self.project = project
        self.study_id = study_id
        self.grid = grid
        self.state = state
        self.panel = panel
        self.editor = RecistEditor(project, study_id)
        self.tool = RecistTool(self.editor, grid.panes)
        self.tool.on_selection = self.panel.select_id
        self.tool.on_error = on_error
        panel.on_selected = self._row_selected
        panel.on_class_chosen = lambda lesion_id, cls: self.project.update_lesion(lesion_id, lesion_class=cls)
        panel.on_delete = self._delete
        self._unsubscribe = project.subscribe(self._on_store_change)
        self.refresh_panel()

    def close(self) -> None:
        self._unsubscribe()
        self.tool.close()
        self.project.close()

    def set_measuring(self, on: bool) -> None:
        self.tool.set_active(on)

    def refresh_panel(self) -> None:
        self.panel.show_lesions(self.project.list_lesions(self.study_id), self.editor.selected_id)

    def _on_store_change(self, change: StoreChange) -> None:
        self.refresh_panel()

    def _row_selected(self, lesion: LesionRecord | None) -> None:
        self.tool.select(None if lesion is None else lesion.id)
        point = None if lesion is None else lesion_focus_point(lesion)
        if point is not None and self.grid.panes:
            self.state.set_focus(self.grid.panes[0].pane_id, point)

    def _delete(self, lesion_id: int) -> None:
        self.editor.selected_id = lesion_id
        self.editor.delete_selected()

    def delete_selected(self) -> bool:
        return self.editor.delete_selected()

    def undo(self) -> StoreChange | None:
        self.editor.cancel()
        return self.project.undo()

    def redo(self) -> StoreChange | None:
        self.editor.cancel()
        return self.project.redo()
