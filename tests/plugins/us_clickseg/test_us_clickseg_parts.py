"""Crop placement, click simulation and losses of the ultrasound click model."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from liverview.metrics.segmentation import jaccard_index
from liverview.us.clicks import Click, box_to_clicks
from liverview.us.click_simulation import centre_click, eval_box, lesion_distances, simulate_clicks
from liverview_plugins.us_clickseg.crop import DEFAULT_SIDE_FRACTION, MARGIN, crop_image, crop_window, net_input, paste_back
from liverview_plugins.us_clickseg.losses import binary_focal_from_classes, class_focal_loss, pixel_focal_loss
from liverview_plugins.us_clickseg.model import JointSegClsNet, NetConfig


def _disc(shape=(200, 300), c=(150, 90), r=30):
    yy, xx = np.mgrid[0:shape[0], 0:shape[1]]
    return (xx - c[0]) ** 2 + (yy - c[1]) ** 2 <= r * r


def test_box_crop_is_the_box_with_margin_and_one_click_crop_a_fixed_fraction():
    w = crop_window((400, 600), box_to_clicks(100, 100, 200, 150))
    assert w.side == pytest.approx(MARGIN * 100)
    assert (w.x0 + w.side / 2, w.y0 + w.side / 2) == pytest.approx((150, 125))
    one = crop_window((400, 600), [Click(300, 200, True)])
    assert one.side == pytest.approx(DEFAULT_SIDE_FRACTION * 400)
    with pytest.raises(ValueError, match="foreground"):
        crop_window((400, 600), [Click(1, 1, False)])


def test_crop_and_paste_back_round_trip_keeps_the_mask():
    mask = _disc()
    clicks = box_to_clicks(115, 55, 185, 125)
    window = crop_window(mask.shape, clicks)
    crop = crop_image(mask.astype(np.float32), window, 96)
    back = paste_back(crop, window, mask.shape) > 0.5
    assert back.shape == mask.shape
    assert jaccard_index(back, mask) > 0.95


def test_net_input_channels():
    img = np.full((200, 300), 100.0, np.float32)
    x, _ = net_input(img, [Click(150, 90, True)], 64)
    assert x.shape == (3, 64, 64) and x.dtype == np.float32
    assert np.all(x[2] == 1.0)  # no background click: constant 255 / 255
    assert x[1].min() == pytest.approx(0.0, abs=0.02)  # the click itself


def test_simulated_clicks_fall_inside_and_around_the_lesion():
    mask = _disc()
    inside, outside = lesion_distances(mask)
    rng = np.random.default_rng(0)
    for _ in range(30):
        clicks = simulate_clicks(mask, rng, "paper", (inside, outside))
        fg = [c for c in clicks if c.positive]
        bg = [c for c in clicks if not c.positive]
        assert 1 <= len(fg) <= 5 and 0 <= len(bg) <= 10
        assert all(mask[int(c.y), int(c.x)] for c in fg)
        assert all(3 <= outside[int(c.y), int(c.x)] <= 15 for c in bg)  # band: 3 px .. max(10, r/2)
    box = simulate_clicks(mask, rng, "box")
    assert box[0].positive and len([c for c in box[:5] if not c.positive]) == 4
    assert mask[int(centre_click(mask).y), int(centre_click(mask).x)]


def test_the_loose_readers_eval_box_is_seeded_and_slightly_enlarged():
    from liverview.us.click_simulation import LOOSE_READER

    mask = _disc()
    a, b = eval_box(mask, 3, LOOSE_READER), eval_box(mask, 3, LOOSE_READER)
    assert a == b
    boxes = np.array([eval_box(mask, s, LOOSE_READER) for s in range(50)])
    widths = boxes[:, 2] - boxes[:, 0]
    assert 60 < np.median(widths) < 61 * 1.25  # lesion box is 61 px wide


def test_pixel_focal_loss_matches_hand_formula():
    logits = torch.tensor([2.0, -1.0])
    target = torch.tensor([1.0, 1.0])
    p = torch.sigmoid(logits)
    expected = ((1 - p) ** 2 * -torch.log(p)).mean()
    assert pixel_focal_loss(logits, target).item() == pytest.approx(expected.item(), rel=1e-5)


def test_class_focal_loss_with_alpha_and_binary_variant():
    logits = torch.tensor([[2.0, 0.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0]])
    labels = torch.tensor([0, 2])
    alpha = torch.tensor([0.5, 1.0, 2.0, 1.0])
    p = F.softmax(logits, 1)
    pt = torch.stack([p[0, 0], p[1, 2]])
    expected = (torch.tensor([0.5, 2.0]) * (1 - pt) ** 2 * -torch.log(pt)).mean()
    assert class_focal_loss(logits, labels, alpha).item() == pytest.approx(expected.item(), rel=1e-5)
    pm = p[:, 2] + p[:, 3]
    y = torch.tensor([0.0, 1.0])
    pt_b = y * pm + (1 - y) * (1 - pm)
    exp_b = ((y * 0.3 + (1 - y) * 0.7) * (1 - pt_b) ** 2 * -torch.log(pt_b)).mean()
    got = binary_focal_from_classes(logits, y.bool(), [2, 3], alpha=0.3)
    assert got.item() == pytest.approx(exp_b.item(), rel=1e-5)


def test_network_shapes():
    net = JointSegClsNet(NetConfig(input_size=32, widths=(4, 8, 16)))
    seg, cls = net(torch.zeros(2, 3, 32, 32))
    assert seg.shape == (2, 1, 32, 32) and cls.shape == (2, 4)


def test_manifest_offers_the_segmenters_with_their_weights():
    from liverview.plugin_registry import discover_plugins
    from liverview_plugins.us_clickseg.inference import DEFAULT_WEIGHTS, load_segmenter

    catalog = discover_plugins(include_entry_points=False)
    mine = [c for c in catalog.contributions("click-segmenter") if c.plugin == "us_clickseg"]
    assert [c.name for c in mine] == ["us_clickseg_liver", "us_clickseg", "us_clickseg_busi"]
    assert all(c.load() is load_segmenter for c in mine)
    assert catalog.resolve("click-segmenter", modality="US").name == "us_clickseg_liver"  # issue 12: real-data model
    assert mine[1].weights.name == "us_clickseg.pt" and mine[1].weights.resolve() == DEFAULT_WEIGHTS.resolve()
    figures = mine[0].validated_figures()
    assert "ellipse" in figures["figures"][0] and "not for decisions" in figures["notes"]["malignancy"]
