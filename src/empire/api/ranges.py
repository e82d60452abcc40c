"""The Range header of Heroku list endpoints, parsed leniently, and Next-Range.

Forms seen from real clients: `version ..; max=20, , order=desc`, `id ]<uuid>..; max=2,
order=asc`, `version ..; order=desc,max=1`, `id ..; ;`, `domain ..; ;`, `name ..; max=1000`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from empire.model import Page

DEFAULT_MAX = 200
MAX_MAX = 1000
_NUMBER = re.compile(r"^[0-9]+$")
_START = re.compile(r"^[0-9]{1,9}$")
_FIELD = re.compile(r"^\s*([A-Za-z_]+)\s*(.*)$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")  # in no name or id; PostgreSQL refuses NUL


@dataclass(frozen=True, slots=True)
class Ranges:
    """What a list endpoint can sort on, and its default."""

    fields: tuple[str, ...]
    default: str
    numeric: tuple[str, ...] = ()  # fields whose start must be a (small) whole number

    def parse(self, header: str | None) -> Page:
        """Parse a Range header into a Page; anything unrecognised falls back to defaults."""
        page = Page(field=self.default, max=DEFAULT_MAX)
        if not header:
            return page
        head, *options = re.split(r"[;,]", header)
        match = _FIELD.match(head)
        if match and match.group(1) in self.fields:
            page = replace(page, field=match.group(1))
            spec = match.group(2).strip()
            if ".." in spec:
                start = spec[: spec.rfind("..")]
                if start.startswith("]"):
                    page = replace(page, exclusive=True)
                    start = start[1:]
                numeric_ok = page.field not in self.numeric or _START.match(start)
                if start and numeric_ok and not _CONTROL.search(start):
                    page = replace(page, start=start)
        for option in options:
            key, _, value = option.strip().partition("=")
            key, value = key.strip().lower(), value.strip().lower()
            if key == "max" and _NUMBER.match(value):
                wanted = int(value) if len(value) <= 6 else MAX_MAX
                page = replace(page, max=max(1, min(wanted, MAX_MAX)))
            elif key == "order" and value in ("asc", "desc"):
                page = replace(page, descending=value == "desc")
        return page

    @property
    def accept(self) -> str:
        return ", ".join(self.fields)


def next_range(page: Page, last: str) -> str:
    """Return the Next-Range header that continues after `last`."""
    order = "desc" if page.descending else "asc"
    return f"{page.field} ]{last}..; max={page.max}, order={order}"
