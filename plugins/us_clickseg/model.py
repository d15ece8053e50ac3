"""The joint network: an encoder with BatchNorm (VGG-like, or ResNet-18-style: see :mod:`.encoders`) shared
by a segmentation decoder (bilinear upsampling, U-Net skips) and a classification branch (global avg+max
pooling of the deepest features, MLP)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn
import torch.nn.functional as F

from liverview.us.prediction import MALIGNANT_CLASSES, US_CLASS_NAMES as CLASS_NAMES

from .encoders import ENCODERS, build_encoder, conv_block

__all__ = ["CLASS_NAMES", "MALIGNANT_CLASSES", "NetConfig", "JointSegClsNet", "RESNET_DEFAULTS",
           "load_state_adding_inputs"]


@dataclass(frozen=True)
class NetConfig:
    input_size: int = 96  # square crop fed to the net (96: fast enough to train on 2 shared CPU cores)
    widths: tuple[int, ...] = (8, 16, 32, 64, 128)  # encoder stages; len-1 down-samplings
    n_classes: int = 4
    fc_hidden: int = 64
    encoder: str = "vgg"  # "vgg" (the shipped weights) or "resnet" (ResNet-18-style, see RESNET_DEFAULTS)
    # A 4th input channel: the mask the interaction starts from (RITM's previous mask; a fresh box's
    # inscribed ellipse). Off in checkpoints saved before it existed.
    prior_channel: bool = False
    # The mask logits add gain x prior (a learnt gain): with no evidence in the image the net returns the
    # mask it started from (a box's ellipse, the mask being corrected) instead of having to rebuild it.
    # Needs prior_channel; an absent prior is all 0 and adds nothing.
    prior_residual: bool = False

    @property
    def in_channels(self) -> int:
        return 4 if self.prior_channel else 3

    def __post_init__(self):
        if self.encoder not in ENCODERS:
            raise ValueError(f"unknown encoder {self.encoder!r}; choose one of {', '.join(ENCODERS)}")
        if self.prior_residual and not self.prior_channel:
            raise ValueError("prior_residual needs prior_channel (the prior is the 4th input)")

    def to_dict(self) -> dict:
        return asdict(self)

    @staticmethod
    def from_dict(d: dict) -> "NetConfig":
        """Also reads configs saved before a field existed (old checkpoints: no ``encoder`` -> "vgg")."""
        d = dict(d)
        d["widths"] = tuple(d["widths"])
        return NetConfig(**d)


# A "resnet" net that keeps a click well under 80 ms on 2 CPU threads. Measured on a 2-core Xeon, 800x600
# image, UsSegmenter.predict median: ~30 ms (quiet), ~55 ms (cores shared with another job); a batch-8
# training step ~1.5 s. The wider (32, 64, 128, 256, 256) took 80-140 ms per click (4.5 s per step): too slow.
RESNET_DEFAULTS: dict = {"encoder": "resnet", "input_size": 192, "widths": (16, 32, 64, 128, 256), "fc_hidden": 128}


PRIOR_GAIN_INIT = 2.0  # logit added inside the prior at the start; training moves it


class JointSegClsNet(nn.Module):
    """(B, 3, S, S) image + two click-distance maps, scaled to 0..1 (+ the prior mask as a 4th channel when
    ``config.prior_channel``) -> (mask logits (B,1,S,S), class logits (B,C))."""

    def __init__(self, config: NetConfig = NetConfig()):
        super().__init__()
        self.config = config
        w = config.widths
        self.encoder = build_encoder(config.encoder, config.in_channels, w)
        self.decoder = nn.ModuleList()
        c = w[-1]
        for skip in reversed(w[:-1]):
            out = max(skip, 16)
            self.decoder.append(conv_block(c + skip, out))
            c = out
        self.seg_head = nn.Conv2d(c, 1, 1)
        if config.prior_residual:
            self.prior_gain = nn.Parameter(torch.tensor(PRIOR_GAIN_INIT))
        self.cls_head = nn.Sequential(
            nn.Linear(2 * w[-1], config.fc_hidden), nn.ReLU(inplace=True), nn.Dropout(0.3),
            nn.Linear(config.fc_hidden, config.n_classes),
        )

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        skips = self.encoder(x)
        deep = skips.pop()
        pooled = torch.cat([deep.mean(dim=(2, 3)), deep.amax(dim=(2, 3))], dim=1)
        class_logits = self.cls_head(pooled)
        y = deep
        for block, skip in zip(self.decoder, reversed(skips)):
            y = F.interpolate(y, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            y = block(torch.cat([y, skip], dim=1))
        seg = self.seg_head(y)
        if self.config.prior_residual:
            seg = seg + self.prior_gain * x[:, 3:4]
        return seg, class_logits


def load_state_adding_inputs(net: JointSegClsNet, state: dict[str, torch.Tensor]) -> list[str]:
    """Load ``state`` into ``net`` where the net has more input channels than the state was trained with
    (a 3-channel checkpoint into a prior-channel net): the new channels' first-layer weights start at 0,
    so the net first computes exactly what the checkpoint did and learns to use the new input. Returns the
    names of the widened tensors."""
    own = net.state_dict()
    widened = []
    state = dict(state)
    if "prior_gain" in own and "prior_gain" not in state:  # a net without the prior residual: start at its init
        state["prior_gain"] = own["prior_gain"]
    for key, value in state.items():
        target = own.get(key)
        if (target is not None and value.ndim == 4 and target.ndim == 4 and value.shape[1] < target.shape[1]
                and value.shape[0] == target.shape[0] and value.shape[2:] == target.shape[2:]):
            grown = torch.zeros_like(target)
            grown[:, :value.shape[1]] = value
            state[key] = grown
            widened.append(key)
    net.load_state_dict(state)
    return widened
