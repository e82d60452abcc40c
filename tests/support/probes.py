"""Traffic probes (`probe.py`) run as processes, in any network namespace, and their verdicts.

probes = Probes()
probes.start("internal", "http://acme/", "acme", "keepalive",
             netns=netns_of(api, client_id), dns="127.0.0.11")
probes.start("public", "http://127.0.0.1:8080/", "www.acme.test", "fresh")
...
results = probes.finish()   # {"internal": {"total": ..., "failed": 0, ...}, ...}
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

PROBE = Path(__file__).with_name("probe.py")


def netns_of(api: Any, container: str) -> str:
    """The network namespace of a running container, for `nsenter --net=`."""
    return f"/proc/{api.inspect_container(container)['State']['Pid']}/ns/net"


class Probes:
    """Probes running until `finish`; each says how many of its requests failed."""

    def __init__(self) -> None:
        self.running: dict[str, subprocess.Popen[str]] = {}

    def start(
        self,
        name: str,
        url: str,
        host: str,
        mode: str,
        *,
        netns: str | None = None,
        dns: str | None = None,
        most: int = 30000,
        seconds: float = 900,
    ) -> None:
        """Start a probe: `mode` is `fresh` or `keepalive`; `dns` the server names are asked."""
        argv = [sys.executable, str(PROBE), url, host, mode, str(most), str(seconds)]
        if dns:
            argv.append(dns)
        if netns:
            argv = ["nsenter", f"--net={netns}", "--", *argv]
        probe = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        assert probe.stdout is not None
        started = probe.stdout.readline().strip()
        assert started == "started", (name, started, probe.stderr.read() if probe.stderr else "")
        self.running[name] = probe

    def finish(self) -> dict[str, dict[str, Any]]:
        """Stop every probe; their results by name (`failed` -1 when one said nothing)."""
        results: dict[str, dict[str, Any]] = {}
        for name, probe in self.running.items():
            out, err = probe.communicate("", timeout=60)
            lines = out.strip().splitlines()
            results[name] = json.loads(lines[-1]) if lines else {"failed": -1, "stderr": err}
        self.running.clear()
        return results
