"""Child process for the crash test: the real app window, a radiologist drawing and editing RECIST
marks. Prints "EDIT <lesion id> <long mm>" only once the edit is visible in the lesion list."""

import os
import sys

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
from PySide6 import QtWidgets  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
from liverview.ui.main_window import MainWindow  # noqa: E402
from tests.ui.study_fixtures import multi_grid_study  # noqa: E402


def main(project_path: str) -> None:
    app = QtWidgets.QApplication([])
    window = MainWindow(register_mode=None, project_path=project_path, user="dr-crash")
    window.show()
    window.set_study(multi_grid_study())
    window.measure_action.setChecked(True)
    app.processEvents()
    tool = window.session.tool
    panes = window.grid.panes
    rng = np.random.default_rng(0)
    n = 0
    while True:
        pane = panes[n % len(panes)]
        focus = pane.pane_view.focus.copy()
        a = focus + np.r_[rng.uniform(-40, 0, 2), 0]
        b = a + np.r_[rng.uniform(10, 40, 2), 0]
        tool.press(pane, a)
        for t in np.linspace(0, 1, 5)[1:]:
            tool.move(pane, a + t * (b - a))
        tool.release(pane, b)
        app.processEvents()
        lesion_id = window.session.editor.selected_id
        shown = {window.lesion_panel.table.item(r, 0).text() for r in range(window.lesion_panel.table.rowCount())}
        assert str(lesion_id) in shown
        long_mm = window.session.project.get_lesion(lesion_id).recist.long_mm
        print(f"EDIT {lesion_id} {long_mm:.6f}", flush=True)
        if n % 3 == 2:  # now and then change a class too
            window.session.project.update_lesion(lesion_id, lesion_class="cyst")
            print(f"CLASS {lesion_id} cyst", flush=True)
        n += 1


if __name__ == "__main__":
    main(sys.argv[1])
