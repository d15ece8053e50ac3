"""Screenshots of the review on the real 3D-IRCADb-01 patient 17 study (DICOM, single contrast phase).

    QT_QPA_PLATFORM=offscreen .venv/bin/python scripts/review_screenshots_ircad17.py [OUT_DIR]

Opens ../shared/data/ircadb-liver17/PATIENT_DICOM as a reader would (File > Open), imports one proposal
per reference tumour (the boxes of tumor_instances.nii.gz, model "ircad17-reference", so the pictures show the
review itself, not a detector; what the shipped detector finds on this study: models/mscn_detector/MODEL_CARD.md),
then writes:
  review_ircad17_selected.png  the first proposal selected, every pane on its key slice
  review_ircad17_zoomed.png    Zoom to the box on
  review_ircad17_recist.png    E (edit): the proposed RECIST made a lesion, one end point dragged
Nothing is written into ../shared/data; the project goes to a temporary folder.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "ircadb-liver17"


def reference_proposals(reference):
    """One proposal per tumour instance, on the DICOM reference grid (via mm)."""
    from liverview.detection.proposals import Proposal3D, ProposalSet
    from liverview.io.volumes import read_volume

    instances = read_volume(DATA / "tumor_instances.nii.gz")
    labels = np.asarray(instances.array)
    out = []
    for n in (1, 2):
        k, j, i = np.nonzero(labels == n)
        corners = instances.index_to_world(np.array([[i.min(), j.min(), k.min()], [i.max(), j.max(), k.max()]],
                                                    float))
        lo, hi = np.sort(np.rint(reference.world_to_index(corners)), axis=0)
        key = int(np.argmax(np.bincount(k, minlength=labels.shape[0])))
        key = int(np.rint(reference.world_to_index(instances.index_to_world((0, 0, key)))[2]))
        out.append(Proposal3D((lo[0], lo[1], hi[0] + 1, hi[1] + 1), (int(lo[2]), int(hi[2])), 0.9 - 0.1 * n, key,
                              {"metastasis": 0.6, "hcc": 0.4}))
    return ProposalSet.for_volume(out, reference, model="ircad17-reference")


def main(argv: list[str]) -> int:
    out_dir = Path(argv[0]) if argv else REPO / "resources" / "screenshots"
    out_dir.mkdir(parents=True, exist_ok=True)
    from PySide6 import QtCore, QtWidgets

    from liverview.detection.proposals import write_proposals
    from liverview.ui.app import load_for_window
    from liverview.ui.main_window import MainWindow

    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication(["review-screenshots"])
    tmp = Path(tempfile.mkdtemp(prefix="lv-shots-"))
    window = MainWindow(study_loader=load_for_window, register_mode=None, project_root=tmp, user="reader")
    window.resize(1600, 1000)
    window.show()
    app.processEvents()
    if not window.open_paths([str(DATA / "PATIENT_DICOM")]):
        print(window.messages[-1], file=sys.stderr)
        return 2
    path = write_proposals(tmp / "proposals.json", reference_proposals(window.study.reference.volume))
    review = window.review
    review.import_file(path)

    def settle() -> None:
        for _ in range(10):
            app.processEvents()
            QtCore.QThread.msleep(20)

    settle()
    window.grab().save(str(out_dir / "review_ircad17_selected.png"))
    review.panel.zoom_box.setChecked(True)
    review._show_current()
    settle()
    window.grab().save(str(out_dir / "review_ircad17_zoomed.png"))
    review.act("edit")
    settle()
    lesion = window.session.project.list_lesions(window.session.study_id)[0]
    pane = window.grid.panes[0]
    end = np.asarray(lesion.recist.long_axis[1])
    tool = window.session.tool
    tool.press(pane, end)
    direction = end - np.asarray(lesion.recist.long_axis[0])
    moved = end + 4.0 * direction / np.linalg.norm(direction)  # lengthen the long axis by 4 mm
    tool.move(pane, moved)
    tool.release(pane, moved)
    settle()
    window.grab().save(str(out_dir / "review_ircad17_recist.png"))
    print("\n".join(window.messages[-6:]))
    window.close()
    print(f"screenshots in {out_dir}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    raise SystemExit(main(sys.argv[1:]))
