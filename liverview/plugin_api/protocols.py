"""One protocol per kind of model. Everything in and out is the core's own types: volumes by phase in
patient mm (:class:`~liverview.core.volume.Volume`), :class:`~liverview.detection.proposals.ProposalSet`,
masks as ``Volume`` on the reference grid, ultrasound clicks and :class:`~liverview.us.prediction.UsPrediction`.

``runtime_checkable`` lets the registry refuse a factory that returns the wrong kind of object with a
clear message, before the app calls it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping, Protocol, Sequence, runtime_checkable

if TYPE_CHECKING:  # types only: importing this module never loads numpy-heavy or torch code
    import numpy as np

    from liverview.core.study import PhaseKind
    from liverview.core.volume import Volume
    from liverview.detection.proposals import Proposal3D, ProposalSet
    from liverview.detection.training_data import TrainingCase
    from liverview.us.clicks import Click
    from liverview.us.lesion_dataset import LoadedLesion
    from liverview.us.prediction import UsPrediction

Progress = Callable[[float], None]  # fraction done, 0..1
ShouldCancel = Callable[[], bool]  # polled; True -> raise Cancelled
Log = Callable[[str], None]


@runtime_checkable
class LesionDetector(Protocol):
    """CT lesion detection: phases of one study in, 3D proposals on the reference phase's grid out."""

    name: str  # model name + version, stored with every proposal

    def detect(self, volumes: Mapping[PhaseKind, Volume], reference: PhaseKind,
               progress: Progress | None = None, cancelled: ShouldCancel | None = None) -> ProposalSet: ...


@runtime_checkable
class LiverSegmenter(Protocol):
    """The liver of a study as a mask ``Volume`` (uint8 0/1) on the reference phase's grid."""

    name: str

    def segment(self, volumes: Mapping[PhaseKind, Volume], reference: PhaseKind,
                progress: Progress | None = None, cancelled: ShouldCancel | None = None) -> Volume: ...


@runtime_checkable
class ClickSegmenter(Protocol):
    """Ultrasound: one lesion from clicks (x = column, y = row in image pixels) -> mask + class scores.

    ``label_mode`` is "four-class" when the class head learnt cyst / hemangioma / metastasis / HCC, or
    "benign-malignant" when only p(malignant) means something."""

    name: str
    label_mode: str

    def predict(self, image: np.ndarray, clicks: Sequence[Click], prior: np.ndarray | None = None) -> UsPrediction:
        """``prior``: the mask shown before the newest clicks (None: none yet); a model may refine it or ignore it."""
        ...


@runtime_checkable
class ProposalClassifier(Protocol):
    """Lesion or not, for 3D proposals: one probability (s_c) per proposal."""

    name: str

    def score(self, volumes: Mapping[PhaseKind, Volume], reference: PhaseKind,
              proposals: Sequence[Proposal3D]) -> Sequence[float]: ...


@dataclass
class LabelledProposals:
    """Training material for a proposal classifier: one study's proposals, each lesion (True) or not."""

    volumes: Mapping[PhaseKind, Volume]
    reference: PhaseKind
    proposals: Sequence[Proposal3D]
    labels: Sequence[bool]
    name: str = ""


# Trainers: ``options`` are the plugin's own settings (epochs, sizes, ablations); a trainer refuses keys
# it does not know with a ModelInputError naming them. Each returns the weights file it wrote into
# out_dir, loadable by the contribution's factory.

@runtime_checkable
class DetectorTrainer(Protocol):
    def train(self, cases: Sequence[TrainingCase], out_dir: Path, options: Mapping[str, Any],
              init_weights: Path | None = None, device: str = "auto",
              progress: Progress | None = None, log: Log | None = None) -> Path: ...


@runtime_checkable
class ClickSegmenterTrainer(Protocol):
    def train(self, lesions: Sequence[LoadedLesion], out_dir: Path, options: Mapping[str, Any],
              init_weights: Path | None = None, device: str = "auto", resume: bool = False,
              log: Log | None = None, progress: Progress | None = None) -> Path: ...  # progress: optional (newer)


@runtime_checkable
class ProposalClassifierTrainer(Protocol):
    def train(self, examples: Sequence[LabelledProposals], out_dir: Path, options: Mapping[str, Any],
              device: str = "auto", log: Log | None = None,
              progress: Progress | None = None) -> Path: ...  # progress: optional (newer)
