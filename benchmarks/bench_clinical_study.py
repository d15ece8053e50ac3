"""Open a clinical-size study in the real MainWindow (offscreen): peak memory, time to first image, time to
all phases, scroll step time (issue 14 "Clinical-size studies", issue 15 "a study's time to first image").

The benchmark writes its own inputs to a temporary folder: 4 phases of SLICES x 512 x 512 int16 as 4 NIfTI
files, and one phase as a DICOM series (one file per slice). Each measurement runs in a child process of its
own, so that one run's freed memory (kept by the allocator) is not counted in the next one's peak:
- ``sync``: MainWindow.open_paths, the synchronous open the app used before (the window is blocked until
  every phase is read and the study identity is hashed);
- ``background``: MainWindow.open_paths_in_background: a job with progress and cancel, the first phase shown
  as soon as it is read.
Peak RSS growth is sampled every 2 ms from /proc/self/statm by a thread, against the RSS just before the open.
Scroll steps use the real key handling (Up / Down sent to the pane's view) and repaint every pane.
Usage: python benchmarks/bench_clinical_study.py [--slices 600] [--steps 200] [--modes sync,background]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

SIZE = 512
PHASE_NAMES = ("non-contrast", "arterial", "portal-venous", "delayed")
_PAGE = os.sysconf("SC_PAGE_SIZE")


# --- inputs -----------------------------------------------------------------------------------
def _slice_template(size: int) -> np.ndarray:
    """An axial slice: air (-1000 HU) around an elliptic body of soft tissue with a brighter 'liver'."""
    y, x = np.mgrid[:size, :size]
    c = (size - 1) / 2
    body = ((x - c) / (0.45 * size)) ** 2 + ((y - c) / (0.35 * size)) ** 2 <= 1
    liver = ((x - 0.35 * size) / (0.15 * size)) ** 2 + ((y - c) / (0.18 * size)) ** 2 <= 1
    image = np.full((size, size), -1000, np.int16)
    image[body] = 40
    image[liver] = 60
    return image


def phase_array(slices: int, phase: int, size: int = SIZE) -> np.ndarray:
    template = _slice_template(size)
    rng = np.random.default_rng(phase)
    noise = rng.integers(-20, 21, (size, size), dtype=np.int16)
    out = np.empty((slices, size, size), np.int16)
    for k in range(slices):
        out[k] = template + np.roll(noise, k, axis=0) + np.int16(10 * phase)
    return out


def write_nifti_phases(folder: Path, slices: int) -> list[str]:
    from liverview.core.volume import Volume
    from liverview.io.volumes import write_volume

    paths = []
    for n, name in enumerate(PHASE_NAMES):
        volume = Volume(phase_array(slices, n), (0.7, 0.7, 1.0), (-180.0, -180.0, -300.0))
        paths.append(str(write_volume(volume, folder / f"{name}.nii", compress=False)))
        del volume
    return paths


def write_dicom_phase(folder: Path, slices: int) -> list[str]:
    import pydicom  # noqa: F401 (pydicom's writer below)
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

    folder.mkdir(parents=True, exist_ok=True)
    series, study, frame = generate_uid(), generate_uid(), generate_uid()
    array = phase_array(slices, 2)
    for k in range(slices):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = CTImageStorage
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = Dataset()
        ds.file_meta = meta
        ds.SOPClassUID, ds.SOPInstanceUID = CTImageStorage, meta.MediaStorageSOPInstanceUID
        ds.SeriesInstanceUID, ds.StudyInstanceUID, ds.FrameOfReferenceUID = series, study, frame
        ds.Modality, ds.PatientID, ds.SeriesDescription = "CT", "BENCH", "portal venous"
        ds.Rows = ds.Columns = SIZE
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
        ds.PixelSpacing, ds.SliceThickness = [0.7, 0.7], 1.0
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.ImagePositionPatient = [-180.0, -180.0, -300.0 + 1.0 * k]
        ds.InstanceNumber = k + 1
        ds.RescaleSlope, ds.RescaleIntercept = 1, 0
        ds.PixelData = array[k].tobytes()
        ds.save_as(folder / f"IM{k:05d}.dcm", enforce_file_format=True)
    return [str(folder)]


# --- measuring --------------------------------------------------------------------------------
def rss_bytes() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * _PAGE


class PeakRss:
    """Samples this process's RSS every 2 ms on a thread; ``peak`` is the highest seen."""

    def __init__(self) -> None:
        self.start = rss_bytes()
        self.peak = self.start
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.002):
            self.peak = max(self.peak, rss_bytes())

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_bytes())
        return self.peak - self.start


@dataclass
class Figures:
    input: str
    mode: str
    phases: int
    int16_bytes: int
    peak_growth_bytes: int
    ratio: float
    first_image_s: float
    all_phases_s: float
    scroll_median_ms: float
    scroll_p95_ms: float
    scroll_while_loading_median_ms: float | None
    dtype: str


def _wait(app, until, timeout_s: float = 600.0) -> None:
    end = time.perf_counter() + timeout_s
    while not until():
        app.processEvents()
        if time.perf_counter() > end:
            raise TimeoutError("the study did not open in time")
        time.sleep(0.001)


def _step_times(app, window, steps: int) -> list[float]:
    from PySide6 import QtCore, QtGui

    pane = window.grid.panes[0]
    pane.go_to_slice(10)
    app.processEvents()
    times = []
    for n in range(steps):
        key = QtCore.Qt.Key.Key_Up if (n // 20) % 2 == 0 else QtCore.Qt.Key.Key_Down
        event = QtGui.QKeyEvent(QtCore.QEvent.Type.KeyPress, key, QtCore.Qt.KeyboardModifier.NoModifier)
        t0 = time.perf_counter()
        app.sendEvent(pane.view, event)
        for p in window.grid.panes:
            p.view.viewport().repaint()
        times.append(time.perf_counter() - t0)
    if len({p.shown_slice for p in window.grid.panes}) != 1:
        raise AssertionError("the panes did not follow the slice steps together")
    return times


def run_child(kind: str, mode: str, paths: list[str], steps: int) -> Figures:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6 import QtWidgets

    from liverview.ui.main_window import MainWindow

    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication([])
    cache = Path(tempfile.mkdtemp(prefix="lv-bench-cache-"))
    window = MainWindow(study_loader=_loader(), register_mode=None, cache_dir=cache, project_root=cache)
    window.resize(1600, 1000)
    window.show()
    app.processEvents()
    while_loading: list[float] = []
    peak = PeakRss()
    t0 = time.perf_counter()
    if mode == "sync":
        if not window.open_paths(paths):
            raise RuntimeError(window.messages[-1])
        app.processEvents()
        first = all_done = time.perf_counter() - t0
    else:
        job = window.open_paths_in_background(paths)
        opener = window.study_opener
        _wait(app, lambda: opener.first_image_shown() or job.done)
        first = time.perf_counter() - t0
        preview = opener.preview.pane if opener.preview is not None else None
        while not job.done and preview is not None and len(while_loading) < steps:
            s0 = time.perf_counter()
            preview.step_slices(1 if (len(while_loading) // 20) % 2 == 0 else -1)
            preview.view.viewport().repaint()
            while_loading.append(time.perf_counter() - s0)
            app.processEvents()
        _wait(app, lambda: job.done)
        if window.study is None:
            raise RuntimeError(window.messages[-1] if window.messages else "no study opened")
        all_done = time.perf_counter() - t0
    growth = peak.stop()
    study = window.study
    int16_bytes = sum(p.volume.array.size * 2 for p in study.phases)
    times = _step_times(app, window, steps)
    ms = np.asarray(times) * 1e3
    window.close()
    return Figures(
        input=kind, mode=mode, phases=len(study.phases), int16_bytes=int16_bytes, peak_growth_bytes=growth,
        ratio=growth / int16_bytes, first_image_s=first, all_phases_s=all_done,
        scroll_median_ms=float(np.median(ms)), scroll_p95_ms=float(np.percentile(ms, 95)),
        scroll_while_loading_median_ms=float(statistics.median(while_loading)) * 1e3 if while_loading else None,
        dtype=",".join(sorted({str(p.volume.array.dtype) for p in study.phases})),
    )


def _loader():
    from liverview.ui.app import load_for_window

    return load_for_window


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slices", type=int, default=600)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--modes", default="sync,background")
    parser.add_argument("--inputs", default="nifti,dicom")
    parser.add_argument("--child", nargs=3, metavar=("KIND", "MODE", "PATHS_JSON"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, mode, paths = args.child
        print(json.dumps(asdict(run_child(kind, mode, json.loads(paths), args.steps))))
        return
    with tempfile.TemporaryDirectory(prefix="lv-clinical-") as tmp:
        root = Path(tmp)
        t0 = time.perf_counter()
        inputs = {}
        if "nifti" in args.inputs:
            (root / "nifti").mkdir()
            inputs["nifti"] = write_nifti_phases(root / "nifti", args.slices)
        if "dicom" in args.inputs:
            inputs["dicom"] = write_dicom_phase(root / "dicom", args.slices)
        print(f"inputs written in {time.perf_counter() - t0:.0f} s: {args.slices} slices of {SIZE}x{SIZE} int16 "
              f"per phase; {os.cpu_count()} CPUs; files in the OS cache (just written)", flush=True)
        for kind, paths in inputs.items():
            for mode in args.modes.split(","):
                out = subprocess.run(
                    [sys.executable, __file__, "--steps", str(args.steps), "--child", kind, mode, json.dumps(paths)],
                    capture_output=True, text=True, check=False)
                if out.returncode != 0:
                    print(f"{kind} {mode}: failed\n{out.stderr[-3000:]}", flush=True)
                    continue
                f = Figures(**json.loads(out.stdout.strip().splitlines()[-1]))
                loading = (f"   scroll while loading median {f.scroll_while_loading_median_ms:.1f} ms"
                           if f.scroll_while_loading_median_ms is not None else "")
                print(f"{kind:5s} {mode:10s} {f.phases} phase(s) {f.dtype}: peak RSS growth "
                      f"{f.peak_growth_bytes / 1e9:.2f} GB = {f.ratio:.2f}x int16 ({f.int16_bytes / 1e9:.2f} GB); "
                      f"first image {f.first_image_s:.2f} s; all phases {f.all_phases_s:.2f} s; scroll step median "
                      f"{f.scroll_median_ms:.1f} ms p95 {f.scroll_p95_ms:.1f} ms{loading}", flush=True)


if __name__ == "__main__":
    main()
