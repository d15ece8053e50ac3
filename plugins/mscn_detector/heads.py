"""CenterNet heads on the stride-4 map: heatmaps (one per class + a class-agnostic lesion channel),
box width/height (output pixels) and sub-pixel centre offset."""

from __future__ import annotations

import math

import torch
from torch import nn


def _head(c_in: int, c_mid: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_mid, 3, 1, 1), nn.ReLU(inplace=True), nn.Conv2d(c_mid, c_out, 1))


class CenterNetHeads(nn.Module):
    def __init__(self, channels: int, n_classes: int, head_channels: int = 64) -> None:
        super().__init__()
        self.heatmap = _head(channels, head_channels, n_classes + 1)  # last channel = any lesion
        self.wh = _head(channels, head_channels, 2)
        self.offset = _head(channels, head_channels, 2)
        # CenterNet's prior: start with heatmap probability 0.1 so the focal loss is stable
        nn.init.constant_(self.heatmap[-1].bias, -math.log((1 - 0.1) / 0.1))

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"heatmap": self.heatmap(x), "wh": self.wh(x), "offset": self.offset(x)}
