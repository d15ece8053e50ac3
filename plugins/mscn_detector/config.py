"""Everything that defines a detector model and its training, stored inside every checkpoint."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

from liverview.core.study import PhaseKind
from liverview.detection.proposals import DETECTION_CLASSES

ALL_PHASES: tuple[str, ...] = ("non-contrast", "arterial", "portal venous", "delayed")
ATTENTION_STRIDE = 8  # the cross-phase attention works on the stride-8 pyramid level


@dataclass(frozen=True)
class DetectorConfig:
    """Model input, architecture and training schedule. Defaults = the shipped model."""

    # input
    phases: tuple[str, ...] = ALL_PHASES  # PhaseKind values, the order of the phase axis
    n_slices: int = 9  # adjacent slices per phase (1, 3 or 9), the target slice in the middle
    slice_mm: float = 2.5  # every study is resampled to this slice spacing
    pixel_mm: float = 1.6  # ... and to this in-plane pixel size
    hu_window: tuple[float, float] = (-160.0, 240.0)  # HU mapped to 0..255 (8-bit, as in the paper)
    # architecture
    stage_channels: tuple[int, ...] = (16, 32, 64, 96)  # ResNet stages at strides 2, 4, 8, 16
    pyramid_channels: int = 64
    pyramid_fusion: bool = True  # fuse shallow (stride 4, 8) features into the deep ones
    cross_phase_attention: bool = True
    attention_channels: int = 32
    attention_window_px: int = 0  # 0: each position attends to the whole slice; else to its tile of this size
    head_channels: int = 64
    # training
    seed: int = 0
    epochs: int = 10
    steps_per_epoch: int = 150
    batch_size: int = 8
    crop_px: int = 96
    learning_rate: float = 2e-3
    weight_decay: float = 1e-4
    positive_fraction: float = 0.7  # share of a batch centred on a lesion slice
    phase_dropout: float = 0.2  # chance that a sample loses a random subset of its phases (>= 1 kept)
    wh_weight: float = 0.1
    offset_weight: float = 1.0
    hard_negative_fraction: float = 0.15  # share of a batch centred on a hard negative, when there are any
    # random zoom of each training crop, drawn log-uniformly (1, 1: none): lesions look larger or smaller than
    # the training studies hold them (their largest inserted lesions are under 60 mm; real ones reach 100+)
    zoom_range: tuple[float, float] = (1.0, 1.0)
    classes: tuple[str, ...] = field(default=DETECTION_CLASSES)

    OUTPUT_STRIDE = 4

    def __post_init__(self) -> None:
        if self.n_slices < 1 or self.n_slices % 2 == 0:
            raise ValueError(f"n_slices must be odd and >= 1 (1, 3, 9), got {self.n_slices}")
        if not self.phases:
            raise ValueError("a detector needs at least one phase")
        for p in self.phases:
            PhaseKind(p)  # raises ValueError on an unknown phase name
        if self.attention_window_px < 0 or self.attention_window_px % ATTENTION_STRIDE:
            raise ValueError(f"attention_window_px must be 0 or a positive multiple of {ATTENTION_STRIDE}, "
                             f"got {self.attention_window_px}")
        if len(self.zoom_range) != 2 or not 0 < self.zoom_range[0] <= self.zoom_range[1]:
            raise ValueError(f"zoom_range must be two factors 0 < low <= high, got {self.zoom_range}")
        if self.crop_px % 16:
            raise ValueError(f"crop_px must be a multiple of 16, got {self.crop_px}")

    @property
    def phase_kinds(self) -> tuple[PhaseKind, ...]:
        return tuple(PhaseKind(p) for p in self.phases)

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "DetectorConfig":
        known = {f.name for f in fields(cls)}
        kwargs = {k: (tuple(v) if isinstance(v, list) else v) for k, v in d.items() if k in known}
        return cls(**kwargs)

    def replace(self, **changes: Any) -> "DetectorConfig":
        d = self.to_dict()
        d.update(changes)
        return DetectorConfig.from_dict(d)
