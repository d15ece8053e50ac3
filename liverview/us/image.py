"""Load an ultrasound image as grey frames with the physical pixel size when the file states it.

DICOM US (single frame or multi-frame cine, grey or RGB/YBR) and PNG/JPEG/BMP are read. Pixel size
comes from the DICOM ultrasound region tags (SequenceOfUltrasoundRegions, PhysicalUnitsX/YDirection
== 3 = cm, PhysicalDeltaX/Y in cm); when they are missing, spacing is None and callers measure in px.

The size an image claims (the PNG / JPEG / BMP header, DICOM Rows x Columns x frames) is checked before it
is decoded: grey float32 frames larger than LIVERVIEW_MAX_IMAGE_BYTES (liverview.io.limits) are refused.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from liverview.io.limits import MAX_IMAGE_BYTES_ENV, describe_bytes, max_image_bytes

_RASTER_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp"}
_CM_UNITS = 3  # DICOM PhysicalUnitsXDirection code for centimetres


class UsImageError(ValueError):
    """The file is not a readable ultrasound image (missing, unknown format, empty, NaN)."""


class UsImageTooLargeError(UsImageError):
    """The image claims more pixels than the memory limit allows; it was not decoded."""


def check_us_size(source: str, frames: int, height: int, width: int) -> None:
    """UsImageTooLargeError when ``frames`` grey float32 frames of ``height`` x ``width`` exceed the limit."""
    if frames < 1 or height < 1 or width < 1:
        raise UsImageError(f"{source}: the header gives an empty image ({frames} x {height} x {width})")
    need = frames * height * width * 4  # grey float32 frames
    limit = max_image_bytes()
    if need > limit:
        size = f"{width} x {height} pixels" + (f" x {frames} frames" if frames > 1 else "")
        raise UsImageTooLargeError(
            f"{source}: the image claims {size}, {describe_bytes(need)} once decoded, over the limit of "
            f"{describe_bytes(limit)}; it was not opened (the header may be damaged; raise {MAX_IMAGE_BYTES_ENV} "
            "if it really is that large)")


def raster_size(head: bytes) -> tuple[int, int] | None:
    """(height, width) a PNG, JPEG or BMP header claims, from its first bytes; None when not found."""
    if head.startswith(b"\x89PNG\r\n\x1a\n") and len(head) >= 24 and head[12:16] == b"IHDR":
        width, height = struct.unpack(">II", head[16:24])
        return height, width
    if head.startswith(b"BM") and len(head) >= 26:
        width, height = struct.unpack("<ii", head[18:26])
        return abs(height), abs(width)
    if head.startswith(b"\xff\xd8"):
        pos = 2
        while pos + 9 <= len(head):
            if head[pos] != 0xFF:
                return None
            marker = head[pos + 1]
            if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
                pos += 2
                continue
            length = struct.unpack(">H", head[pos + 2:pos + 4])[0]
            if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):  # start of frame
                height, width = struct.unpack(">HH", head[pos + 5:pos + 9])
                return height, width
            pos += 2 + length
    return None


@dataclass
class UsImage:
    """Grey frames [F, H, W] float32 in 0..255; pixel size (row, col) in mm or None when unknown."""

    frames: np.ndarray
    pixel_spacing_mm: tuple[float, float] | None
    source: str

    @property
    def n_frames(self) -> int:
        return int(self.frames.shape[0])

    @property
    def units(self) -> str:
        return "mm" if self.pixel_spacing_mm is not None else "px"

    def frame(self, index: int = 0) -> np.ndarray:
        if not 0 <= index < self.n_frames:
            raise UsImageError(f"frame {index} is outside 0..{self.n_frames - 1} of {self.source}")
        return self.frames[index]


def _to_grey_frames(pixels: np.ndarray, samples_per_pixel: int, n_frames: int) -> np.ndarray:
    """DICOM pixel array -> [F, H, W] float32 grey (RGB averaged with luma weights)."""
    a = np.asarray(pixels)
    if samples_per_pixel > 1:
        if n_frames == 1 and a.ndim == 3:
            a = a[None]
        if a.ndim != 4:
            raise UsImageError(f"unexpected colour pixel array shape {a.shape}")
        a = a[..., 0] * 0.299 + a[..., 1] * 0.587 + a[..., 2] * 0.114
    else:
        if n_frames == 1 and a.ndim == 2:
            a = a[None]
        if a.ndim != 3:
            raise UsImageError(f"unexpected grey pixel array shape {a.shape}")
    return a.astype(np.float32)


def _region_spacing_mm(ds) -> tuple[float, float] | None:
    """(row, col) mm from the first ultrasound region that states centimetres on both axes."""
    for region in getattr(ds, "SequenceOfUltrasoundRegions", None) or []:
        ux = getattr(region, "PhysicalUnitsXDirection", None)
        uy = getattr(region, "PhysicalUnitsYDirection", None)
        dx = getattr(region, "PhysicalDeltaX", None)
        dy = getattr(region, "PhysicalDeltaY", None)
        if ux == _CM_UNITS and uy == _CM_UNITS and dx and dy:
            dx_mm, dy_mm = abs(float(dx)) * 10.0, abs(float(dy)) * 10.0
            if dx_mm > 0 and dy_mm > 0 and np.isfinite(dx_mm) and np.isfinite(dy_mm):
                return (dy_mm, dx_mm)
    return None


def _load_dicom(path: Path) -> UsImage:
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        ds = pydicom.dcmread(str(path))
    except (InvalidDicomError, OSError, EOFError) as exc:
        raise UsImageError(f"{path} is not a readable DICOM file: {exc}") from exc
    if "PixelData" not in ds:
        raise UsImageError(f"{path} holds no pixel data")
    try:
        rows, cols = int(ds.Rows), int(ds.Columns)
        n_frames = int(getattr(ds, "NumberOfFrames", 1) or 1)
    except (AttributeError, TypeError, ValueError) as exc:
        raise UsImageError(f"{path}: Rows / Columns / NumberOfFrames are missing or not numbers") from exc
    check_us_size(str(path), n_frames, rows, cols)
    try:
        pixels = ds.pixel_array
    except Exception as exc:  # pydicom raises many types for missing decoders / bad lengths
        raise UsImageError(f"cannot decode the pixels of {path}: {exc}") from exc
    spp = int(getattr(ds, "SamplesPerPixel", 1))  # pydicom 3 already returns YBR colour as RGB
    frames = _to_grey_frames(pixels, spp, int(getattr(ds, "NumberOfFrames", 1) or 1))
    bits = int(getattr(ds, "BitsStored", 8) or 8)
    if spp == 1 and str(getattr(ds, "PhotometricInterpretation", "")).strip() == "MONOCHROME1":
        # MONOCHROME1 stores white as the lowest value: shown as stored, every echo would be dark
        frames = float((1 << bits) - 1) - frames
    if bits > 8:  # keep the 0..255 contract for 16-bit exports
        lo, hi = float(frames.min()), float(frames.max())
        frames = (frames - lo) * (255.0 / (hi - lo)) if hi > lo else frames * 0.0
    return UsImage(frames, _region_spacing_mm(ds), str(path))


def _load_raster(path: Path) -> UsImage:
    data = np.fromfile(str(path), dtype=np.uint8)
    size = raster_size(data[:65536].tobytes())
    if size is not None:
        check_us_size(str(path), 1, *size)
    try:
        img = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    except cv2.error as exc:  # OpenCV's own limits (CV_IO_MAX_IMAGE_PIXELS), corrupt streams
        reason = (str(exc).strip().splitlines() or ["?"])[-1]
        raise UsImageError(f"{path} cannot be decoded as an image ({reason})") from None
    if img is None:
        raise UsImageError(f"{path} is not a readable PNG/JPEG/BMP image")
    if img.ndim == 3:
        code = cv2.COLOR_BGRA2GRAY if img.shape[2] == 4 else cv2.COLOR_BGR2GRAY
        img = cv2.cvtColor(img, code)
    img = img.astype(np.float32)
    if img.max() > 255:  # 16-bit PNG
        img = img * (255.0 / 65535.0)
    return UsImage(img[None], None, str(path))


def load_us_image(path: str | Path) -> UsImage:
    """Read DICOM US or PNG/JPEG/BMP into grey frames; raises UsImageError with the reason."""
    path = Path(path)
    if not path.exists():
        raise UsImageError(f"{path} does not exist")
    if path.is_dir():
        raise UsImageError(f"{path} is a folder, not an image file")
    if path.suffix.lower() in _RASTER_SUFFIXES:
        image = _load_raster(path)
    else:
        with open(path, "rb") as fh:
            head = fh.read(132)
        if len(head) == 132 and head[128:132] == b"DICM" or path.suffix.lower() in {".dcm", ".dicom"}:
            image = _load_dicom(path)
        else:
            image = _load_raster(path)  # unknown suffix: let OpenCV sniff it
    return validate_us_image(image)


def validate_us_image(image: UsImage) -> UsImage:
    """Reject empty, non-2D or non-finite frames with a clear message."""
    f = image.frames
    if f.ndim != 3 or f.shape[0] < 1 or f.shape[1] < 2 or f.shape[2] < 2:
        raise UsImageError(f"{image.source}: expected frames [F, H, W] of at least 2x2 pixels, got {f.shape}")
    if not np.all(np.isfinite(f)):
        raise UsImageError(f"{image.source}: the image holds NaN or infinite values")
    if float(f.max()) == float(f.min()):
        raise UsImageError(f"{image.source}: the image is empty (every pixel is {float(f.min()):g})")
    image.frames = np.ascontiguousarray(f, dtype=np.float32)
    return image
