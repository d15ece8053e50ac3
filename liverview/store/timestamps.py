"""How the store writes times: UTC, ISO 8601 text with microseconds, so that they sort as text."""

from __future__ import annotations

from datetime import datetime, timezone


def utc_timestamp() -> str:
    """The current time as the store writes it."""
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


def parse_timestamp(text: str) -> datetime:
    """A time the store wrote, back as an aware datetime."""
    return datetime.fromisoformat(text)
