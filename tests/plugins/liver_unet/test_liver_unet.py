"""The learnt liver mask: its working grid, labels moved into each phase's frame, the crop sampler, a short
real training run that resumes and refuses a changed configuration, and the trained model through the
registry (right grid, clear refusals)."""

from pathlib import Path

import numpy as np
import pytest
import torch

from liverview.core.axis_order import AxisOrder
from liverview.core.study import PhaseKind
from liverview.core.volume import Volume
from liverview.metrics.segmentation import dice_coefficient
from liverview.plugin_api import LiverSegmenter, ModelInputError
from liverview.plugin_registry import discover_plugins
from liverview.synth.ct_phantom import generate_ct_study
from liverview_plugins.liver_unet.data import CropSampler, LiverCase, _label_in_phase
from liverview_plugins.liver_unet.training import LiverUNetConfig, train_liver_unet
from liverview_plugins.liver_unet.working_grid import input_grid_mask, to_working

PV = PhaseKind.PORTAL_VENOUS


def test_working_grid_has_2_mm_pixels_and_maps_back_to_the_exact_input_shape():
    hu = np.full((3, 101, 75), 60.0, np.float32)
    hu[:, :, :5] = np.nan  # NaN reads as air, never as tissue
    work = to_working(hu, (2.5, 0.6, 0.8), 2.0)
    assert work.shape == (3, 30, 30) and work.min() == 0.0
    assert np.isclose(work[:, :, -1], (60 + 200) / 500).all()
    back = input_grid_mask(np.ones(work.shape, np.float32), hu.shape)
    assert back.shape == hu.shape and back.all()


def test_axis_order_puts_a_flipped_or_permuted_scan_in_patient_order_and_back():
    rng = np.random.default_rng(0)
    patient = rng.random((4, 5, 6))  # [z, y, x] of an identity-direction scan
    assert np.array_equal(AxisOrder.of(np.eye(3)).forward(patient), patient)
    # LiTS-like: columns run to the patient's right, rows anterior (x and y flipped)
    flipped = np.diag([-1.0, -1.0, 1.0])
    stored = patient[:, ::-1, ::-1]
    order = AxisOrder.of(flipped)
    assert np.array_equal(order.forward(stored), patient) and np.array_equal(order.backward(patient), stored)
    # a coronal series: array axes [k, j, i] = [y (posterior), z downwards, x]
    coronal = np.array([[1.0, 0, 0], [0, 0, 1.0], [0, -1.0, 0]])  # i = +x, j = -z, k = +y
    stored = np.transpose(patient, (1, 0, 2))[:, ::-1, :]
    order = AxisOrder.of(coronal)
    assert np.array_equal(order.forward(stored), patient) and np.array_equal(order.backward(patient), stored)
    assert order.spacing_zyx((0.7, 3.0, 0.8)) == (3.0, 0.8, 0.7)


def test_a_phase_label_moves_by_its_breathing_shift():
    mask = np.zeros((10, 20, 20), np.uint8)
    mask[4, 5, 5] = 1
    # a reference point p is seen at p + shift in the phase: 2.5 mm down = one slice, 1.6 mm = 2 columns
    moved = _label_in_phase(mask, (1.6, 0.0, 2.5), (0.8, 0.8, 2.5))
    assert np.argwhere(moved).tolist() == [[5, 5, 7]]
    assert _label_in_phase(mask, (0, 0, 0), (0.8, 0.8, 2.5)) is mask


def _phantom_case(seed: int, group: str) -> LiverCase:
    st = generate_ct_study(seed, shape=(12, 96, 96), spacing_mm=(2.0, 2.0, 2.5))
    nc = st.phases[PhaseKind.NON_CONTRAST]
    image = np.round(to_working(nc.array, (2.5, 2.0, 2.0), 2.0) * 255).astype(np.uint8)
    return LiverCase(f"s{seed}", group, image, (st.liver_mask.array > 0).astype(np.uint8))


def test_a_whole_host_scan_is_labelled_by_the_classical_mask_in_patient_order(tmp_path):
    from liverview.io.volumes import write_volume
    from liverview_plugins.liver_unet.data import load_host_case

    st = generate_ct_study(908)
    pv = st.phases[PV]
    flipped = Volume(np.ascontiguousarray(pv.array[:, ::-1, :]), pv.spacing,
                     (pv.origin[0], pv.origin[1] + (pv.array.shape[1] - 1) * pv.spacing[1], pv.origin[2]),
                     np.diag([1.0, -1.0, 1.0]))  # rows stored posterior to anterior
    case = load_host_case(write_volume(flipped, tmp_path / "host.nii.gz"), 2.0)
    straight = load_host_case(write_volume(pv, tmp_path / "straight.nii.gz"), 2.0)
    assert case.group == "hosts" and case.image.shape == (64, 102, 102) and case.label.shape == case.image.shape
    assert np.array_equal(case.image, straight.image) and case.label.sum() > 0.05 * case.label.size
    assert dice_coefficient(case.label > 0, straight.label > 0) >= 0.99


def test_sampler_weighs_folders_equally_and_gives_matching_crops():
    cases = [_phantom_case(1, "a"), _phantom_case(2, "b"), _phantom_case(3, "b"), _phantom_case(4, "b")]
    sampler = CropSampler(cases, 32, np.random.default_rng(0))
    assert np.isclose(sampler.weights[0], 0.5) and np.isclose(sampler.weights[1:].sum(), 0.5)
    x, y = sampler.batch(6)
    assert x.shape == (6, 3, 32, 32) and y.shape == (6, 32, 32)
    assert x.min() >= 0 and x.max() <= 1 and set(np.unique(y)) <= {0.0, 1.0} and y.any()


def test_training_learns_resumes_and_refuses_another_configuration(tmp_path):
    torch.set_num_threads(1)
    cases = [_phantom_case(1, "a"), _phantom_case(2, "a")]
    config = LiverUNetConfig(widths=(4, 8), crop_px=32, batch_size=4, steps=40, learning_rate=5e-3, warmup_steps=5)
    half = LiverUNetConfig(**{**config.__dict__, "steps": 20})
    # 20 steps, then the same run asked for 40 resumes at 20 (a changed step count is a new schedule: refused)
    train_liver_unet(cases, half, tmp_path / "run", save_every=10, log=lambda s: None)
    with pytest.raises(ValueError, match="another configuration"):
        train_liver_unet(cases, config, tmp_path / "run", log=lambda s: None)
    lines = []
    weights = train_liver_unet(cases, config, tmp_path / "full", save_every=10, log=lines.append)
    history = torch.load(tmp_path / "full" / "last.pt", weights_only=False)["history"]
    assert [h["step"] for h in history] == [10, 20, 30, 40]
    assert history[-1]["loss"] < history[0]["loss"]  # it learns something in 40 steps
    contribution = discover_plugins().resolve("liver-segmenter", "liver_unet")
    seg = contribution.create(device="cpu", weights=weights)
    assert isinstance(seg, LiverSegmenter)
    st = generate_ct_study(5, shape=(12, 96, 96), spacing_mm=(2.0, 2.0, 2.5))
    vol = st.phases[PhaseKind.NON_CONTRAST]
    prob = seg.probability(vol)  # any size: padded to the network's multiple and cut back
    assert prob.shape == (12, 96, 96) and prob.min() >= 0 and prob.max() <= 1


def test_missing_weights_are_named():
    from liverview.plugin_api import WeightsMissingError

    with pytest.raises(WeightsMissingError):
        discover_plugins().resolve("liver-segmenter", "liver_unet").create(weights=Path("/nonexistent/liver.pt"))


def test_shipped_weights_outline_a_fresh_phantoms_liver_to_dice_095_in_every_phase_frame():
    from scipy import ndimage

    seg = discover_plugins().resolve("liver-segmenter", "liver_unet").create(device="cpu")
    st = generate_ct_study(906)  # a seed no model trained or was tuned on
    sx, sy, sz = st.spacing_mm
    for kind in (PV, PhaseKind.NON_CONTRAST):
        dx, dy, dz = st.shifts_mm[kind]
        truth = ndimage.shift((st.liver_mask.array > 0).astype(np.float32), (dz / sz, dy / sy, dx / sx), order=1) >= 0.5
        mask = seg.segment({kind: st.phases[kind]}, kind)
        assert dice_coefficient(mask.array > 0, truth) >= 0.95, kind


def test_a_scan_stored_flipped_gets_the_same_liver_on_its_own_grid():
    # LiTS-style storage: columns towards the patient's right, rows anterior; the same patient voxels
    seg = discover_plugins().resolve("liver-segmenter", "liver_unet").create(device="cpu")
    pv = generate_ct_study(907).phases[PV]
    ny, nx = pv.array.shape[1:]
    sx, sy, _ = pv.spacing
    origin = (pv.origin[0] + (nx - 1) * sx, pv.origin[1] + (ny - 1) * sy, pv.origin[2])
    flipped = Volume(np.ascontiguousarray(pv.array[:, ::-1, ::-1]), pv.spacing, origin, np.diag([-1.0, -1.0, 1.0]))
    assert np.allclose(flipped.index_to_world((0, 0, 0)), pv.index_to_world((nx - 1, ny - 1, 0)))
    straight = seg.segment({PV: pv}, PV).array
    stored = seg.segment({PV: flipped}, PV).array
    assert stored.shape == straight.shape
    assert dice_coefficient(stored[:, ::-1, ::-1] > 0, straight > 0) >= 0.99
