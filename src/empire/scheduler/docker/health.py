"""Health checks of new instances, through their ports published on 127.0.0.1 only.

An instance is healthy when the Procfile's check passes (HTTP GET answering below 500, or a
TCP connect), else when a TCP check of its first port passes, else when it has been running
for `min_running` seconds. Docker's userland proxy accepts a connection on a published port
even when nothing listens in the container yet, then closes it: a TCP check therefore waits a
moment after connecting and fails when the peer hangs up at once.
"""

from __future__ import annotations

import http.client
import socket
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from empire.scheduler import ManifestProcess
from empire.scheduler.docker.containers import LOOPBACK
from empire.scheduler.kit.api import EngineAPI
from empire.scheduler.kit.errors import engine_errors

_TCP_SETTLE = 0.1  # how long a connection must stay open to count as accepted by the app
_LOG_LINES = 5


@dataclass(frozen=True, slots=True)
class Check:
    kind: str  # "http", "tcp" or "running"
    port: int | None = None
    path: str = "/"
    timeout: float = 2.0
    grace: float = 0.0


def check_for(process: ManifestProcess) -> Check:
    """Pick the check of a process: its Procfile check, else TCP on its first port."""
    first = process.ports[0].container if process.ports else None
    hc = process.healthcheck
    if hc is not None:
        port = hc.port or first
        if port is None:
            return Check("running", grace=hc.grace)
        return Check(hc.type, port, hc.path, hc.timeout, hc.grace)
    if first is not None:
        return Check("tcp", first)
    return Check("running")


@dataclass(slots=True)
class Candidate:
    """A new container the rollout waits on."""

    id: str
    process: str
    index: int
    check: Check
    started: float = field(default_factory=time.monotonic)
    last_error: str = "not checked yet"

    @property
    def slot(self) -> str:
        return f"{self.process}.{self.index}"


def wait_healthy(
    api: EngineAPI,
    candidates: list[Candidate],
    *,
    timeout: float,
    min_running: float,
    poll: float = 0.1,
    on_healthy: Callable[[Candidate], None] = lambda _: None,
) -> str | None:
    """Wait until every candidate is healthy; return None, or why one of them is not."""
    pending = list(candidates)
    grace = max((c.check.grace for c in candidates), default=0.0)
    deadline = time.monotonic() + timeout + grace
    with ThreadPoolExecutor(max_workers=min(16, max(1, len(candidates)))) as pool:
        while pending:
            probes: list[tuple[Candidate, int | None]] = []
            for candidate in pending:
                state = _inspect(api, candidate.id)
                failure = _exited(api, candidate, state)
                if failure is not None:
                    return failure
                if time.monotonic() - candidate.started >= candidate.check.grace:
                    probes.append((candidate, _host_port(state, candidate.check.port)))
            results = pool.map(lambda p: _probe(p[0], p[1], min_running), probes)
            for (candidate, _), error in zip(probes, list(results), strict=True):
                if error is None:
                    pending.remove(candidate)
                    on_healthy(candidate)
                else:
                    candidate.last_error = error
            if not pending:
                return None
            if time.monotonic() >= deadline:
                late = pending[0]
                return (
                    f"{late.slot} was not healthy after {timeout:g}s ({late.last_error})"
                    f"{last_lines(api, late.id)}"
                )
            time.sleep(poll)
    return None


def last_lines(api: EngineAPI, container_id: str, count: int = _LOG_LINES) -> str:
    """The container's last log lines, as `; last log lines: "a", "b"` (empty if none)."""
    with engine_errors(f"read the logs of {container_id[:12]}", missing_ok=True):
        raw = api.logs(container_id, stdout=True, stderr=True, tail=count)
        lines = [ln for ln in raw.decode("utf-8", "replace").splitlines() if ln.strip()]
        if lines:
            return "; last log lines: " + ", ".join(f'"{ln.strip()}"' for ln in lines[-count:])
    return ""


def _inspect(api: EngineAPI, container_id: str) -> dict[str, Any]:
    with engine_errors(f"inspect container {container_id[:12]}", missing_ok=True):
        return dict(api.inspect_container(container_id))
    return {"State": {"Status": "removed", "ExitCode": None}}


def _exited(api: EngineAPI, candidate: Candidate, attrs: dict[str, Any]) -> str | None:
    state = attrs.get("State") or {}
    status = state.get("Status", "")
    if status in ("running", "created", "paused"):
        return None
    code = state.get("ExitCode")
    why = f"exited with code {code}" if status in ("exited", "dead") else f"is {status}"
    if state.get("OOMKilled"):
        why += " (out of memory)"
    return f"{candidate.slot} {why} before it was healthy{last_lines(api, candidate.id)}"


def _host_port(attrs: dict[str, Any], port: int | None) -> int | None:
    if port is None:
        return None
    bindings = ((attrs.get("NetworkSettings") or {}).get("Ports") or {}).get(f"{port}/tcp")
    for binding in bindings or []:
        if binding.get("HostIp") in (LOOPBACK, "") and binding.get("HostPort"):
            return int(binding["HostPort"])
    return None


def _probe(candidate: Candidate, host_port: int | None, min_running: float) -> str | None:
    check = candidate.check
    if check.kind == "running":
        running = time.monotonic() - candidate.started
        return None if running >= min_running else f"running for {running:.1f}s"
    if host_port is None:
        return f"port {check.port} is not published yet"
    if check.kind == "http":
        return _http(host_port, check.path, check.timeout)
    return _tcp(host_port, check.timeout)


def _http(port: int, path: str, timeout: float) -> str | None:
    conn = http.client.HTTPConnection(LOOPBACK, port, timeout=timeout)
    try:
        conn.request("GET", path, headers={"User-Agent": "empire-healthcheck"})
        response = conn.getresponse()
        response.read()
    except (OSError, http.client.HTTPException) as e:
        return f"GET {path}: {_describe(e)}"
    finally:
        conn.close()
    if response.status >= 500:
        return f"GET {path}: HTTP {response.status}"
    return None


def _tcp(port: int, timeout: float) -> str | None:
    try:
        with socket.create_connection((LOOPBACK, port), timeout=timeout) as sock:
            sock.settimeout(min(timeout, _TCP_SETTLE))
            try:
                data = sock.recv(1)
            except TimeoutError:
                return None  # connected, and the app waits for us to speak
            return None if data else "connection closed: nothing listens in the container yet"
    except OSError as e:
        return f"TCP connect: {_describe(e)}"


def _describe(error: BaseException) -> str:
    if isinstance(error, http.client.RemoteDisconnected | ConnectionResetError):
        return "connection closed: nothing listens in the container yet"
    return str(error) or type(error).__name__
