"""Glue between one open project and the viewer: RECIST tool in the panes, lesion list, undo/redo; and how
the app opens a study's project: a lock left by a LiverView on another computer can be taken over (the
dialog says who holds it and since when), a damaged project can be opened read-only."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from PySide6 import QtWidgets

from liverview.annotate.recist_editor import RecistEditor
from liverview.core.view_state import ViewState
from liverview.store.project import DamagedProjectError, Project, ProjectLockedError
from liverview.store.records import LesionRecord, StoreChange, StoreError
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
        self.on_error = on_error
        panel.on_selected = self._row_selected
        panel.on_class_chosen = self._choose_class
        panel.on_delete = self._delete
        panel.set_editable(not project.read_only, read_only_reason(project))
        self._unsubscribe = project.subscribe(self._on_store_change)
        self.refresh_panel()

    def close(self) -> None:
        self._unsubscribe()
        self.tool.close()
        self.project.close()

    def set_measuring(self, on: bool) -> None:
        """Never on a read-only project: every mark drawn would be refused (the RECIST action is disabled, but
        review's Edit checks it from code)."""
        self.tool.set_active(on and not self.project.read_only)

    def refresh_panel(self) -> None:
        self.panel.show_lesions(self.project.list_lesions(self.study_id), self.editor.selected_id)

    def _on_store_change(self, change: StoreChange) -> None:
        self.refresh_panel()

    def _row_selected(self, lesion: LesionRecord | None) -> None:
        self.tool.select(None if lesion is None else lesion.id)
        point = None if lesion is None else lesion_focus_point(lesion)
        if point is not None:
            self.state.centre_on(point)  # its slice alone could leave it off a zoomed-in view

    def _choose_class(self, lesion_id: int, lesion_class: str) -> None:
        self._edit_from_panel(lambda: self.project.update_lesion(lesion_id, lesion_class=lesion_class))

    def _delete(self, lesion_id: int) -> None:
        self.editor.selected_id = lesion_id
        self._edit_from_panel(self.editor.delete_selected)

    def _edit_from_panel(self, edit: Callable[[], object]) -> None:
        """A refused edit (read-only, disk full, conflict) is told, and the panel shows the stored values again
        (the combo box already shows the class picked): a Qt slot must not raise."""
        try:
            edit()
        except StoreError as exc:
            self.on_error(str(exc))
            self.refresh_panel()

    def delete_selected(self) -> bool:
        return self.editor.delete_selected()

    def undo(self) -> StoreChange | None:
        self.editor.cancel()
        return self.project.undo()

    def redo(self) -> StoreChange | None:
        self.editor.cancel()
        return self.project.redo()


def read_only_reason(project: Project) -> str:
    """Why the project cannot be edited, for the user ('' when it can)."""
    if not project.read_only:
        return ""
    if project.damage:
        why = " because it is damaged"
    else:
        holder = project.lock_holder
        why = f" because {holder.describe()} is editing it" if holder else ""
    return f"{project.path} is open read-only{why}: its annotations can be viewed, not changed"


# (title, text, label of the "yes" button) -> True when the user chose it. The window asks with a dialog;
# tests answer without one.
Ask = Callable[[str, str, str], bool]


@dataclass
class OpenedProject:
    """A project as the app opened it, whether it is read-only, and what to tell the user (title, text)."""

    project: Project
    read_only: bool
    messages: list[tuple[str, str]] = field(default_factory=list)


def ask_with_dialog(parent: QtWidgets.QWidget) -> Ask:
    """An Ask that shows a modal question over ``parent`` with the given "yes" button and Cancel."""
    def ask(title: str, text: str, yes: str) -> bool:
        box = QtWidgets.QMessageBox(QtWidgets.QMessageBox.Icon.Question, title, text, parent=parent)
        chosen = box.addButton(yes, QtWidgets.QMessageBox.ButtonRole.AcceptRole)
        box.addButton(QtWidgets.QMessageBox.StandardButton.Cancel)
        box.exec()
        return box.clickedButton() is chosen
    return ask


def open_project_for_editing(path: Path, user: str, ask: Ask) -> OpenedProject:
    """Open (or create) the project at ``path`` for editing. Held by a live LiverView: read-only. Held by a
    note from another computer (maybe a crashed session): ask whether to take the lock over, naming who holds
    it and since when; no: read-only. Damaged: ask whether to open it read-only (it is never written to);
    no: DamagedProjectError."""
    path = Path(path)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        return OpenedProject(Project.create(path, user), False)
    try:
        return OpenedProject(Project.open(path, user), False)
    except ProjectLockedError as exc:
        holder = exc.holder
        if exc.can_take_over and holder is not None:
            text = (f"{path.name} is open for editing by {holder.user} on the computer {holder.hostname} "
                    f"(process {holder.pid}) since {holder.since}.\n\n"
                    "If LiverView is no longer running there (it crashed, or that computer was switched off), "
                    "take the lock over to edit here. If it is still running there, two people would edit the "
                    "same project: open it read-only instead.")
            if ask("Project locked on another computer", text, "Take over the lock"):
                project = Project.open(path, user, take_over_lock=True)
                return OpenedProject(project, False, [(
                    "Lock taken over", f"You now edit {path.name}; {holder.describe()} held it before.")])
        project = Project.open(path, user, read_only=True)
        return OpenedProject(project, True, [("Project opened read-only", str(exc))])
    except DamagedProjectError as exc:
        text = f"{exc}\n\nOpen it read-only to see what can still be read? Nothing will be written to it."
        if not ask("Project damaged", text, "Open read-only"):
            raise
        project = Project.open(path, user, read_only=True)
        return OpenedProject(project, True, [(
            "Project damaged: opened read-only", f"{path}: {project.damage or exc}. Edits cannot be saved; "
            "restore the project from a backup to edit it.")])
