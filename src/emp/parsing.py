"""Parse command-line grammars: scale arguments, sizes and Go durations."""

from __future__ import annotations

import re
from dataclasses import dataclass

_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_UNITS_NS = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,
    "μs": 1_000,
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60_000_000_000,
    "h": 3_600_000_000_000,
}
_INTEGER = re.compile(r"^[+-]?\d+$")


class ParseError(ValueError):
    """An argument does not follow its grammar."""


@dataclass(frozen=True, slots=True)
class ScaleArg:
    """One `type=[qty]:[size]` argument of `emp scale`."""

    process: str
    quantity: int | None
    size: str | None


def parse_scale_arg(arg: str) -> ScaleArg:
    """Parse `web=2`, `web=2X`, `web=2:1X`, `web=:PX` or `worker=1:256:1gb:nproc=64`."""
    if any(c.isspace() for c in arg) or "=" not in arg:
        raise ParseError(f"invalid scale argument {arg!r}: use <type>=[<qty>]:[<size>]")
    process, rest = arg.split("=", 1)
    if not process or not rest:
        raise ParseError(f"invalid scale argument {arg!r}: use <type>=[<qty>]:[<size>]")
    quantity: int | None = None
    size: str | None = None
    if ":" not in rest:
        if "x" in rest.lower():
            size = rest
        else:
            quantity = _quantity(arg, rest)
    else:
        head, tail = rest.split(":", 1)
        if head:
            quantity = _quantity(arg, head)
        size = tail or None
    if quantity is None and size is None:
        raise ParseError(f"invalid scale argument {arg!r}: give a quantity, a size or both")
    return ScaleArg(process, quantity, normalize_size(size) if size else None)


def _quantity(arg: str, text: str) -> int:
    if not _INTEGER.match(text):
        raise ParseError(f"invalid quantity {text!r} in {arg!r}: use a whole number")
    return int(text)


def normalize_size(size: str) -> str:
    """Upper-case a size (`2x` → `2X`, `256:1gb` → `256:1GB`) but keep `nproc=` lowercase."""
    parts = []
    for part in size.split(":"):
        if part.lower().startswith("nproc"):
            parts.append("nproc" + part[5:])
        else:
            parts.append(part.upper())
    return ":".join(parts)


def parse_duration(text: str) -> int:
    """Parse a Go duration (`10m`, `1h30m`, `1.5s`) into nanoseconds."""
    source = text
    sign = 1
    if text[:1] in "+-" and text:
        sign = -1 if text[0] == "-" else 1
        text = text[1:]
    if text == "0":
        return 0
    if not text:
        raise ParseError(f"invalid duration {source!r}: use e.g. 10m, 1h or 30s")
    total = 0.0
    pos = 0
    for match in _DURATION_PART.finditer(text):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNITS_NS[match.group(2)]
        pos = match.end()
    if pos != len(text):
        raise ParseError(f"invalid duration {source!r}: use e.g. 10m, 1h or 30s")
    return sign * int(total)
