"""A small ResNet (basic blocks, batch norm) over the 2.5D slice stack of one phase."""

from __future__ import annotations

import torch
from torch import nn


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with an identity (or 1x1 projected) shortcut, as in ResNet-18."""

    def __init__(self, c_in: int, c_out: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return torch.relu(y + self.shortcut(x))


class ResNetBackbone(nn.Module):
    """Stem (stride 2) then one stage per entry of ``channels``; stages 2.. halve the resolution.

    Returns the feature maps at strides 4, 8 and 16 (the last three stages)."""

    def __init__(self, in_channels: int, channels: tuple[int, ...] = (16, 32, 64, 96), blocks_per_stage: int = 1):
        super().__init__()
        if len(channels) != 4:
            raise ValueError("the backbone has four stages (strides 2, 4, 8, 16)")
        self.stem = nn.Sequential(nn.Conv2d(in_channels, channels[0], 3, 2, 1, bias=False),
                                  nn.BatchNorm2d(channels[0]), nn.ReLU(inplace=True))
        stages = []
        c_prev = channels[0]
        for n, c in enumerate(channels):
            blocks = [BasicBlock(c_prev, c, stride=1 if n == 0 else 2)]
            blocks += [BasicBlock(c, c) for _ in range(blocks_per_stage - 1)]
            stages.append(nn.Sequential(*blocks))
            c_prev = c
        self.stages = nn.ModuleList(stages)
        self.out_channels = tuple(channels[1:])

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = self.stem(x)
        feats = []
        for n, stage in enumerate(self.stages):
            x = stage(x)
            if n >= 1:
                feats.append(x)
        return feats  # strides 4, 8, 16
