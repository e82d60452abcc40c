"""How a platform line's text is made safe: one line, bounded, no control characters.

A platform line carries what callers supplied (a commit message, a command, a request's path
and headers): each reaches terminals, drains and syslog receivers. So, as process output is on
its way in (`kit.logs.split_lines`), a line is cut at `MAX_LINE` bytes of UTF-8; and since a
platform line must stay one line, every control character (C0, DEL, C1: newlines included) is
written as a `\\xNN` / `\\uNNNN` escape. Invalid UTF-8 was already replaced where it was decoded.
"""

from __future__ import annotations

import re

MAX_LINE = 10_000  # bytes of one line's text, as process lines and Heroku's logplex
MAX_FIELD = 2_000  # characters of one caller-supplied field inside a line (a path, a header)
_CONTROLS = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]")


def escape(text: str) -> str:
    """Write each control character (tab excepted) as an escape: the text stays one line."""
    return _CONTROLS.sub(_escaped, text)


def _escaped(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def bounded(text: str, limit: int = MAX_LINE) -> str:
    """`text` cut to at most `limit` bytes of UTF-8, never inside a character."""
    if len(text) <= limit // 4:  # no character is more than 4 bytes: surely short enough
        return text
    data = text.encode("utf-8", "replace")
    if len(data) <= limit:
        return text
    return data[:limit].decode("utf-8", "ignore")


def clean(text: str) -> str:
    """A platform line's text as it is kept: escaped, then bounded (an escape is never cut
    in two: the cut happens only at `MAX_LINE` bytes, far beyond any field's bound)."""
    return bounded(escape(text))


def cut(text: str, limit: int = MAX_FIELD) -> str:
    """A caller-supplied field (a path, a header): its first `limit` characters, with `...`
    when cut."""
    return text[:limit] + "..." if len(text) > limit else text


def field(text: str, limit: int = MAX_FIELD) -> str:
    """A caller-supplied field, cut and escaped."""
    return escape(cut(text, limit))


def quoted(text: str, limit: int = MAX_FIELD) -> str:
    """A field in double quotes as Heroku's router lines write them: `\\` and `"` escaped,
    then control characters."""
    inner = cut(text, limit).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escape(inner)}"'
