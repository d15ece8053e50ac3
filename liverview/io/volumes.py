"""Read and write single-file volumes (NIfTI, NRRD, MetaImage) through SimpleITK.

Geometry conventions match liverview.core.volume: SimpleITK's ``GetDirection()`` is a row-major 3x3
matrix whose *columns* are the axis directions, exactly like ``Volume.direction``, so it is reshaped,
never transposed. ITK converts NIfTI's RAS to LPS itself.
"""

from __future__ import annotations

import logging
import math
import re
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from liverview.core.volume import GeometryError, Volume
from liverview.io.errors import LoadError, MissingInputError, SaveError, UnsupportedFormatError
from liverview.io.limits import ImageTooLargeError, check_decoded_size
from liverview.io.load_monitor import QUIET, LoadMonitor
from liverview.io.native_warnings import captured_native_output
from liverview.io.nifti_file import DamagedFileError, check_nifti_size, read_nifti_header, read_nifti_voxels

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


def _narrow_integers(array: np.ndarray, problems: list[str], name: str) -> np.ndarray:
    """uint16 -> int16 when it fits (else int32), wider integers -> int32 when they fit (else float64)."""
    lo, hi = (int(array.min()), int(array.max())) if array.size else (0, 0)
    if array.dtype == np.uint16 and hi <= np.iinfo(np.int16).max:
        return array.astype(np.int16)
    if np.iinfo(np.int32).min <= lo and hi <= np.iinfo(np.int32).max:
        return array.astype(np.int32)
    problems.append(f"{name}: integer values beyond 32 bits were converted to float64")
    return array.astype(np.float64)


def _replace_non_finite(array: np.ndarray, problems: list[str], name: str) -> np.ndarray:
    """NaN / inf voxels set to the smallest finite value and reported (in the file's own float type, so that
    only what the file holds is called non-finite)."""
    finite = np.isfinite(array)
    if finite.all():
        return array
    bad = int(array.size - np.count_nonzero(finite))
    if bad == array.size:
        raise LoadError(f"{name}: every voxel is NaN or infinite; the file holds no usable image")
    fill = array[finite].min()
    problems.append(f"{name}: {bad} non-finite voxel(s) (NaN/inf) were replaced by the minimum value {float(fill):g}")
    return np.where(finite, array, fill)


def _to_float32(array: np.ndarray, name: str) -> np.ndarray:
    """A finite float array as float32; refused when its values do not fit (they would become infinite)."""
    limit = float(np.finfo(np.float32).max)
    peak = float(np.max(np.abs(array))) if array.size else 0.0
    if peak > limit:
        raise UnsupportedFormatError(
            f"{name}: holds values up to {peak:.3g}, beyond what can be shown (about {limit:.3g}); they are "
            "not CT or ultrasound intensities: the file is damaged, or is not an image")
    return array.astype(np.float32)


def _sane_array(array: np.ndarray, problems: list[str], name: str) -> np.ndarray:
    """Convert unusual dtypes to ones the viewer handles; replace non-finite voxels.

    Keeps uint8/int8/int16/int32/float32. uint16 becomes int16 when it fits (else int32), wider
    integers int32 when they fit (else float64), other floats float32 (refused when beyond its range),
    bool uint8. Non-finite voxels are set to the smallest finite value and reported, so that windowing and
    statistics stay usable; they are looked for before any cast, so a cast never invents them.
    """
    dtype = array.dtype
    if dtype.kind == "c":
        raise UnsupportedFormatError(f"{name}: complex-valued images are not supported")
    if dtype == np.bool_:
        return array.astype(np.uint8)
    if dtype.kind in "ui" and dtype not in _KEPT_DTYPES:
        return _narrow_integers(array, problems, name)
    if dtype.kind != "f":
        return array
    array = _replace_non_finite(array, problems, name)
    return array if array.dtype == np.float32 else _to_float32(array, name)


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


def _direction_problem(direction: np.ndarray, label: str) -> str | None:
    """A message when the axis directions are not unit length and perpendicular (a damaged or sheared grid)."""
    d = np.asarray(direction, dtype=float)
    error = float(np.max(np.abs(d.T @ d - np.eye(d.shape[0]))))
    if error <= 1e-3:
        return None
    return (f"{label}: the axis directions are not perpendicular unit vectors (off by {error:.3g}): the header "
            "may be damaged, or the grid is sheared (gantry tilt); positions and distances are approximate")


def _bytes_per_voxel(reader: sitk.ImageFileReader) -> int:
    """Decoded bytes of one voxel, from ITK's pixel type name ('16-bit signed integer', 'complex of 32-bit float')."""
    text = sitk.GetPixelIDValueAsString(reader.GetPixelID())
    match = re.search(r"(\d+)-bit", text)
    bits = int(match.group(1)) if match else 64
    return max(bits // 8, 1) * (2 if "complex" in text else 1) * max(reader.GetNumberOfComponents(), 1)


def _image_information(path: Path) -> sitk.ImageFileReader:
    """A reader that has read the header only (ITK reads no voxels for this)."""
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    reader.ReadImageInformation()
    return reader


def _check_claimed_size(path: Path, reader: sitk.ImageFileReader) -> None:
    size = reader.GetSize()
    claimed = math.prod(size) * _bytes_per_voxel(reader)
    check_decoded_size(str(path), claimed, f"the header's {' x '.join(map(str, size))} voxels")


def _read_nifti(path: Path, name: str, problems: list[str], monitor: LoadMonitor = QUIET) -> Volume:
    """A NIfTI file with its header checked and its voxels read here (see liverview.io.nifti_file); ITK
    gives the geometry from the header. Voxels ITK would alter (NaN/inf set to 0) are kept, then reported."""
    header = read_nifti_header(path)
    check_nifti_size(path, header)
    if not header.has_orientation:
        problems.append(f"{name}: the header gives no position or orientation (qform and sform codes are 0): "
                        "it is shown at origin 0 with axes along x, y, z, which may not be where it was scanned")
    reader = _image_information(path)
    size = list(reader.GetSize())
    while len(size) > 3 and size[-1] == 1:
        size.pop()
    if header.dtype is None or reader.GetNumberOfComponents() != 1 or len(size) not in (2, 3):
        return volume_from_sitk(sitk.ReadImage(str(path)), name=name, problems=problems)  # refused there
    raw = read_nifti_voxels(path, header, monitor)
    if raw is None or raw.size != math.prod(size):
        raise DamagedFileError(f"{path}: the header's image size {header.dims} does not agree with ITK's "
                               f"reading of it {tuple(size)}: the header is damaged")
    n = len(size)
    info = sitk.Image([1] * n, sitk.sitkFloat32)
    info.SetSpacing(reader.GetSpacing()[:n])
    info.SetOrigin(reader.GetOrigin()[:n])
    info.SetDirection(np.asarray(reader.GetDirection()).reshape(reader.GetDimension(), -1)[:n, :n].ravel().tolist())
    geometry = volume_from_sitk(info, name, problems)
    array = _sane_array(raw.reshape(size[::-1]), problems, name)
    try:
        return Volume(array, geometry.spacing, geometry.origin, geometry.direction, name)
    except GeometryError as exc:
        raise LoadError(f"{name}: unusable geometry: {exc}") from exc


def _read_with_itk(path: Path, name: str, problems: list[str]) -> Volume:
    """NRRD / MetaImage: ITK reads it, after the size its header claims was checked against the limit."""
    _check_claimed_size(path, _image_information(path))
    return volume_from_sitk(sitk.ReadImage(str(path)), name=name, problems=problems)


def read_volume(path: str | Path, problems: list[str] | None = None, monitor: LoadMonitor = QUIET) -> Volume:
    """Read a NIfTI / NRRD / MetaImage file into a Volume named after the file.

    Warnings (replaced NaNs, dtype conversions, ITK's own warnings, a sheared grid) are appended to
    ``problems`` when a list is given, and logged. Raises LoadError (a subclass) naming the path when the
    file is missing, unreadable or damaged (DamagedFileError), or claims more memory than allowed
    (ImageTooLargeError). ``monitor`` hears the progress of a NIfTI file's voxels and may cancel the read
    (LoadCancelled); NRRD / MetaImage are read by ITK in one call.
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
    native: list[str] = []
    name = volume_stem(p)
    try:
        with captured_native_output(native):
            if volume_suffix(p) in (".nii", ".nii.gz"):
                volume = _read_nifti(p, name, local, monitor)
            else:
                volume = _read_with_itk(p, name, local)
    except RuntimeError as exc:
        reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else "unknown error"
        said = f"; ITK said: {'; '.join(native[:3])}" if native else ""
        raise DamagedFileError(f"{p}: cannot be read as a volume ({reason}){said}: the file is damaged, or not "
                               "what its name says") from exc
    except LoadError as exc:
        message = str(exc)
        raise type(exc)(message if message.startswith(str(p)) else f"{p}: {message}") from exc
    except OSError as exc:
        raise LoadError(f"{p}: cannot be read ({exc.strerror or exc})") from exc
    except MemoryError:
        raise ImageTooLargeError(f"{p}: not enough memory to load it; close other studies, or lower "
                                 "LIVERVIEW_MAX_IMAGE_BYTES so such files are refused up front") from None
    local.extend(f"{name}: {line}" for line in native)
    problem = _direction_problem(volume.direction, name)
    if problem:
        local.append(problem)
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
