"""Everything that defines a lesion proposal classifier and its training, stored in every weights file."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from liverview.core.study import PhaseKind

ALL_PHASES: tuple[str, ...] = ("non-contrast", "arterial", "portal venous", "delayed")


@dataclass(frozen=True)
class LpcConfig:
    """Crop geometry, network width and training schedule. Defaults = what `train-lpc` uses."""

    phases: tuple[str, ...] = ALL_PHASES  # input channels, one per phase (absent phases are zeros)
    crop_px: int = 64  # each view is resampled to crop_px x crop_px
    pad_px: float = 64.0  # margin around the proposal box, in reference-grid pixels (the paper's 64 px)
    min_half_mm: float = 12.0  # smallest half field of view, so tiny proposals keep some context
    hu_window: tuple[float, float] = (-160.0, 240.0)
    stage_channels: tuple[int, ...] = (16, 32, 64)
    dropout: float = 0.2
    seed: int = 0
    epochs: int = 30
    batch_size: int = 32
    learning_rate: float = 2e-3
    weight_decay: float = 1e-4

    def __post_init__(self) -> None:
        if not self.phases:
            raise ValueError("an LPC needs at least one phase")
        for p in self.phases:
            PhaseKind(p)
        if self.crop_px < 16 or self.crop_px % 8:
            raise ValueError(f"crop_px must be a multiple of 8 and >= 16, got {self.crop_px}")
        if self.pad_px < 0:
            raise ValueError(f"pad_px must be >= 0, got {self.pad_px}")

    @property
    def phase_kinds(self) -> tuple[PhaseKind, ...]:
        return tuple(PhaseKind(p) for p in self.phases)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "LpcConfig":
        known = {f.name for f in fields(cls)}
        return cls(**{k: (tuple(v) if isinstance(v, list) else v) for k, v in d.items() if k in known})

    def replace(self, **changes: Any) -> "LpcConfig":
        return LpcConfig.from_dict({**self.to_dict(), **changes})
