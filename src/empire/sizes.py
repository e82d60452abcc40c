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

# The largest values a scheduler can be given: Linux caps cpu.shares at 262144, ECS counts
# memory in MiB and the nproc ulimit in 32-bit integers. Larger ones are refused here rather
# than by a scheduler (or by int(float("inf")) for a memory of a few hundred digits).
MAX_CPU_SHARES = 262144
MAX_MEMORY = 1024 * TB
MAX_NPROC = 2**31 - 1

_UNITS: dict[str, int] = {"B": 1, "KB": KB, "MB": MB, "GB": GB, "TB": TB}
# ASCII digits only: \d would take any Unicode digit, and str.isdigit() takes "²" too.
_MEMORY = re.compile(
    r"^(?P<value>[0-9]+(?:\.[0-9]+)?|\.[0-9]+)\s*(?P<unit>[KMGT]?B)?$", re.IGNORECASE
)
_NPROC = re.compile(r"^nproc=(?P<n>[0-9]+)$", re.IGNORECASE)
_CPU = re.compile(r"^\s*[0-9]+\s*$")
_TOO_MUCH_MEMORY = "memory must be at most 1024TB"
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
    if memory > MAX_MEMORY:
        raise Invalid(f'invalid memory "{text}": {_TOO_MUCH_MEMORY}')
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
    if not _CPU.match(text):
        raise _invalid(size, f'CPU shares "{text}" is not a whole number')
    digits = text.strip().lstrip("0")
    # Thousands of digits would exceed int()'s limit: compare lengths before converting.
    cpu = int(digits or "0") if len(digits) <= len(str(MAX_CPU_SHARES)) else MAX_CPU_SHARES + 1
    if cpu <= 1:
        raise _invalid(size, "CPUShare must be greater than 1")
    if cpu > MAX_CPU_SHARES:
        raise _invalid(size, f"CPUShare must be at most {MAX_CPU_SHARES}")
    return cpu


def _parse_memory(size: str, text: str) -> int:
    memory = _memory_bytes(text)
    if memory is None:
        raise _invalid(size, f'memory "{text}" must be {_MEMORY_FORMS}')
    if memory > MAX_MEMORY:
        raise _invalid(size, _TOO_MUCH_MEMORY)
    return memory


def _memory_bytes(text: str) -> int | None:
    """Bytes, or None when it is no memory; MAX_MEMORY + 1 for anything above the maximum
    (hundreds of digits make an infinite float, which int() refuses)."""
    m = _MEMORY.match(text.strip())
    if m is None:
        return None
    value = float(m.group("value")) * _UNITS[(m.group("unit") or "B").upper()]
    if value > MAX_MEMORY:
        return MAX_MEMORY + 1
    memory = int(value)
    # Sub-byte values such as 0.1B round down to 0, which is no limit at all: refuse them too.
    return memory if memory > 0 else None


def _parse_nproc(size: str, text: str) -> int:
    m = _NPROC.match(text.strip())
    if m is None:
        raise _invalid(size, f'"{text}" is not nproc=N')
    digits = m.group("n").lstrip("0")
    nproc = int(digits or "0") if len(digits) <= len(str(MAX_NPROC)) else MAX_NPROC + 1
    if nproc > MAX_NPROC:
        raise _invalid(size, f"nproc must be at most {MAX_NPROC}")
    return nproc


def _invalid(size: str, reason: str) -> Invalid:
    return Invalid(f'invalid size "{size}": {reason}; {_FORMS}')
