"""`python main.py --us IMAGE` / `--us-demo`: the main window with its Ultrasound tab in front, on that image."""

from __future__ import annotations

import sys

from PySide6 import QtWidgets

from liverview.ui.screenshot import write_screenshot

DEMO_BOX_MARGIN = 0.0  # the demo box: the lesion's box grown by this share per side (0: drawn to its edges, as asked)


def run_ultrasound(app: QtWidgets.QApplication, window: QtWidgets.QMainWindow, image: str | None, demo: bool,
                   screenshot: str | None = None, wait_s: float = 180.0) -> int:
    """``window``: a shown MainWindow. Opens ``image`` (or, with ``demo``, a synthetic one with a box placed on
    its lesion) in its Ultrasound tab; with ``screenshot``, writes the window to PNG once the mask is shown."""
    workspace = window.one_window.workspaces.show_us()
    app.processEvents()
    synthetic = None
    if image is None and demo:
        from liverview.synth.us_demo import demo_us_image

        print("Preparing the synthetic ultrasound demo image...", file=sys.stderr)
        synthetic = demo_us_image()
        image = str(synthetic.path)
    opened = window.one_window.open_us(image) if image else False
    if not opened:
        print(f"main.py: error: {workspace.messages[-1] if workspace.messages else 'no image given'}",
              file=sys.stderr)
    elif synthetic is not None:
        x0, y0, x1, y1 = synthetic.bbox
        mx, my = (x1 - x0) * DEMO_BOX_MARGIN, (y1 - y0) * DEMO_BOX_MARGIN
        workspace.place_box(x0 - mx, y0 - my, x1 + mx, y1 + my)
        workspace.notify("Demo (synthetic phantom): a box was placed at the lesion's edges. Click to refine, "
                         "Ctrl+S saves it.")
    if screenshot:
        workspace.wait_idle(wait_s)
        if not write_screenshot(app, window, screenshot):
            return 2
        return 0 if opened else 2
    return app.exec()
