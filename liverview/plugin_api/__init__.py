"""The seam between LiverView and its models: one small protocol per contribution kind, in the core's own
data types, importable without torch.

A plugin's manifest names a factory per contribution (``load(weights, device) -> object``); the registry
(:mod:`liverview.plugin_registry`) calls it and checks that the object follows the protocol of its kind.
The application only ever talks to these protocols, never to a plugin's modules.
"""

from liverview.plugin_api.errors import Cancelled, ModelError, ModelInputError, PluginContractError, WeightsMissingError
from liverview.plugin_api.kinds import KINDS, KindSpec, kind_spec
from liverview.plugin_api.protocols import (ClickSegmenter, ClickSegmenterTrainer, DetectorTrainer, LabelledProposals,
                                            LesionDetector, LiverSegmenter, Progress, ProposalClassifier,
                                            ProposalClassifierTrainer, ShouldCancel)

__all__ = [
    "Cancelled", "ModelError", "ModelInputError", "PluginContractError", "WeightsMissingError",
    "KINDS", "KindSpec", "kind_spec",
    "ClickSegmenter", "ClickSegmenterTrainer", "DetectorTrainer", "LabelledProposals", "LesionDetector",
    "LiverSegmenter", "Progress", "ProposalClassifier", "ProposalClassifierTrainer", "ShouldCancel",
]
