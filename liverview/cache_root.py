"""Where LiverView keeps what it makes for itself (the demo study, per-study projects, the studies library, cached
keys): $LIVERVIEW_CACHE when set, else ~/.cache/liverview. One rule for every part, so annotations never land in
whatever folder the app happened to be started from (an empty variable, or one with '~', used to mean the current
folder for the projects while the demo went to the default)."""

from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV = "LIVERVIEW_CACHE"


def default_cache_root() -> Path:
    """$LIVERVIEW_CACHE (with '~' expanded) when set and not blank, else ~/.cache/liverview; always absolute."""
    env = os.environ.get(CACHE_ENV, "").strip()
    root = Path(env).expanduser() if env else Path.home() / ".cache" / "liverview"
    return root.absolute()
