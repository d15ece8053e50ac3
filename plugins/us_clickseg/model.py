"""The joint network: a VGG-like encoder with BatchNorm shared by a segmentation decoder (bilinear
upsampling, U-Net skips) and a classification branch (global avg+max pooling of the deepest features, FC)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn
import torch.nn.functional as F

from liverview.us.prediction import MALIGNANT_CLASSES, US_CLASS_NAMES as CLASS_NAMES

__all__ = ["CLASS_NAMES", "MALIGNANT_CLASSES", "NetConfig", "JointSegClsNet"]


@dataclass(frozen=True)
class NetConfig:
    input_size: int = 96  # square crop fed to the net (96: fast enough to train on 2 shared CPU cores)
    widths: tuple[int, ...] = (8, 16, 32, 64, 128)  # encoder stages; len-1 down-samplings
    n_classes: int = 4
    fc_hidden: int = 64

    def to_dict(self) -> dict:
        return asdict(self)

    @staticmethod
    def from_dict(d: dict) -> "NetConfig":
        d = dict(d)
        d["widths"] = tuple(d["widths"])
        return NetConfig(**d)


def _conv_block(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True),
        nn.Conv2d(c_out, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True),
    )


class JointSegClsNet(nn.Module):
    """(B, 3, S, S) image + two click-distance maps, scaled to 0..1 -> (mask logits (B,1,S,S), class logits (B,C))."""

    def __init__(self, config: NetConfig = NetConfig()):
        super().__init__()
        self.config = config
        w = config.widths
        self.encoder = nn.ModuleList([_conv_block(3, w[0])] + [_conv_block(w[i - 1], w[i]) for i in range(1, len(w))])
        self.decoder = nn.ModuleList()
        c = w[-1]
        for skip in reversed(w[:-1]):
            out = max(skip, 16)
            self.decoder.append(_conv_block(c + skip, out))
            c = out
        self.seg_head = nn.Conv2d(c, 1, 1)
        self.cls_head = nn.Sequential(
            nn.Linear(2 * w[-1], config.fc_hidden), nn.ReLU(inplace=True), nn.Dropout(0.3),
            nn.Linear(config.fc_hidden, config.n_classes),
        )

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        skips = []
        for i, stage in enumerate(self.encoder):
            if i > 0:
                x = F.max_pool2d(x, 2)
            x = stage(x)
            skips.append(x)
        deep = skips.pop()
        pooled = torch.cat([deep.mean(dim=(2, 3)), deep.amax(dim=(2, 3))], dim=1)
        class_logits = self.cls_head(pooled)
        y = deep
        for block, skip in zip(self.decoder, reversed(skips)):
            y = F.interpolate(y, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            y = block(torch.cat([y, skip], dim=1))
        return self.seg_head(y), class_logits
