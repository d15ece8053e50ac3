"""A NIfTI-1/2 file checked before its voxels are believed: header, claimed size and compressed stream.

ITK's NIfTI reader loads a damaged file without complaint: a bad magic makes it an Analyze file (one axis
flipped, origin 0), zero spacing becomes 1 mm, a truncated .nii.gz is zero-filled, and a header claiming
30000^3 voxels is allocated as claimed. So the header is parsed here first, its claims are checked against
the file's real size and the memory limit (liverview.io.limits), and the voxels are read here, exactly as
many bytes as claimed and no more, with a truncated or corrupt stream refused. ITK still supplies the
geometry (its qform / sform handling and RAS -> LPS), from the header alone.
"""

from __future__ import annotations

import gzip
import math
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from liverview.io.errors import LoadError
from liverview.io.limits import MAX_DEFLATE_RATIO, ImageTooLargeError, check_decoded_size, describe_bytes
from liverview.io.load_monitor import QUIET, LoadMonitor


class DamagedFileError(LoadError):
    """A file's header or data stream is damaged: it is refused rather than shown wrong."""


# NIfTI datatype code -> numpy dtype of one voxel (the scalar types; others are left to ITK, which
# refuses colour / complex voxels anyway).
NIFTI_DTYPES: dict[int, np.dtype] = {
    2: np.dtype(np.uint8), 4: np.dtype(np.int16), 8: np.dtype(np.int32), 16: np.dtype(np.float32),
    64: np.dtype(np.float64), 256: np.dtype(np.int8), 512: np.dtype(np.uint16), 768: np.dtype(np.uint32),
    1024: np.dtype(np.int64), 1280: np.dtype(np.uint64),
}
# Bytes per voxel of every datatype code the standard defines (for the size claim of any file).
_NIFTI_BITS = {1: 1, 2: 8, 4: 16, 8: 32, 16: 32, 32: 64, 64: 64, 128: 24, 256: 8, 512: 16, 768: 32,
               1024: 64, 1280: 64, 1536: 128, 1792: 128, 2048: 256, 2304: 32}
_MAGICS = {348: (b"n+1\0",), 540: (b"n+2\0\r\n\x1a\n",)}
_CHUNK = 1 << 24  # bytes read from a stream at a time


@dataclass(frozen=True)
class NiftiHeader:
    """What a NIfTI header claims, in the file's byte order."""

    version: int  # 1 or 2
    order: str  # '<' or '>'
    dims: tuple[int, ...]  # dim[1..dim[0]]
    datatype: int
    bitpix: int
    pixdim: tuple[float, ...]  # pixdim[1..dim[0]]
    vox_offset: int
    scl_slope: float
    scl_inter: float
    qform_code: int = 0
    sform_code: int = 0

    @property
    def has_orientation(self) -> bool:
        """False when neither qform nor sform places the image (NIfTI's method 1: no position at all)."""
        return self.qform_code > 0 or self.sform_code > 0

    @property
    def voxel_count(self) -> int:
        return math.prod(self.dims)

    @property
    def data_bytes(self) -> int:
        return self.voxel_count * _NIFTI_BITS.get(self.datatype, max(self.bitpix, 8)) // 8

    @property
    def dtype(self) -> np.dtype | None:
        dtype = NIFTI_DTYPES.get(self.datatype)
        return None if dtype is None else dtype.newbyteorder(self.order)

    @property
    def scaled(self) -> bool:
        """True when scl_slope / scl_inter change the stored values (slope 0 or non-finite means none)."""
        s, b = self.scl_slope, self.scl_inter
        return math.isfinite(s) and s != 0.0 and math.isfinite(b) and (s != 1.0 or b != 0.0)


def is_gzip(path: Path) -> bool:
    return path.name.lower().endswith(".gz")


def _open(path: Path):
    return gzip.open(path, "rb") if is_gzip(path) else open(path, "rb")


def _stream_error(path: Path, exc: BaseException) -> DamagedFileError:
    if isinstance(exc, EOFError):
        return DamagedFileError(f"{path}: the compressed data stops early (the file is truncated); refused "
                                "rather than shown with blank slices")
    if isinstance(exc, gzip.BadGzipFile) and "Not a gzipped file" in str(exc):
        return DamagedFileError(f"{path}: cannot be read: it is not gzip-compressed although its name ends in .gz")
    return DamagedFileError(f"{path}: the compressed data is corrupt ({exc}); refused")


def read_nifti_header(path: Path) -> NiftiHeader:
    """The header of a .nii / .nii.gz file, checked; DamagedFileError says what is wrong with it."""
    try:
        with _open(path) as fh:
            head = fh.read(540)
    except (EOFError, OSError, zlib.error) as exc:
        raise _stream_error(path, exc) from None
    if len(head) < 348:
        raise DamagedFileError(f"{path}: only {len(head)} bytes, too short for a NIfTI header (348 bytes)")
    for order in "<>":
        size = struct.unpack(order + "i", head[:4])[0]
        if size in _MAGICS:
            break
    else:
        raise DamagedFileError(f"{path}: not a NIfTI file (header size field {struct.unpack('<i', head[:4])[0]}, "
                               "expected 348 or 540): damaged, or a different format with a .nii name")
    if size == 540 and len(head) < 540:
        raise DamagedFileError(f"{path}: the NIfTI-2 header is cut short ({len(head)} of 540 bytes)")
    magic = head[344:348] if size == 348 else head[4:12]
    if magic not in _MAGICS[size]:
        hint = " (a .hdr/.img pair header)" if magic == b"ni1\0" else ""
        raise DamagedFileError(
            f"{path}: the NIfTI magic is {bytes(magic)!r}, not {_MAGICS[size][0]!r}{hint}: the header is damaged; "
            "refused (read without it, one axis would be flipped and the position lost)")
    if size == 348:
        dim = struct.unpack(order + "8h", head[40:56])
        datatype, bitpix = struct.unpack(order + "2h", head[70:74])
        pixdim = struct.unpack(order + "8f", head[76:108])
        vox_offset = struct.unpack(order + "f", head[108:112])[0]
        slope, inter = struct.unpack(order + "2f", head[112:120])
        qform_code, sform_code = struct.unpack(order + "2h", head[252:256])
        quatern = struct.unpack(order + "3f", head[256:268])
    else:
        datatype, bitpix = struct.unpack(order + "2h", head[12:16])
        dim = struct.unpack(order + "8q", head[16:80])
        pixdim = struct.unpack(order + "8d", head[104:168])
        vox_offset = struct.unpack(order + "q", head[168:176])[0]
        slope, inter = struct.unpack(order + "2d", head[176:192])
        qform_code, sform_code = struct.unpack(order + "2i", head[344:352])
        quatern = struct.unpack(order + "3d", head[352:376])
    ndim = dim[0]
    if not 1 <= ndim <= 7:
        raise DamagedFileError(f"{path}: the header gives {ndim} dimensions (dim[0] must be 1..7): it is damaged")
    dims = tuple(int(d) for d in dim[1:ndim + 1])
    if any(d < 1 for d in dims):
        raise DamagedFileError(f"{path}: the header gives the image size {' x '.join(map(str, dims))}: "
                               "a size below 1 means it is damaged")
    if datatype not in _NIFTI_BITS:
        raise DamagedFileError(f"{path}: unknown NIfTI datatype code {datatype}: the header is damaged")
    spatial = [float(p) for p in pixdim[1:min(ndim, 3) + 1]]
    if not all(math.isfinite(p) and p != 0.0 for p in spatial):
        raise DamagedFileError(
            f"{path}: the voxel spacing in the header is {' x '.join(f'{p:g}' for p in spatial)} mm "
            "(zero or not a number): the header is damaged; refused, as every measurement would be wrong")
    if not math.isfinite(vox_offset) or vox_offset < size:
        raise DamagedFileError(f"{path}: the voxel data offset {vox_offset:g} lies inside the header: damaged")
    if qform_code > 0 and sform_code <= 0:  # the quaternion is what places the image
        norm = sum(q * q for q in quatern)
        if not math.isfinite(norm) or norm > 1.0 + 1e-3:
            raise DamagedFileError(
                f"{path}: the header's orientation quaternion (b, c, d) = {tuple(round(q, 4) for q in quatern)} "
                "is not a rotation (b^2 + c^2 + d^2 > 1): the header is damaged; refused, the orientation "
                "would be invented")
    return NiftiHeader(2 if size == 540 else 1, order, dims, int(datatype), int(bitpix),
                       tuple(float(p) for p in pixdim[1:ndim + 1]), int(vox_offset), float(slope), float(inter),
                       int(qform_code), int(sform_code))


def check_nifti_size(path: Path, header: NiftiHeader) -> None:
    """Refuse a header whose claimed voxels exceed the memory limit or what the file can hold."""
    claimed = header.data_bytes
    decoded = max(claimed, header.voxel_count * 4) if header.scaled else claimed  # scaled voxels become float32
    shape = " x ".join(map(str, header.dims))
    check_decoded_size(str(path), decoded, f"the header's {shape} voxels")
    on_disk = path.stat().st_size
    if is_gzip(path):
        if header.vox_offset + claimed > on_disk * MAX_DEFLATE_RATIO + 1024:
            raise ImageTooLargeError(
                f"{path}: the header claims {shape} voxels ({describe_bytes(claimed)}), more than a "
                f"{describe_bytes(on_disk)} compressed file can hold: it is damaged")
    elif header.vox_offset + claimed > on_disk:
        raise DamagedFileError(
            f"{path}: the header claims {shape} voxels ({describe_bytes(claimed)}) but the file holds only "
            f"{describe_bytes(max(on_disk - header.vox_offset, 0))} of voxel data: it is truncated; refused")


def read_nifti_voxels(path: Path, header: NiftiHeader, monitor: LoadMonitor = QUIET) -> np.ndarray | None:
    """The voxels as an array [..., k, j, i] in native byte order, scl_slope / scl_inter applied (integers
    then become float32, as ITK does); None for a datatype left to ITK. Reads exactly the claimed bytes;
    DamagedFileError when the stream ends early or fails its check. ``monitor`` hears the bytes read so far
    and may cancel between chunks (a 300 MB phase takes seconds from a cold disk)."""
    dtype = header.dtype
    if dtype is None:
        return None
    nbytes = header.voxel_count * dtype.itemsize
    buffer = np.empty(nbytes, dtype=np.uint8)
    view = memoryview(buffer)
    got = 0
    try:
        with _open(path) as fh:
            fh.seek(header.vox_offset)
            while got < nbytes:
                n = fh.readinto(view[got:got + _CHUNK])
                if not n:
                    break
                got += n
                monitor.progress(got / nbytes)
                monitor.check()
            if got == nbytes and is_gzip(path):
                fh.read(1)  # reaching the end makes gzip check the stream's CRC and length
    except (EOFError, OSError, zlib.error) as exc:
        raise _stream_error(path, exc) from None
    if got < nbytes:
        raise DamagedFileError(
            f"{path}: the voxel data stops after {describe_bytes(got)} of the {describe_bytes(nbytes)} the header "
            "claims (the file is truncated); refused rather than shown with blank slices")
    array = buffer.view(dtype).reshape(header.dims[::-1])
    if header.scaled:
        scaled = np.empty(array.shape, dtype=np.float32)
        np.multiply(array, header.scl_slope, out=scaled, casting="unsafe")
        scaled += np.float32(header.scl_inter)
        return scaled
    return array if array.dtype.isnative else array.astype(array.dtype.newbyteorder("="))
