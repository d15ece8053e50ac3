"""Loading ultrasound images: DICOM US single/multi-frame (grey and RGB), region pixel spacing, PNG/BMP/JPEG."""

import cv2
import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, UltrasoundImageStorage, UltrasoundMultiFrameImageStorage, generate_uid

from liverview.us.image import UsImageError, UsImageTooLargeError, load_us_image, raster_size


def _write_us_dicom(path, pixels: np.ndarray, rgb: bool = False, region_cm: tuple[float, float] | None = None,
                    units: int = 3, photometric: str = "MONOCHROME2"):
    """pixels: [H,W], [F,H,W], [H,W,3] or [F,H,W,3] uint8."""
    multi = pixels.ndim == (4 if rgb else 3)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UltrasoundMultiFrameImageStorage if multi else UltrasoundImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = "US"
    ds.Rows, ds.Columns = pixels.shape[-3:-1] if rgb else pixels.shape[-2:]
    ds.SamplesPerPixel = 3 if rgb else 1
    ds.PhotometricInterpretation = "RGB" if rgb else photometric
    if rgb:
        ds.PlanarConfiguration = 0
    ds.BitsAllocated = ds.BitsStored = 8
    ds.HighBit = 7
    ds.PixelRepresentation = 0
    if multi:
        ds.NumberOfFrames = pixels.shape[0]
    if region_cm is not None:
        region = Dataset()
        region.RegionSpatialFormat = 1
        region.RegionDataType = 1
        region.RegionLocationMinX0, region.RegionLocationMinY0 = 0, 0
        region.RegionLocationMaxX1, region.RegionLocationMaxY1 = ds.Columns - 1, ds.Rows - 1
        region.PhysicalUnitsXDirection = units
        region.PhysicalUnitsYDirection = units
        region.PhysicalDeltaX, region.PhysicalDeltaY = region_cm
        ds.SequenceOfUltrasoundRegions = Sequence([region])
    ds.PixelData = np.ascontiguousarray(pixels, np.uint8).tobytes()
    ds.save_as(path, enforce_file_format=True)
    return path


def _ramp(h=40, w=50):
    return (np.add.outer(np.arange(h), np.arange(w)) % 256).astype(np.uint8)


def test_single_frame_dicom_with_region_spacing_in_mm(tmp_path):
    px = _ramp()
    img = load_us_image(_write_us_dicom(tmp_path / "a.dcm", px, region_cm=(0.02, 0.03)))
    assert img.frames.shape == (1, 40, 50) and img.frames.dtype == np.float32
    np.testing.assert_array_equal(img.frames[0], px)
    assert img.pixel_spacing_mm == pytest.approx((0.3, 0.2))  # (row = Y, col = X) in mm
    assert img.units == "mm"


def test_dicom_without_region_tags_or_non_cm_units_measures_in_pixels(tmp_path):
    assert load_us_image(_write_us_dicom(tmp_path / "a.dcm", _ramp())).pixel_spacing_mm is None
    no_cm = load_us_image(_write_us_dicom(tmp_path / "b.dcm", _ramp(), region_cm=(0.02, 0.02), units=4))
    assert no_cm.pixel_spacing_mm is None and no_cm.units == "px"


def test_monochrome1_is_shown_with_white_as_white(tmp_path):
    px = _ramp()
    stored_inverted = load_us_image(_write_us_dicom(tmp_path / "m1.dcm", 255 - px, photometric="MONOCHROME1"))
    np.testing.assert_array_equal(stored_inverted.frames[0], px)  # the same picture as MONOCHROME2 of px


def test_multi_frame_cine_keeps_every_frame(tmp_path):
    cine = np.stack([_ramp() + i for i in range(5)]).astype(np.uint8)
    img = load_us_image(_write_us_dicom(tmp_path / "cine.dcm", cine, region_cm=(0.01, 0.01)))
    assert img.n_frames == 5
    np.testing.assert_array_equal(img.frame(3), cine[3])
    with pytest.raises(UsImageError, match="frame 7"):
        img.frame(7)


def test_rgb_dicom_becomes_grey(tmp_path):
    grey = _ramp()
    rgb = np.repeat(grey[..., None], 3, axis=2)
    img = load_us_image(_write_us_dicom(tmp_path / "rgb.dcm", rgb, rgb=True))
    np.testing.assert_allclose(img.frames[0], grey, atol=0.01)
    cine = np.stack([rgb, rgb])
    assert load_us_image(_write_us_dicom(tmp_path / "rgbcine.dcm", cine, rgb=True)).frames.shape == (2, 40, 50)


def test_ybr_full_dicom_becomes_the_same_grey(tmp_path):
    from pydicom.pixels import convert_color_space

    grey = (_ramp() % 200 + 20).astype(np.uint8)
    ybr = convert_color_space(np.repeat(grey[..., None], 3, axis=2), "RGB", "YBR_FULL")
    path = _write_us_dicom(tmp_path / "ybr.dcm", ybr, rgb=True)
    ds = pydicom.dcmread(path)
    ds.PhotometricInterpretation = "YBR_FULL"
    ds.save_as(path)
    np.testing.assert_allclose(load_us_image(path).frames[0], grey, atol=1.01)


@pytest.mark.parametrize("suffix", [".png", ".bmp", ".jpg"])
def test_raster_images(tmp_path, suffix):
    px = _ramp()
    path = tmp_path / f"a{suffix}"
    cv2.imwrite(str(path), cv2.cvtColor(px, cv2.COLOR_GRAY2BGR))
    img = load_us_image(path)
    assert img.frames.shape == (1, 40, 50) and img.pixel_spacing_mm is None
    tol = 8 if suffix == ".jpg" else 0.51
    np.testing.assert_allclose(img.frames[0], px, atol=tol)


def test_bad_inputs_raise_clear_errors(tmp_path):
    with pytest.raises(UsImageError, match="does not exist"):
        load_us_image(tmp_path / "missing.png")
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"not an image")
    with pytest.raises(UsImageError, match="not a readable"):
        load_us_image(junk)
    empty = tmp_path / "flat.png"
    cv2.imwrite(str(empty), np.zeros((10, 10), np.uint8))
    with pytest.raises(UsImageError, match="empty"):
        load_us_image(empty)
    with pytest.raises(UsImageError, match="folder"):
        load_us_image(tmp_path)
    bad = tmp_path / "bad.dcm"
    bad.write_bytes(b"\0" * 200)
    with pytest.raises(UsImageError):
        load_us_image(bad)


def test_nan_frames_are_rejected():
    from liverview.us.image import UsImage, validate_us_image

    f = np.ones((1, 5, 5), np.float32)
    f[0, 2, 2] = np.nan
    with pytest.raises(UsImageError, match="NaN"):
        validate_us_image(UsImage(f, None, "mem"))


# --- sizes claimed by damaged or hostile headers ----------------------------------------------------

@pytest.mark.parametrize("suffix", [".png", ".jpg", ".bmp"])
def test_the_size_a_raster_header_claims_is_read_before_decoding(tmp_path, suffix):
    path = tmp_path / f"img{suffix}"
    cv2.imwrite(str(path), np.zeros((37, 53), np.uint8))
    assert raster_size(path.read_bytes()[:65536]) == (37, 53)


def test_a_png_claiming_60000_pixels_square_is_refused_without_decoding(tmp_path):
    from tests.malformed_corpus import png_claiming

    path = png_claiming(tmp_path / "huge.png")
    assert path.stat().st_size < 1000
    with pytest.raises(UsImageTooLargeError, match="60000 x 60000 pixels"):
        load_us_image(path)


def test_opencv_errors_become_clear_messages(tmp_path, monkeypatch):
    from tests.malformed_corpus import png_claiming

    monkeypatch.setenv("LIVERVIEW_MAX_IMAGE_BYTES", "1e13")  # past our limit: OpenCV's own refuses it
    with pytest.raises(UsImageError, match="cannot be decoded"):
        load_us_image(png_claiming(tmp_path / "huge.png"))


def test_a_dicom_claiming_too_many_frames_is_refused_before_decoding(tmp_path, monkeypatch):
    path = tmp_path / "cine.dcm"
    _write_us_dicom(path, np.zeros((3, 40, 50), np.uint8))
    monkeypatch.setenv("LIVERVIEW_MAX_IMAGE_BYTES", "20000")  # 3 x 40 x 50 x 4 = 24 kB
    with pytest.raises(UsImageTooLargeError, match="3 frames"):
        load_us_image(path)
