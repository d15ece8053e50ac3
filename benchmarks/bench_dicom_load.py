"""Time LiverView's DICOM series loader against SimpleITK's ImageSeriesReader on the same files.

Writes a 200-slice 512x512 int16 CT series (RescaleIntercept -1024, shuffled InstanceNumbers) to a
temporary folder with pydicom, then takes the median of N runs of each reader in this one process
(files in the OS cache for both) and prints the times and their ratio. Usage:
    python benchmarks/bench_dicom_load.py [--slices 200] [--size 512] [--runs 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pydicom
import SimpleITK as sitk
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

from liverview.io.dicom_series import load_dicom_folder


def write_series(folder: Path, slices: int, size: int) -> None:
    """A CT series of int16 slices 1.25 mm apart, 0.7 mm pixels, in files named in shuffled order."""
    rng = np.random.default_rng(0)
    series, study, frame = generate_uid(), generate_uid(), generate_uid()
    base = rng.integers(0, 2000, (size, size), dtype=np.int16)
    order = rng.permutation(slices)
    for k in range(slices):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = CTImageStorage
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = Dataset()
        ds.file_meta = meta
        ds.SOPClassUID = CTImageStorage
        ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
        ds.SeriesInstanceUID, ds.StudyInstanceUID, ds.FrameOfReferenceUID = series, study, frame
        ds.Modality, ds.PatientID, ds.SeriesDescription = "CT", "BENCH", "benchmark series"
        ds.Rows = ds.Columns = size
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
        ds.PixelSpacing, ds.SliceThickness = [0.7, 0.7], 1.25
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.ImagePositionPatient = [-180.0, -180.0, -300.0 + 1.25 * k]
        ds.InstanceNumber = int(order[k]) + 1
        ds.RescaleSlope, ds.RescaleIntercept = 1, -1024
        ds.PixelData = (base + np.int16(k)).tobytes()
        ds.save_as(folder / f"IM{order[k]:05d}.dcm", enforce_file_format=True)


def time_ours(folder: Path) -> float:
    t0 = time.perf_counter()
    report = load_dicom_folder(folder)
    elapsed = time.perf_counter() - t0
    assert len(report.series) == 1 and not report.skipped
    return elapsed


def time_sitk(folder: Path) -> float:
    t0 = time.perf_counter()
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(folder)))
    image = reader.Execute()
    elapsed = time.perf_counter() - t0
    assert image.GetSize()[2] > 0
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--slices", type=int, default=200)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="lv_bench_dicom_") as tmp:
        folder = Path(tmp)
        t0 = time.perf_counter()
        write_series(folder, args.slices, args.size)
        print(f"wrote {args.slices} slices {args.size}x{args.size} int16 in {time.perf_counter() - t0:.1f} s")
        # One untimed pass of each puts the files in the OS cache and imports everything.
        time_ours(folder)
        time_sitk(folder)
        ours, theirs = [], []
        for _ in range(args.runs):  # interleaved, so drifting machine load hits both alike
            ours.append(time_ours(folder))
            theirs.append(time_sitk(folder))
        a, b = statistics.median(ours), statistics.median(theirs)
        print(f"liverview load_dicom_folder : median {a:.3f} s  runs {[round(t, 3) for t in ours]}")
        print(f"SimpleITK ImageSeriesReader : median {b:.3f} s  runs {[round(t, 3) for t in theirs]}")
        print(f"ratio ours / SimpleITK      : {a / b:.2f}  (target <= 1.5)")
        print(f"pydicom {pydicom.__version__}, SimpleITK {sitk.Version_VersionString()}")


if __name__ == "__main__":
    main()
