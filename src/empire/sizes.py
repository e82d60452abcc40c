"""Process sizes: the named ones (1X, 2X, PX) and the raw `cpu:memory[:nproc=N]` form.

`parse("2x")` is 512 cpu shares, 1 GB and nproc 512; `parse("512:1.5GB:nproc=64")` is the raw
form (memory 1024-based); `render(Size(100, 1048576))` is `"100:1.00mb"`.
"""

from __future__ import annotations

import re

from empire.errors import Invalid
from empire.model import Size

KB = 1024
MB = 1024 * KB
GB = 1024 * MB
TB = 1024 * GB

NAMED: dict[str, Size] = {
    "1X": Size(cpu_shares=256, memory=512 * MB, nproc=256),
    "2X": Size(cpu_shares=512, memory=1 * GB, nproc=512),
    "PX": Size(cpu_shares=1024, memory=6 * GB, nproc=0),
}
DEFAULT = NAMED["1X"]

_UNITS: dict[str, int] = {"B": 1, "KB": KB, "MB": MB, "GB": GB, "TB": TB}
_MEMORY = re.compile(r"^(?P<value>\d+(?:\.\d+)?|\.\d+)\s*(?P<unit>[KMGT]?B)?$", re.IGNORECASE)
_NPROC = re.compile(r"^nproc=(?P<n>\d+)$", re.IGNORECASE)
_FORMS = "use 1X, 2X, PX or cpu:memory[:nproc=N], e.g. 512:1GB"
_MEMORY_FORMS = "a number greater than 0 with an optional unit B, KB, MB, GB or TB, e.g. 512MB"


def parse(text: str) -> Size:
    """Parse a named size (case-insensitive) or `cpu:memory[:nproc=N]` into a Size."""
    text = text.strip()
    named = NAMED.get(text.upper())
    if named is not None:
        return named
    parts = text.split(":")
    if len(parts) not in (2, 3):
        raise Invalid(f'invalid size "{text}": {_FORMS}')
    cpu = _parse_cpu(text, parts[0])
    memory = _parse_memory(text, parts[1])
    nproc = _parse_nproc(text, parts[2]) if len(parts) == 3 else 0
    return Size(cpu_shares=cpu, memory=memory, nproc=nproc)


def parse_memory(text: str) -> int:
    """Parse `1`, `1KB`, `1.25gb`... (1024-based; no unit means bytes) into bytes."""
    memory = _memory_bytes(text)
    if memory is None:
        raise Invalid(f'invalid memory "{text}": use {_MEMORY_FORMS}')
    return memory


def render(size: Size) -> str:
    """Render a size as its name when it is a named one, else as `cpu:memory[:nproc=N]`."""
    for name, named in NAMED.items():
        if size == named:
            return name
    text = f"{size.cpu_shares}:{render_memory(size.memory)}"
    if size.nproc:
        text += f":nproc={size.nproc}"
    return text


def render_memory(memory: int) -> str:
    """Render bytes as `<bytes>` below 1 KB, else with two decimals and the largest unit."""
    for unit in ("TB", "GB", "MB", "KB"):
        if memory >= _UNITS[unit]:
            return f"{memory / _UNITS[unit]:.2f}{unit.lower()}"
    return str(memory)


def _parse_cpu(size: str, text: str) -> int:
    if not text.strip().isdigit():
        raise _invalid(size, f'CPU shares "{text}" is not a whole number')
    cpu = int(text)
    if cpu <= 1:
        raise _invalid(size, "CPUShare must be greater than 1")
    return cpu


def _parse_memory(size: str, text: str) -> int:
    memory = _memory_bytes(text)
    if memory is None:
        raise _invalid(size, f'memory "{text}" must be {_MEMORY_FORMS}')
    return memory


def _memory_bytes(text: str) -> int | None:
    m = _MEMORY.match(text.strip())
    if m is None:
        return None
    memory = int(float(m.group("value")) * _UNITS[(m.group("unit") or "B").upper()])
    # Sub-byte values such as 0.1B round down to 0, which is no limit at all: refuse them too.
    return memory if memory > 0 else None


def _parse_nproc(size: str, text: str) -> int:
    m = _NPROC.match(text.strip())
    if m is None:
        raise _invalid(size, f'"{text}" is not nproc=N')
    return int(m.group("n"))


def _invalid(size: str, reason: str) -> Invalid:
    return Invalid(f'invalid size "{size}": {reason}; {_FORMS}')
