"""Read and write dotenv files: `KEY=value`, quotes, escapes, multi-line quoted values.

Double-quoted values take Go/C backslash escapes (newline, tab, quote, backslash, unicode).
Single-quoted values are literal except backslash-n and backslash-quote, which Empire's
env-load also expanded there.
"""

from __future__ import annotations

import re

from emp.output import go_quote
from emp.parsing import ParseError

_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")
_ESCAPES = {
    "n": "\n",
    "t": "\t",
    "r": "\r",
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "v": "\v",
    "\\": "\\",
    '"': '"',
    "'": "'",
    "$": "$",
}


def write(values: dict[str, str]) -> str:
    """Render config vars sorted by key as `KEY="value"` lines (Go's %q quoting)."""
    return "".join(f"{key}={go_quote(values[key])}\n" for key in sorted(values))


def parse(text: str, source: str = "<stdin>") -> dict[str, str]:
    """Parse dotenv text; raise ParseError naming the file and line of a malformed entry."""
    values: dict[str, str] = {}
    reader = _Reader(text, source)
    while not reader.done():
        reader.skip_blank()
        if reader.done():
            break
        key, value = reader.entry()
        values[key] = value
    return values


class _Reader:
    """A cursor over dotenv text."""

    def __init__(self, text: str, source: str) -> None:
        self.text = text.replace("\r\n", "\n")
        self.source = source
        self.pos = 0

    def done(self) -> bool:
        """Tell whether the whole text was read."""
        return self.pos >= len(self.text)

    def line(self) -> int:
        """Return the current line number."""
        return self.text.count("\n", 0, self.pos) + 1

    def fail(self, reason: str) -> ParseError:
        """Return a ParseError naming the source and the current line."""
        return ParseError(f"{self.source}:{self.line()}: {reason}")

    def skip_blank(self) -> None:
        """Skip blank lines, whitespace and comment lines."""
        while not self.done():
            rest = self.text[self.pos :]
            stripped = rest.lstrip(" \t\n")
            if stripped.startswith("#"):
                end = self.text.find("\n", len(self.text) - len(stripped))
                self.pos = len(self.text) if end < 0 else end + 1
            elif stripped != rest:
                self.pos += len(rest) - len(stripped)
            else:
                return

    def entry(self) -> tuple[str, str]:
        """Read one `KEY=value` entry."""
        end = self.text.find("\n", self.pos)
        end = len(self.text) if end < 0 else end
        head = self.text[self.pos : end]
        match = re.match(r"\s*(?:export\s+)?([^=:\s]+)\s*([=:])\s*", head)
        if not match or not _KEY.fullmatch(match.group(1)):
            raise self.fail(f"expected KEY=value, got {head.strip()!r}")
        key = match.group(1)
        self.pos += match.end()
        quote = self.text[self.pos : self.pos + 1]
        if quote in ("'", '"'):
            return key, self.quoted(quote)
        return key, self.bare(end)

    def bare(self, end: int) -> str:
        """Read an unquoted value up to the end of the line or an inline comment."""
        value = self.text[self.pos : end]
        self.pos = min(end + 1, len(self.text))
        comment = re.search(r"\s#", value)
        if comment:
            value = value[: comment.start()]
        return value.strip()

    def quoted(self, quote: str) -> str:
        """Read a quoted value, which may span lines."""
        start_line = self.line()
        self.pos += 1
        out: list[str] = []
        while True:
            if self.done():
                raise ParseError(f"{self.source}:{start_line}: unterminated {quote} quoted value")
            char = self.text[self.pos]
            self.pos += 1
            if char == quote:
                break
            if char == "\\" and not self.done():
                out.append(self.escape() if quote == '"' else self.literal_escape())
            else:
                out.append(char)
        self.after_quote()
        return "".join(out)

    def escape(self) -> str:
        """Decode one backslash escape of a double-quoted value."""
        char = self.text[self.pos]
        self.pos += 1
        if char in _ESCAPES:
            return _ESCAPES[char]
        if char in "xuU":
            size = {"x": 2, "u": 4, "U": 8}[char]
            digits = self.text[self.pos : self.pos + size]
            if len(digits) == size and all(d in "0123456789abcdefABCDEF" for d in digits):
                self.pos += size
                return chr(int(digits, 16))
        return "\\" + char

    def literal_escape(self) -> str:
        """Decode the two escapes Empire honoured in single quotes."""
        char = self.text[self.pos]
        if char in 'n"':
            self.pos += 1
            return "\n" if char == "n" else '"'
        return "\\"

    def after_quote(self) -> None:
        """Allow only blanks or a comment after a closing quote."""
        end = self.text.find("\n", self.pos)
        end = len(self.text) if end < 0 else end
        rest = self.text[self.pos : end].strip()
        if rest and not rest.startswith("#"):
            raise self.fail(f"unexpected {rest!r} after the closing quote")
        self.pos = min(end + 1, len(self.text))
