"""The contribution kinds a manifest may declare, and the protocol each kind's objects follow."""

from __future__ import annotations

from dataclasses import dataclass

from liverview.plugin_api import protocols as p


@dataclass(frozen=True)
class KindSpec:
    """A kind: what its factory returns (None: a plain callable, e.g. a tool) and what its trainer returns."""

    name: str
    summary: str
    protocol: type | None = None
    trainer_protocol: type | None = None

    @property
    def is_model(self) -> bool:
        return self.protocol is not None


KINDS: dict[str, KindSpec] = {k.name: k for k in (
    KindSpec("detector", "CT lesion detector: study phases -> 3D proposals", p.LesionDetector, p.DetectorTrainer),
    KindSpec("liver-segmenter", "CT liver mask on the reference grid", p.LiverSegmenter),
    KindSpec("click-segmenter", "ultrasound lesion from clicks -> mask + classes", p.ClickSegmenter,
             p.ClickSegmenterTrainer),
    KindSpec("proposal-classifier", "3D proposal -> lesion probability", p.ProposalClassifier,
             p.ProposalClassifierTrainer),
    KindSpec("tool", "a function the app or CLI runs (e.g. phase registration)"),
    KindSpec("data-source", "a function that writes or reads study data (e.g. phantoms)"),
    KindSpec("exporter", "a function that writes annotations in another format"),
)}


def kind_spec(kind: str) -> KindSpec:
    try:
        return KINDS[kind]
    except KeyError:
        raise ValueError(f"unknown contribution kind '{kind}': use one of {', '.join(KINDS)}") from None
