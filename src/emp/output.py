"""Render output exactly as Empire's Go `emp` did: tabwriter tables, times, quoting, colour."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import datetime, timedelta

MINWIDTH = 1
PADDING = 2

_SECOND = timedelta(seconds=1)
_COLOURS = {"red": "31", "yellow": "33", "green": "32", "cyan": "36"}


def table(rows: Sequence[Sequence[str]]) -> str:
    """Align rows like Go's tabwriter (minwidth 1, tabwidth 2, padding 2, spaces)."""
    return tabwrite("".join("\t".join(row) + "\n" for row in rows))


def tabwrite(text: str) -> str:
    """Format tab-separated text the way Go's text/tabwriter with Empire's settings does."""
    lines = [line.split("\t") for line in text.split("\n")]
    trailing = lines.pop() if lines and lines[-1] == [""] else None
    out: list[str] = []
    _format(lines, [], 0, len(lines), out)
    result = "\n".join(out)
    if trailing is not None and lines:
        result += "\n"
    return result


def _format(
    lines: list[list[str]], widths: list[int], line0: int, line1: int, out: list[str]
) -> None:
    column = len(widths)
    this = line0
    while this < line1:
        if column >= len(lines[this]) - 1:
            this += 1
            continue
        _write(lines, widths, line0, this, out)
        line0 = this
        width = MINWIDTH
        while this < line1 and column < len(lines[this]) - 1:
            width = max(width, len(lines[this][column]) + PADDING)
            this += 1
        _format(lines, [*widths, width], line0, this, out)
        line0 = this
    _write(lines, widths, line0, line1, out)


def _write(
    lines: list[list[str]], widths: list[int], line0: int, line1: int, out: list[str]
) -> None:
    for cells in lines[line0:line1]:
        parts = []
        for j, cell in enumerate(cells):
            parts.append(cell.ljust(widths[j]) if j < len(widths) else cell)
        out.append("".join(parts))


def pretty_time(when: datetime, now: datetime) -> str:
    """Format a time as Empire's prettyTime: local `Jan _2 15:04`, or `Jan _2  2006` if old."""
    local = when.astimezone()
    day = f"{local.day:2d}"
    if now - when < timedelta(days=360):
        return f"{local:%b} {day} {local:%H:%M}"
    return f"{local:%b} {day}  {local.year}"


def pretty_duration(age: timedelta) -> str:
    """Format an age as Empire's prettyDuration: ` 5d`, `12h`, ` 3m`, `62s`."""
    if age > timedelta(days=2):
        return _unit(age, timedelta(days=1), "d")
    if age > timedelta(hours=2):
        return _unit(age, timedelta(hours=1), "h")
    if age > timedelta(minutes=2):
        return _unit(age, timedelta(minutes=1), "m")
    return _unit(age, _SECOND, "s")


def _unit(age: timedelta, unit: timedelta, suffix: str) -> str:
    ns = _nanoseconds(age)
    step = _nanoseconds(unit)
    total = ns + step // 2 - 1  # Go's roundDur, with integer division truncating toward zero
    value = total // step if total >= 0 else -(-total // step)
    return f"{value:2d}{suffix}"


def _nanoseconds(value: timedelta) -> int:
    return (value.days * 86400 + value.seconds) * 1_000_000_000 + value.microseconds * 1000


def parse_time(value: str | None) -> datetime | None:
    """Parse an RFC 3339 time from the API, or return None."""
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def maybe_quote(text: str) -> str:
    """JSON-quote a string unless it is only letters, digits, `_` and `-`.

    Empire's `emp` quoted with Go's json.Marshal, which also escapes `&`, `<` and `>` as
    `\\u0026`, `\\u003c`, `\\u003e`: unreadable in a shell command, so those stay as they are.
    Control characters are still escaped (`\\u001b`), as JSON must.
    """
    if all(c.isascii() and (c.isalnum() or c in "_-") for c in text):
        return text
    return _CONTROLS_JSON.sub(_json_escape, json.dumps(text, ensure_ascii=False))


def go_quote(text: str) -> str:
    """Quote a string as Go's %q verb (strconv.Quote) does."""
    out = ['"']
    for char in text:
        out.append(_GO_ESCAPES.get(char) or _go_rune(char))
    out.append('"')
    return "".join(out)


_GO_ESCAPES = {
    "\a": "\\a",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\v": "\\v",
    "\\": "\\\\",
    '"': '\\"',
}


def _go_rune(char: str) -> str:
    code = ord(char)
    if char.isprintable() or char == " ":
        return char
    if code < 0x80:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def abbrev(text: str, n: int) -> str:
    """Shorten a string to n characters, ending with an ellipsis when cut."""
    return text[: n - 1] + "…" if len(text) > n else text


def paint(text: str, colour: str, *, bold: bool = False, enabled: bool = True) -> str:
    """Wrap text in ANSI colour codes when enabled."""
    if not enabled or not text:
        return text
    code = ("1;" if bold else "") + _COLOURS[colour]
    return f"\x1b[{code}m{text}\x1b[0m"


def to_json(value: object) -> str:
    """Render a value as indented JSON for `--json`.

    JSON already escapes C0 controls; DEL and the C1 controls are escaped too (`\\u009b`),
    which decodes to the same value and can never drive a terminal.
    """
    return _CONTROLS_JSON.sub(_json_escape, json.dumps(value, indent=2, ensure_ascii=False))


# -- terminal safety -------------------------------------------------------------------------

_CONTROLS_JSON = re.compile("[\x7f-\x9f]")
_CONTROLS = re.compile("\r(?!\n)|[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_CELL_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f]")


def _json_escape(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def _visible(match: re.Match[str]) -> str:
    return f"\\x{ord(match.group()):02x}"


def escape_controls(text: str) -> str:
    """Show the control characters of text as `\\x1b`-style escapes, so that text sent by a
    server (a command, a log line, a description) cannot move the cursor, retitle the window
    or rewrite what a terminal shows. C0 controls, DEL and C1 controls are escaped; newline,
    tab and a carriage return just before a newline are kept, so lines stay lines.
    """
    return _CONTROLS.sub(_visible, text)


def escape_cell(text: str) -> str:
    """escape_controls for one table cell: newlines and tabs are escaped too."""
    return _CELL_CONTROLS.sub(_visible, text)
