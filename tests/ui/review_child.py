"""Child process for the review kill test: the real app window, a reviewer deciding proposals with the
keyboard (A / R / F, one U undo). Prints "DECIDED <proposal id> <status>" once the decision shows in the
review list, then "DONE" after ten, and waits to be killed."""

import os
import sys
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6 import QtCore, QtTest, QtWidgets  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
from liverview.ui.main_window import MainWindow  # noqa: E402
from tests.ui.review_fixtures import phantom, write_phantom_proposals  # noqa: E402

KEYS = {"A": QtCore.Qt.Key.Key_A, "R": QtCore.Qt.Key.Key_R, "F": QtCore.Qt.Key.Key_F, "U": QtCore.Qt.Key.Key_U}
STATUS = {"A": "accepted", "R": "rejected", "F": "flagged"}
SEQUENCE = ["A", "R", "A", "U", "A", "F", "A", "R", "A", "A", "R", "A"]  # ten proposals decided


def review_study():
    study = phantom().to_study()
    study.study_uid = "review-kill-test"  # the same project row in the child and in the test
    return study


def main(project_path: str, proposals_path: str, n_proposals: int) -> None:
    app = QtWidgets.QApplication([])
    window = MainWindow(register_mode=None, project_path=project_path, user="dr-kill")
    window.resize(1400, 900)
    window.show()
    window.set_study(review_study())
    window.review.import_file(write_phantom_proposals(proposals_path, n_proposals))
    app.processEvents()
    pane = window.grid.panes[0]
    pane.view.setFocus()
    window.activateWindow()
    app.processEvents()
    review = window.review
    decided = 0
    for key in SEQUENCE:
        target = review.queue.current.id
        QtTest.QTest.keyClick(pane.view, KEYS[key])
        app.processEvents()
        if key == "U":
            decided -= 1
            print(f"UNDONE {review.queue.current.id}", flush=True)
            continue
        row = [r for r in range(review.panel.table.rowCount())
               if review.panel.table.item(r, 0).text() == str(target)][0]
        shown = review.panel.table.item(row, 3).text()
        assert shown == STATUS[key], (shown, key)
        decided += 1
        print(f"DECIDED {target} {shown}", flush=True)
    print(f"DONE {decided}", flush=True)
    while True:  # a reviewer still looking at the screen when the power goes
        app.processEvents()
        time.sleep(0.01)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
