"""Write small CT (and other) DICOM series for the archive tests: a phantom's phases as one series each."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, MRImageStorage, generate_uid

from liverview.core.volume import Volume


def write_series(folder: Path, volume: Volume, study_uid: str, description: str, modality: str = "CT",
                 series_uid: str | None = None, patient_id: str = "P1", localizer: bool = False,
                 prefix: str = "") -> list[Path]:
    """One file per slice of ``volume`` (identity direction, int16), as a scanner writes them."""
    folder.mkdir(parents=True, exist_ok=True)
    series_uid = series_uid or generate_uid()
    frame = generate_uid()
    sop_class = CTImageStorage if modality == "CT" else MRImageStorage
    sx, sy, sz = volume.spacing
    ox, oy, oz = volume.origin
    pixels = np.asarray(volume.array).astype(np.int16)
    paths = []
    for k in range(pixels.shape[0]):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = sop_class
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = Dataset()
        ds.file_meta = meta
        ds.SOPClassUID, ds.SOPInstanceUID = sop_class, meta.MediaStorageSOPInstanceUID
        ds.Modality, ds.PatientID = modality, patient_id
        ds.StudyDescription, ds.SeriesDescription = "CT liver", description
        ds.ImageType = ["ORIGINAL", "PRIMARY", "LOCALIZER" if localizer else "AXIAL"]
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = study_uid, series_uid, frame
        ds.Rows, ds.Columns = pixels.shape[1], pixels.shape[2]
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
        ds.ImagePositionPatient = [ox, oy, oz + sz * k]
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.PixelSpacing = [sy, sx]
        ds.SliceThickness = sz
        ds.InstanceNumber = k + 1
        ds.RescaleSlope, ds.RescaleIntercept = 1, 0
        ds.PixelData = np.ascontiguousarray(pixels[k]).tobytes()
        path = folder / f"{prefix}{series_uid[-6:]}_{k + 1:04d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


def write_phantom_as_dicom(folder: Path, phases: dict, study_uid: str | None = None, prefix: str = "") -> str:
    """Every phase of a phantom (``PhantomStudy.phases``) as a series named after its phase; returns the UID."""
    study_uid = study_uid or generate_uid()
    for kind, volume in phases.items():
        write_series(folder, volume, study_uid, kind.value, prefix=prefix)
    return study_uid


def cut_before_tag(path: Path, group: int, element: int) -> Path:
    """Cut a written file just before one of its tags, as a copy that stopped early leaves it."""
    data = path.read_bytes()
    at = data.index(group.to_bytes(2, "little") + element.to_bytes(2, "little"), 132)  # after the preamble
    path.write_bytes(data[:at])
    return path
