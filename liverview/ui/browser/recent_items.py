"""File > Open Recent: the studies (CT and ultrasound) and projects opened last, newest first, kept in QSettings.

The QSettings object is the window's (the user's in the app, a test's own ini file in tests); without one the
list lives only as long as the window. Each item is stored as one JSON string, so an ini file keeps lists of paths
exactly (QSettings turns one-element lists into plain strings)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from PySide6 import QtCore

MAX_ITEMS = 10
KINDS = ("CT", "US", "project")


@dataclass(frozen=True)
class RecentItem:
    kind: str  # "CT" (paths handed to the study loader), "US" (one image) or "project" (a project file)
    paths: tuple[str, ...]
    label: str

    def exists(self) -> bool:
        return all(Path(p).exists() for p in self.paths)


class RecentItems:
    def __init__(self, settings: QtCore.QSettings | None, key: str = "recent/items") -> None:
        self.settings = settings
        self.key = key
        self._memory: list[RecentItem] = []

    def items(self) -> list[RecentItem]:
        """Newest first; entries the settings hold in an unreadable form are left out."""
        if self.settings is None:
            return list(self._memory)
        raw = self.settings.value(self.key, [])
        values = [raw] if isinstance(raw, str) else list(raw or [])
        out = []
        for text in values:
            try:
                d = json.loads(text)
                item = RecentItem(str(d["kind"]), tuple(str(p) for p in d["paths"]), str(d["label"]))
            except (TypeError, ValueError, KeyError):
                continue
            if item.kind in KINDS and item.paths:
                out.append(item)
        return out

    def add(self, kind: str, paths: list[str] | tuple[str, ...], label: str = "") -> RecentItem:
        """Put an item first (moving it up when it was already there); the list keeps MAX_ITEMS."""
        if kind not in KINDS:
            raise ValueError(f"recent item kind must be one of {KINDS}, got {kind!r}")
        resolved = tuple(str(Path(p).resolve()) for p in paths)
        item = RecentItem(kind, resolved, label or ", ".join(Path(p).name for p in resolved))
        kept = [i for i in self.items() if (i.kind, i.paths) != (kind, resolved)]
        self._store([item, *kept][:MAX_ITEMS])
        return item

    def clear(self) -> None:
        self._store([])

    def _store(self, items: list[RecentItem]) -> None:
        if self.settings is None:
            self._memory = items
            return
        self.settings.setValue(self.key, [json.dumps({"kind": i.kind, "paths": list(i.paths), "label": i.label})
                                          for i in items])
        self.settings.sync()
