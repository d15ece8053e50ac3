"""The joint network on either encoder: "vgg" (the shipped weights, old checkpoints) and "resnet"."""

import numpy as np
import pytest
import torch

from liverview.plugin_api.errors import ModelInputError
from liverview.us.clicks import box_to_clicks
from liverview_plugins.us_clickseg.encoders import ResNetEncoder, VggEncoder
from liverview_plugins.us_clickseg.inference import load_segmenter, save_checkpoint_weights
from liverview_plugins.us_clickseg.model import RESNET_DEFAULTS, JointSegClsNet, NetConfig
from liverview_plugins.us_clickseg.trainer import configs_from_options

SMALL_RESNET = NetConfig(input_size=64, widths=(8, 16, 32, 64), encoder="resnet", fc_hidden=16)


def _with_trained_batchnorm(net: JointSegClsNet) -> JointSegClsNet:
    """Move the BatchNorm running statistics off their defaults, so folding them into convs is tested."""
    net.train()
    with torch.no_grad():
        for _ in range(3):
            net(torch.rand(4, 3, net.config.input_size, net.config.input_size) * 2)
    return net.eval()


def test_resnet_net_output_shapes_and_stage_resolutions():
    net = JointSegClsNet(SMALL_RESNET)
    assert isinstance(net.encoder, ResNetEncoder)
    x = torch.zeros(2, 3, 64, 64)
    features = net.encoder(x)
    assert [f.shape[1:] for f in features] == [(8, 64, 64), (16, 32, 32), (32, 16, 16), (64, 8, 8)]
    seg, cls = net(x)
    assert seg.shape == (2, 1, 64, 64) and cls.shape == (2, 4)


def test_resnet_stages_are_two_basic_blocks_with_batchnorm():
    net = JointSegClsNet(SMALL_RESNET)
    for stage in list(net.encoder)[1:]:
        assert len(stage) == 2
        assert stage[0].conv1.stride == (2, 2) and stage[1].conv1.stride == (1, 1)
        assert isinstance(stage[0].bn1, torch.nn.BatchNorm2d)


def test_resnet_defaults_build_at_input_192():
    cfg = NetConfig(**RESNET_DEFAULTS)
    assert cfg.encoder == "resnet" and cfg.input_size == 192
    seg, cls = JointSegClsNet(cfg).eval()(torch.zeros(1, 3, 192, 192))
    assert seg.shape == (1, 1, 192, 192) and cls.shape == (1, 4)


def test_resnet_checkpoint_round_trips_through_save_and_load(tmp_path):
    torch.manual_seed(0)
    net = _with_trained_batchnorm(JointSegClsNet(SMALL_RESNET))
    path = tmp_path / "resnet.pt"
    save_checkpoint_weights(path, net, "tiny-resnet", "four-class", {"note": "test"})
    seg = load_segmenter(path, "cpu")
    assert seg.net.config == SMALL_RESNET and seg.name == "tiny-resnet" and seg.meta == {"note": "test"}
    for key, value in net.state_dict().items():
        torch.testing.assert_close(seg.net.state_dict()[key], value, msg=key)
    assert isinstance(seg._forward, torch.jit.ScriptModule)  # the TorchScript freeze path still works
    x = torch.rand(1, 3, 64, 64)
    with torch.inference_mode():
        eager, frozen = net(x), seg._forward(x)
    torch.testing.assert_close(frozen[0], eager[0], atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(frozen[1], eager[1], atol=1e-4, rtol=1e-4)
    img = np.random.default_rng(0).uniform(0, 255, (150, 200)).astype(np.float32)
    pred = seg.predict(img, box_to_clicks(40, 30, 120, 100))
    assert pred.mask.shape == (150, 200) and sum(pred.class_probs.values()) == pytest.approx(1, abs=1e-5)


def test_an_old_config_without_encoder_loads_as_vgg(tmp_path):
    old = {"input_size": 32, "widths": [4, 8, 16], "n_classes": 4, "fc_hidden": 8}  # as saved before `encoder`
    cfg = NetConfig.from_dict(old)
    assert cfg.encoder == "vgg" and cfg == NetConfig(input_size=32, widths=(4, 8, 16), fc_hidden=8)
    net = JointSegClsNet(cfg)
    assert isinstance(net.encoder, VggEncoder)
    assert "encoder.0.0.weight" in net.state_dict() and "encoder.2.4.running_var" in net.state_dict()
    path = tmp_path / "old.pt"
    torch.save({"format": "us_clickseg/1", "name": "old", "label_mode": "four-class", "config": old,
                "state_dict": net.state_dict(), "meta": {}}, path)
    assert load_segmenter(path, "cpu").net.config.encoder == "vgg"


def test_shipped_weights_still_load_as_vgg():
    seg = load_segmenter(device="cpu")  # load_state_dict is strict: every key of the old net must match
    assert seg.net.config.encoder == "vgg"


def test_an_unknown_encoder_is_refused():
    with pytest.raises(ValueError, match="unknown encoder 'vit'"):
        NetConfig(encoder="vit")
    with pytest.raises(ModelInputError, match="unknown encoder"):
        configs_from_options({"encoder": "vit"})


def test_trainer_options_start_a_resnet_from_its_defaults():
    cfg = configs_from_options({"encoder": "resnet", "steps": 5})
    assert cfg.net == NetConfig(**RESNET_DEFAULTS)
    cfg = configs_from_options({"encoder": "resnet", "input_size": 64, "widths": [8, 16, 32]})
    assert cfg.net.input_size == 64 and cfg.net.widths == (8, 16, 32) and cfg.net.encoder == "resnet"
    assert configs_from_options({}).net == NetConfig()
