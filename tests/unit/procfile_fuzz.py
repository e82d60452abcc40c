"""Fuzz `empire.procfile.parse` under a memory bound: run as a script, never imported by pytest.

    python tests/unit/procfile_fuzz.py fuzz LIMIT_MB    # every strategy; exit 1 on a failure
    python tests/unit/procfile_fuzz.py parse LIMIT_MB   # parse stdin once; print the outcome

The address space (RLIMIT_AS) and CPU time (RLIMIT_CPU) are capped before anything else is
imported, so a parser that blows up fails with MemoryError, or is killed, in this process only:
the test that runs it (test_procfile_fuzz.py) sees a failure, the machine stays up.

The parser must either return processes or raise Invalid with a short message, for structured
YAML (nested maps and lists, shared values that PyYAML writes as anchors and aliases, long
strings, odd scalars), for soups of YAML tokens, for "billion laughs" bombs and for raw bytes.
Hypothesis runs derandomized, without its example database: the same examples every run.
"""

from __future__ import annotations

import resource
import sys

if __name__ == "__main__":  # bound this process before anything big is imported
    _LIMIT = int(sys.argv[2]) * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (_LIMIT, _LIMIT))
    resource.setrlimit(resource.RLIMIT_CPU, (120, 125))

import json
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from empire import procfile
from empire.errors import Invalid
from empire.model import Process

MAX_MESSAGE = 512  # fixed text plus a few excerpts of at most procfile.EXCERPT characters

FUZZ = settings(
    max_examples=200,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)

ODD_SCALARS = [
    "~",
    "null",
    "yes",
    "off",
    "on",
    "0x1F",
    "0o17",
    "0b101",
    "1e999",
    "-.inf",
    ".nan",
    "1:30:45",
    "190:20:30.15",
    "2001-12-14t21:59:43.10-05:00",
    "2001-02-30",
    "9" * 5000,
    "0x" + "f" * 5000,
    "-0",
    "+12_345",
    "!!binary aGVsbG8=",
    "!!binary ???",
    "!!set {a, b}",
    "!!omap [a: 1, b: 2]",
    "!!python/object:os.system ls",
    "!!str 80",
    "!!int abc",
    "!!float x",
    "!!timestamp 2001-99-99",
    '"\\0\\x1b[31m\\u2028"',
    "'it''s'",
    "|\n  block\n  text\n",
    ">-\n  folded\n",
    "<<",
    "=",
    "*undefined",
]
KEYS = ["web", "worker", "command", "ports", "healthcheck", "environment", "cron", "noservice"]
FIELDS = ["command", "ports", "healthcheck", "environment", "cron", "noservice", "x-extra"]
TOKENS = [
    *(f"{k}:" for k in KEYS),
    " ",
    "  ",
    "\n",
    "\n  ",
    "\n    ",
    "- ",
    "[",
    "]",
    "{",
    "}",
    ", ",
    ": ",
    "? ",
    "&a ",
    "&b ",
    "*a",
    "*b",
    "!!int ",
    "!!map ",
    "!!seq ",
    "!!set ",
    "!!binary ",
    "!x ",
    "<<: ",
    "|",
    ">",
    "'",
    '"',
    "#",
    "%YAML 1.1\n",
    "---\n",
    "...\n",
    "\t",
    "80",
    "443:8443",
    "/health",
    "tcp",
    "5s",
    "0/5 * * * ? *",
    "./bin/web -p 80",
    "x" * 300,
]

scalars = st.one_of(
    st.sampled_from(ODD_SCALARS),
    st.text(max_size=40),
    st.text(alphabet="ab :#-\\'\"", min_size=100, max_size=3000),
    st.integers(),
    st.floats(),
    st.booleans(),
    st.none(),
)


def _valid(draw: st.DrawFn) -> Any:
    """A value as a Procfile field could hold it, or something close."""
    leaves = st.one_of(
        scalars,
        st.sampled_from(["80", "443:8443", 8080, "/health", "tcp", "5s", "./bin/web -p 80"]),
    )
    return draw(
        st.recursive(
            leaves,
            lambda inner: st.one_of(
                st.lists(inner, max_size=6),
                st.dictionaries(st.one_of(st.sampled_from(FIELDS), st.text(max_size=8)), inner),
            ),
            max_leaves=30,
        )
    )


@st.composite
def structured(draw: st.DrawFn) -> str:
    """A Procfile-shaped document, dumped by PyYAML in a random style. Values used twice are
    the same object, which PyYAML writes as an anchor and aliases."""
    shared: list[list[Any]] = draw(st.lists(st.lists(scalars, max_size=5), max_size=3))
    processes: dict[Any, Any] = {}
    for name in draw(st.lists(st.sampled_from([*KEYS, "0", "a" * 70, "_x"]), max_size=4)):
        if draw(st.booleans()):
            processes[name] = draw(scalars)
            continue
        fields: dict[Any, Any] = {}
        for field in draw(st.lists(st.sampled_from(FIELDS), max_size=5)):
            reuse: bool = draw(st.booleans())
            if shared and reuse:
                fields[field] = draw(st.sampled_from(shared))
            else:
                fields[field] = _valid(draw)
        processes[name] = fields
    return yaml.safe_dump(
        processes,
        default_flow_style=draw(st.sampled_from([None, True, False])),
        allow_unicode=draw(st.booleans()),
        width=draw(st.sampled_from([20, 80, 10_000])),
        sort_keys=False,
    )


@st.composite
def bombs(draw: st.DrawFn) -> str:
    """ "Billion laughs": each level lists the level below `fan` times, by alias."""
    depth = draw(st.integers(1, 12))
    fan = draw(st.integers(2, 12))
    field = draw(st.sampled_from(FIELDS))
    flow = draw(st.booleans())
    lines = ["web:", "  command: ./bin/web", "  x:", '    - &l0 ["lol", "lol"]']
    for i in range(1, depth + 1):
        lines.append(f"    - &l{i} [{', '.join([f'*l{i - 1}'] * fan)}]")
    lines.append(f"  {field}: [*l{depth}]" if flow else f"  {field}:\n    - *l{depth}")
    return "\n".join(lines) + "\n"


def check(content: bytes) -> None:
    """The parser's contract: processes, or Invalid with a short message."""
    try:
        processes = procfile.parse(content)
    except Invalid as e:
        assert len(e.message) <= MAX_MESSAGE, (len(e.message), e.message[:300])
        return
    assert isinstance(processes, dict) and processes
    assert all(isinstance(p, Process) and p.command for p in processes.values())


@settings(FUZZ, max_examples=120)  # each example is a whole document
@given(structured())
def fuzz_structured(text: str) -> None:
    check(text.encode())


@FUZZ
@given(st.lists(st.sampled_from(TOKENS + ODD_SCALARS), max_size=60).map("".join))
def fuzz_token_soup(text: str) -> None:
    check(text.encode())


@FUZZ
@given(bombs())
def fuzz_bombs(text: str) -> None:
    with_aliases = text.encode()
    try:
        procfile.parse(with_aliases)
    except Invalid as e:
        assert "anchors (&) and aliases (*) are not allowed" in e.message, e.message
        assert len(e.message) <= MAX_MESSAGE
    else:
        raise AssertionError("a Procfile with aliases was accepted")


@FUZZ
@given(st.one_of(st.binary(max_size=2000), st.binary(max_size=500).map(lambda b: b"web: " + b)))
def fuzz_bytes(content: bytes) -> None:
    check(content)


@settings(FUZZ, max_examples=25)  # each example parses up to MAX_BYTES: a few suffice
@given(
    st.one_of(
        st.sampled_from([procfile.MAX_BYTES - 5, procfile.MAX_BYTES - 4, 3 * procfile.MAX_BYTES]),
        st.integers(0, 3 * procfile.MAX_BYTES),
    ),
    st.sampled_from([b"a", b"[", b"- ", b"a: "]),
)
def fuzz_sizes(size: int, unit: bytes) -> None:
    check(b"web: " + unit * (size // len(unit)))


def main() -> int:
    if sys.argv[1] == "parse":
        try:
            processes = procfile.parse(sys.stdin.buffer.read())
            print(json.dumps({"processes": list(processes)}))
        except Invalid as e:
            print(json.dumps({"invalid": e.message}))
        return 0
    for fuzz in (fuzz_structured, fuzz_token_soup, fuzz_bombs, fuzz_bytes, fuzz_sizes):
        fuzz()
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
