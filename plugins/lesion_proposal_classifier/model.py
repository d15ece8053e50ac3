"""The multi-view network: one small ResNet per view, features concatenated, one fully connected layer."""

from __future__ import annotations

import torch
from torch import nn

from .config import LpcConfig


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with a residual shortcut (1x1 projection when the shape changes)."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.short = (nn.Identity() if stride == 1 and c_in == c_out else
                      nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(y)) + self.short(x))


class ViewEncoder(nn.Module):
    """A small ResNet for one view: stem, one block per stage (stride 2), global average pooling."""

    def __init__(self, in_channels: int, stages: tuple[int, ...]) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(in_channels, stages[0], 3, 1, 1, bias=False), nn.BatchNorm2d(stages[0]),
                                  nn.ReLU(inplace=True))
        blocks, c = [], stages[0]
        for width in stages:
            blocks.append(BasicBlock(c, width, 2))
            c = width
        self.blocks = nn.Sequential(*blocks)
        self.out_channels = c

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(self.stem(x)).mean(dim=(2, 3))


class MultiViewLPC(nn.Module):
    """Input (N, 3 views, phases, S, S); output one logit per proposal (lesion vs not)."""

    def __init__(self, config: LpcConfig) -> None:
        super().__init__()
        self.encoders = nn.ModuleList(ViewEncoder(len(config.phases), config.stage_channels) for _ in range(3))
        self.dropout = nn.Dropout(config.dropout)
        self.fc = nn.Linear(3 * self.encoders[0].out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = torch.cat([enc(x[:, v]) for v, enc in enumerate(self.encoders)], dim=1)
        return self.fc(self.dropout(feats)).squeeze(1)
