"""DeepLesion key slices: the reader (HU offset, boxes, missing spacing, bad rows) and `eval-keyslices`
with a third-party blob detector whose hits are known in advance."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from liverview.cli import main
from liverview.io.deeplesion_keyslices import DEFAULT_PIXEL_MM, KeySliceError, dl_info_spacings, read_keyslices
from tests.plugin_seam.third_party import CONTRIBUTION, PACKAGE, write_distribution

HEADER = "image,deeplesion_file_name,hu_min,hu_max,source_csv,coarse_type,bbox_x1y1x2y2,spacing_mm,dicom_window,train_val_test\n"


def _png(path, hu: np.ndarray) -> None:
    Image.fromarray((hu + 32768).astype(np.uint16)).save(path)


def _manifest(tmp_path: Path, rows) -> Path:
    (tmp_path / "images").mkdir(exist_ok=True)
    lines = [HEADER]
    for name, hu, box, spacing in rows:
        _png(tmp_path / "images" / f"{name}.png", hu)
        lines.append(f'images/{name}.png,{name}.png,-1024,1000,x,4,"{", ".join(map(str, box))}","{spacing}","-175, 275",2\n')
    path = tmp_path / "manifest.csv"
    path.write_text("".join(lines))
    return path


def _image_with_block(y0, x0, size=12) -> np.ndarray:
    hu = np.full((64, 64), 40.0, np.float32)
    hu[y0:y0 + size, x0:x0 + size] = 300.0
    return hu


def test_reader_applies_the_hu_offset_and_marks_a_missing_spacing(tmp_path):
    path = _manifest(tmp_path, [("a", _image_with_block(5, 5), (5, 5, 17, 17), "0.7, 0.7, 5"),
                                ("b", _image_with_block(20, 30), (30, 20, 42, 32), "")])
    a, b = read_keyslices(path)
    assert a.volume.array.shape == (1, 64, 64) and a.volume.array[0, 6, 6] == 300.0 and a.volume.array[0, 0, 0] == 40.0
    assert a.volume.spacing == (0.7, 0.7, 5.0) and a.spacing_known and a.box == (5.0, 5.0, 17.0, 17.0)
    assert not b.spacing_known and b.volume.spacing[:2] == (DEFAULT_PIXEL_MM, DEFAULT_PIXEL_MM)


DL_INFO_HEADER = ("File_name,Patient_index,Study_index,Series_ID,Key_slice_index,Measurement_coordinates,"
                  "Bounding_boxes,Lesion_diameters_Pixel_,Normalized_lesion_location,Coarse_lesion_type,Possibly_noisy,"
                  "Slice_range,Spacing_mm_px_,Image_size,DICOM_windows,Patient_gender,Patient_age,Train_Val_Test\n")


def _dl_info(path, name, spacing):
    row = (f'{name},47,10,1,51,"227.82, 166.245, 226.493, 162.663, 228.218, 163.857, 226.361, 164.52",'
           f'"221.361, 157.663, 233.218, 171.245","3.8197, 1.97217","0.422776, 0.253929, 0.578126",4,0,"45, 60",'
           f'"{spacing}","512, 512","-175, 275",F,63.0,3\n')
    path.write_text(DL_INFO_HEADER + row)
    return path


def test_a_missing_spacing_is_taken_from_dl_info_and_a_conflicting_one_refused(tmp_path):
    path = _manifest(tmp_path, [("a", _image_with_block(5, 5), (5, 5, 17, 17), "0.7, 0.7, 5"),
                                ("b", _image_with_block(20, 30), (30, 20, 42, 32), "")])
    spacings = dl_info_spacings([_dl_info(tmp_path / "dl.csv", "b.png", "0.732422, 0.732422, 5")])
    a, b = read_keyslices(path, spacings)
    assert b.spacing_known and b.spacing_from == "DL_info" and b.volume.spacing == pytest.approx((0.732422, 0.732422, 5))
    assert a.spacing_from == "manifest" and a.volume.spacing == (0.7, 0.7, 5.0)
    with pytest.raises(KeySliceError, match="differs from DL_info"):
        read_keyslices(path, dl_info_spacings([_dl_info(tmp_path / "other.csv", "a.png", "0.9, 0.9, 5")]))
    with pytest.raises(KeySliceError, match="does not exist"):
        dl_info_spacings([tmp_path / "missing.csv"])


def test_reader_names_the_row_of_a_bad_box_and_refuses_an_8_bit_image(tmp_path):
    path = _manifest(tmp_path, [("a", _image_with_block(5, 5), (5, 5, 17), "0.7, 0.7")])
    with pytest.raises(KeySliceError, match="manifest.csv:2: bbox"):
        read_keyslices(path)
    path = _manifest(tmp_path, [("a", _image_with_block(5, 5), (5, 5, 17, 17), "0.7, 0.7")])
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "images" / "a.png")
    with pytest.raises(KeySliceError, match="16-bit"):
        read_keyslices(path)


@pytest.fixture
def blob_detector(tmp_path, monkeypatch):
    site = write_distribution(tmp_path / "site")
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.delitem(sys.modules, PACKAGE, raising=False)
    yield CONTRIBUTION
    sys.modules.pop(PACKAGE, None)


def test_eval_keyslices_counts_hits_and_false_positives_per_image(tmp_path, blob_detector, capsys):
    # image a: the boxed lesion is the only blob (hit); image b: the blob is elsewhere (1 FP, a miss)
    rows = [("a", _image_with_block(5, 5), (5, 5, 17, 17), "0.7, 0.7, 5"),
            ("b", _image_with_block(40, 40), (5, 5, 17, 17), "0.7, 0.7, 5")]
    path = _manifest(tmp_path, rows)
    out = tmp_path / "r.json"
    assert main(["eval-keyslices", str(path), "--model", blob_detector, "--pad-pred", "0", "--json", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert doc["images"] == 2 and doc["fp_unit"] == "per image"
    # 64 x 64 px at 0.7 mm is no abdomen: no liver mask on either image, so every proposal is kept, and said so
    assert doc["liver_filter"]["images_without_mask"] == 2 and doc["liver_filter"]["proposals_dropped"] == 0
    for protocol in ("deeplesion", "strict"):
        res = doc["results"][protocol]
        assert res["lesions"] == 2 and res["proposals"] == 2
        assert res["froc"]["0.5"] == 0.5 and res["froc"]["8"] == 0.5  # one hit, one FP over two images
    assert "FP counted per image" in capsys.readouterr().out


def test_two_lesions_boxed_on_one_key_slice_are_both_scored(tmp_path, blob_detector, capsys):
    two = _image_with_block(5, 5)
    two[40:52, 40:52] = 300.0  # a second lesion on the same slice, with its own manifest row
    rows = [("a", two, (5, 5, 17, 17), "0.7, 0.7, 5"), ("a", two, (40, 40, 52, 52), "0.7, 0.7, 5"),
            ("b", _image_with_block(20, 20), (50, 2, 60, 12), "0.7, 0.7, 5")]
    out = tmp_path / "r.json"
    assert main(["eval-keyslices", str(_manifest(tmp_path, rows)), "--model", blob_detector, "--pad-pred", "0",
                 "--json", str(out), "--quiet"]) == 0
    doc = json.loads(out.read_text())
    assert doc["images"] == 2 and doc["lesions"] == 3  # the image is detected on once
    for protocol in ("deeplesion", "strict"):
        res = doc["results"][protocol]
        assert res["volumes"] == 2 and res["lesions"] == 3 and res["proposals"] == 3
        assert res["froc"]["8"] == pytest.approx(2 / 3)  # both lesions of image a found, b's missed
    assert "2 key slices with 3 lesions" in capsys.readouterr().out


def test_an_image_the_detector_refuses_counts_as_one_without_detections(tmp_path, capsys):
    # the classical baseline needs a liver mask; 64 x 64 px at 0.7 mm shows none, so it refuses both images
    rows = [("a", _image_with_block(5, 5), (5, 5, 17, 17), "0.7, 0.7, 5"),
            ("b", _image_with_block(40, 40), (40, 40, 52, 52), "0.7, 0.7, 5")]
    out = tmp_path / "r.json"
    assert main(["eval-keyslices", str(_manifest(tmp_path, rows)), "--model", "hypodense_blobs", "--quiet",
                 "--json", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert doc["images_refused_by_detector"] == 2
    assert doc["results"]["strict"]["lesions"] == 2 and doc["results"]["strict"]["proposals"] == 0
    assert doc["results"]["strict"]["froc"]["8"] == 0.0
    assert "refused 2 of 2 images" in capsys.readouterr().out


def test_eval_keyslices_refuses_a_plot_name_without_png(tmp_path, capsys):
    path = _manifest(tmp_path, [("a", _image_with_block(5, 5), (5, 5, 17, 17), "0.7, 0.7")])
    assert main(["eval-keyslices", str(path), "--plot", str(tmp_path / "f.jpg")]) != 0
    assert ".png" in capsys.readouterr().err


def test_predicted_boxes_are_padded_like_deeplesion_boxes_by_default(tmp_path, blob_detector):
    # the lesion is 6 px wide; DeepLesion's box pads its extent by 5 px per side (16 px): the tight box
    # has IoU 36/256 and misses, the padded one matches it exactly
    hu = np.full((64, 64), 40.0, np.float32)
    hu[20:26, 20:26] = 300.0
    path = _manifest(tmp_path, [("a", hu, (15, 15, 31, 31), "0.7, 0.7, 5")])
    for pad, expected in (("0", 0.0), ("5", 1.0)):
        out = tmp_path / f"r{pad}.json"
        assert main(["eval-keyslices", str(path), "--model", blob_detector, "--pad-pred", pad, "--json", str(out)]) == 0
        assert json.loads(out.read_text())["results"]["deeplesion"]["froc"]["8"] == expected


def test_proposals_far_from_the_liver_are_dropped_as_in_detect(tmp_path, monkeypatch, capsys, shared_data):
    # a real slice (IRCADb 17, mid liver) with two bright blocks: the lesion inside the liver and one 11 cm
    # away on the patient's left; bone and contrast are clipped so the blob detector finds the two blocks only
    from liverview.io.volumes import read_volume

    site = write_distribution(tmp_path / "site", threshold=300.0)
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.delitem(sys.modules, PACKAGE, raising=False)
    hu = np.clip(read_volume(shared_data / "ircadb-liver17" / "ct.nii.gz").array[76], -1024, 250).astype(np.float32)
    hu[200:212, 200:212] = 600.0
    hu[256:268, 420:432] = 600.0
    path = _manifest(tmp_path, [("a", hu, (200, 200, 212, 212), "0.743, 0.743, 1.6")])
    runs = {}
    for name, extra in (("filtered", []), ("classical", ["--liver-segmenter", "liver_mask"]),
                        ("all", ["--no-liver-filter"])):
        out = tmp_path / f"{name}.json"
        assert main(["eval-keyslices", str(path), "--model", CONTRIBUTION, "--pad-pred", "0", "--json", str(out),
                     *extra]) == 0
        runs[name] = json.loads(out.read_text())
    sys.modules.pop(PACKAGE, None)
    assert runs["filtered"]["liver_filter"]["proposals_dropped"] == 1
    assert runs["filtered"]["liver_filter"]["segmenter"].startswith("liver_unet")  # the default
    assert runs["classical"]["liver_filter"]["segmenter"].startswith("liver_mask")
    assert runs["classical"]["liver_filter"]["proposals_dropped"] == 1
    assert runs["filtered"]["liver_filter"]["images_without_mask"] == 0
    assert runs["filtered"]["results"]["strict"]["proposals"] == 1
    assert runs["filtered"]["results"]["strict"]["froc"]["0.125"] == 1.0  # the lesion, and no false positive
    assert runs["all"]["liver_filter"] is None and runs["all"]["results"]["strict"]["proposals"] == 2
    assert capsys.readouterr().out.count("1 of 2 proposals dropped") == 2


def test_reader_names_a_missing_image(tmp_path):
    path = _manifest(tmp_path, [("a", _image_with_block(5, 5), (5, 5, 17, 17), "0.7, 0.7")])
    (tmp_path / "images" / "a.png").unlink()
    with pytest.raises(KeySliceError, match="manifest.csv:2: cannot read .*a.png"):
        read_keyslices(path)
