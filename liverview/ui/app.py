"""Start the desktop app: `python main.py [PATH ...] [--demo] [--screenshot PNG]`, or with its Ultrasound tab in
front: `python main.py --us IMAGE` / `python main.py --us-demo` (also `--demo --us`)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="main.py", description="LiverView multi-phase liver CT workstation")
    p.add_argument("paths", nargs="*", help="a DICOM folder, or one volume file per phase (NIfTI/NRRD/MHA)")
    p.add_argument("--demo", action="store_true", help="open the synthetic 4-phase demo study")
    p.add_argument("--us", nargs="?", const="", metavar="IMAGE",
                   help="open the ultrasound workspace on IMAGE (DICOM US, PNG, JPEG, BMP); "
                        "with --demo and no IMAGE, on a synthetic ultrasound image")
    p.add_argument("--us-demo", action="store_true",
                   help="open the ultrasound workspace on a synthetic image, with a box placed on its lesion")
    p.add_argument("--us-weights", metavar="PT", help="ultrasound segmenter weights (default: the plugin's)")
    p.add_argument("--project", metavar="LVPROJ",
                   help="open a project of many studies (e.g. from `liverview scan`): its worklist, and the "
                        "review across its studies; studies opened keep their annotations in it")
    p.add_argument("--screenshot", metavar="PNG", help="render the main window to PNG after loading, then exit")
    p.add_argument("--register", choices=["rigid", "affine", "bspline", "off"], default="rigid",
                   help="register the phases to the reference phase in the background (default: rigid)")
    p.add_argument("--3d", dest="show_3d", action="store_true", help="open the 3D view")
    p.add_argument("--wait", type=float, default=180.0,
                   help="with --screenshot: seconds to wait for background work (registration) first")
    return p


def load_for_window(paths: list[str], monitor=None):
    """Adapter from the IO layer to what the window needs: (study, problems, quiet notes). ``monitor`` (a
    liverview.io.load_monitor.LoadMonitor) carries progress, cancel and the first phase of a background open."""
    from liverview.io.load_monitor import QUIET
    from liverview.io.study_loader import load_study

    loaded = load_study([Path(p) for p in paths], monitor or QUIET)
    return loaded.study, list(loaded.problems), list(loaded.notes)


def _ultrasound_image_named(paths: list[str]) -> str | None:
    """The image when the command line names one ultrasound image and nothing else (as a drop would open it in
    the ultrasound tab), else None."""
    from liverview.io.study_index import is_ultrasound_file

    if len(paths) != 1:
        return None
    try:
        return paths[0] if is_ultrasound_file(paths[0]) else None
    except OSError:
        return None  # said by the CT open that follows


def run(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.screenshot and not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

    from PySide6 import QtWidgets

    from liverview.ui.main_window import MainWindow
    from liverview.ui.screenshot import write_screenshot

    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication(sys.argv[:1])
    app.setApplicationName("LiverView")
    us_image = args.us or _ultrasound_image_named(args.paths)  # an ultrasound image opens where it is read
    ultrasound = us_image is not None or args.us_demo
    paths = [] if ultrasound else list(args.paths)
    if args.demo and not ultrasound:
        from liverview.cache_root import default_cache_root
        from liverview.synth.demo import demo_study_dir

        print("Preparing the demo study (generated once, then cached)...", file=sys.stderr)
        try:
            paths.append(str(demo_study_dir()))
        except OSError as exc:
            print(f"main.py: error: cannot prepare the demo study under {default_cache_root()}: {exc}; set "
                  "LIVERVIEW_CACHE to a folder you can write", file=sys.stderr)
            return 2
    from liverview.ui.window_settings import user_settings

    window = MainWindow(study_loader=load_for_window,
                        register_mode=None if args.register == "off" else args.register,
                        settings=None if args.screenshot else user_settings())  # screenshots: the default layout
    if args.screenshot:
        window.ask = lambda title, text, yes: False  # nobody is there to answer: every question is declined
    if args.us_weights:
        window.one_window.us_weights = Path(args.us_weights)
    window.show()
    app.processEvents()
    if ultrasound:
        from liverview.ui.ultrasound.launch import run_ultrasound

        return run_ultrasound(app, window, image=us_image or None, demo=args.us_demo or not us_image,
                              screenshot=args.screenshot, wait_s=args.wait)
    opened = True
    if args.project and not window.worklist.open_project(Path(args.project)):
        print(f"main.py: error: {window.messages[-1]}", file=sys.stderr)
        opened = False
    if paths and not args.screenshot:
        window.open_paths_in_background(paths)  # the window stays live; a failure is shown in it
    elif paths:
        if not window.open_paths(paths):
            print(f"main.py: error: {window.messages[-1]}", file=sys.stderr)
            opened = False
    if args.show_3d:
        window.view3d_action.setChecked(True)
    if args.screenshot:
        window.runner.wait(int(args.wait * 1000))
        if not write_screenshot(app, window, args.screenshot):
            return 2
        return 0 if opened else 2
    return app.exec()
