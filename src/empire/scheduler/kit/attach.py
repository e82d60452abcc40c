"""Attached one-off runs: a container wired to its caller's stdin, stdout, stderr and terminal.

Both backends run an attached one-off as a plain container of the engine Empire talks to (on
Swarm, a manager's, joined to the overlay network): stdin open (`StdinOnce`, so closing our
side gives the process end of file), a TTY when asked, no auto-remove (the exit code is read
with `wait` before the container goes). The engine's attach socket is opened BEFORE the
container starts, so no output is lost; without a TTY the engine multiplexes stdout and
stderr in 8-byte-header frames, demultiplexed here.

`EngineAttachment.kill` force-removes the container; the caller always ends with it, on a
normal exit as on a client that went away. Every method may be called from any thread.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import struct
import threading
import time
from collections.abc import Iterator, Mapping
from typing import Any

import docker.errors
import requests
import urllib3.exceptions

from empire.errors import SchedulerError
from empire.scheduler import STDERR, STDOUT
from empire.scheduler.kit import containers
from empire.scheduler.kit.api import EngineAPI
from empire.scheduler.kit.errors import engine_errors
from empire.scheduler.kit.times import parse_time

STALE_AFTER = 60.0  # seconds an attached container may stay stopped before another run reaps it
_CHUNK = 65536
_HEADER = struct.Struct(">BxxxL")
log = logging.getLogger(__name__)


def create(
    api: EngineAPI,
    image: str,
    *,
    command: tuple[str, ...],
    name: str,
    env: Mapping[str, str],
    labels: Mapping[str, str],
    host_config: Any,
    tty: bool,
    networking_config: Any = None,
) -> str:
    """Create (not start) an attached one-off container; return its id."""
    with engine_errors(f"create the one-off container {name}"):
        created = api.create_container(
            image,
            command=list(command) or None,
            name=name,
            environment=[f"{k}={v}" for k, v in env.items()],
            labels=dict(labels),
            host_config=host_config,
            networking_config=networking_config,
            tty=tty,
            stdin_open=True,  # with detach=False: AttachStdin and StdinOnce as well
            detach=False,
            use_config_proxy=False,
        )
    return str(created["Id"])


def start(
    api: EngineAPI,
    container_id: str,
    name: str,
    *,
    tty: bool,
    rows: int | None = None,
    cols: int | None = None,
) -> EngineAttachment:
    """Attach to the created container, then start it; remove it if either fails."""
    try:
        with engine_errors(f"attach to container {container_id[:12]}"):
            sock = api.attach_socket(
                container_id, params={"stdin": 1, "stdout": 1, "stderr": 1, "stream": 1}
            )
    except SchedulerError:
        containers.remove(api, container_id, None)
        raise
    attachment = EngineAttachment(api, container_id, name, tty=tty, sock=sock)
    try:
        containers.start(api, container_id)  # removes the container when it cannot start
    except BaseException:
        attachment.kill()
        raise
    if tty and rows and cols:
        attachment.resize(rows, cols)
    return attachment


def stale(api: EngineAPI, found: list[tuple[str, str]], now: float | None = None) -> list[str]:
    """The ids among `found` ((container id, state) of attached runs) that stopped more than
    STALE_AFTER s ago: a live session removes its container as soon as it has read the exit
    code, so these were left by an Empire that died mid-session."""
    now = time.time() if now is None else now
    gone = []
    for container_id, state in found:
        if state not in ("exited", "dead"):
            continue
        with engine_errors(f"inspect container {container_id[:12]}", missing_ok=True):
            status = api.inspect_container(container_id).get("State") or {}
            finished = parse_time(status.get("FinishedAt"))
            if finished is None or now - finished.timestamp() > STALE_AFTER:
                gone.append(container_id)
    return gone


def timed_out(error: BaseException | None) -> bool:
    """Tell a client-side read timeout (which requests may report as a ConnectionError)."""
    if isinstance(error, requests.exceptions.Timeout):
        return True
    if isinstance(error, requests.exceptions.ConnectionError) and error.args:
        return isinstance(error.args[0], urllib3.exceptions.ReadTimeoutError)
    return False


class EngineAttachment:
    """The `Attachment` of one container, over the engine's hijacked attach connection."""

    def __init__(
        self, api: EngineAPI, container_id: str, name: str, *, tty: bool, sock: Any
    ) -> None:
        self.name = name
        self.container_id = container_id
        self.tty = tty
        self._api = api
        self._io = sock
        # docker-py hands back the response's SocketIO (or the socket itself): talk to the
        # socket, with no timeout (the API client's read timeout would end quiet sessions).
        self._sock: socket.socket = getattr(sock, "_sock", sock)
        self._sock.settimeout(None)
        self._lock = threading.Lock()
        self._send_lock = threading.Lock()
        self._reading = False
        self._killed = False
        self._closed = False

    def output(self) -> Iterator[tuple[int, bytes]]:
        """Yield (stream, bytes) until the process closes its output or the task is killed."""
        with self._lock:
            if self._killed:
                return
            self._reading = True
        try:
            yield from self._raw() if self.tty else self._frames()
        except OSError:
            return  # the connection was shut down by kill
        finally:
            with self._lock:
                self._reading = False
                if self._killed:
                    self._close()

    def write(self, data: bytes) -> None:
        """Send bytes to stdin; dropped when stdin or the process is gone."""
        if not data:
            return
        with self._send_lock:
            try:
                self._sock.sendall(data)
            except OSError:
                log.debug("stdin of %s is closed: %d bytes dropped", self.name, len(data))

    def close_stdin(self) -> None:
        """Half-close the connection: the engine closes the process's stdin."""
        with self._send_lock, contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_WR)

    def resize(self, rows: int, cols: int) -> None:
        """Resize the terminal; quietly nothing without one or once the process has exited."""
        if not self.tty or rows <= 0 or cols <= 0:
            return
        try:
            with engine_errors(f"resize container {self.container_id[:12]}", missing_ok=True):
                self._api.resize(self.container_id, height=rows, width=cols)
        except SchedulerError as exc:
            log.debug("resize of %s failed: %s", self.name, exc)

    def wait(self, timeout: float | None = None) -> int | None:
        """The exit code, or None if the process still runs after `timeout` s (or is gone)."""
        try:
            with engine_errors(f"wait for container {self.container_id[:12]}"):
                result = self._api.wait(self.container_id, timeout=timeout)
        except SchedulerError as exc:
            if timed_out(exc.__cause__) or isinstance(exc.__cause__, docker.errors.NotFound):
                return None  # still running after `timeout`, or removed (by kill or stop)
            raise
        return int(result.get("StatusCode", -1))

    def kill(self) -> None:
        """Kill and remove the container and drop the connection; idempotent."""
        with self._lock:
            if self._killed:
                return
            self._killed = True
            # Wakes a reader blocked in recv; the reader closes the socket on its way out.
            with contextlib.suppress(OSError):
                self._sock.shutdown(socket.SHUT_RDWR)
            if not self._reading:
                self._close()
        containers.remove(self._api, self.container_id, None)

    def close(self) -> None:
        """Drop the connection, leaving the container as it is (its output was read)."""
        with self._lock:
            with contextlib.suppress(OSError):
                self._sock.shutdown(socket.SHUT_RDWR)
            if not self._reading:
                self._close()

    # -- helpers ------------------------------------------------------------------------------

    def _close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for closable in (self._io, self._sock):
            with contextlib.suppress(OSError):
                closable.close()

    def _raw(self) -> Iterator[tuple[int, bytes]]:
        while chunk := self._sock.recv(_CHUNK):
            yield STDOUT, chunk

    def _frames(self) -> Iterator[tuple[int, bytes]]:
        while True:
            header = self._exactly(_HEADER.size)
            if header is None:
                return
            stream, size = _HEADER.unpack(header)
            target = STDOUT if stream == STDOUT else STDERR  # 2 stderr, 3 the engine's errors
            while size > 0:
                chunk = self._sock.recv(min(size, _CHUNK))
                if not chunk:
                    return
                size -= len(chunk)
                yield target, chunk

    def _exactly(self, n: int) -> bytes | None:
        data = b""
        while len(data) < n:
            chunk = self._sock.recv(n - len(data))
            if not chunk:
                return None
            data += chunk
        return data
