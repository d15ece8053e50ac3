"""The two encoders the joint network can be built on; each maps the input to one feature map per
stage (full resolution first, then halved per stage), which the U-Net decoder takes as skips.

- "vgg": two 3x3 conv + BN + ReLU per stage, max-pooling between stages (the shipped weights);
- "resnet": a ResNet-18-style encoder: one 3x3 stem conv at full resolution, then per further stage
  two residual BasicBlocks, the first with stride 2 (deeper, with more room to see than "vgg").

Both subclass ``nn.ModuleList`` so their parameters sit at ``encoder.<stage>...``: old "vgg"
checkpoints load unchanged.
"""

from __future__ import annotations

import torch
from torch import nn
import torch.nn.functional as F

ENCODERS: tuple[str, ...] = ("vgg", "resnet")


def conv_block(c_in: int, c_out: int) -> nn.Sequential:
    """Two 3x3 conv + BatchNorm + ReLU (a VGG stage, and a decoder stage)."""
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True),
        nn.Conv2d(c_out, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True),
    )


class VggEncoder(nn.ModuleList):
    """Stage i: max-pool (i > 0), then :func:`conv_block`."""

    def __init__(self, in_channels: int, widths: tuple[int, ...]):
        super().__init__([conv_block(in_channels, widths[0])] +
                         [conv_block(widths[i - 1], widths[i]) for i in range(1, len(widths))])

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        features = []
        for i, stage in enumerate(self):
            if i > 0:
                x = F.max_pool2d(x, 2)
            x = stage(x)
            features.append(x)
        return features


class BasicBlock(nn.Module):
    """The ResNet-18 block: two 3x3 conv + BN, identity (or strided 1x1 conv + BN) shortcut, ReLU after the sum."""

    def __init__(self, c_in: int, c_out: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.shortcut = (nn.Sequential() if stride == 1 and c_in == c_out else
                         nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm2d(c_out)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.bn1(self.conv1(x)), inplace=True)
        y = self.bn2(self.conv2(y))
        return F.relu(y + self.shortcut(x), inplace=True)


class ResNetEncoder(nn.ModuleList):
    """Stage 0: stem conv 3x3 + BN + ReLU at full resolution (widths[0]); stage i > 0: BasicBlock with
    stride 2 to widths[i], then a BasicBlock at widths[i]. Same number of down-samplings as "vgg"."""

    def __init__(self, in_channels: int, widths: tuple[int, ...]):
        stem = nn.Sequential(nn.Conv2d(in_channels, widths[0], 3, padding=1, bias=False),
                             nn.BatchNorm2d(widths[0]), nn.ReLU(inplace=True))
        stages = [nn.Sequential(BasicBlock(widths[i - 1], widths[i], stride=2), BasicBlock(widths[i], widths[i]))
                  for i in range(1, len(widths))]
        super().__init__([stem] + stages)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        features = []
        for stage in self:
            x = stage(x)
            features.append(x)
        return features


def build_encoder(kind: str, in_channels: int, widths: tuple[int, ...]) -> nn.ModuleList:
    if kind == "vgg":
        return VggEncoder(in_channels, widths)
    if kind == "resnet":
        return ResNetEncoder(in_channels, widths)
    raise ValueError(f"unknown encoder {kind!r}; choose one of {', '.join(ENCODERS)}")
