"""train-us (a few steps, exact resume), us-segment and eval-us end to end on a tiny synthetic set."""

import re
import csv
import json

import cv2
import numpy as np
import pytest

import torch

from liverview.cli import main
from liverview.synth.us_phantom import write_us_dataset
from liverview.us.clicks import Click, box_to_clicks
from liverview_plugins.us_clickseg.inference import DEFAULT_BOX_SHAPE, UsModelError, load_segmenter

TINY = ["--input-size", "32", "--widths", "4", "8", "16", "--batch-size", "2", "--threads", "1"]


@pytest.fixture(scope="module")
def tiny_set(tmp_path_factory):
    root = tmp_path_factory.mktemp("us")
    write_us_dataset(root / "data", seed=1, count=4)
    assert main(["train-us", "--data", str(root / "data"), "--out", str(root / "run"), "--steps", "2", *TINY]) == 0
    return root


def test_train_writes_weights_log_and_checkpoint(tiny_set):
    run = tiny_set / "run"
    assert (run / "us_clickseg.pt").is_file() and (run / "checkpoint.pt").is_file()
    rows = list(csv.DictReader(open(run / "train_log.csv")))
    assert [int(r["step"]) for r in rows] == [1, 2]
    seg = load_segmenter(run / "us_clickseg.pt", "cpu")
    assert seg.label_mode == "four-class" and seg.name == "run"


def test_resume_continues_exactly(tiny_set, tmp_path):
    data = str(tiny_set / "data")
    straight, split = tmp_path / "straight", tmp_path / "split"
    assert main(["train-us", "--data", data, "--out", str(straight), "--steps", "3", *TINY]) == 0
    assert main(["train-us", "--data", data, "--out", str(split), "--steps", "3", "--stop-at-step", "2", *TINY]) == 0
    assert torch.load(split / "checkpoint.pt", weights_only=False)["step"] == 2
    assert main(["train-us", "--data", data, "--out", str(split), "--steps", "3", "--resume", *TINY]) == 0
    a = torch.load(straight / "us_clickseg.pt", weights_only=False)["state_dict"]
    b = torch.load(split / "us_clickseg.pt", weights_only=False)["state_dict"]
    for k in a:
        torch.testing.assert_close(a[k], b[k], msg=k)
    assert [int(r["step"]) for r in csv.DictReader(open(split / "train_log.csv"))] == [1, 2, 3]


def test_us_segment_fits_a_box_mask_to_the_box_unless_told_not_to(tiny_set, tmp_path, capsys):
    row = next(csv.DictReader(open(tiny_set / "data" / "labels.csv")))
    image = tiny_set / "data" / row["image"]
    box = [int(float(row[k])) for k in ("bbox_x0", "bbox_y0", "bbox_x1", "bbox_y1")]
    common = ["--weights", str(tiny_set / "run" / "us_clickseg.pt"), "--device", "cpu"]
    masks, flags = [], []
    for extra in ([], ["--no-box-fit"], ["--box-shape", "ellipse"], ["--box-shape", "net"]):
        out = tmp_path / f"mask{len(masks)}.png"
        capsys.readouterr()
        assert main(["us-segment", str(image), "--box", *map(str, box), "--out", str(out), *common, *extra]) == 0
        doc = json.loads(capsys.readouterr().out)
        flags.append((doc["box_fit"], doc["box_shape"]))
        masks.append(cv2.imread(str(out), cv2.IMREAD_GRAYSCALE) > 0)
    # the geometry itself: tests/us/test_box_fit.py and test_us_clickseg_prior.py
    assert flags == [(True, DEFAULT_BOX_SHAPE), (False, None), (True, "ellipse"), (True, "net")]
    # fitted or not, nothing outside the box: a box drawn with room still holds the whole lesion
    for mask in masks:  # (the tiny net may draw nothing: the centre click's disk is all then)
        rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
        assert box[0] <= cols[0] and box[1] <= rows[0] and cols[-1] <= box[2] and rows[-1] <= box[3]


def test_resume_without_checkpoint_is_a_clear_error(tiny_set, tmp_path, capsys):
    assert main(["train-us", "--data", str(tiny_set / "data"), "--out", str(tmp_path / "x"), "--resume", *TINY]) == 2
    assert "no checkpoint.pt" in capsys.readouterr().err


def test_us_segment_prints_json_and_writes_the_mask(tiny_set, tmp_path, capsys):
    row = next(csv.DictReader(open(tiny_set / "data" / "labels.csv")))
    image = tiny_set / "data" / row["image"]
    out = tmp_path / "mask.png"
    box = [row[k] for k in ("bbox_x0", "bbox_y0", "bbox_x1", "bbox_y1")]
    capsys.readouterr()
    assert main(["us-segment", str(image), "--box", *box, "--bg-click", "5", "5", "--out", str(out),
                 "--weights", str(tiny_set / "run" / "us_clickseg.pt"), "--device", "cpu"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert set(result["class_probs"]) == {"cyst", "hemangioma", "metastasis", "hcc"}
    assert sum(result["class_probs"].values()) == pytest.approx(1, abs=1e-3)
    assert result["malignant_prob"] == pytest.approx(result["class_probs"]["metastasis"] +
                                                     result["class_probs"]["hcc"], abs=1e-3)
    assert len(result["clicks"]) == 6 and result["time_ms"] > 0
    assert result["malignancy_note"] == "class head, not calibrated"  # these tiny weights carry no calibration
    mask = cv2.imread(str(out), cv2.IMREAD_GRAYSCALE)
    assert mask.shape == (int(row["height"]), int(row["width"]))
    assert int((mask > 0).sum()) == result["mask_pixels"]
    if result["measurement"] is not None:  # PNG: no calibration -> pixels
        assert result["measurement"]["units"] == "px"


def test_us_segment_clicks_after_a_box_nudge_its_contour_as_the_workspace_does(tiny_set, tmp_path, capsys,
                                                                                      monkeypatch):
    import liverview.commands.us_segment as us_segment
    from liverview.us.clicks import ellipse_in_box
    from liverview.us.prediction import UsPrediction

    row = next(csv.DictReader(open(tiny_set / "data" / "labels.csv")))
    image = tiny_set / "data" / row["image"]
    h, w = int(row["height"]), int(row["width"])
    yy, xx = np.ogrid[:h, :w]
    box_mask = ellipse_in_box((h, w), (80, 60, 200, 120))  # the box's contour (its corners are background clicks)
    drifted = ellipse_in_box((h, w), (90, 70, 210, 130))  # a redraw that moved everywhere

    class Redrawing:  # a segmenter whose answer to a correction redraws the whole lesion, shifted
        name, label_mode, box_fit = "redrawing", "four-class", True

        def predict(self, image, clicks, prior=None):
            mask = box_mask if len(clicks) == 5 else drifted
            return UsPrediction(mask=mask, class_probs={"cyst": 1.0, "hemangioma": 0.0, "metastasis": 0.0,
                                                       "hcc": 0.0}, malignant_prob=0.0, time_ms=1.0)

    monkeypatch.setattr(us_segment, "create", lambda *a, **k: Redrawing())
    out = tmp_path / "mask.png"
    assert main(["us-segment", str(image), "--box", "80", "60", "200", "120", "--bg-click", "140", "62",
                 "--out", str(out)]) == 0
    got = cv2.imread(str(out), cv2.IMREAD_GRAYSCALE) > 0
    assert json.loads(capsys.readouterr().out)["mask_pixels"] == int(got.sum())
    assert not got[62, 140]  # the background click, 2 px inside the top edge, is honoured
    far = (yy - 62) ** 2 + (xx - 140) ** 2 > 14 ** 2  # the nudge of a click ~3 px deep reaches ~11 px
    assert np.array_equal(got[far], box_mask[far])  # the box's contour stays where nobody clicked
    assert not (got & ~box_mask).any()  # a background click only removes; the shifted redraw is not shown


def test_us_segment_clicks_after_the_first_click_nudge_its_mask(tiny_set, tmp_path, capsys, monkeypatch):
    import liverview.commands.us_segment as us_segment
    from liverview.us.clicks import ellipse_in_box
    from liverview.us.prediction import UsPrediction

    row = next(csv.DictReader(open(tiny_set / "data" / "labels.csv")))
    image = tiny_set / "data" / row["image"]
    h, w = int(row["height"]), int(row["width"])
    first = ellipse_in_box((h, w), (80, 60, 200, 120))  # the first click's mask
    seen = []

    class Redrawing:  # answers the first click with ``first``, later ones with a mask that spills everywhere
        name, label_mode, box_fit = "redrawing", "four-class", True

        def predict(self, image, clicks, prior=None):
            seen.append((len(clicks), prior is not None))
            mask = first if len(clicks) == 1 else np.ones((h, w), bool)
            return UsPrediction(mask=mask, class_probs={"cyst": 1.0, "hemangioma": 0.0, "metastasis": 0.0,
                                                       "hcc": 0.0}, malignant_prob=0.0, time_ms=1.0)

    monkeypatch.setattr(us_segment, "create", lambda *a, **k: Redrawing())
    out = tmp_path / "mask.png"
    assert main(["us-segment", str(image), "--click", "140", "90", "--bg-click", "195", "90",
                 "--out", str(out)]) == 0
    got = cv2.imread(str(out), cv2.IMREAD_GRAYSCALE) > 0
    assert seen == [(1, False), (2, True)]  # the first click alone, then both with its mask as the prior
    assert not got[90, 195] and not (got & ~first).any()  # the background click removed, nothing added
    assert got[90, 140] and got.sum() > 0.8 * first.sum()  # the rest of the first mask stays
    assert json.loads(capsys.readouterr().out)["mode"] == "one-click"


def test_us_segment_user_errors(tiny_set, tmp_path, capsys):
    img = tiny_set / "data" / "images" / "us_00000.png"
    assert main(["us-segment", str(img), "--out", str(tmp_path / "m.png")]) == 2
    assert main(["us-segment", str(img), "--click", "10", "10", "--out", str(tmp_path / "m.png"),
                 "--weights", str(tmp_path / "none.pt")]) == 2
    assert re.search(r"'us_clickseg\w*'\): weights .*none\.pt not found", capsys.readouterr().err)
    w, h = cv2.imread(str(img), cv2.IMREAD_GRAYSCALE).shape[::-1]
    assert main(["us-segment", str(img), "--box", str(w + 10), "5", str(w + 60), "40", "--out",
                 str(tmp_path / "m.png")]) == 2  # a box off the image: said in the box's terms, no click named
    err = capsys.readouterr().err
    assert "--box: its centre" in err and "outside the" in err and "foreground click" not in err


def test_eval_us_on_a_tiny_set(tiny_set, tmp_path, capsys):
    report = tmp_path / "r.json"
    assert main(["eval-us", "--data", str(tiny_set / "data"), "--mode", "two-click", "--grabcut", "--weights",
                 str(tiny_set / "run" / "us_clickseg.pt"), "--device", "cpu", "--json", str(report)]) == 0
    rep = json.loads(report.read_text())
    assert rep["report"]["n"] == 4 and 0 <= rep["report"]["jaccard_mean"] <= 1
    assert rep["report"]["four_class_accuracy"] is not None
    assert 0 <= rep["report"]["grabcut_jaccard_mean"] <= 1
    assert 0 < rep["report"]["ellipse_jaccard_mean"] < 1 and 0 < rep["report"]["box_jaccard_mean"] < 1
    out = capsys.readouterr().out
    assert "Jaccard mean" in out and "inscribed ellipse" in out


def test_the_ellipse_baseline_of_the_box_flow_takes_the_same_corrections_without_a_model(tiny_set):
    from liverview.metrics.click_segmentation import evaluate_lesions
    from liverview.us.clicks import BOX_CLICK_COUNT, box_of_clicks, ellipse_in_box
    from liverview.us.lesion_dataset import load_lesions, load_records
    from liverview.us.prediction import UsPrediction

    lesion = load_lesions(load_records(tiny_set / "data"))[:1]

    class Fixed:  # answers a box with ``answer(shape, box)``, anything else with an empty mask
        label_mode, box_fit = "four-class", True

        def __init__(self, answer):
            self.answer = answer

        def predict(self, image, clicks, prior=None):
            box = box_of_clicks(list(clicks[:BOX_CLICK_COUNT]))
            mask = self.answer(image.shape, box) if box else np.zeros(image.shape, bool)
            return UsPrediction(mask=mask, class_probs={"cyst": 1.0, "hemangioma": 0.0, "metastasis": 0.0,
                                                       "hcc": 0.0}, malignant_prob=0.5, time_ms=0.0)

    rep, rows = evaluate_lesions(Fixed(ellipse_in_box), lesion, "two-click", noc=True)
    assert rows[0].ellipse_box_noc85 == rows[0].box_noc85 and rows[0].ellipse_box_noc90 == rows[0].box_noc90
    assert rep.ellipse_box_noc85_mean == rep.box_noc85_mean
    rep, rows = evaluate_lesions(Fixed(lambda shape, box: lesion[0].mask), lesion, "two-click", noc=True)
    assert rows[0].box_noc85 == 2  # the box alone is right: its 2 clicks
    assert rows[0].ellipse_box_noc85 > 2  # the ellipse needs corrections
    assert rep.ellipse_box_noc85_mean == rows[0].ellipse_box_noc85


def test_eval_us_noc_and_reliability(tiny_set, tmp_path, capsys):
    report, diagram = tmp_path / "r.json", tmp_path / "rel.png"
    assert main(["eval-us", "--data", str(tiny_set / "data"), "--mode", "two-click", "--noc", "--reliability",
                 str(diagram), "--weights", str(tiny_set / "run" / "us_clickseg.pt"), "--device", "cpu",
                 "--json", str(report)]) == 0
    rep = json.loads(report.read_text())["report"]
    assert 1 <= rep["noc85_mean"] <= rep["noc90_mean"] <= 20 and rep["bm_ece"] is not None
    assert 2 <= rep["box_noc85_mean"] <= rep["box_noc90_mean"] <= 20  # a box costs two clicks
    out = capsys.readouterr().out
    assert diagram.stat().st_size > 1000 and "NoC@85" in out and "after the box" in out


def test_cv_us_trains_one_model_per_fold_and_scores_held_out_images(tiny_set, tmp_path, capsys):
    import csv

    liver = tmp_path / "liver"  # the tiny synthetic set relabelled benign/malignant in an AUL-style manifest
    liver.mkdir()
    with open(tiny_set / "data" / "labels.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    with open(liver / "manifest.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["image", "mask", "label"])
        for r in rows:
            label = "malignant" if r["class"] in ("metastasis", "hcc") else "benign"
            w.writerow([str(tiny_set / "data" / r["image"]), str(tiny_set / "data" / r["mask"]), label])
    out = tmp_path / "cv"
    assert main(["cv-us", "--liver", str(liver), "--folds", "2", "--out", str(out), "--device", "cpu",
                 "--threads", "1", "--set", "steps=2", *[a for pair in zip(["--set"] * 3, ["batch_size=2",
                 "input_size=32", "widths=[4, 8]"]) for a in pair]]) == 0
    doc = json.loads((out / "cv_report.json").read_text())
    assert [f["n"] for f in doc["folds"]] == [len(rows) // 2, len(rows) - len(rows) // 2]
    held = [set(json.loads((out / f"fold{k}" / "train_meta.json").read_text())["held_out"]) for k in (0, 1)]
    assert not held[0] & held[1] and len(held[0] | held[1]) == len(rows)
    assert "ellipse" in doc["report"] and (out / "reliability_platt.png").is_file()
    assert (out / "reliability_features.png").is_file()
    assert all(0 <= r["malignant_prob_features"] <= 1 for r in doc["lesions"])
    assert "bm_auroc_size_only" in doc["report"]["pooled_out_of_fold"]
    assert "mean ± sd" in capsys.readouterr().out

    # the default reader draws the lesion's own box and the masks are fitted to it
    tight = doc
    assert tight["report"]["reader_box"] == {"enlarge": [0.0, 0.0], "jitter": 0.0, "box_fit": True,
                                             "box_shape": DEFAULT_BOX_SHAPE}
    assert tight["report"]["margin_ellipse"]["mean"] == pytest.approx(tight["report"]["ellipse"]["mean"])
    assert "0.00-0.00 x the lesion's size, positional error sd 0.00; masks fitted to the box" in (
        out / "cv_report.md").read_text()

    # --resume scores finished folds again without training them, here with loosely drawn boxes left unfitted
    logs = {k: (out / f"fold{k}" / "train_log.csv").read_text() for k in (0, 1)}
    assert main(["cv-us", "--liver", str(liver), "--folds", "2", "--out", str(out), "--device", "cpu",
                 "--threads", "1", "--resume", "--box-margin", "0.02", "0.10", "--box-jitter", "0.03", "--no-box-fit",
                 "--set", "steps=2",
                 *[a for pair in zip(["--set"] * 3, ["batch_size=2", "input_size=32", "widths=[4, 8]"]) for a in pair]]) == 0
    loose = json.loads((out / "cv_report.json").read_text())
    assert {k: (out / f"fold{k}" / "train_log.csv").read_text() for k in (0, 1)} == logs  # no step trained
    assert loose["report"]["reader_box"] == {"enlarge": [0.02, 0.10], "jitter": 0.03, "box_fit": False,
                                             "box_shape": None}
    # a tight box's inscribed ellipse fits the lesion better than a loose box's; taking off the loose reader's
    # mean margin brings its ellipse back closer
    assert tight["report"]["ellipse"]["mean"] > loose["report"]["ellipse"]["mean"]
    assert loose["report"]["margin_ellipse"]["mean"] > loose["report"]["ellipse"]["mean"]
    assert "masks as the net drew them" in (out / "cv_report.md").read_text()


def test_eval_us_refuses_an_impossible_box_margin(tiny_set, capsys):
    assert main(["eval-us", "--data", str(tiny_set / "data"), "--mode", "two-click", "--box-margin", "0.2", "0.1",
                 "--weights", str(tiny_set / "run" / "us_clickseg.pt"), "--device", "cpu"]) != 0
    assert "--box-margin" in capsys.readouterr().err


def test_cv_summary_cross_fits_the_feature_model_fold_by_fold_and_reports_size_alone():
    from argparse import Namespace

    from liverview.commands.cv_us import summarise_cv

    rng = np.random.default_rng(0)
    rows = []
    for i in range(16):
        malignant = i % 2 == 1
        area = rng.normal(-2.0 if malignant else -4.0, 0.4)  # size separates; the head's score is noise
        rows.append({"fold": i % 4, "label": "malignant" if malignant else "benign", "malignant_prob": float(rng.uniform(0.3, 0.7)),
                     "jaccard": 0.7, "ellipse_jaccard": 0.7,
                     "features": {"net_logit": float(rng.normal()), "log_relative_area": float(area),
                                  "echo_contrast": float(rng.normal()), "heterogeneity": float(rng.normal())}})
    rows[0]["features"] = None  # an empty predicted mask: scored by the head alone (Platt)
    folds = [{"two_click": 0.7, "one_click": 0.5, "ellipse": 0.7, "margin_ellipse": 0.75, "box": 0.6, "grabcut": 0.3, "noc85": 5,
              "noc90": 8, "box_noc85": 3, "box_noc90": 6, "ellipse_box_noc85": 4, "ellipse_box_noc90": 7}
             for _ in range(4)]
    report = summarise_cv(rows, folds, Namespace(liver="L", train_extra=[], folds=4, seed=0), "m")
    pooled = report["pooled_out_of_fold"]
    assert pooled["bm_auroc_features_crossfitted"] > 0.9 and pooled["bm_auroc_size_only"] > 0.9
    assert rows[0]["malignant_prob_features"] == rows[0]["malignant_prob_platt"]
    # each lesion's score comes from a model fitted without its fold: changing a fold's labels moves only other folds
    flipped = [dict(r) for r in rows]
    for r in flipped:
        if r["fold"] == 3:
            r["label"] = "benign" if r["label"] == "malignant" else "malignant"
    summarise_cv(flipped, folds, Namespace(liver="L", train_extra=[], folds=4, seed=0), "m")
    assert all(a["malignant_prob_features"] == b["malignant_prob_features"] for a, b in zip(rows, flipped)
               if a["fold"] == 3)
    assert any(a["malignant_prob_features"] != b["malignant_prob_features"] for a, b in zip(rows, flipped)
               if a["fold"] != 3)
    model = pooled["malignancy_model_all_folds"]
    assert model["features"][1] == "log_relative_area" and model["coef"][1] > 0
    # lesion size alone as a fitted, cross-fitted probability, beside the floor of no score at all
    assert pooled["bm_auroc_size_crossfitted"] > 0.9
    assert pooled["bm_log_loss_size_crossfitted"] < pooled["bm_log_loss_prevalence_crossfitted"]
    assert list(pooled["malignancy_size_model_all_folds"]["features"]) == ["log_relative_area"]
    assert rows[0]["malignant_prob_size"] == rows[0]["malignant_prob_prevalence"]  # no mask: the other folds' share
    assert all(r["malignant_prob_size"] == a["malignant_prob_size"] for r, a in zip(rows, flipped) if r["fold"] == 3)


def test_predict_returns_a_native_resolution_mask(tiny_set):
    seg = load_segmenter(tiny_set / "run" / "us_clickseg.pt", "cpu")
    img = np.random.default_rng(0).uniform(0, 255, (123, 157)).astype(np.float32)
    pred = seg.predict(img, box_to_clicks(20, 30, 80, 90))
    assert pred.mask.shape == (123, 157) and pred.mask.dtype == bool
    assert sum(pred.class_probs.values()) == pytest.approx(1, abs=1e-5)
    with pytest.raises(ValueError, match="outside"):
        seg.predict(img, [Click(500, 10, True)])
    with pytest.raises(UsModelError):
        load_segmenter(tiny_set / "data" / "labels.csv")


def test_train_us_stores_the_cv_calibration_and_inference_applies_it(tiny_set, tmp_path):
    report = tmp_path / "cv_report.json"
    report.write_text(json.dumps({"report": {"pooled_out_of_fold": {"platt_all_folds": {"a": -1.0, "b": 0.0}}}}))
    data = str(tiny_set / "data")
    assert main(["train-us", "--data", data, "--out", str(tmp_path / "plain"), "--steps", "2", *TINY]) == 0
    assert main(["train-us", "--data", data, "--out", str(tmp_path / "cal"), "--steps", "2", "--calibration",
                 str(report), *TINY]) == 0
    plain = load_segmenter(tmp_path / "plain" / "us_clickseg.pt", device="cpu")
    cal = load_segmenter(tmp_path / "cal" / "us_clickseg.pt", device="cpu")
    assert plain.malignancy_calibration is None and cal.malignancy_calibration == (-1.0, 0.0)
    img = cv2.imread(str(tiny_set / "data" / "images" / "us_00000.png"), cv2.IMREAD_GRAYSCALE).astype(np.float32)
    clicks = [Click(img.shape[1] / 2, img.shape[0] / 2, True)]
    p, q = plain.predict(img, clicks), cal.predict(img, clicks)
    assert np.array_equal(p.mask, q.mask)  # same seed, same network: only the malignancy score differs
    assert q.malignant_prob == pytest.approx(1 - p.malignant_prob, abs=1e-5)
    (tmp_path / "bad.json").write_text("{}")
    assert main(["train-us", "--data", data, "--out", str(tmp_path / "x"), "--calibration",
                 str(tmp_path / "bad.json"), *TINY]) == 2


def test_train_us_stores_the_cv_feature_model_and_inference_scores_the_predicted_lesion_with_it(tiny_set, tmp_path):
    # a feature model that reads lesion size only: p = sigmoid(2 * (log_relative_area + 3))
    feature_model = {"features": ["net_logit", "log_relative_area"], "mean": [0.0, -3.0], "scale": [1.0, 0.5],
                     "coef": [0.0, 1.0], "intercept": 0.0}
    report = tmp_path / "cv_report.json"
    report.write_text(json.dumps({"report": {"pooled_out_of_fold": {
        "platt_all_folds": {"a": -1.0, "b": 0.0}, "malignancy_model_all_folds": feature_model}}}))
    data = str(tiny_set / "data")
    assert main(["train-us", "--data", data, "--out", str(tmp_path / "feat"), "--steps", "2", "--calibration",
                 str(report), *TINY]) == 0
    seg = load_segmenter(tmp_path / "feat" / "us_clickseg.pt", device="cpu")
    img = cv2.imread(str(tiny_set / "data" / "images" / "us_00000.png"), cv2.IMREAD_GRAYSCALE).astype(np.float32)
    pred = seg.predict(img, [Click(img.shape[1] / 2, img.shape[0] / 2, True)])
    if pred.mask.any():  # two training steps may give an empty mask: then the head's Platt-scaled score is shown
        share = np.log(pred.mask.sum() / max(int((img > 3).sum()), int(pred.mask.sum())))
        assert pred.malignant_prob == pytest.approx(1 / (1 + np.exp(-(share + 3.0) / 0.5)), abs=1e-6)
        assert "lesion size" in pred.malignancy_note
    else:
        assert "Platt" in pred.malignancy_note
    assert pred.head_malignant_prob == pytest.approx(sum(pred.class_probs[c] for c in ("metastasis", "hcc")), abs=1e-6)


def test_train_us_with_the_prior_channel_and_model_driven_clicks_from_a_three_channel_net(tiny_set, tmp_path, capsys):
    data = str(tiny_set / "data")
    out = tmp_path / "prior"
    assert main(["train-us", "--data", data, "--out", str(out), "--steps", "3", "--prior-channel", "--model-clicks",
                 "1.0", "--init", str(tiny_set / "run" / "us_clickseg.pt"), *TINY]) == 0
    assert "new input channels start at 0" in capsys.readouterr().out
    seg = load_segmenter(out / "us_clickseg.pt", device="cpu")
    assert seg.uses_prior and seg.meta["train_config"]["model_click_share"] == 1.0
    assert "--prior-channel --model-clicks 1.0" in seg.meta["command"]
    # model-driven clicks need the prior channel; a share outside 0..1 is refused
    assert main(["train-us", "--data", data, "--out", str(tmp_path / "no"), "--model-clicks", "0.5", *TINY]) == 2
    assert "prior channel" in capsys.readouterr().err
    assert main(["train-us", "--data", data, "--out", str(tmp_path / "no"), "--prior-channel", "--model-clicks",
                 "1.5", *TINY]) == 2


def test_train_us_with_the_prior_residual_and_tighter_training_boxes(tiny_set, tmp_path, capsys):
    data = str(tiny_set / "data")
    out = tmp_path / "residual"
    assert main(["train-us", "--data", data, "--out", str(out), "--steps", "2", "--prior-channel", "--prior-residual",
                 "--box-margin", "-0.02", "0.08", "--init", str(tiny_set / "run" / "us_clickseg.pt"), *TINY]) == 0
    seg = load_segmenter(out / "us_clickseg.pt", device="cpu")
    assert seg.net.config.prior_residual and tuple(seg.meta["train_config"]["box_margin"]) == (-0.02, 0.08)
    assert "--prior-residual --box-margin -0.02 0.08" in seg.meta["command"]
    capsys.readouterr()
    assert main(["train-us", "--data", data, "--out", str(tmp_path / "no"), "--prior-residual", *TINY]) == 2
    assert "prior_channel" in capsys.readouterr().err


def test_train_us_keeps_platt_when_the_feature_model_scored_worse_on_held_out_images(tiny_set, tmp_path, capsys):
    feature_model = {"features": ["log_relative_area"], "mean": [-3.0], "scale": [0.5], "coef": [1.0], "intercept": 0.0}
    data = str(tiny_set / "data")
    for name, losses in (("worse", (0.9, 0.7)), ("better", (0.5, 0.7))):
        report = tmp_path / f"{name}.json"
        report.write_text(json.dumps({"report": {"pooled_out_of_fold": {
            "platt_all_folds": {"a": 1.0, "b": 0.0}, "malignancy_model_all_folds": feature_model,
            "bm_log_loss_features_crossfitted": losses[0], "bm_log_loss_platt_crossfitted": losses[1]}}}))
        assert main(["train-us", "--data", data, "--out", str(tmp_path / name), "--steps", "1", "--calibration",
                     str(report), *TINY]) == 0
    assert "storing Platt scaling only" in capsys.readouterr().out
    assert load_segmenter(tmp_path / "worse" / "us_clickseg.pt", device="cpu").malignancy_model is None
    assert load_segmenter(tmp_path / "better" / "us_clickseg.pt", device="cpu").malignancy_model is not None


def _report(tmp_path, name, **pooled):
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps({"report": {"pooled_out_of_fold": {"platt_all_folds": {"a": 1.0, "b": 0.0}, **pooled}}}))
    return path


SIZE_MODEL = {"features": ["log_relative_area"], "mean": [-3.0], "scale": [0.5], "coef": [1.0], "intercept": 0.0}
FEATURE_MODEL = {"features": ["net_logit", "log_relative_area"], "mean": [0.0, -3.0], "scale": [1.0, 0.5],
                 "coef": [0.5, 1.0], "intercept": 0.0}


def test_the_malignancy_score_with_the_lowest_held_out_log_loss_is_chosen(tmp_path):
    from liverview.commands.us_calibration import read_calibration

    models = {"malignancy_model_all_folds": FEATURE_MODEL, "malignancy_size_model_all_folds": SIZE_MODEL}
    size_best = read_calibration(_report(tmp_path, "a", **models, bm_log_loss_features_crossfitted=0.74,
                                         bm_log_loss_size_crossfitted=0.59, bm_log_loss_platt_crossfitted=0.76,
                                         bm_log_loss_prevalence_crossfitted=0.69))
    assert size_best.model == SIZE_MODEL and size_best.platt["a"] == 1.0 and size_best.platt["from"].endswith("a.json")
    assert "storing the lesion-size model" in size_best.message and "no better" not in size_best.message
    platt_best = read_calibration(_report(tmp_path, "b", **models, bm_log_loss_features_crossfitted=0.74,
                                          bm_log_loss_size_crossfitted=0.80, bm_log_loss_platt_crossfitted=0.72,
                                          bm_log_loss_prevalence_crossfitted=0.69))
    assert platt_best.model is None and "storing Platt scaling only" in platt_best.message
    assert "no better than giving every lesion the share" in platt_best.message  # 0.72 >= 0.69: says so
    old = read_calibration(_report(tmp_path, "c", malignancy_model_all_folds=FEATURE_MODEL))  # no log losses
    assert old.model == FEATURE_MODEL


def test_calibrate_us_stores_the_chosen_score_and_leaves_the_network_alone(tiny_set, tmp_path, capsys):
    weights = tiny_set / "run" / "us_clickseg.pt"
    report = _report(tmp_path, "cv", malignancy_model_all_folds=FEATURE_MODEL,
                     malignancy_size_model_all_folds=SIZE_MODEL, bm_log_loss_features_crossfitted=0.74,
                     bm_log_loss_size_crossfitted=0.59, bm_log_loss_platt_crossfitted=0.76)
    out = tmp_path / "calibrated.pt"
    assert main(["calibrate-us", str(weights), "--calibration", str(report), "--out", str(out)]) == 0
    assert "storing the lesion-size model" in capsys.readouterr().out
    before, after = torch.load(weights, weights_only=False), torch.load(out, weights_only=False)
    assert before["state_dict"].keys() == after["state_dict"].keys()
    assert all(torch.equal(before["state_dict"][k], after["state_dict"][k]) for k in before["state_dict"])
    assert after["meta"]["malignancy_model"] == SIZE_MODEL and "calibrate-us" in after["meta"]["calibrated_by"]
    seg = load_segmenter(out, device="cpu")
    img = cv2.imread(str(tiny_set / "data" / "images" / "us_00000.png"), cv2.IMREAD_GRAYSCALE).astype(np.float32)
    pred = seg.predict(img, [Click(img.shape[1] / 2, img.shape[0] / 2, True)])
    if pred.mask.any():  # the tiny net may find nothing: then the head's Platt-scaled score is shown
        share = np.log(pred.mask.sum() / max(int((img > 3).sum()), int(pred.mask.sum())))
        assert pred.malignant_prob == pytest.approx(1 / (1 + np.exp(-(share + 3.0) / 0.5)), abs=1e-6)
        assert pred.malignancy_note.startswith("lesion size, fitted")
    # a report that is not one, and a file that is not weights: clear errors, nothing written
    assert main(["calibrate-us", str(weights), "--calibration", str(tmp_path / "missing.json")]) == 2
    assert main(["calibrate-us", str(report), "--calibration", str(report), "--out", str(tmp_path / "x.pt")]) == 2
    assert "not a readable torch checkpoint" in capsys.readouterr().err and not (tmp_path / "x.pt").exists()


@pytest.mark.parametrize("pooled, problem", [
    ({"malignancy_model_all_folds": {"bogus": 1}}, "lacks 'features'"),
    ({"malignancy_model_all_folds": {**SIZE_MODEL, "features": ["no_such_feature"]}}, "unknown features"),
    ({"malignancy_model_all_folds": {**SIZE_MODEL, "coef": [1.0, 2.0]}}, "as long as each other"),
    ({"platt_all_folds": {"slope": 1.0}}, 'finite numbers "a" and "b"'),
    ({"platt_all_folds": {"a": "1", "b": 0.0}}, 'finite numbers "a" and "b"'),
])
def test_calibrate_us_refuses_a_score_inference_could_not_read_and_leaves_the_weights_alone(
        tiny_set, tmp_path, capsys, pooled, problem):
    weights = tmp_path / "us_clickseg.pt"
    weights.write_bytes((tiny_set / "run" / "us_clickseg.pt").read_bytes())
    before = weights.read_bytes()
    report = _report(tmp_path, "bad", **pooled)
    assert main(["calibrate-us", str(weights), "--calibration", str(report)]) == 2  # default: over WEIGHTS
    assert main(["calibrate-us", str(weights), "--calibration", str(report), "--out", str(tmp_path / "x.pt")]) == 2
    err = capsys.readouterr().err
    assert problem in err and "Traceback" not in err
    assert weights.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["bad.json",
                                                                                          "us_clickseg.pt"]
