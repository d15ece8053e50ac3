"""Find the ultrasound click segmenter through the plugin registry (never by a hard-coded import)."""

from __future__ import annotations

import os
from pathlib import Path

from liverview.plugin_api.errors import ModelError
from liverview.plugin_api.protocols import ClickSegmenter
from liverview.plugin_registry import Contribution, PluginCatalog, PluginError, discover_plugins

KIND = "click-segmenter"


class NoUsSegmenterError(RuntimeError):
    """No plugin offers an ultrasound segmenter, or the one found cannot be loaded."""


def us_segmenter_contributions(catalog: PluginCatalog | None = None) -> list[Contribution]:
    """Click-segmenter contributions that declare the US modality, the default one first."""
    catalog = catalog or discover_plugins()
    found = [c for c in catalog.contributions(KIND) if "US" in {m.upper() for m in c.modalities}]
    return sorted(found, key=lambda c: not c.default)  # stable: plugin order otherwise


def load_us_segmenter(device: str = "auto", catalog: PluginCatalog | None = None,
                      weights: str | os.PathLike[str] | None = None, choice: int = 0) -> ClickSegmenter:
    """Load US segmenter number ``choice`` (0 = the default) with ``weights`` (default: its manifest's)."""
    catalog = catalog or discover_plugins()
    found = us_segmenter_contributions(catalog)
    if not found:
        problems = "".join(f"\n- {p}" for p in catalog.problems)
        raise NoUsSegmenterError(f"no plugin offers an ultrasound segmenter (a '{KIND}' contribution with "
                                 "modality US): install or enable plugins/us_clickseg"
                                 + (f"\nPlugin problems:{problems}" if problems else ""))
    if not 0 <= choice < len(found):
        raise NoUsSegmenterError(f"there are {len(found)} ultrasound segmenters; number {choice} does not exist")
    contribution = found[choice]
    try:
        return contribution.create(device=device, weights=weights)
    except (PluginError, ModelError, OSError, ValueError) as exc:
        raise NoUsSegmenterError(f"the ultrasound segmenter '{contribution.title}' could not be loaded: {exc}") from exc


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.is_file() and b.is_file() and os.path.samefile(a, b)
    except OSError:
        return False


def described_contribution(found: list[Contribution], choice: int,
                           weights: str | os.PathLike[str] | None = None) -> Contribution | None:
    """The contribution whose card (validated figures) describes what actually runs: segmenter ``choice``,
    unless ``weights`` override its own; then the contribution that ships those very weights, or None when
    none does (figures measured on other weights must not be shown beside them). Only contributions that
    run the same code count: the figures belong to code and weights together."""
    if not 0 <= choice < len(found):
        return None
    chosen = found[choice]
    if weights is None:
        return chosen
    path = Path(weights)
    for c in [chosen, *found]:
        if c.command == chosen.command and c.weights is not None and _same_file(path, c.weights):
            return c
    return None
