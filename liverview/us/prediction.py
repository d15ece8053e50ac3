"""What an ultrasound click segmenter returns (the ClickSegmenter protocol, liverview.plugin_api), and the
lesion classes its class head speaks of."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

US_CLASS_NAMES: tuple[str, ...] = ("cyst", "hemangioma", "metastasis", "hcc")
MALIGNANT_CLASSES: tuple[str, ...] = ("metastasis", "hcc")


@dataclass
class UsPrediction:
    mask: np.ndarray  # bool [H, W] at the image's native resolution
    class_probs: dict[str, float]  # over US_CLASS_NAMES
    malignant_prob: float  # p(malignant) shown: the class head's metastasis + hcc, or its calibrated combination
    time_ms: float
    probability: np.ndarray | None = field(default=None, repr=False)  # float32 [H, W] lesion probability
    head_malignant_prob: float | None = None  # the class head's own metastasis + hcc, before any calibration
    malignancy_note: str = ""  # how malignant_prob was made (for the reader)
    # the mask the malignancy features are measured on: the net's own, before a box fit (None: ``mask``)
    measured_mask: np.ndarray | None = field(default=None, repr=False)

    @property
    def feature_mask(self) -> np.ndarray:
        return self.mask if self.measured_mask is None else self.measured_mask
