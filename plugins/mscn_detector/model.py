"""The detector network: per-phase 2.5D backbone (weights shared across phases), feature pyramid,
cross-phase attention at stride 8, phase fusion (concatenate + 1x1 conv), CenterNet heads at stride 4."""

from __future__ import annotations

import torch
from torch import nn

from .backbone import ResNetBackbone
from .config import ATTENTION_STRIDE, DetectorConfig
from .cross_phase_attention import CrossPhaseAttention
from .heads import CenterNetHeads
from .pyramid import FeaturePyramid


class MultiPhaseCenterNet(nn.Module):
    def __init__(self, config: DetectorConfig) -> None:
        super().__init__()
        self.config = config
        c = config.pyramid_channels
        self.backbone = ResNetBackbone(config.n_slices, config.stage_channels)
        self.pyramid = FeaturePyramid(self.backbone.out_channels, c, fusion=config.pyramid_fusion)
        n_phases = len(config.phases)
        self.attention = (CrossPhaseAttention(c, config.attention_channels,
                                              config.attention_window_px // ATTENTION_STRIDE)
                          if config.cross_phase_attention and n_phases > 1 else None)
        self.phase_fusion = nn.Sequential(nn.Conv2d(c * n_phases, c, 1, bias=False), nn.BatchNorm2d(c),
                                          nn.ReLU(inplace=True))
        self.heads = CenterNetHeads(c, config.n_classes, config.head_channels)

    def forward(self, x: torch.Tensor, present: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """x: (B, P, S, H, W) windowed slices scaled to 0..1 (H, W multiples of 16); present: (B, P) bool.
        Missing phases must be given as zeros; their features are zeroed before fusion too."""
        b, p, s, h, w = x.shape
        if p != len(self.config.phases) or s != self.config.n_slices:
            raise ValueError(f"model expects (B, {len(self.config.phases)}, {self.config.n_slices}, H, W), "
                             f"got {tuple(x.shape)}")
        if present is None:
            present = torch.ones(b, p, dtype=torch.bool, device=x.device)
        c4, p8 = self._present_features(x, present)
        if self.attention is not None:
            p8 = self.attention(p8.reshape(b, p, *p8.shape[1:]), present).reshape(b * p, *p8.shape[1:])
        p4 = self.pyramid.fine(p8, c4)
        p4 = p4.reshape(b, p, *p4.shape[1:]) * present[:, :, None, None, None].to(p4.dtype)
        fused = self.phase_fusion(p4.reshape(b, p * p4.shape[2], *p4.shape[3:]))
        return self.heads(fused)

    def _present_features(self, x: torch.Tensor, present: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Stride-4 backbone and stride-8 pyramid features of every (sample, phase), (B*P, C, H', W') each.
        In eval mode only present phases go through the backbone (the others' features are masked out of the
        attention and zeroed before fusion, so their values never matter): a single-phase study costs one
        phase, not four. Training runs all of them, since batch norm there pools every input."""
        b, p, s, h, w = x.shape
        flat = x.reshape(b * p, s, h, w)
        keep = present.reshape(-1)
        if self.training or bool(keep.all()):
            c4, c8, c16 = self.backbone(flat)
            return c4, self.pyramid.coarse(c4, c8, c16)
        c4_kept, c8, c16 = self.backbone(flat[keep])
        p8_kept = self.pyramid.coarse(c4_kept, c8, c16)
        c4 = c4_kept.new_zeros((b * p, *c4_kept.shape[1:]))
        p8 = p8_kept.new_zeros((b * p, *p8_kept.shape[1:]))
        c4[keep], p8[keep] = c4_kept, p8_kept
        return c4, p8
