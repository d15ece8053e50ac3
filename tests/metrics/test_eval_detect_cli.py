"""`liverview eval-detect`: table, JSON and clear errors, on a phantom study and a DeepLesion-layout CSV."""

import json

import pytest

from liverview.cli import main
from liverview.detection.proposals import Proposal3D, ProposalSet, write_proposals
from liverview.metrics.ground_truth import read_phantom_ground_truth
from liverview.synth.ct_phantom import generate_ct_study, write_phantom_study


@pytest.fixture(scope="module")
def phantom_with_proposals(tmp_path_factory):
    root = tmp_path_factory.mktemp("evalcli")
    study = generate_ct_study(4, n_lesions=4, shape=(32, 128, 128), spacing_mm=(1.6, 1.6, 5.0))
    folder = root / "study-4"
    write_phantom_study(study, folder)
    gt = read_phantom_ground_truth(folder)
    # three true boxes (the first with the wrong class), one box far from every lesion with the top score
    def wrong(cls):
        return "cyst" if cls != "cyst" else "hcc"

    props = [Proposal3D(g.box_3d[:4], g.box_3d[4:], 0.8 - 0.1 * n, g.key_slice,
                        {(wrong(g.lesion_class) if n == 0 else g.lesion_class): 1.0})
             for n, g in enumerate(gt[:3])]
    props.append(Proposal3D((0, 0, 4, 4), (0, 1), 0.95, 0, {"cyst": 1.0}))
    pred = write_proposals(root / "pred" / "proposals.json",
                           ProposalSet.for_volume(props, study.liver_mask, study="study-4", model="test"))
    return folder, pred, gt


def test_eval_detect_prints_both_criteria_and_writes_json(phantom_with_proposals, tmp_path, capsys):
    folder, pred, gt = phantom_with_proposals
    out = tmp_path / "r.json"
    assert main(["eval-detect", "--pred", str(pred), "--gt", str(folder), "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "pseudo-3D IoU >= 0.5" in text and "3D IoU >= 0.5" in text
    doc = json.loads(out.read_text())
    for criterion in ("p3d", "iou3d"):
        r = doc["results"][criterion]
        assert (r["volumes"], r["lesions"], r["proposals"], r["true_positives"]) == (1, 4, 4, 3)
        # ranked FP TP TP TP in one volume: recall 0 until 1 FP, then 3/4
        assert r["froc"]["0.5"] == 0.0 and r["froc"]["1"] == 0.75 and r["froc"]["8"] == 0.75
        assert r["ap"] == pytest.approx(0.75 * 3 / 4)  # precision envelope 3/4 over recall 0..3/4
        assert r["class_accuracy"]["overall"] == {"correct": 2, "matched": 3, "accuracy": pytest.approx(2 / 3)}


def test_a_folder_of_predictions_and_a_dl_info_ground_truth(tmp_path, capsys):
    dl = tmp_path / "DL_info.csv"
    header = ("File_name,Patient_index,Study_index,Series_ID,Key_slice_index,Measurement_coordinates,"
              "Bounding_boxes,Lesion_diameters_Pixel_,Normalized_lesion_location,Coarse_lesion_type,"
              "Possibly_noisy,Slice_range,Spacing_mm_px_,Image_size,DICOM_windows,Patient_gender,Patient_age,"
              "Train_Val_Test\n")
    row = ('000001_01_01_109.png,1,1,1,109,"233.537, 95.0204, 234.057, 106.977, 231.169, 101.605, 236.252, '
           '101.143","226.169, 90.0204, 241.252, 111.977","11.9677, 5.10387","0.44666, 0.283794, 0.434454",3,0,'
           '"103, 115","0.488281, 0.488281, 5","512, 512","-175, 275",F,62.0,3\n')
    dl.write_text(header + row)
    props = [Proposal3D((226.169, 90.0204, 241.252, 111.977), (5, 7), 0.9, 6)]
    write_proposals(tmp_path / "preds" / "000001_01_01_103-115" / "proposals.json", ProposalSet(tuple(props)))
    assert main(["eval-detect", "--pred", str(tmp_path / "preds"), "--gt", str(dl)]) == 0
    text = capsys.readouterr().out
    assert "true positives 1" in text and "criterion iou3d: unavailable" in text
    assert main(["eval-detect", "--pred", str(tmp_path / "preds"), "--gt", str(dl), "--criterion", "iou3d"]) == 2
    assert "no 3D boxes" in capsys.readouterr().err


def test_unmatched_volume_names_and_bad_files_exit_2(phantom_with_proposals, tmp_path, capsys):
    folder, pred, _ = phantom_with_proposals
    other = tmp_path / "other"
    other.mkdir()
    (other / "lesions.csv").write_text((folder / "lesions.csv").read_text())
    (other / "study.json").write_text((folder / "study.json").read_text())
    # two ground-truth volumes, the prediction names study-4 which exists: fine; a wrong name is refused
    assert main(["eval-detect", "--pred", str(pred), "--gt", str(folder), str(other)]) == 0
    capsys.readouterr()
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert main(["eval-detect", "--pred", str(bad), "--gt", str(folder)]) == 2
    assert "not a readable JSON file" in capsys.readouterr().err
    assert main(["eval-detect", "--pred", str(pred), "--gt", str(tmp_path / "none")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_protocol_deeplesion_prints_its_name_and_writes_a_froc_plot(phantom_with_proposals, tmp_path, capsys):
    import cv2

    folder, pred, _ = phantom_with_proposals
    png, out = tmp_path / "plots" / "froc.png", tmp_path / "r.json"
    assert main(["eval-detect", "--pred", str(pred), "--gt", str(folder), "--protocol", "deeplesion",
                 "--plot", str(png), "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "protocol deeplesion" in text and f"wrote {png}" in text
    img = cv2.imread(str(png))
    assert img is not None and img.shape == (480, 640, 3) and (img < 128).any()
    doc = json.loads(out.read_text())
    assert doc["protocol"] == "deeplesion" and set(doc["results"]) == {"p3d", "iou3d"}
    # the proposals are the lesions' own boxes, so every rule finds the same three lesions
    assert doc["results"]["p3d"]["true_positives"] == 3 and doc["results"]["p3d"]["protocol"] == "deeplesion"


def test_protocol_manual1k_evaluates_iobb_at_0_3_and_needs_3d_boxes(phantom_with_proposals, tmp_path, capsys):
    folder, pred, _ = phantom_with_proposals
    assert main(["eval-detect", "--pred", str(pred), "--gt", str(folder), "--protocol", "manual1k"]) == 0
    assert "3D intersection over the detected box >= 0.3" in capsys.readouterr().out
    dl = tmp_path / "boxes.csv"  # one-slice rows: key-slice marks, no 3D boxes
    dl.write_text("volume_id,x_min,y_min,x_max,y_max,z_min,z_max\nstudy-4,10,10,20,20,3,3\n")
    assert main(["eval-detect", "--pred", str(pred), "--gt", str(dl), "--protocol", "manual1k"]) == 2
    assert "needs 3D boxes" in capsys.readouterr().err


def test_a_criterion_outside_the_protocol_and_a_plot_that_is_no_png_exit_2(phantom_with_proposals, capsys):
    folder, pred, _ = phantom_with_proposals
    assert main(["eval-detect", "--pred", str(pred), "--gt", str(folder), "--criterion", "iobb3d"]) == 2
    assert "not part of --protocol strict" in capsys.readouterr().err
    assert main(["eval-detect", "--pred", str(pred), "--gt", str(folder), "--plot", "froc.jpg"]) == 2
    assert "PNG" in capsys.readouterr().err


def test_help_names_the_default_protocol_and_why(capsys):
    with pytest.raises(SystemExit):
        main(["eval-detect", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "strict (the default)" in text and "comparable with earlier runs" in text


def test_skip_ignored_leaves_out_proposals_centred_in_the_ignore_mask(phantom_with_proposals, tmp_path, capsys):
    import shutil

    import numpy as np

    from liverview.io.volumes import read_volume, write_volume
    from liverview.synth.lesion_insertion import IGNORE_MASK_FILE

    folder, pred, _ = phantom_with_proposals
    host = tmp_path / "study-4"  # the same study, now with an ignore mask over the top-scoring false positive
    shutil.copytree(folder, host)
    liver = read_volume(folder / "liver_mask.nii.gz")
    mask = np.zeros(liver.array.shape, np.uint8)
    mask[0, 0:4, 0:4] = 1  # the false positive's box (0, 0, 4, 4) on its key slice 0
    write_volume(liver.with_array(mask), host / IGNORE_MASK_FILE)
    out = tmp_path / "r.json"
    assert main(["eval-detect", "--pred", str(pred), "--gt", str(host), "--skip-ignored", "--json", str(out)]) == 0
    assert "left out 1 proposal(s) centred in the ignore masks of 1 study folder(s)" in capsys.readouterr().out
    doc = json.loads(out.read_text())
    assert doc["ignored_proposals"] == 1
    r = doc["results"]["p3d"]
    assert (r["proposals"], r["true_positives"]) == (3, 3) and r["froc"]["0.125"] == 0.75  # no FP left above them
    # without the mask nothing is left out, and the option says so rather than scoring silently
    assert main(["eval-detect", "--pred", str(pred), "--gt", str(folder), "--skip-ignored"]) == 2
    assert "no ground-truth study folder has an ignore mask" in capsys.readouterr().err


def test_proposals_of_another_study_grid_are_refused_not_scored_zero(phantom_with_proposals, tmp_path, capsys):
    import numpy as np

    from liverview.core.volume import Volume
    from liverview.io.volumes import write_volume

    folder, pred, gt = phantom_with_proposals
    other = ProposalSet.for_volume([Proposal3D((10, 10, 20, 20), (3, 5), 0.9, 4)],
                                   Volume(np.zeros((40, 96, 96), np.int16)), study="elsewhere")
    write_proposals(tmp_path / "other" / "proposals.json", other)
    assert main(["eval-detect", "--pred", str(tmp_path / "other" / "proposals.json"), "--gt", str(folder)]) == 2
    err = capsys.readouterr().err
    assert "40 x 96 x 96 grid" in err and "32 x 128 x 128" in err and "nothing was scored" in err
    # an instance label map on the proposals' own grid is scored; a class map (organ around lesions) is refused
    labels = np.zeros((40, 96, 96), np.int16)
    labels[2:8, 8:22, 8:22] = 1
    write_volume(Volume(labels), tmp_path / "elsewhere.nii.gz")
    assert main(["eval-detect", "--pred", str(tmp_path / "other" / "proposals.json"),
                 "--gt", str(tmp_path / "elsewhere.nii.gz")]) == 0
    labels[:, 4:60, 4:60] = np.where(labels[:, 4:60, 4:60] == 1, 2, 1)  # 1 = "liver" around 2 = "tumour"
    write_volume(Volume(labels), tmp_path / "classes.nii.gz")
    capsys.readouterr()
    assert main(["eval-detect", "--pred", str(tmp_path / "other" / "proposals.json"),
                 "--gt", str(tmp_path / "classes.nii.gz")]) == 2
    assert "value 1 surrounds value 2" in capsys.readouterr().err
