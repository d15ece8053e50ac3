"""A small real CT series written with pydicom, for DICOM SR / SEG export tests."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, PYDICOM_IMPLEMENTATION_UID, generate_uid

from liverview.core.volume import Volume


@dataclass
class CtSeries:
    """Files on disk, their datasets as read back, and the volume they stack to (k = ascending z)."""

    paths: list[Path]
    datasets: list[Dataset]
    volume: Volume


def write_ct_series(
    folder: Path,
    slices: int = 8,
    rows: int = 64,
    cols: int = 48,
    pixel_spacing: tuple[float, float] = (0.9, 0.7),  # (between rows, between columns), as in DICOM
    thickness: float = 2.5,
    origin: tuple[float, float, float] = (-20.0, -30.0, 100.0),
) -> CtSeries:
    """Write a CT Image Storage series (Explicit VR LE) whose files list the slices top to bottom."""
    folder.mkdir(parents=True, exist_ok=True)
    study, series, frame = generate_uid(), generate_uid(), generate_uid()
    rng = np.random.default_rng(7)
    now = datetime.datetime(2024, 5, 17, 10, 30, 0)
    paths = []
    for n in range(slices):
        z = origin[2] + (slices - 1 - n) * thickness  # instance 1 is the highest slice
        ds = Dataset()
        ds.file_meta = FileMetaDataset()
        ds.file_meta.MediaStorageSOPClassUID = CTImageStorage
        ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.file_meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
        ds.SpecificCharacterSet = "ISO_IR 100"
        ds.SOPClassUID = CTImageStorage
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
        ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
        ds.Modality = "CT"
        ds.Manufacturer = "LiverView test"
        ds.PatientName = "Test^Liver"
        ds.PatientID = "LV-0001"
        ds.PatientBirthDate = "19600101"
        ds.PatientSex = "F"
        ds.StudyInstanceUID = study
        ds.StudyDate = ds.SeriesDate = ds.ContentDate = ds.AcquisitionDate = now.strftime("%Y%m%d")
        ds.StudyTime = ds.SeriesTime = ds.ContentTime = ds.AcquisitionTime = now.strftime("%H%M%S")
        ds.StudyID = "1"
        ds.AccessionNumber = "A0001"
        ds.ReferringPhysicianName = ""
        ds.StudyDescription = "CT abdomen"
        ds.SeriesInstanceUID = series
        ds.SeriesNumber = 3
        ds.SeriesDescription = "portal venous"
        ds.BodyPartExamined = "ABDOMEN"
        ds.PatientPosition = "FFS"
        ds.FrameOfReferenceUID = frame
        ds.PositionReferenceIndicator = ""
        ds.InstanceNumber = n + 1
        ds.AcquisitionNumber = 1
        ds.ImagePositionPatient = [origin[0], origin[1], z]
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.PixelSpacing = list(pixel_spacing)
        ds.SliceThickness = thickness
        ds.SliceLocation = z
        ds.KVP = 120
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.Rows, ds.Columns = rows, cols
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
        ds.RescaleIntercept, ds.RescaleSlope, ds.RescaleType = -1024, 1, "HU"
        ds.WindowCenter, ds.WindowWidth = 50, 400
        ds.PixelData = (rng.integers(900, 1200, (rows, cols)).astype(np.int16)).tobytes()
        path = folder / f"IM{n + 1:04d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    datasets = [pydicom.dcmread(p) for p in paths]
    volume = Volume(
        np.zeros((slices, rows, cols), np.int16),
        spacing=(pixel_spacing[1], pixel_spacing[0], thickness),
        origin=origin,
        name="ct",
    )
    return CtSeries(paths, datasets, volume)


@pytest.fixture
def ct_series(tmp_path: Path) -> CtSeries:
    return write_ct_series(tmp_path / "ct")
