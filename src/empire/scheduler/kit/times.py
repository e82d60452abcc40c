"""The engine's timestamps: RFC 3339 with nanoseconds (`2024-05-01T12:00:00.123456789Z`)."""

from __future__ import annotations

from datetime import UTC, datetime

Key = tuple[int, int]  # (unix seconds, nanoseconds): orders log lines without losing precision


def split_nanos(text: str) -> Key:
    """Split an RFC 3339 timestamp into (unix seconds, nanoseconds) without losing precision."""
    head, _, rest = text.partition(".")
    fraction = ""
    zone = "Z"
    if rest:
        digits = len(rest) - len(rest.lstrip("0123456789"))
        fraction, zone = rest[:digits], rest[digits:] or "Z"
    elif head.endswith("Z"):
        head = head[:-1]
    elif len(head) > 19:
        head, zone = head[:19], head[19:]
    zone = "+00:00" if zone == "Z" else zone
    seconds = datetime.fromisoformat(head[:19] + zone)
    return int(seconds.timestamp()), int((fraction or "0").ljust(9, "0")[:9])


def parse_time(text: str | None) -> datetime | None:
    """Parse the engine's timestamps (None for Go's zero time or nothing)."""
    if not text or text.startswith("0001-01-01"):
        return None
    stamp, nanos = split_nanos(text)
    return datetime.fromtimestamp(stamp, UTC).replace(microsecond=nanos // 1000)


def log_time(key: Key) -> str:
    """A log line's time as Empire prints it: `2024-05-01T12:00:00Z`."""
    return datetime.fromtimestamp(key[0], UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def timestamp(since: datetime | None) -> float | None:
    """A `since` instant as the engine's log APIs take it (None: from the start)."""
    if since is None:
        return None
    if since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    return max(since.timestamp(), 0.001)
