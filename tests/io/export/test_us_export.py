"""Exporting the lesions saved on an ultrasound image: JSON, NIfTI label map, label PNG, the CT-only
refusals, and the `liverview export-us` command end to end."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from liverview.cli import main
from liverview.io.export.nifti_labels import read_label_map, sidecar_path
from liverview.io.export.us_export import ExportError, export_us_annotations, find_us_study, png_sidecar_path
from liverview.store.project import Project
from liverview.store.ultrasound import UsLesionResult, ensure_us_study, save_us_lesion
from liverview.synth.us_demo import synthetic_us_dicom, write_us_dicom
from liverview.us.image import load_us_image

H, W = 120, 160


def _disc(cy, cx, r):
    yy, xx = np.mgrid[:H, :W]
    return (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r


def _image(tmp_path, kind):
    """A 3-frame DICOM US cine with a 0.2 mm pixel size, or a PNG (no pixel size)."""
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 255, (3, H, W), dtype=np.uint8)
    if kind == "dicom":
        return load_us_image(write_us_dicom(tmp_path / "cine.dcm", frames, 0.2))
    cv2.imwrite(str(tmp_path / "echo.png"), frames[0])
    return load_us_image(tmp_path / "echo.png")


@pytest.fixture(params=["dicom", "png"])
def saved(request, tmp_path):
    """An image and a project with two lesions saved through the store API (the second on frame 2 of the cine)."""
    image = _image(tmp_path, request.param)
    project = Project.create(tmp_path / "us.lvproj", "sono")
    sid = ensure_us_study(project, image.source, image.pixel_spacing_mm)
    frame_b = 2 if image.n_frames > 1 else 0
    a = save_us_lesion(project, sid, UsLesionResult(_disc(40, 50, 12), 0, {"cyst": 0.7, "hcc": 0.3}, 0.2, "m"),
                       image.pixel_spacing_mm)
    b = save_us_lesion(project, sid, UsLesionResult(_disc(80, 110, 8), frame_b, {"hcc": 0.9, "cyst": 0.1}, 0.8, "m"),
                       image.pixel_spacing_mm)
    yield image, project, sid, (a, b), frame_b
    project.close()


def test_json_states_units_frames_recist_and_class_probabilities(saved, tmp_path):
    image, project, sid, (a, b), frame_b = saved
    result = export_us_annotations(project, sid, image, "json", tmp_path / "out.json")
    doc = json.loads(result.path.read_text())
    assert result.written == 2 and doc["format"] == "liverview-us-lesions"
    units = "mm" if image.pixel_spacing_mm else "px"
    assert doc["image"]["units"] == units and doc["image"]["source"] == image.source
    assert doc["image"]["size_hw"] == [H, W]
    la, lb = doc["lesions"]
    assert (la["lesion_id"], la["lesion_class"], lb["lesion_class"]) == (str(a.id), "cyst", "hcc")
    assert la["class_probabilities"] == {"cyst": 0.7, "hcc": 0.3} and lb["malignant_probability"] == 0.8
    assert (la["frame_index"], lb["frame_index"]) == (0, frame_b)
    assert la["units"] == units and la["long_axis_length"] == pytest.approx(a.recist.long_mm)
    s = 0.2 if image.pixel_spacing_mm else 1.0
    assert la["long_axis_length"] == pytest.approx(25 * s, rel=0.05)  # disc of radius 12: 25 px edge to edge
    (c0, r0), (c1, r1) = la["long_axis_px"]
    assert np.hypot(c1 - c0, r1 - r0) * s == pytest.approx(la["long_axis_length"])
    assert la["area"] == pytest.approx(_disc(40, 50, 12).sum() * s * s)


def test_nifti_label_map_puts_each_mask_on_its_frame_with_the_pixel_spacing(saved, tmp_path):
    image, project, sid, (a, b), frame_b = saved
    result = export_us_annotations(project, sid, image, "nifti", tmp_path / "labels.nii.gz")
    read = read_label_map(result.path)
    assert read.grid.array.shape == image.frames.shape
    s = 0.2 if image.pixel_spacing_mm else 1.0
    assert read.grid.spacing == pytest.approx((s, s, 1.0))
    assert [m.lesion_id for m in read.lesions] == [str(a.id), str(b.id)]
    assert np.array_equal(read.grid.array[0] == 1, _disc(40, 50, 12))
    assert np.array_equal(read.grid.array[frame_b] == 2, _disc(80, 110, 8))
    side = json.loads(sidecar_path(result.path).read_text())
    assert side["image"]["units"] == ("mm" if image.pixel_spacing_mm else "px")
    assert [x["frame_index"] for x in side["labels"]] == [0, frame_b]


def test_png_holds_8_bit_labels_and_a_sidecar(saved, tmp_path):
    image, project, sid, (a, b), frame_b = saved
    result = export_us_annotations(project, sid, image, "png", tmp_path / "labels.png")
    png = cv2.imread(str(result.path), cv2.IMREAD_UNCHANGED)
    assert png.dtype == np.uint8 and png.shape == (H, W)
    assert np.array_equal(png == 1, _disc(40, 50, 12)) and np.array_equal(png == 2, _disc(80, 110, 8))
    side = json.loads(png_sidecar_path(result.path).read_text())
    assert [(x["value"], x["lesion_id"], x["lesion_class"]) for x in side["labels"]] == [
        (1, str(a.id), "cyst"), (2, str(b.id), "hcc")]


@pytest.mark.parametrize("fmt", ["sr", "seg", "csv"])
def test_ct_only_formats_are_refused_with_the_reason(saved, tmp_path, fmt):
    image, project, sid, _, _ = saved
    with pytest.raises(ExportError, match="CT studies only"):
        export_us_annotations(project, sid, image, fmt, tmp_path / "x.dcm")
    assert not (tmp_path / "x.dcm").exists()


def test_overlapping_lesions_are_refused_in_a_png_and_an_image_without_lesions_says_so(tmp_path):
    image = _image(tmp_path, "png")
    with Project.create(tmp_path / "p.lvproj", "sono") as project:
        sid = ensure_us_study(project, image.source, None)
        with pytest.raises(ExportError, match="no lesion is saved"):
            export_us_annotations(project, sid, image, "json", tmp_path / "o.json")
        for _ in range(2):
            save_us_lesion(project, sid, UsLesionResult(_disc(40, 50, 12), 0, {}, None, "m"), None)
        with pytest.raises(ExportError, match="overlap"):
            export_us_annotations(project, sid, image, "png", tmp_path / "o.png")
        with pytest.raises(ExportError, match="unknown"):
            export_us_annotations(project, sid, image, "tiff", tmp_path / "o.tif")


def test_the_export_us_command_end_to_end(tmp_path, capsys):
    phantom = synthetic_us_dicom(tmp_path / "liver.dcm", size=(120, 160))
    image = load_us_image(phantom.path)
    proj = tmp_path / "p.lvproj"
    with Project.create(proj, "sono") as project:
        sid = ensure_us_study(project, image.source, image.pixel_spacing_mm)
        save_us_lesion(project, sid, UsLesionResult(phantom.mask, 0, {"hemangioma": 1.0}, None, "m"),
                       image.pixel_spacing_mm)
    out = tmp_path / "out" / "lesions.json"
    assert main(["export-us", str(phantom.path), "--format", "json", "--out", str(out), "--project", str(proj)]) == 0
    assert "wrote 1 lesion(s)" in capsys.readouterr().out
    doc = json.loads(out.read_text())
    assert doc["lesions"][0]["lesion_class"] == "hemangioma" and doc["lesions"][0]["units"] == "mm"
    assert main(["export-us", str(phantom.path), "--format", "png", "--out", str(tmp_path / "l.png"),
                 "--project", str(proj)]) == 0
    assert np.array_equal(cv2.imread(str(tmp_path / "l.png"), cv2.IMREAD_UNCHANGED) == 1, phantom.mask)
    assert main(["export-us", str(phantom.path), "--format", "seg", "--out", str(tmp_path / "s.dcm"),
                 "--project", str(proj)]) == 2
    assert "CT studies only" in capsys.readouterr().err
    assert main(["export-us", str(phantom.path), "--format", "json", "--out", str(out),
                 "--project", str(tmp_path / "missing.lvproj")]) == 2
    capsys.readouterr()
    # a wrong format is named before the missing project or image
    assert main(["export-us", str(tmp_path / "nowhere.png"), "--format", "tiff", "--out", str(tmp_path / "x.tif"),
                 "--project", str(tmp_path / "missing.lvproj")]) == 2
    assert "unknown ultrasound export format 'tiff'" in capsys.readouterr().err
    with Project.open(proj, "x", read_only=True) as project:
        assert find_us_study(project, phantom.path) is not None


def test_the_three_exports_of_one_name_write_three_different_files(tmp_path):
    names = {tmp_path / "x.json", sidecar_path(tmp_path / "x.nii.gz"), png_sidecar_path(tmp_path / "x.png")}
    assert len(names) == 3  # the JSON export, the label map's sidecar and the label PNG's sidecar never overwrite
