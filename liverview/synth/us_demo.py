"""A synthetic ultrasound image written as DICOM US, for the demo and for tests (phantom data).

The phantom (liverview.synth.us_phantom) is written with the DICOM ultrasound region calibration
(SequenceOfUltrasoundRegions, centimetres), so LiverView measures it in mm, as it would a scanner's
export. A cine is made by moving the same image a few pixels per frame (a probe drifting slowly).
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from liverview.synth.demo import default_cache_root
from liverview.synth.us_phantom import generate_us_phantom

DEMO_SEED = 12
DEMO_CLASS = "hemangioma"
DEMO_SIZE = (480, 640)  # rows, columns
US_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.6.1"
US_MULTIFRAME_STORAGE = "1.2.840.10008.5.1.4.1.1.3.1"


@dataclass(frozen=True)
class SyntheticUs:
    """The file written and the ground truth of its first frame."""

    path: Path
    mask: np.ndarray  # bool [H, W] of frame 0
    lesion_class: str
    pixel_spacing_mm: float  # isotropic

    @property
    def bbox(self) -> tuple[int, int, int, int]:
        """(x0, y0, x1, y1) of the lesion in frame 0, inclusive pixels."""
        ys, xs = np.nonzero(self.mask)
        return int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max())


def cine_frames(image: np.ndarray, n_frames: int, step_px: int = 2) -> np.ndarray:
    """[F, H, W] uint8: the image moved ``step_px`` columns further each frame (edge pixels repeated)."""
    frames = []
    for f in range(n_frames):
        shift = f * step_px
        moved = np.empty_like(image)
        moved[:, shift:] = image[:, : image.shape[1] - shift]
        moved[:, :shift] = image[:, :1]
        frames.append(moved)
    return np.stack(frames)


def write_us_dicom(path: Path, frames: np.ndarray, pixel_spacing_mm: float | None) -> Path:
    """Write grey uint8 frames [F, H, W] as a DICOM US image (multi-frame when F > 1), with the
    region calibration in cm when a pixel size is given."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    frames = np.ascontiguousarray(frames, np.uint8)
    if frames.ndim == 2:
        frames = frames[None]
    n, h, w = frames.shape
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = US_MULTIFRAME_STORAGE if n > 1 else US_IMAGE_STORAGE
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.Modality = "US"
    ds.PatientName, ds.PatientID = "Phantom^Ultrasound", "US-PHANTOM"
    ds.StudyDescription = "Synthetic liver ultrasound (phantom)"
    ds.Rows, ds.Columns = h, w
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    if n > 1:
        ds.NumberOfFrames = n
        ds.FrameTime = 50.0
    if pixel_spacing_mm is not None:
        region = Dataset()
        region.RegionSpatialFormat = 1  # 2D
        region.RegionDataType = 1  # tissue
        region.RegionLocationMinX0, region.RegionLocationMinY0 = 0, 0
        region.RegionLocationMaxX1, region.RegionLocationMaxY1 = w - 1, h - 1
        region.PhysicalUnitsXDirection = region.PhysicalUnitsYDirection = 3  # cm
        region.PhysicalDeltaX = region.PhysicalDeltaY = float(pixel_spacing_mm) / 10.0
        ds.SequenceOfUltrasoundRegions = [region]
    ds.PixelData = frames.tobytes()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path


def synthetic_us_dicom(path: Path, seed: int = DEMO_SEED, n_frames: int = 1, lesion_class: str = DEMO_CLASS,
                       size: tuple[int, int] = DEMO_SIZE, with_spacing: bool = True) -> SyntheticUs:
    """Generate a phantom and write it as DICOM US (a cine when ``n_frames`` > 1)."""
    phantom = generate_us_phantom(np.random.default_rng(seed), lesion_class, size=size)
    frames = cine_frames(phantom.image, n_frames)
    spacing = phantom.pixel_spacing_mm if with_spacing else None
    write_us_dicom(path, frames, spacing)
    return SyntheticUs(Path(path), phantom.mask, phantom.lesion_class, phantom.pixel_spacing_mm)


def demo_us_image(cache_root: Path | None = None) -> SyntheticUs:
    """The demo ultrasound image (fixed seed), written once into the cache and reused; the ground truth
    is regenerated (cheap, deterministic)."""
    root = Path(cache_root) if cache_root is not None else default_cache_root()
    final = root / f"demo-us-{DEMO_SEED}.dcm"
    phantom = generate_us_phantom(np.random.default_rng(DEMO_SEED), DEMO_CLASS, size=DEMO_SIZE)
    if not final.is_file():
        root.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(suffix=".dcm", dir=root)
        os.close(fd)
        try:
            write_us_dicom(Path(tmp), phantom.image[None], phantom.pixel_spacing_mm)
            os.replace(tmp, final)  # complete files only: a killed run leaves no half image
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    return SyntheticUs(final, phantom.mask, phantom.lesion_class, phantom.pixel_spacing_mm)
