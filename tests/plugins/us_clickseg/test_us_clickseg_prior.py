"""The prior-mask channel: a fresh box starts from its inscribed ellipse, a refinement from the mask shown,
and a 3-channel checkpoint widened to 4 channels computes what it did before it learns the new input."""

import dataclasses

import numpy as np
import pytest
import torch

from liverview.us.clicks import Click, box_of_clicks, box_to_clicks, ellipse_in_box, filled_box, interaction_prior
from liverview_plugins.us_clickseg.crop import crop_image, crop_window, net_input
from liverview_plugins.us_clickseg.inference import UsSegmenter, load_segmenter, save_checkpoint_weights
from liverview_plugins.us_clickseg.model import JointSegClsNet, NetConfig, load_state_adding_inputs

SMALL = NetConfig(input_size=64, widths=(8, 16, 32, 64), encoder="resnet", fc_hidden=16)
WITH_PRIOR = dataclasses.replace(SMALL, prior_channel=True)


def test_a_box_is_recognised_only_from_its_own_five_clicks():
    clicks = box_to_clicks(40, 30, 10, 12)
    assert box_of_clicks(clicks) == (10, 12, 40, 30)
    assert box_of_clicks(clicks[:4]) is None
    assert box_of_clicks(clicks + [Click(20, 20, True)]) is None
    moved = [Click(clicks[0].x + 1, clicks[0].y, True), *clicks[1:]]
    assert box_of_clicks(moved) is None  # a foreground click off the centre: not a box
    assert box_of_clicks([Click(c.x, c.y, True) for c in clicks]) is None
    prior = interaction_prior((50, 60), clicks)
    assert np.array_equal(prior, ellipse_in_box((50, 60), (10, 12, 40, 30)))
    assert prior[21, 25] and not prior[12, 10]  # centre in, corner out
    assert interaction_prior((50, 60), [Click(20, 20, True)]) is None


def test_net_input_has_the_cropped_prior_as_a_fourth_channel():
    img = np.full((200, 300), 100.0, np.float32)
    prior = np.zeros((200, 300), bool)
    prior[60:120, 120:180] = True
    clicks = box_to_clicks(110, 50, 190, 130)
    x, window = net_input(img, clicks, 64, prior, with_prior=True)
    assert x.shape == (4, 64, 64)
    np.testing.assert_allclose(x[3], np.clip(crop_image(prior.astype(np.float32), window, 64), 0, 1))
    assert 0.2 < x[3].mean() < 0.6
    x_none, _ = net_input(img, clicks, 64, None, with_prior=True)
    assert np.all(x_none[3] == 0)
    x3, _ = net_input(img, clicks, 64, prior)  # a 3-channel net is given no prior
    np.testing.assert_array_equal(x3, x[:3])


def test_a_widened_checkpoint_computes_what_it_did_with_an_empty_prior_and_reacts_to_a_prior():
    torch.manual_seed(0)
    old = JointSegClsNet(SMALL).eval()
    new = JointSegClsNet(WITH_PRIOR).eval()
    widened = load_state_adding_inputs(new, old.state_dict())
    assert widened == ["encoder.0.0.weight"]
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        seg_old, cls_old = old(x)
        seg_new, cls_new = new(torch.cat([x, torch.zeros(2, 1, 64, 64)], 1))
        torch.testing.assert_close(seg_new, seg_old)
        torch.testing.assert_close(cls_new, cls_old)
        new.encoder[0][0].weight[:, 3].fill_(0.5)
        seg_prior, _ = new(torch.cat([x, torch.ones(2, 1, 64, 64)], 1))
    assert not torch.allclose(seg_prior, seg_old)


class _RecordingNet(torch.nn.Module):
    """Stands in for the net (same config) and keeps the input it was given."""

    def __init__(self, config: NetConfig):
        super().__init__()
        self.config = config
        self.seen: list[torch.Tensor] = []

    def forward(self, x):
        self.seen.append(x.clone())
        return x[:, -1:] * 8 - 4, torch.zeros(x.shape[0], 4)  # mask = the prior channel


def test_the_segmenter_starts_a_box_from_its_ellipse_and_a_refinement_from_the_prior_given():
    net = _RecordingNet(WITH_PRIOR)
    seg = UsSegmenter(net, torch.device("cpu"), "recording")
    seg._forward = net  # no TorchScript for the stand-in
    img = np.full((120, 160), 90.0, np.float32)
    clicks = box_to_clicks(40, 30, 110, 90)
    first = seg.predict(img, clicks)
    ellipse = ellipse_in_box(img.shape, (40, 30, 110, 90))
    assert seg.uses_prior and (first.mask ^ ellipse).sum() < 0.05 * ellipse.sum()
    shown = np.zeros(img.shape, bool)
    shown[50:70, 60:90] = True
    again = seg.predict(img, clicks + [Click(75, 60, True)], prior=shown)
    assert (again.mask ^ shown).sum() < 0.1 * shown.sum()
    window = crop_window(img.shape, clicks + [Click(75, 60, True)])
    np.testing.assert_allclose(net.seen[-1][0, 3].numpy(), np.clip(crop_image(shown.astype(np.float32), window, 64), 0, 1))
    seg.predict(img, [Click(75, 60, True)])  # one click and no prior: an empty prior channel
    assert float(net.seen[-1][0, 3].abs().max()) == 0.0
    with pytest.raises(ValueError, match="prior mask"):
        seg.predict(img, clicks, prior=np.zeros((10, 10), bool))


def test_a_prior_checkpoint_round_trips_and_old_checkpoints_load_without_the_channel(tmp_path):
    torch.manual_seed(1)
    net = JointSegClsNet(WITH_PRIOR).eval()
    save_checkpoint_weights(tmp_path / "p.pt", net, "prior", "four-class", {})
    loaded = load_segmenter(tmp_path / "p.pt", "cpu")
    assert loaded.net.config.prior_channel and loaded.uses_prior
    img = np.random.default_rng(0).uniform(0, 255, (100, 140)).astype(np.float32)
    out = loaded.predict(img, box_to_clicks(30, 20, 100, 80))  # runs through the frozen 4-channel net
    assert out.mask.shape == img.shape
    assert NetConfig.from_dict({k: v for k, v in SMALL.to_dict().items() if k != "prior_channel"}).prior_channel is False


def test_model_driven_clicks_go_where_the_network_was_wrong_and_its_mask_becomes_the_prior():
    from liverview.metrics.refinement import next_click
    from liverview.us.click_simulation import lesion_distances
    from liverview_plugins.us_clickseg.model_clicks import model_driven_interaction

    yy, xx = np.ogrid[:120, :160]
    truth = ((xx - 80) / 30.0) ** 2 + ((yy - 60) / 20.0) ** 2 <= 1
    img = np.where(truth, 60.0, 140.0).astype(np.float32)
    seen = []

    def predict_left_half(x):  # a net that always finds the left half of its crop
        seen.append(x)
        out = np.zeros(x.shape[1:], np.float32)
        out[:, : x.shape[2] // 2] = 1.0
        return out

    rounds_seen = set()
    for seed in range(10):
        got = model_driven_interaction(predict_left_half, 64, img, truth, lesion_distances(truth),
                                       np.random.default_rng(seed))
        n_start = 5 if box_of_clicks(got.clicks[:5]) is not None else 1
        extra = got.clicks[n_start:]
        rounds_seen.add(len(extra))
        assert 1 <= len(extra) <= 3 and seen[-1].shape == (4, 64, 64)
        # the last click is the NoC rule's click on the mask given as prior
        assert got.clicks[-1] == next_click(got.prior, truth)
    assert len(rounds_seen) >= 2



def test_a_refinement_crop_frames_the_mask_being_corrected_instead_of_a_fixed_share_of_the_image():
    from liverview_plugins.us_clickseg.crop import DEFAULT_SIDE_FRACTION, MARGIN, PRIOR_CONTEXT

    shape = (600, 800)
    prior = np.zeros(shape, bool)
    prior[300:321, 400:441] = True  # 41 px wide, 21 tall
    click = [Click(430, 310, True)]
    assert crop_window(shape, click).side == DEFAULT_SIDE_FRACTION * 600  # first click: nothing known
    w = crop_window(shape, click, prior)
    assert w.side == pytest.approx(PRIOR_CONTEXT * 40) and w.x0 + w.side / 2 == pytest.approx(420)
    far = crop_window(shape, click + [Click(500, 310, True)], prior)  # a click past the prior widens it
    assert far.side == pytest.approx(PRIOR_CONTEXT * 100)
    box = box_to_clicks(380, 290, 460, 330)  # a box bounds the lesion: a prior inside it does not move the crop
    assert crop_window(shape, box, prior) == crop_window(shape, box) and crop_window(shape, box).side == MARGIN * 80
    # background clicks on one side do not cut off the mask they correct
    spill = [Click(430, 310, True)] + [Click(600 + 5 * i, 310, False) for i in range(4)]
    cut = crop_window(shape, spill, prior)
    assert cut.x0 < 400 and cut.side == pytest.approx(MARGIN * (615 - 400))
    assert crop_window(shape, click, np.zeros(shape, bool)) == crop_window(shape, click)


def test_the_prior_residual_adds_a_learnt_gain_times_the_prior_to_the_mask_logits():
    """A net with the residual computes its plain twin's logits plus gain x prior, exactly; loaded from a
    checkpoint without the residual, the gain starts at its initial value."""
    from liverview_plugins.us_clickseg.model import PRIOR_GAIN_INIT

    with pytest.raises(ValueError, match="prior_channel"):
        NetConfig(prior_residual=True)
    torch.manual_seed(0)
    plain = JointSegClsNet(WITH_PRIOR).eval()
    residual = JointSegClsNet(dataclasses.replace(WITH_PRIOR, prior_residual=True)).eval()
    assert load_state_adding_inputs(residual, plain.state_dict()) == []
    assert float(residual.prior_gain.detach()) == PRIOR_GAIN_INIT
    x = torch.rand(2, 4, 64, 64)
    x[:, 3] = (torch.rand(2, 64, 64) > 0.5).float()
    with torch.no_grad():
        (a, ca), (b, cb) = plain(x), residual(x)
    torch.testing.assert_close(b - a, PRIOR_GAIN_INIT * x[:, 3:4])
    torch.testing.assert_close(ca, cb)
    x[:, 3] = 0  # no prior: nothing added
    with torch.no_grad():
        torch.testing.assert_close(residual(x)[0], plain(x)[0])


def test_training_boxes_follow_the_configured_margin():
    from liverview.plugin_api.errors import ModelInputError
    from liverview.us.click_simulation import ReaderBox, simulate_interaction
    from liverview_plugins.us_clickseg.trainer import configs_from_options

    mask = np.zeros((80, 100), bool)
    mask[20:41, 30:61] = True
    tight = simulate_interaction(mask, np.random.default_rng(3), mode="box", reader=ReaderBox((0.0, 0.0), 0.0))
    assert box_of_clicks(tight.clicks[:5]) == (30.0, 20.0, 60.0, 40.0)
    loose = simulate_interaction(mask, np.random.default_rng(3), mode="box", reader=ReaderBox((0.1, 0.2), 0.0))
    x0, y0, x1, y1 = box_of_clicks(loose.clicks[:5])
    assert x0 < 30 and y0 < 20 and x1 > 60 and y1 > 40
    assert configs_from_options({"box_margin": [-0.02, 0.08]}).box_margin == (-0.02, 0.08)
    with pytest.raises(ModelInputError, match="box_margin"):
        configs_from_options({"box_margin": [0.2, 0.1]})


def test_a_click_the_net_ignores_is_honoured_unless_switched_off():
    net = _RecordingNet(WITH_PRIOR)  # returns the mask it is given: it ignores every click
    seg = UsSegmenter(net, torch.device("cpu"), "recording")
    seg._forward = net
    img = np.full((120, 160), 90.0, np.float32)
    shown = np.zeros(img.shape, bool)
    shown[40:80, 50:90] = True
    clicks = [Click(70, 60, True), Click(100, 60, True)]  # the second lands 10 px right of the shown mask
    honoured = seg.predict(img, clicks, prior=shown).mask
    assert honoured[60, 100] and honoured[60, 95] and honoured[shown].mean() > 0.95
    seg.honour_clicks = False
    ignored = seg.predict(img, clicks, prior=shown).mask
    assert not ignored[60, 100] and (ignored ^ shown).sum() < 0.05 * shown.sum()


class _ShrinkingNet(_RecordingNet):
    """A net that draws the prior shrunk to 60 % about the crop's centre: contours short of a tight box."""

    def forward(self, x):
        s = x.shape[-1]
        n = int(round(0.6 * s))
        small = torch.nn.functional.interpolate(x[:, -1:], size=(n, n), mode="bilinear", align_corners=False)
        a = (s - n) // 2
        out = torch.zeros_like(x[:, -1:])
        out[..., a:a + n, a:a + n] = small
        return out * 8 - 4, torch.zeros(x.shape[0], 4)


def _bbox(mask):
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    return cols[0], rows[0], cols[-1], rows[-1]


def test_a_box_mask_is_fitted_to_the_box_unless_switched_off_and_refinements_are_not():
    seg = UsSegmenter(_ShrinkingNet(WITH_PRIOR), torch.device("cpu"), "shrinking")
    seg._forward = seg.net
    img = np.full((120, 160), 90.0, np.float32)
    box = (40, 30, 110, 90)
    ellipse = ellipse_in_box(img.shape, box)
    fitted = seg.predict(img, box_to_clicks(*box))
    assert _bbox(fitted.mask) == box  # touches all four sides of the box
    assert (fitted.mask & ellipse).sum() / (fitted.mask | ellipse).sum() > 0.9
    # the malignancy features are measured on the net's own mask, which the malignancy model was fitted on
    assert 0.25 < fitted.feature_mask.sum() / ellipse.sum() < 0.5
    seg.box_fit = False
    plain = seg.predict(img, box_to_clicks(*box))
    assert 0.25 < plain.mask.sum() / ellipse.sum() < 0.5 and plain.measured_mask is None
    seg.box_fit = True
    refined = seg.predict(img, box_to_clicks(*box) + [Click(75, 60, True)], prior=plain.mask)
    assert refined.mask.sum() < 0.5 * ellipse.sum()  # a refinement is not a box: no fit


class _SpillingNet(_RecordingNet):
    """A net that draws the whole crop as lesion: a mask that spills past any box."""

    def forward(self, x):
        return torch.full_like(x[:, -1:], 4.0), torch.zeros(x.shape[0], 4)


def test_a_loosely_drawn_box_still_bounds_the_mask_the_net_draws():
    seg = UsSegmenter(_SpillingNet(WITH_PRIOR), torch.device("cpu"), "spilling", box_fit=False)
    seg._forward = seg.net
    img = np.full((120, 160), 90.0, np.float32)
    box = (40, 30, 110, 90)
    pred = seg.predict(img, box_to_clicks(*box))
    inside = filled_box(img.shape, box)
    assert pred.mask.any() and not (pred.mask & ~inside).any()  # nothing outside the box the reader drew
    assert pred.mask.sum() > 0.75 * inside.sum()  # the rest kept (bar what the corner clicks, background, took)
    assert pred.feature_mask.sum() > inside.sum()  # malignancy features: the net's own mask, as fitted
