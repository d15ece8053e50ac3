"""Score proposals with a trained lesion proposal classifier: s_c = P(lesion | three views)."""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import torch

from liverview.core.study import PhaseKind
from liverview.core.volume import Volume
from liverview.detection.proposals import Proposal3D
from liverview.ml.device import resolve_device
from liverview.plugin_api.errors import ModelError, WeightsMissingError
from .config import LpcConfig
from .crops import multiview_crops
from .model import MultiViewLPC

MODEL_NAME = "lesion_proposal_classifier"
DEFAULT_WEIGHTS = Path(__file__).resolve().parents[2] / "models" / MODEL_NAME / "lpc.pt"


class LpcWeightsNotFoundError(WeightsMissingError):
    """No weights file: train one with `liverview train-lpc --project P`."""


class UnusableLpcWeightsError(ModelError, ValueError):
    """The file is not a lesion proposal classifier checkpoint."""


class LesionProposalClassifier:
    """A loaded LPC; ``score`` gives one lesion probability per proposal."""

    def __init__(self, model: MultiViewLPC, config: LpcConfig, device: torch.device, name: str = MODEL_NAME) -> None:
        self.model = model.to(device).eval()
        self.config = config
        self.device = device
        self.name = name

    @torch.no_grad()
    def score_crops(self, crops: np.ndarray, batch: int = 64) -> np.ndarray:
        out = []
        for start in range(0, len(crops), batch):
            x = torch.from_numpy(np.ascontiguousarray(crops[start:start + batch], np.float32)).to(self.device)
            with torch.autocast(self.device.type, dtype=torch.float16, enabled=self.device.type == "cuda"):
                logits = self.model(x)
            out.append(torch.sigmoid(logits.float()).cpu().numpy())
        return np.concatenate(out) if out else np.zeros(0, np.float32)

    def score(self, volumes: Mapping[PhaseKind, Volume], reference: PhaseKind,
              proposals: Sequence[Proposal3D]) -> np.ndarray:
        return self.score_crops(multiview_crops(volumes, reference, proposals, self.config))


def load_lpc(weights: str | Path | None = None, device: str = "auto") -> LesionProposalClassifier:
    """Load a trained classifier (None = models/lesion_proposal_classifier/lpc.pt)."""
    path = Path(weights) if weights is not None else DEFAULT_WEIGHTS
    if not path.is_file():
        raise LpcWeightsNotFoundError(f"classifier weights {path} not found; train them with "
                                      f"`liverview train-lpc --project P --out DIR`")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
        config = LpcConfig.from_dict(ckpt["config"])
        model = MultiViewLPC(config)
        model.load_state_dict(ckpt["model"])
    except (KeyError, RuntimeError, ValueError, TypeError) as exc:
        raise UnusableLpcWeightsError(f"{path} is not a lesion proposal classifier weights file ({exc})") from None
    return LesionProposalClassifier(model, config, resolve_device(device), f"{MODEL_NAME} {ckpt.get('version', '')}".strip())
