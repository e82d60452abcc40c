"""Attached one-off runs: a container wired to its caller's stdin, stdout, stderr and terminal.

The container is a one-off like a detached run (kind `run`, the app's labels, limits and
network) plus `empire.attached=true`, with stdin open (`StdinOnce`, so closing our side gives
the process end of file), a TTY when asked, and no auto-remove: the exit code is read with
`wait` before the container is removed. The engine's attach socket is opened BEFORE the
container starts, so no output is lost; without a TTY the engine multiplexes stdout and stderr
in 8-byte-header frames, demultiplexed here.

`DockerAttachment.kill` force-removes the container; the caller always ends with it, on a normal
exit as on a client that went away. Attached containers left behind by a server that died are
removed by the next attached run of the app once they have been stopped a while.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import struct
import threading
import time
from collections.abc import Iterator
from typing import Any

import docker.errors
import requests
import urllib3.exceptions

from empire.errors import SchedulerError
from empire.scheduler import STDERR, STDOUT, Manifest, ManifestProcess
from empire.scheduler.docker import containers, engine
from empire.scheduler.docker.engine import Instance, engine_errors

ATTACHED = "empire.attached"
STALE_AFTER = 60.0  # seconds an attached container may stay stopped before another run reaps it
_CHUNK = 65536
_HEADER = struct.Struct(">BxxxL")
log = logging.getLogger(__name__)


def create(
    api: Any,
    manifest: Manifest,
    process: ManifestProcess,
    *,
    index: int,
    network: str,
    tty: bool,
) -> str:
    """Create (not start) the attached one-off container of `process`; return its id."""
    host_config = api.create_host_config(
        cpu_shares=process.cpu_shares or None,
        mem_limit=process.memory or None,
        pids_limit=process.nproc or None,
        security_opt=["no-new-privileges"],
        init=True,
        restart_policy={"Name": "no"},
        log_config=containers.LOG_CONFIG,
        sysctls=containers.SYSCTLS,
        network_mode=network,
        auto_remove=False,
    )
    labels = containers.labels(
        manifest,
        process,
        kind=engine.RUN,
        index=index,
        spec=containers.spec_hash(manifest, process, ""),
        nonce="",
        network=network,
    )
    with engine_errors(f"create a one-off container of {manifest.app_name}"):
        created = api.create_container(
            manifest.image,
            command=list(process.command) or None,
            name=containers.container_name(manifest, "run", index),
            environment=[f"{k}={v}" for k, v in process.env.items()],
            labels={**labels, ATTACHED: "true"},
            host_config=host_config,
            networking_config=api.create_networking_config({network: api.create_endpoint_config()}),
            tty=tty,
            stdin_open=True,  # with detach=False: AttachStdin and StdinOnce as well
            detach=False,
            use_config_proxy=False,
        )
    return str(created["Id"])


def start(
    api: Any, container_id: str, name: str, *, tty: bool, rows: int | None, cols: int | None
) -> DockerAttachment:
    """Attach to the created container, then start it; remove it if either fails."""
    try:
        with engine_errors(f"attach to container {container_id[:12]}"):
            sock = api.attach_socket(
                container_id, params={"stdin": 1, "stdout": 1, "stderr": 1, "stream": 1}
            )
    except SchedulerError:
        engine.remove_instance(api, container_id, None)
        raise
    attachment = DockerAttachment(api, container_id, name, tty=tty, sock=sock)
    try:
        containers.start(api, container_id)  # removes the container when it cannot start
    except BaseException:
        attachment.kill()
        raise
    if tty and rows and cols:
        attachment.resize(rows, cols)
    return attachment


def stale(api: Any, found: list[Instance], now: float | None = None) -> list[Instance]:
    """The attached containers among `found` that stopped more than STALE_AFTER s ago.

    A live session removes its container as soon as it has read the exit code, so these were
    left by an Empire that died mid-session.
    """
    now = time.time() if now is None else now
    gone = []
    for instance in found:
        if instance.labels.get(ATTACHED) != "true" or instance.state not in ("exited", "dead"):
            continue
        with engine_errors(f"inspect container {instance.short_id}", missing_ok=True):
            state = api.inspect_container(instance.id).get("State") or {}
            finished = engine.parse_time(state.get("FinishedAt"))
            if finished is None or now - finished.timestamp() > STALE_AFTER:
                gone.append(instance)
    return gone


def _timed_out(error: BaseException | None) -> bool:
    """Tell a client-side read timeout (which requests may report as a ConnectionError)."""
    if isinstance(error, requests.exceptions.Timeout):
        return True
    if isinstance(error, requests.exceptions.ConnectionError) and error.args:
        return isinstance(error.args[0], urllib3.exceptions.ReadTimeoutError)
    return False


class DockerAttachment:
    """The `Attachment` of one container, over the engine's hijacked attach connection."""

    def __init__(self, api: Any, container_id: str, name: str, *, tty: bool, sock: Any) -> None:
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
            if _timed_out(exc.__cause__) or isinstance(exc.__cause__, docker.errors.NotFound):
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
        engine.remove_instance(self._api, self.container_id, None)

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
