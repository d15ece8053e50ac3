"""Find the ultrasound click segmenter through the plugin registry (never by a hard-coded import)."""

from __future__ import annotations

import os
from typing import Any

from liverview.plugin_registry import Contribution, PluginCatalog, PluginError, discover_plugins


class NoUsSegmenterError(RuntimeError):
    """No plugin offers an ultrasound segmenter, or the one found cannot be loaded."""


def us_segmenter_contributions(catalog: PluginCatalog | None = None) -> list[Contribution]:
    """Segmenter contributions that declare the US modality, in plugin order."""
    catalog = catalog or discover_plugins()
    return [c for c in catalog.contributions("segmenter") if "US" in {m.upper() for m in c.modalities}]


def load_us_segmenter(device: str = "auto", catalog: PluginCatalog | None = None,
                      weights: str | os.PathLike[str] | None = None, choice: int = 0) -> Any:
    """Load US segmenter number ``choice`` (the first by default) with ``weights`` (default: its
    manifest's). The object has ``predict(image, clicks)`` and ``name`` (see
    plugins/us_clickseg/inference.py for the contract)."""
    catalog = catalog or discover_plugins()
    found = us_segmenter_contributions(catalog)
    if not found:
        problems = "".join(f"\n- {p}" for p in catalog.problems)
        raise NoUsSegmenterError("no plugin offers an ultrasound segmenter (a 'segmenter' contribution with "
                                 "modality US): install or enable plugins/us_clickseg"
                                 + (f"\nPlugin problems:{problems}" if problems else ""))
    if not 0 <= choice < len(found):
        raise NoUsSegmenterError(f"there are {len(found)} ultrasound segmenters; number {choice} does not exist")
    contribution = found[choice]
    try:
        factory = contribution.load()
        if weights is None and contribution.weights is not None and contribution.weights.is_file():
            weights = contribution.weights
        return factory(weights=weights, device=device)
    except (PluginError, OSError, RuntimeError, ValueError) as exc:
        raise NoUsSegmenterError(f"the ultrasound segmenter '{contribution.title}' could not be loaded: {exc}") from exc
