"""Training (2 steps, resume), the inference API and the CLI commands on a tiny phantom with tiny weights."""

import json

import numpy as np
import pytest
import torch

from liverview.cli import main as cli_main
from liverview.core.study import PhaseKind
from liverview.core.volume import Volume
from liverview.detection.proposals import read_proposals
from liverview.io.volumes import read_volume
from liverview_plugins.mscn_detector.dataset import prepare_case
from liverview_plugins.mscn_detector.evaluation import phantom_phases
from liverview_plugins.mscn_detector.inference import DetectionCancelled, load_detector
from tests.plugins.mscn_detector.conftest import TINY_MODEL_ARGS, phantom_inputs
from liverview_plugins.mscn_detector.preprocess import InvalidInputError
from liverview_plugins.mscn_detector.training import CHECKPOINT_FILE, load_cases_from_folder, train_detector


@pytest.fixture(scope="module")
def tiny_weights(tiny_phantom_dir, tmp_path_factory):
    from liverview_plugins.mscn_detector.config import DetectorConfig

    torch.set_num_threads(1)
    cfg = DetectorConfig(n_slices=3, pixel_mm=6.4, stage_channels=(4, 8, 8, 8), pyramid_channels=8,
                         attention_channels=4, head_channels=8, crop_px=32, batch_size=2, epochs=1,
                         steps_per_epoch=2)
    out = tmp_path_factory.mktemp("run")
    return train_detector(load_cases_from_folder(tiny_phantom_dir), cfg, out, device="cpu")


def test_cases_from_a_phantom_folder_have_per_slice_boxes(tiny_phantom_dir, tiny_config):
    [case] = load_cases_from_folder(tiny_phantom_dir)
    assert len(case.lesions) == 2 and case.reference is PhaseKind.NON_CONTRAST
    prepared = prepare_case(case, tiny_config)
    assert prepared.image.shape[0] == 4 and prepared.image.dtype == np.uint8
    assert prepared.boxes and len(prepared.target_slices) == prepared.image.shape[1]


def test_missing_training_folder_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_cases_from_folder(tmp_path / "nope")
    with pytest.raises(FileNotFoundError, match="no study"):
        load_cases_from_folder(tmp_path)


def test_train_two_steps_then_resume_from_the_checkpoint(tiny_weights, tiny_phantom_dir):
    run = tiny_weights.parent
    ckpt = torch.load(run / CHECKPOINT_FILE, weights_only=False)
    assert ckpt["step"] == 2 and tiny_weights.is_file()
    cfg_more = __import__("liverview_plugins.mscn_detector.config", fromlist=["DetectorConfig"]).DetectorConfig.from_dict(
        ckpt["config"]).replace(epochs=2)
    messages = []
    train_detector(load_cases_from_folder(tiny_phantom_dir), cfg_more, run, device="cpu", log=messages.append)
    assert any("resumed" in m and "step 2" in m for m in messages)
    assert torch.load(run / CHECKPOINT_FILE, weights_only=False)["step"] == 4
    with pytest.raises(ValueError, match="another configuration"):
        train_detector(load_cases_from_folder(tiny_phantom_dir), cfg_more.replace(n_slices=1), run, device="cpu")


def test_detect_api_on_phantom_one_slice_other_grid_missing_phase(tiny_weights, tiny_phantom_dir):
    det = load_detector(tiny_weights, "cpu")
    assert det.name.startswith("mscn_detector/")
    volumes, ref = phantom_phases(tiny_phantom_dir / "s7")
    fractions = []
    result = det.detect(volumes, ref, progress=fractions.append)
    assert result.shape == volumes[ref].array.shape and fractions[-1] == 1.0
    for p in result.proposals:
        assert 0 <= p.z_range[0] <= p.key_slice <= p.z_range[1] < 16
    # one slice, a phase on another grid (shifted origin, other spacing), two phases missing
    nc = volumes[PhaseKind.NON_CONTRAST]
    one = Volume(nc.array[8:9], nc.spacing, nc.index_to_world((0, 0, 8)), nc.direction)
    art = volumes[PhaseKind.ARTERIAL]
    other = Volume(art.array[:, ::2, ::2], (art.spacing[0] * 2, art.spacing[1] * 2, art.spacing[2]),
                   tuple(np.array(art.origin) + 1.0), art.direction)
    single = det.detect({PhaseKind.NON_CONTRAST: one, PhaseKind.ARTERIAL: other}, PhaseKind.NON_CONTRAST)
    assert single.shape == (1, 64, 64)
    assert all(p.z_range == (0, 0) for p in single.proposals)


def test_detect_refuses_nan_only_input_and_can_be_cancelled(tiny_weights, tiny_phantom_dir):
    det = load_detector(tiny_weights, "cpu")
    volumes, ref = phantom_phases(tiny_phantom_dir / "s7")
    nan = volumes[ref].with_array(np.full(volumes[ref].array.shape, np.nan, np.float32))
    with pytest.raises(InvalidInputError, match="no finite voxel"):
        det.detect({**volumes, ref: nan}, ref)
    with pytest.raises(DetectionCancelled):
        det.detect(volumes, ref, cancelled=lambda: True)
    with pytest.raises(InvalidInputError, match="reference phase"):
        det.detect({PhaseKind.ARTERIAL: volumes[PhaseKind.ARTERIAL]}, PhaseKind.DELAYED)


def test_missing_weights_error_names_the_training_command(tmp_path):
    with pytest.raises(FileNotFoundError, match="train-detector"):
        load_detector(tmp_path / "none.pt", "cpu")


def test_detect_cli_writes_valid_proposals_json(tiny_weights, tiny_phantom_dir, tmp_path, capsys):
    out = tmp_path / "proposals.json"
    rc = cli_main(["detect", str(tiny_phantom_dir / "s7"), "--out", str(out), "--weights", str(tiny_weights),
                   "--device", "cpu"])
    assert rc == 0
    ps = read_proposals(out)
    assert ps.shape == (16, 64, 64) and ps.model.startswith("mscn_detector/") and ps.study == "s7"
    doc = json.loads(out.read_text())
    assert doc["format"] == "liverview-proposals"
    assert cli_main(["detect", str(tmp_path / "missing"), "--out", str(out)]) == 2
    assert "no such file" in capsys.readouterr().err


def test_train_detector_cli_rejects_a_missing_folder(tmp_path, capsys):
    assert cli_main(["train-detector", "--data", str(tmp_path / "x"), "--out", str(tmp_path / "o")]) == 2
    assert "not a folder" in capsys.readouterr().err


def test_default_weights_load_and_run(tiny_phantom_dir, default_weights):
    assert default_weights.stat().st_size < 50 * 2**20
    det = load_detector(None, "cpu")
    assert det.config.n_slices == 9 and len(det.config.phases) == 4
    volumes, ref = phantom_phases(tiny_phantom_dir / "s7")
    result = det.detect(volumes, ref)
    assert result.model == det.name and result.shape == (16, 64, 64)


def test_mine_negatives_writes_hard_negatives_that_training_reads(tiny_phantom_dir, tmp_path, capsys):
    import shutil

    from liverview.detection.hard_negatives import HARD_NEGATIVES_FILE

    data = tmp_path / "data"
    shutil.copytree(tiny_phantom_dir, data)
    # the shipped weights (a tiny net finds nothing here): every proposal above 0 that misses the two lesions
    assert cli_main(["mine-negatives", str(data), "--device", "cpu", "--min-score", "0", "--limit", "4",
                     "--quiet"]) == 0
    assert "hard negatives in 1 studies" in capsys.readouterr().out
    mined = read_proposals(data / "s7" / HARD_NEGATIVES_FILE)
    assert 0 < len(mined.proposals) <= 4 and mined.shape == (16, 64, 64)
    [case] = load_cases_from_folder(data)
    assert [p.box for p in case.hard_negatives] == [p.box for p in mined.proposals]
    for p in mined.proposals:  # none touches a labelled lesion
        (i0, j0, k0), (i1, j1, k1) = p.box_ijk()
        for les in case.lesions:
            x0, y0, z0, x1, y1, z1 = les.box_ijk
            assert i1 < x0 - 4 or i0 > x1 + 4 or j1 < y0 - 4 or j0 > y1 + 4 or k1 < z0 - 1 or k0 > z1 + 1
    from liverview_plugins.mscn_detector.config import DetectorConfig

    prepared = prepare_case(case, DetectorConfig(n_slices=3, pixel_mm=6.4))
    assert prepared.hard  # the HNSL targets get them
    assert cli_main(["mine-negatives", str(tmp_path / "none")]) == 2
    # training says it found them and records how many (they come from files nobody names on the command line)
    out = tmp_path / "run"
    assert cli_main(["train-detector", "--data", str(data), "--out", str(out), "--epochs", "1", "--steps-per-epoch",
                     "1", "--batch-size", "2", *TINY_MODEL_ARGS]) == 0
    assert f"hard negatives (HNSL): {len(mined.proposals)} in 1 of 1 studies" in capsys.readouterr().err
    assert json.loads((out / "train_log.json").read_text())["hard_negatives"] == {"s7": len(mined.proposals)}
    # and leaves them out when told to
    out = tmp_path / "run_without"
    assert cli_main(["train-detector", "--data", str(data), "--out", str(out), "--epochs", "1", "--steps-per-epoch",
                     "1", "--batch-size", "2", "--no-hard-negatives", *TINY_MODEL_ARGS]) == 0
    assert "hard negatives (HNSL): none" in capsys.readouterr().err
    assert json.loads((out / "train_log.json").read_text())["hard_negatives"] == {}


def test_box_refinement_switch_fits_the_detectors_own_proposals(default_weights):
    # off by default (it helped synthetic lesions, not real ones: see inference.REFINE_SMALL_BOXES); switched on,
    # detect returns exactly its proposals passed through liverview.detection.box_refinement
    from liverview.detection.box_refinement import refine_proposal

    volumes, ref = phantom_inputs(9100, 7)
    det = load_detector(None, "cpu")
    assert det.refine_small_boxes is False
    plain = det.detect(volumes, ref).proposals
    det.refine_small_boxes = True
    fitted = det.detect(volumes, ref).proposals
    vol = volumes[ref]
    assert fitted == tuple(refine_proposal(p, vol.array, vol.spacing) for p in plain)
    assert sum(a.box != b.box for a, b in zip(plain, fitted)) >= 1  # the switch did something


def test_detect_widens_each_slice_box_by_its_neighbours_and_keeps_the_rest(default_weights):
    volumes, ref = phantom_inputs(9101, 5)
    det = load_detector(None, "cpu")
    assert det.slice_box_window_mm == 5.0
    wide = det.detect(volumes, ref).proposals
    det.slice_box_window_mm = 0.0
    plain = det.detect(volumes, ref).proposals
    assert [(p.box, p.z_range, p.score, p.key_slice) for p in wide] == \
        [(p.box, p.z_range, p.score, p.key_slice) for p in plain]

    def holds(a, b):
        return a[0] <= b[0] and a[1] <= b[1] and a[2] >= b[2] and a[3] >= b[3]

    assert all(w.slice_boxes.keys() == p.slice_boxes.keys() for w, p in zip(wide, plain))
    assert all(holds(w.slice_boxes[z], p.slice_boxes[z]) for w, p in zip(wide, plain) for z in p.slice_boxes)
    assert any(w.slice_boxes != p.slice_boxes for w, p in zip(wide, plain))


def test_the_detector_name_carries_its_weights_digest(tmp_path, default_weights):
    import hashlib
    import shutil

    det = load_detector(None, "cpu")
    digest = hashlib.sha256(default_weights.read_bytes()).hexdigest()[:8]
    assert det.name.startswith("mscn_detector/") and det.name.endswith(f"+{digest}")
    # other weights of the same version number get another name, the same file under another path the same
    ckpt = torch.load(default_weights, map_location="cpu", weights_only=True)
    ckpt["model"] = {k: v + 1 if v.is_floating_point() else v for k, v in ckpt["model"].items()}
    torch.save(ckpt, tmp_path / "other.pt")
    assert load_detector(tmp_path / "other.pt", "cpu").name != det.name
    shutil.copy(default_weights, tmp_path / "copy.pt")
    assert load_detector(tmp_path / "copy.pt", "cpu").name == det.name


def _stored_like_lits(v: Volume) -> Volume:
    """The same voxels at the same world positions, stored with rows and slices reversed (as LiTS volumes are)."""
    k, j, _ = v.array.shape
    first = v.index_to_world((0.0, j - 1.0, k - 1.0))
    direction = v.direction @ np.diag([1.0, -1.0, -1.0])
    return Volume(np.ascontiguousarray(v.array[::-1, ::-1]), v.spacing, tuple(first), direction, v.name)


def test_a_scan_stored_flipped_gets_the_proposals_of_the_same_scan_stored_upright(default_weights):
    volumes, ref = phantom_inputs(9101, 5)
    det = load_detector(None, "cpu")
    upright = det.detect(volumes, ref)
    flipped = det.detect({kind: _stored_like_lits(v) for kind, v in volumes.items()}, ref)
    assert flipped.shape == upright.shape and len(flipped.proposals) == len(upright.proposals) > 0
    nz, ny, _ = upright.shape
    for a, b in zip(upright.proposals, flipped.proposals):  # the network read the same upright slices
        assert b.score == pytest.approx(a.score, abs=1e-5) and b.lesion_class == a.lesion_class
        assert b.z_range == (nz - 1 - a.z_range[1], nz - 1 - a.z_range[0]) and b.key_slice == nz - 1 - a.key_slice
        assert b.box == pytest.approx((a.box[0], ny - a.box[3], a.box[2], ny - a.box[1]))


def test_a_flipped_training_study_trains_on_the_same_upright_slices(tiny_phantom_dir, tiny_config):
    import dataclasses

    [case] = load_cases_from_folder(tiny_phantom_dir)
    upright = prepare_case(case, tiny_config)
    volumes = {kind: _stored_like_lits(read_volume(path)) for kind, path in case.phases.items()}
    nz, ny, _ = next(iter(volumes.values())).array.shape
    lesions = [dataclasses.replace(les, box_ijk=(x0, ny - 1 - y1, nz - 1 - z1, x1, ny - 1 - y0, nz - 1 - z0),
                                   key_slice=nz - 1 - les.key_slice)
               for les in case.lesions for x0, y0, z0, x1, y1, z1 in [les.box_ijk]]
    labels = _stored_like_lits(read_volume(case.lesion_labels)) if case.lesion_labels is not None else None
    flipped = prepare_case(dataclasses.replace(case, phases=volumes, lesions=lesions, lesion_labels=labels),
                           tiny_config)
    assert np.array_equal(flipped.image, upright.image)
    assert flipped.boxes == upright.boxes and np.array_equal(flipped.target_slices, upright.target_slices)
