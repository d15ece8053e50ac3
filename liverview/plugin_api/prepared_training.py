"""An optional extension of the proposal classifier's trainer: split training into a per-study step that needs
the study's volumes (``prepare``: e.g. cut the crops) and a step that needs only what ``prepare`` returned
(``train_prepared``). A harvest round over many studies runs ``prepare`` next to each study on Ray and trains
in one process on small prepared material, never holding every study's volumes at once.

``train(examples)`` must equal ``train_prepared([prepare(e) for e in examples])``: the round's results do not
depend on where it ran.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Protocol, Sequence, runtime_checkable

from liverview.plugin_api.protocols import LabelledProposals, Log


@runtime_checkable
class PreparingProposalClassifierTrainer(Protocol):
    def prepare(self, example: LabelledProposals, options: Mapping[str, Any]) -> Any:
        """One study's training material (picklable, small next to its volumes)."""
        ...

    def train_prepared(self, prepared: Sequence[Any], out_dir: Path, options: Mapping[str, Any],
                       device: str = "auto", log: Log | None = None) -> Path:
        """Train on the material of several studies, in this order; returns the weights file."""
        ...
