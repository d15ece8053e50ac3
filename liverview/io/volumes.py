"""Read and write single-file volumes (NIfTI, NRRD, MetaImage) through SimpleITK.

Geometry conventions match liverview.core.volume: SimpleITK's ``GetDirection()`` is a row-major 3x3
matrix whose *columns* are the axis directions, exactly like ``Volume.direction``, so it is reshaped,
never transposed. ITK converts NIfTI's RAS to LPS itself.
"""

from __future__ import annotations

import gzip
import logging
import struct
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from liverview.core.volume import GeometryError, Volume
from liverview.io.errors import LoadError, MissingInputError, SaveError, UnsupportedFormatError

log = logging.getLogger(__name__)

# File name endings read and written here (lower case, longest first so ".nii.gz" beats ".gz").
VOLUME_SUFFIXES: tuple[str, ...] = (".nii.gz", ".nii", ".nrrd", ".nhdr", ".mha", ".mhd")

# Native dtypes kept as they are; the others are converted by _sane_array.
_KEPT_DTYPES = {np.dtype(t) for t in (np.uint8, np.int8, np.int16, np.int32, np.float32)}


def volume_suffix(path: str | Path) -> str | None:
    """The volume-format ending of a file name (e.g. '.nii.gz'), or None when it is not one."""
    name = Path(path).name.lower()
    for suffix in VOLUME_SUFFIXES:
        if name.endswith(suffix):
            return suffix
    return None


def is_volume_file(path: str | Path) -> bool:
    """True when the name ends in a volume format read by read_volume (the content is not checked)."""
    return volume_suffix(path) is not None


def volume_stem(path: str | Path) -> str:
    """File name without its volume ending: 'arterial.nii.gz' -> 'arterial'."""
    name = Path(path).name
    suffix = volume_suffix(name)
    return name[: -len(suffix)] if suffix else Path(name).stem


def _sane_array(array: np.ndarray, problems: list[str], name: str) -> np.ndarray:
    """Convert unusual dtypes to ones the viewer handles; replace non-finite voxels.

    Keeps uint8/int8/int16/int32/float32. uint16 becomes int16 when it fits (else int32), wider
    integers int32 when they fit (else float64), other floats float32, bool uint8. Non-finite voxels
    are set to the smallest finite value and reported, so that windowing and statistics stay usable.
    """
    dtype = array.dtype
    if dtype.kind == "c":
        raise UnsupportedFormatError(f"{name}: complex-valued images are not supported")
    if dtype == np.bool_:
        array = array.astype(np.uint8)
    elif dtype.kind in "ui" and dtype not in _KEPT_DTYPES:
        lo, hi = (int(array.min()), int(array.max())) if array.size else (0, 0)
        if dtype == np.uint16 and hi <= np.iinfo(np.int16).max:
            array = array.astype(np.int16)
        elif np.iinfo(np.int32).min <= lo and hi <= np.iinfo(np.int32).max:
            array = array.astype(np.int32)
        else:
            array = array.astype(np.float64)
            problems.append(f"{name}: integer values beyond 32 bits were converted to float64")
    elif dtype.kind == "f" and dtype != np.float32:
        array = array.astype(np.float32)
    if array.dtype.kind == "f":
        finite = np.isfinite(array)
        if not finite.all():
            bad = int(array.size - np.count_nonzero(finite))
            if bad == array.size:
                raise LoadError(f"{name}: every voxel is NaN or infinite; the file holds no usable image")
            fill = float(array[finite].min())
            array = np.where(finite, array, np.asarray(fill, dtype=array.dtype))
            problems.append(
                f"{name}: {bad} non-finite voxel(s) (NaN/inf) were replaced by the minimum value {fill:g}"
            )
    return array


def volume_from_sitk(
    image: sitk.Image, name: str = "", problems: list[str] | None = None
) -> Volume:
    """A Volume from a SimpleITK image (2D images become one slice); dtype cleaned as in read_volume."""
    problems = problems if problems is not None else []
    label = name or "image"
    if image.GetNumberOfComponentsPerPixel() != 1:
        raise UnsupportedFormatError(
            f"{label}: has {image.GetNumberOfComponentsPerPixel()} components per voxel (colour or "
            "vector image); only scalar images can be loaded"
        )
    dim = image.GetDimension()
    if dim == 4 and image.GetSize()[3] == 1:
        image = image[:, :, :, 0]
        dim = 3
    if dim not in (2, 3):
        raise UnsupportedFormatError(
            f"{label}: is a {dim}D image of size {image.GetSize()}; only 2D and 3D images can be loaded"
        )
    array = sitk.GetArrayFromImage(image)
    if dim == 2:
        spacing = (*image.GetSpacing(), 1.0)
        origin = (*image.GetOrigin(), 0.0)
        d2 = np.asarray(image.GetDirection(), dtype=float).reshape(2, 2)
        direction = np.eye(3)
        direction[:2, :2] = d2
    else:
        spacing = image.GetSpacing()
        origin = image.GetOrigin()
        direction = np.asarray(image.GetDirection(), dtype=float).reshape(3, 3)
    array = _sane_array(array, problems, label)
    try:
        return Volume(array, spacing, origin, direction, name)
    except GeometryError as exc:
        raise LoadError(f"{label}: unusable geometry: {exc}") from exc


def volume_to_sitk(volume: Volume) -> sitk.Image:
    """A SimpleITK image holding a copy of the voxels with the same spacing, origin and direction."""
    image = sitk.GetImageFromArray(np.ascontiguousarray(volume.array))
    image.SetSpacing(tuple(float(s) for s in volume.spacing))
    image.SetOrigin(tuple(float(o) for o in volume.origin))
    image.SetDirection(tuple(float(v) for v in np.asarray(volume.direction, float).reshape(9)))
    return image


# NIfTI datatype codes of float voxels: ITK's NIfTI reader silently turns their NaN/inf into 0.
_NIFTI_FLOATS = {16: np.float32, 64: np.float64}


def _nifti_float_voxels(path: Path) -> np.ndarray | None:
    """Raw float voxels of a NIfTI-1/2 file as an array [k, j, i] (scl_slope applied), else None.

    Used instead of SimpleITK's pixels for float NIfTI files, because its reader replaces NaN and
    infinite voxels by 0 without saying so, which would hide broken data.
    """
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    with opener(path, "rb") as fh:
        head = fh.read(540)
        if len(head) < 348:
            return None
        for order in "<>":
            size = struct.unpack(order + "i", head[:4])[0]
            if size in (348, 540):
                break
        else:
            return None
        if size == 348:
            dims = struct.unpack(order + "8h", head[40:56])
            datatype = struct.unpack(order + "h", head[70:72])[0]
            offset = int(struct.unpack(order + "f", head[108:112])[0])
            slope, inter = struct.unpack(order + "2f", head[112:120])
        else:
            datatype = struct.unpack(order + "h", head[12:14])[0]
            dims = struct.unpack(order + "8q", head[16:80])
            offset = struct.unpack(order + "q", head[168:176])[0]
            slope, inter = struct.unpack(order + "2d", head[176:192])
        if datatype not in _NIFTI_FLOATS or not 1 <= dims[0] <= 7:
            return None
        shape = [max(int(d), 1) for d in dims[1 : dims[0] + 1]]
        count = int(np.prod(shape))
        dtype = np.dtype(_NIFTI_FLOATS[datatype]).newbyteorder(order)
        fh.seek(max(offset, size))
        data = np.frombuffer(fh.read(count * dtype.itemsize), dtype=dtype)
    if data.size != count:
        return None
    array = data.astype(dtype.newbyteorder("="))
    if np.isfinite(slope) and slope not in (0.0, 1.0) or (np.isfinite(inter) and inter != 0.0 and slope != 0.0):
        array = array * slope + inter
    return array.reshape(shape[::-1])


def _read_nifti_float(path: Path, name: str, problems: list[str]) -> Volume | None:
    """A float NIfTI read with its own voxels (NaN kept, then reported); None when it is not one."""
    if volume_suffix(path) not in (".nii", ".nii.gz"):
        return None
    try:
        raw = _nifti_float_voxels(path)
    except (OSError, EOFError, struct.error, ValueError):
        return None
    if raw is None:
        return None
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    reader.ReadImageInformation()
    size = list(reader.GetSize())
    if len(size) == 4 and size[3] == 1:
        size = size[:3]
    if len(size) not in (2, 3) or int(np.prod(size)) != raw.size or reader.GetNumberOfComponents() != 1:
        return None
    info = sitk.Image([1] * len(size), sitk.sitkFloat32)
    n = len(size)
    info.SetSpacing(reader.GetSpacing()[:n])
    info.SetOrigin(reader.GetOrigin()[:n])
    info.SetDirection(np.asarray(reader.GetDirection()).reshape(reader.GetDimension(), -1)[:n, :n].ravel().tolist())
    geometry = volume_from_sitk(info, name)
    array = _sane_array(raw.reshape(size[::-1]), problems, name)
    try:
        return Volume(array, geometry.spacing, geometry.origin, geometry.direction, name)
    except GeometryError as exc:
        raise LoadError(f"{name}: unusable geometry: {exc}") from exc


def read_volume(path: str | Path, problems: list[str] | None = None) -> Volume:
    """Read a NIfTI / NRRD / MetaImage file into a Volume named after the file.

    Warnings (replaced NaNs, dtype conversions) are appended to ``problems`` when a list is given,
    and logged. Raises LoadError (a subclass) naming the path when the file is missing or unreadable.
    """
    p = Path(path)
    if not p.exists():
        raise MissingInputError(f"{p}: no such file")
    if p.is_dir():
        raise UnsupportedFormatError(f"{p}: is a folder; give a volume file (.nii, .nii.gz, .nrrd, .mha, .mhd)")
    if volume_suffix(p) is None:
        raise UnsupportedFormatError(
            f"{p}: unsupported file type; volume files must end in {', '.join(VOLUME_SUFFIXES)}"
        )
    local: list[str] = []
    try:
        volume = _read_nifti_float(p, volume_stem(p), local)
        if volume is None:
            volume = volume_from_sitk(sitk.ReadImage(str(p)), name=volume_stem(p), problems=local)
    except RuntimeError as exc:
        reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else "unknown error"
        raise LoadError(f"{p}: cannot be read as a volume ({reason})") from exc
    except LoadError as exc:
        message = str(exc)
        raise type(exc)(message if message.startswith(str(p)) else f"{p}: {message}") from exc
    for message in local:
        log.warning("%s", message)
    if problems is not None:
        problems.extend(local)
    return volume


def write_volume(volume: Volume, path: str | Path, compress: bool = True) -> Path:
    """Write a Volume to NIfTI / NRRD / MetaImage (by the file ending); returns the path written."""
    p = Path(path)
    if volume_suffix(p) is None:
        raise SaveError(f"{p}: unsupported file type; use one of {', '.join(VOLUME_SUFFIXES)}")
    if not p.parent.is_dir():
        raise SaveError(f"{p}: the folder {p.parent} does not exist")
    try:
        sitk.WriteImage(volume_to_sitk(volume), str(p), useCompression=compress)
    except RuntimeError as exc:
        reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else "unknown error"
        raise SaveError(f"{p}: cannot be written ({reason})") from exc
    return p
