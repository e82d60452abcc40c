"""RFC 5424 syslog frames, octet-counted (RFC 6587), as Heroku's logplex sends them.

    <190>1 2026-11-26T10:00:00.123456+00:00 d.0f3c... acme-inc web.1 - - Listening on 80

HOSTNAME is the drain's token (as logplex), APP-NAME the app's name, PROCID the line's
source (`web.1`, `release.5`, `router`, `api`, `drain`). The message is bounded and
escaped: control characters (but tab) become `\\xNN`, so a process cannot end a frame early
or smuggle bytes to the receiver, and a line is cut at MAX_MESSAGE bytes.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

PRIORITY = 190  # local7.info, as Heroku's app lines
MAX_MESSAGE = 10_000  # bytes of one line's text (as logplex)
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_FIELD = re.compile(r"[^\x21-\x7e]")
# A process line as the schedulers yield it: `<time> <app>[<slot>]: <text>`.
_PROCESS_LINE = re.compile(r"^(\S+) [^\s\[]+\[([^\]\s]{1,128})\]: ?(.*)$", re.DOTALL)


def escape(text: str) -> str:
    """The text with control characters (but tab) as `\\xNN`."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def frame(token: str, app: str, source: str, text: str, at: datetime) -> bytes:
    """One octet-counted RFC 5424 frame."""
    stamp = at.astimezone(UTC).isoformat(timespec="microseconds")
    message = escape(text).encode("utf-8", "replace")[:MAX_MESSAGE]
    message = message.decode("utf-8", "ignore").encode()  # a cut character is dropped
    head = (
        f"<{PRIORITY}>1 {stamp} {_field(token, 255)} {_field(app, 48)} {_field(source, 128)} - - "
    )
    body = head.encode() + message
    return b"%d %s" % (len(body), body)


def parse_process_line(line: str, now: datetime) -> tuple[str, str, datetime] | None:
    """Split a scheduler's log line into (source, text, time); None for the keep-alive ""
    and what is not a line. A time that does not parse is `now`."""
    match = _PROCESS_LINE.match(line)
    if match is None:
        return None
    stamp, source, text = match.groups()
    return source, text, _time(stamp) or now


def _time(text: str) -> datetime | None:
    try:
        at = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def _field(text: str, limit: int) -> str:
    """A header field: printable US-ASCII without spaces, at most `limit`; `-` when empty."""
    return _FIELD.sub("_", text)[:limit] or "-"
