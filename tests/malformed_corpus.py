"""A corpus of malformed inputs, written by the tests into a temporary folder (nothing is downloaded).

Each writer makes one damaged file (or series) the way a disk, a network copy or a careless tool damages
them: a corrupt slice inside a DICOM series, a truncated or bomb-like NIfTI, a header claiming far more
voxels than the file holds, a PNG claiming 60000 x 60000 pixels, a project file with a damaged page.
The tests run each through the loaders, the CLI and the app and check that nothing is shown wrong.
"""

from __future__ import annotations

import gzip
import shutil
import sqlite3
import struct
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pydicom
import SimpleITK as sitk
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

# --- DICOM ---------------------------------------------------------------------------------------


def ct_pixels(k: int, rows: int, cols: int) -> np.ndarray:
    """Plausible CT numbers: air around a body of soft tissue, a different value on each slice."""
    j, i = np.mgrid[:rows, :cols]
    body = (j - rows / 2) ** 2 + (i - cols / 2) ** 2 < (min(rows, cols) / 2.5) ** 2
    return np.where(body, 40 + 10 * k + (i % 7), -1000).astype(np.int16)


def write_ct_series(folder: Path, n: int = 9, rows: int = 32, cols: int = 32, step: float = 2.5) -> list[Path]:
    """An axial CT series of ``n`` slices (int16, slope 1, intercept 0, 0.7 mm pixels), one file each."""
    folder.mkdir(parents=True, exist_ok=True)
    series, study, frame = generate_uid(), generate_uid(), generate_uid()
    paths = []
    for k in range(n):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = CTImageStorage
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = Dataset()
        ds.file_meta = meta
        ds.SOPClassUID, ds.SOPInstanceUID = CTImageStorage, meta.MediaStorageSOPInstanceUID
        ds.Modality, ds.PatientID, ds.SeriesDescription = "CT", "CORPUS", "corpus CT"
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = study, series, frame
        ds.Rows, ds.Columns = rows, cols
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
        ds.ImagePositionPatient = [-10.0, -12.0, 100.0 + step * k]
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.PixelSpacing = [0.7, 0.7]
        ds.SliceThickness = step
        ds.InstanceNumber = k + 1
        ds.RescaleSlope, ds.RescaleIntercept = 1, 0
        ds.PixelData = ct_pixels(k, rows, cols).tobytes()
        path = folder / f"IMG{k + 1:04d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


def _move_position(ds: Dataset, axis: int, to: float | None = None, by: float = 0.0) -> None:
    p = [float(v) for v in ds.ImagePositionPatient]
    p[axis] = to if to is not None else p[axis] + by
    ds.ImagePositionPatient = p


def _smaller_image(ds: Dataset) -> None:
    ds.Rows, ds.Columns = 16, 16  # the pixel data still holds 32 x 32: read as 16 x 16, it is garbage


# How one slice of a series gets damaged: each would be shown as wrong data by a trusting reader.
SLICE_DAMAGE: dict[str, Callable[[Dataset], None]] = {
    "bits_allocated_8": lambda ds: setattr(ds, "BitsAllocated", 8),
    "bits_allocated_1": lambda ds: setattr(ds, "BitsAllocated", 1),
    "rescale_slope_1e30": lambda ds: setattr(ds, "RescaleSlope", "1e30"),
    "rescale_slope_0": lambda ds: setattr(ds, "RescaleSlope", "0"),
    "rescale_intercept_30000": lambda ds: setattr(ds, "RescaleIntercept", "30000"),
    "unsigned_pixels": lambda ds: setattr(ds, "PixelRepresentation", 0),
    "pixel_spacing_0": lambda ds: setattr(ds, "PixelSpacing", [0, 0]),
    "orientation_not_unit": lambda ds: setattr(ds, "ImageOrientationPatient", [2, 0, 0, 0, 1, 0]),
    "position_off_in_plane": lambda ds: _move_position(ds, 0, by=40.0),
    "position_far_away": lambda ds: _move_position(ds, 2, to=5000.0),
    "rows_columns_16": _smaller_image,
}


def damage_slice(path: Path, damage: str) -> Path:
    ds = pydicom.dcmread(path)
    SLICE_DAMAGE[damage](ds)
    ds.save_as(path)
    return path


def series_with_damaged_slice(folder: Path, damage: str, source: Path | None = None) -> tuple[Path, Path]:
    """A series (written here, or linked from ``source``) whose middle slice is damaged; (folder, that file).

    Only the damaged file is copied from ``source``; the others are symbolic links to the originals.
    """
    if source is None:
        paths = write_ct_series(folder)
    else:
        folder.mkdir(parents=True, exist_ok=True)
        paths = []
        for original in sorted(source.iterdir()):
            paths.append(folder / original.name)
            paths[-1].symlink_to(original)
    victim = paths[len(paths) // 2]
    if victim.is_symlink():
        target = victim.resolve()
        victim.unlink()
        shutil.copyfile(target, victim)
    return folder, damage_slice(victim, damage)


def truncated_dicom_slice(folder: Path) -> tuple[Path, Path]:
    """A series whose middle file was cut in half (a copy that stopped early)."""
    paths = write_ct_series(folder)
    victim = paths[len(paths) // 2]
    data = victim.read_bytes()
    victim.write_bytes(data[: len(data) // 2])
    return folder, victim


def dicom_claiming_huge_image(folder: Path) -> tuple[Path, Path]:
    """A series plus one file whose Rows x Columns claim 65535 x 65535 (8.6 GB) with tiny pixel data."""
    paths = write_ct_series(folder)
    ds = pydicom.dcmread(paths[0])
    ds.Rows, ds.Columns = 65535, 65535
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.ImagePositionPatient = [-10.0, -12.0, 0.0]
    path = folder / "HUGE.dcm"
    ds.save_as(path, enforce_file_format=True)
    return folder, path


# --- NIfTI / NRRD / MetaImage ----------------------------------------------------------------------

SPACING = (0.7, 0.8, 5.6)


def good_volume_array(slices: int = 20) -> np.ndarray:
    return np.stack([ct_pixels(k, 16, 12) for k in range(slices)])


def nifti_bytes(array: np.ndarray | None = None, spacing=SPACING) -> bytes:
    """An uncompressed NIfTI-1 file as bytes (written by SimpleITK, origin (10, 20, 30))."""
    image = sitk.GetImageFromArray(good_volume_array() if array is None else array)
    image.SetSpacing(spacing)
    image.SetOrigin((10.0, 20.0, 30.0))
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "v.nii"
        sitk.WriteImage(image, str(path), useCompression=False)
        return path.read_bytes()


def write_good_nifti(path: Path) -> Path:
    data = nifti_bytes()
    path.write_bytes(gzip.compress(data) if path.name.endswith(".gz") else data)
    return path


def truncated_nifti_gz(path: Path) -> Path:
    """A .nii.gz cut after half its compressed bytes (ITK loads it zero-filled)."""
    compressed = gzip.compress(nifti_bytes())
    path.write_bytes(compressed[: len(compressed) // 2])
    return path


def truncated_nifti(path: Path) -> Path:
    """An uncompressed .nii cut after half its bytes."""
    data = nifti_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def _patched(data: bytes, offset: int, fmt: str, *values) -> bytes:
    b = bytearray(data)
    struct.pack_into(fmt, b, offset, *values)
    return bytes(b)


def zero_spacing_nifti(path: Path) -> Path:
    """pixdim[1..3] = 0 (ITK loads it at 1 x 1 x 1 mm)."""
    path.write_bytes(_patched(nifti_bytes(), 80, "<3f", 0.0, 0.0, 0.0))
    return path


def nan_spacing_nifti(path: Path) -> Path:
    path.write_bytes(_patched(nifti_bytes(), 80, "<3f", float("nan"), 0.8, 5.6))
    return path


def bad_magic_nifti(path: Path) -> Path:
    """The magic 'n+1' overwritten (ITK reads it as Analyze: one axis flipped, origin 0)."""
    b = bytearray(nifti_bytes())
    b[344:348] = b"xxxx"
    path.write_bytes(bytes(b))
    return path


def huge_header_nifti(path: Path, size: int = 30000) -> Path:
    """A small file whose header claims size^3 int16 voxels (54 TB for 30000)."""
    data = _patched(nifti_bytes(), 42, "<3h", size, size, size)
    path.write_bytes(gzip.compress(data) if path.name.endswith(".gz") else data)
    return path


def gzip_bomb_nifti(path: Path, claimed_shape: tuple[int, int, int], stream_bytes: int) -> Path:
    """A .nii.gz whose header claims ``claimed_shape`` uint8 voxels and whose stream holds ``stream_bytes``
    of zeros after the header (a few kB on disk for hundreds of MB decompressed)."""
    header = bytearray(nifti_bytes()[:352])
    struct.pack_into("<4h", header, 40, 3, *claimed_shape)
    struct.pack_into("<2h", header, 70, 2, 8)  # uint8
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)  # gzip container
    chunks = [compressor.compress(bytes(header))]
    zeros = bytes(1 << 20)
    left = stream_bytes
    while left > 0:
        chunks.append(compressor.compress(zeros[: min(left, len(zeros))]))
        left -= len(zeros)
    chunks.append(compressor.flush())
    path.write_bytes(b"".join(chunks))
    return path


def sheared_nrrd(path: Path) -> Path:
    """An NRRD whose space directions are not perpendicular (a damaged header or a sheared grid)."""
    image = sitk.GetImageFromArray(good_volume_array())
    image.SetSpacing(SPACING)
    sitk.WriteImage(image, str(path), useCompression=False)
    data = path.read_bytes()
    start = data.index(b"space directions:")
    end = data.index(b"\n", start)
    path.write_bytes(data[:start] + b"space directions: (0.7,0,0) (0.5,0.8,0) (0,0,5.6)" + data[end:])
    return path


def zero_spacing_mha(path: Path) -> Path:
    image = sitk.GetImageFromArray(good_volume_array())
    image.SetSpacing(SPACING)
    sitk.WriteImage(image, str(path), useCompression=False)
    data = path.read_bytes()
    start = data.index(b"ElementSpacing = ")
    end = data.index(b"\n", start)
    path.write_bytes(data[:start] + b"ElementSpacing = 0 0 0" + data[end:])
    return path


def huge_header_mha(path: Path) -> Path:
    image = sitk.GetImageFromArray(good_volume_array())
    sitk.WriteImage(image, str(path), useCompression=True)
    data = path.read_bytes()
    start = data.index(b"DimSize = ")
    end = data.index(b"\n", start)
    path.write_bytes(data[:start] + b"DimSize = 30000 30000 30000" + data[end:])
    return path


# --- raster images ---------------------------------------------------------------------------------


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def png_claiming(path: Path, width: int = 60000, height: int = 60000) -> Path:
    """A PNG of a few hundred bytes whose header claims width x height grey pixels."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(bytes(1 + width) * 2)  # two rows; the rest is missing
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", idat)
                     + _png_chunk(b"IEND", b""))
    return path


# --- project files -------------------------------------------------------------------------------


@dataclass
class DamagedProject:
    path: Path
    page_size: int
    damaged_page: int


def damage_project_page(path: Path, page: int | None = None) -> DamagedProject:
    """Overwrite one database page (by default the one holding the ``meta`` table) with garbage, as a
    failing disk or an interrupted copy would. The project must be closed (its WAL checkpointed)."""
    conn = sqlite3.connect(path)
    try:
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        if page is None:
            page = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'meta'").fetchone()[0]
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    with open(path, "r+b") as fh:
        fh.seek((page - 1) * page_size)
        fh.write(bytes([0xA5]) * page_size)
    return DamagedProject(path, page_size, page)
