"""Network pieces: head shapes, cross-phase attention masking, focal loss and HNSL values, targets, decoding."""

import math

import pytest
import torch

from liverview_plugins.mscn_detector.config import DetectorConfig
from liverview_plugins.mscn_detector.cross_phase_attention import CrossPhaseAttention, tile_bounds
from liverview_plugins.mscn_detector.decoding import decode
from liverview_plugins.mscn_detector.losses import focal_loss, hnsl_target
from liverview_plugins.mscn_detector.model import MultiPhaseCenterNet
from liverview_plugins.mscn_detector.targets import SliceBox, build_targets


def test_heads_have_class_agnostic_wh_and_offset_channels_at_stride_4(tiny_config):
    model = MultiPhaseCenterNet(tiny_config)
    out = model(torch.rand(2, 4, 3, 32, 48), torch.tensor([[True] * 4, [True, False, True, False]]))
    assert out["heatmap"].shape == (2, 5, 8, 12)  # 4 classes + any lesion
    assert out["wh"].shape == (2, 2, 8, 12) and out["offset"].shape == (2, 2, 8, 12)
    with pytest.raises(ValueError, match="expects"):
        model(torch.rand(1, 4, 9, 32, 32))


@pytest.mark.parametrize("variant", [{"n_slices": 1}, {"phases": ("portal venous",)}, {"pyramid_fusion": False}])
def test_ablation_variants_build_and_run(tiny_config, variant):
    cfg = tiny_config.replace(**variant)
    model = MultiPhaseCenterNet(cfg)
    out = model(torch.rand(1, len(cfg.phases), cfg.n_slices, 32, 32))
    assert out["heatmap"].shape == (1, 5, 8, 8)


def test_attention_ignores_absent_phases_and_relates_present_ones():
    torch.manual_seed(0)
    att = CrossPhaseAttention(6, 4)
    torch.nn.init.normal_(att.w.weight)  # zero-initialised W would hide the relation
    x = torch.randn(1, 3, 6, 4, 4)
    present = torch.tensor([[True, True, False]])
    y = att(x, present)
    x2 = x.clone()
    x2[:, 2] = torch.randn(6, 4, 4)  # change the absent phase
    assert torch.allclose(att(x2, present)[:, 0], y[:, 0])
    x3 = x.clone()
    x3[:, 1] = torch.randn(6, 4, 4)  # change the other present phase: phase 0 must change
    assert not torch.allclose(att(x3, present)[:, 0], y[:, 0])
    alone = att(x, torch.tensor([[True, False, False]]))
    assert torch.allclose(alone[:, 0], x[:, 0])  # no other phase: no relation term


def _dense_attention(att: CrossPhaseAttention, x: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
    """MSCN Eq. 1 written out with the full (P*N x P*N) matrix, as a reference for the tiled block."""
    b, p, c, h, w = x.shape
    flat = x.reshape(b * p, c, h, w)
    q = att.theta(flat).reshape(b, p, -1, h * w).transpose(2, 3)
    k = att.phi(flat).reshape(b, p, -1, h * w)
    v = att.g(flat).reshape(b, p, -1, h * w).transpose(2, 3)
    out = torch.zeros_like(q)
    for n in range(b):
        for i in range(p):
            others = [j for j in range(p) if j != i and present[n, j]]
            if not others:
                continue
            logits = q[n, i] @ torch.cat([k[n, j] for j in others], 1) / math.sqrt(q.shape[-1])
            out[n, i] = torch.softmax(logits, -1) @ torch.cat([v[n, j] for j in others], 0)
    return x + att.w(out.transpose(2, 3).reshape(b * p, -1, h, w)).reshape(b, p, c, h, w)


def test_attention_matches_the_dense_formula_on_present_phases():
    torch.manual_seed(1)
    att = CrossPhaseAttention(6, 4)
    torch.nn.init.normal_(att.w.weight)
    torch.nn.init.normal_(att.w.bias)
    x = torch.randn(3, 4, 6, 5, 7)
    present = torch.tensor([[True] * 4, [True, False, True, False], [False, False, True, False]])
    got, want = att(x, present), _dense_attention(att, x, present)
    for n in range(3):
        for i in range(4):
            if present[n, i]:
                assert torch.allclose(got[n, i], want[n, i], atol=1e-5), (n, i)
    att.window = 7  # a window as large as the map is the whole map
    assert torch.allclose(att(x, present)[0], want[0], atol=1e-5)
    x.requires_grad_(True)  # sample 2 has no other present phase: its gradients must stay finite
    att(x, present).sum().backward()
    assert torch.isfinite(x.grad).all() and all(torch.isfinite(q.grad).all() for q in att.parameters())


def test_attention_window_keeps_keys_to_the_query_tile():
    assert tile_bounds(46, 16) == [(0, 15), (15, 31), (31, 46)]
    assert tile_bounds(12, 16) == [(0, 12)] and tile_bounds(40, 0) == [(0, 40)]
    torch.manual_seed(2)
    att = CrossPhaseAttention(6, 4, window=4)
    torch.nn.init.normal_(att.w.weight)
    x = torch.randn(1, 2, 6, 8, 8)
    present = torch.ones(1, 2, dtype=torch.bool)
    y = att(x, present)
    x2 = x.clone()
    x2[:, 1, :, 4:, 4:] = torch.randn(6, 4, 4)  # phase 1's bottom-right tile only
    y2 = att(x2, present)
    assert torch.allclose(y2[:, 0, :, :4, :], y[:, 0, :, :4, :])  # phase 0 outside that tile: unchanged
    assert torch.allclose(y2[:, 0, :, 4:, :4], y[:, 0, :, 4:, :4])
    assert not torch.allclose(y2[:, 0, :, 4:, 4:], y[:, 0, :, 4:, 4:])
    with pytest.raises(ValueError, match="attention_window_px"):
        DetectorConfig(attention_window_px=12)


def test_eval_mode_skips_absent_phases_without_changing_the_output(tiny_config):
    torch.manual_seed(3)
    model = MultiPhaseCenterNet(tiny_config.replace(attention_window_px=16))
    torch.nn.init.normal_(model.attention.w.weight)
    model.eval()
    x = torch.rand(2, 4, tiny_config.n_slices, 32, 48)
    present = torch.tensor([[True, False, True, False], [False, False, True, False]])
    x[~present] = 0.0
    calls = []
    model.backbone.register_forward_hook(lambda m, inp, out: calls.append(inp[0].shape[0]))
    with torch.no_grad():
        fast = model(x, present)

        def every_phase(x, present):  # what training does: the backbone on all 8 (sample, phase) pairs
            b, p, s, h, w = x.shape
            c4, c8, c16 = model.backbone(x.reshape(b * p, s, h, w))
            return c4, model.pyramid.coarse(c4, c8, c16)

        model._present_features = every_phase
        slow = model(x, present)
    assert calls == [3, 8]  # 3 present (sample, phase) pairs of 8, then all of them
    for key in ("heatmap", "wh", "offset"):
        assert torch.allclose(fast[key], slow[key], atol=1e-5), key


def test_focal_loss_matches_hand_computed_values():
    logits = torch.zeros(1, 1, 1, 3)  # p = 0.5 everywhere
    target = torch.tensor([[[[1.0, 0.0, 0.5]]]])
    log2 = math.log(2)
    expected = 0.25 * log2 + 0.25 * log2 + (0.5 ** 4) * 0.25 * log2  # one peak -> divided by 1
    assert focal_loss(logits, target).item() == pytest.approx(expected, rel=1e-6)


def test_hnsl_penalises_a_hard_negative_16_times_background():
    logits = torch.full((1, 1, 1, 2), 1.0)
    gt = torch.zeros(1, 1, 1, 2)
    hard = torch.tensor([[[[1.0, 0.0]]]])
    target = hnsl_target(gt, hard)
    assert target.tolist() == [[[[-1.0, 0.0]]]]
    per_pixel = [focal_loss(logits[..., i:i + 1], target[..., i:i + 1]).item() for i in range(2)]
    assert per_pixel[0] == pytest.approx(16 * per_pixel[1], rel=1e-6)
    assert hnsl_target(gt, None) is gt


def test_targets_put_a_peak_with_size_and_offset_at_the_box_centre():
    t = build_targets([SliceBox(10, 20, 26, 28, 2), SliceBox(40, 40, 48, 48, -1)], 16, 16, 4, stride=4)
    cx, cy = 18 / 4, 24 / 4
    assert t["heatmap"][2, int(cy), int(cx)] == 1.0 and t["heatmap"][4, int(cy), int(cx)] == 1.0
    assert t["heatmap"][0].max() == 0.0  # other classes untouched
    assert t["mask"].sum() == 1 and tuple(t["wh"][:, 6, 4]) == (4.0, 2.0)
    assert tuple(t["offset"][:, 6, 4]) == pytest.approx((cx - 4, cy - 6))
    assert t["hard_negative"][0, 11, 11] == 1.0 and t["heatmap"][:, 11, 11].max() == 0.0


def test_decoding_finds_a_planted_peak():
    heat = torch.full((1, 5, 8, 8), -10.0)
    heat[0, 4, 3, 5] = 5.0
    heat[0, 2, 3, 5] = 3.0
    wh = torch.zeros(1, 2, 8, 8)
    wh[0, :, 3, 5] = torch.tensor([2.0, 3.0])
    off = torch.zeros(1, 2, 8, 8)
    off[0, :, 3, 5] = torch.tensor([0.25, 0.5])
    [peaks] = decode({"heatmap": heat, "wh": wh, "offset": off}, stride=4, threshold=0.1)
    assert len(peaks) == 1
    assert peaks[0].box == pytest.approx((17.0, 8.0, 25.0, 20.0))
    assert peaks[0].score == pytest.approx(torch.sigmoid(torch.tensor(5.0)).item())
    assert max(range(4), key=lambda i: peaks[0].class_probs[i]) == 2


def test_a_lesion_of_unknown_class_trains_only_the_lesion_channel():
    from liverview_plugins.mscn_detector.losses import detection_loss
    from liverview_plugins.mscn_detector.targets import UNKNOWN_CLASS

    t = build_targets([SliceBox(8, 8, 24, 24, UNKNOWN_CLASS)], 8, 8, 4, stride=4)
    assert t["heatmap"][4, 4, 4] == 1.0 and t["heatmap"][:4].max() == 0.0 and t["mask"][4, 4] == 1.0
    assert t["class_ignore"][0, 4, 4] == 1.0
    targets = {k: torch.from_numpy(v)[None] for k, v in t.items()}
    out = {"heatmap": torch.zeros(1, 5, 8, 8), "wh": torch.zeros(1, 2, 8, 8), "offset": torch.zeros(1, 2, 8, 8)}
    out["heatmap"][0, 1, 4, 4] = 8.0  # a confident class score at the lesion: ignored
    a = detection_loss(out, targets)["heatmap"]
    out["heatmap"][0, 1, 4, 4] = -8.0
    assert detection_loss(out, targets)["heatmap"].item() == pytest.approx(a.item())
