"""The Procfile parser under attack, in a child process with a memory bound.

A Procfile comes from an image any deployer controls and is parsed in the API process. Issue
13: a 545-byte "billion laughs" Procfile (aliases nested under an unknown key, expanded through
`ports: [*l8]` and rendered whole into the error message) took 53 s and 5.7 GB. These tests run
the parser in `procfile_fuzz.py`, a child limited to 512 MB of address space and 120 s of CPU:
a parser that blows up again fails here, and the machine running the tests survives it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

WORKER = Path(__file__).with_name("procfile_fuzz.py")
LIMIT_MB = "512"


def laughs(depth: int = 8, fan: int = 9) -> bytes:
    """The attack of the issue: each level lists the one below `fan` times, by alias."""
    lines = ["web:", "  command: ./bin/web", "  x:"]
    lol = ", ".join(['"lol"'] * fan)
    lines.append(f"    - &l0 [{lol}]")
    for i in range(1, depth + 1):
        lines.append(f"    - &l{i} [{', '.join([f'*l{i - 1}'] * fan)}]")
    lines.append(f"  ports: [*l{depth}]")
    return ("\n".join(lines) + "\n").encode()


def bounded(*args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, str(WORKER), *args],
        input=stdin,
        capture_output=True,
        timeout=600,
        check=False,
    )


def test_billion_laughs_is_refused_within_the_memory_bound() -> None:
    attack = laughs()
    assert len(attack) < 600  # a few hundred bytes: 9**9 strings once expanded

    done = bounded("parse", LIMIT_MB, stdin=attack)

    assert done.returncode == 0, done.stderr.decode()[-2000:]
    message = json.loads(done.stdout)["invalid"]
    assert message.startswith("Procfile uses a YAML anchor (&l0) at line 4, column 7: ")
    assert "anchors (&) and aliases (*) are not allowed in a Procfile" in message
    assert len(message) < 200


def test_the_parser_returns_processes_or_a_short_invalid_for_any_input() -> None:
    done = bounded("fuzz", LIMIT_MB)

    assert done.returncode == 0, (done.stdout + done.stderr).decode()[-4000:]
    assert done.stdout.decode().strip().endswith("ok")
