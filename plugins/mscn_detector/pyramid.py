"""Feature pyramid: deep, coarse features upsampled and fused with shallow, high-resolution ones
("region fusion" in the MSCN paper) so that small lesions keep their detail."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _upsample_to(x: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, size=ref.shape[-2:], mode="nearest")


class FeaturePyramid(nn.Module):
    """Top-down path over the stride 4, 8, 16 maps. ``fusion=False`` is the ablation: the deep map alone is
    upsampled (no lateral input from the shallow stages), everything else unchanged.

    Used in two halves so the cross-phase attention can sit at stride 8: ``coarse`` gives P8, ``fine``
    turns (attended) P8 into the stride-4 output P4."""

    def __init__(self, in_channels: tuple[int, int, int], channels: int = 64, fusion: bool = True) -> None:
        super().__init__()
        self.fusion = fusion
        self.lateral16 = nn.Conv2d(in_channels[2], channels, 1)
        if fusion:
            self.lateral8 = nn.Conv2d(in_channels[1], channels, 1)
            self.lateral4 = nn.Conv2d(in_channels[0], channels, 1)
        self.smooth8 = nn.Sequential(nn.Conv2d(channels, channels, 3, 1, 1, bias=False), nn.BatchNorm2d(channels),
                                     nn.ReLU(inplace=True))
        self.smooth4 = nn.Sequential(nn.Conv2d(channels, channels, 3, 1, 1, bias=False), nn.BatchNorm2d(channels),
                                     nn.ReLU(inplace=True))
        self.channels = channels

    def coarse(self, c4: torch.Tensor, c8: torch.Tensor, c16: torch.Tensor) -> torch.Tensor:
        p16 = self.lateral16(c16)
        p8 = _upsample_to(p16, c8)
        if self.fusion:
            p8 = p8 + self.lateral8(c8)
        return self.smooth8(p8)

    def fine(self, p8: torch.Tensor, c4: torch.Tensor) -> torch.Tensor:
        p4 = _upsample_to(p8, c4)
        if self.fusion:
            p4 = p4 + self.lateral4(c4)
        return self.smooth4(p4)
