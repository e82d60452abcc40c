"""Attached one-off runs: a container of the manager's engine, on the swarm's overlay network.

Swarm services cannot be attached to, so an attached run is a plain container started by the
engine Empire talks to (a manager), joined to the attachable overlay network: it reaches every
app by its aliases like a task does. It carries the labels of a run (kind `run`, index) plus
`empire.attached=true`, the process's limits, stdin open (`StdinOnce`: closing our side gives
the process end of file) and a TTY when asked. The attach socket is opened before the start,
so no output is lost; docker-py's frame reader splits stdout from stderr.

`SwarmAttachment.kill` removes the container; the caller always ends with it.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import docker.errors
import requests
from docker.utils.socket import frames_iter

from empire.errors import SchedulerError
from empire.model import Task
from empire.scheduler import STDERR, STDOUT, Manifest, ManifestProcess
from empire.scheduler.swarm import engine, spec
from empire.scheduler.swarm.engine import swarm_errors

log = logging.getLogger(__name__)


def containers(api: Any, app_id: str) -> list[dict[str, Any]]:
    """The app's attached run containers on the manager's engine."""
    with swarm_errors("list the attached runs"):
        return list(
            api.containers(
                all=True, filters={"label": [f"{engine.APP_ID}={app_id}", engine.ATTACHED]}
            )
        )


def to_task(container: dict[str, Any], host: str) -> Task:
    """An attached run's container as a Task (`v<release>.run.<n>`)."""
    labels = container.get("Labels") or {}
    state = str(container.get("State", ""))
    return Task(
        name=f"{labels.get(engine.RELEASE, 'v0')}.run.{labels.get(engine.INDEX, '0')}",
        id=str(container["Id"])[:12],
        process=str(labels.get(engine.PROCESS, "run")),
        release=int(labels.get(engine.RELEASE, "v0").lstrip("v") or 0),
        command=str(container.get("Command", "")),
        state="up" if state == "running" else state,
        host=host,
        size=None,
        updated_at=datetime.fromtimestamp(int(container.get("Created", 0)), UTC),
    )


def start(
    api: Any,
    manifest: Manifest,
    process: ManifestProcess,
    *,
    number: int,
    network: str,
    tty: bool,
    rows: int | None,
    cols: int | None,
) -> SwarmAttachment:
    """Pull the image when the manager lacks it, create, attach, start."""
    engine.ensure_network(api, network)
    with swarm_errors(f"pull {manifest.image} on the manager"):
        try:
            api.inspect_image(manifest.image)
        except docker.errors.ImageNotFound:
            api.pull(manifest.image)
    limits = spec.resources(process)["Limits"]
    host_config = api.create_host_config(
        nano_cpus=limits.get("NanoCPUs"),
        mem_limit=limits.get("MemoryBytes"),
        pids_limit=limits.get("Pids"),
        security_opt=["no-new-privileges"],
        init=True,
        sysctls=spec.SYSCTLS,
        network_mode=network,
        log_config={"type": "json-file", "config": {"max-size": "10m", "max-file": "3"}},
    )
    labels = {
        **spec.labels(manifest, process, kind=engine.RUN, network=network),
        engine.INDEX: str(number),
        engine.ATTACHED: "true",
    }
    with swarm_errors(f"create a one-off container of {manifest.app_name}"):
        created = api.create_container(
            manifest.image,
            command=list(process.command) or None,
            name=spec.run_name(manifest.app_name, number),
            environment=[f"{k}={v}" for k, v in process.env.items()],
            labels=labels,
            host_config=host_config,
            tty=tty,
            stdin_open=True,  # with detach=False: AttachStdin and StdinOnce as well
            detach=False,
        )
    container_id = str(created["Id"])
    name = f"v{manifest.release}.run.{number}"
    try:
        with swarm_errors(f"attach to container {container_id[:12]}"):
            params = {"stdin": 1, "stdout": 1, "stderr": 1, "stream": 1}
            sock = api.attach_socket(container_id, params=params)
        attachment = SwarmAttachment(api, container_id, name, tty=tty, sock=sock)
        with swarm_errors(f"start container {container_id[:12]}"):
            api.start(container_id)
    except BaseException:
        _remove(api, container_id)
        raise
    if tty and rows and cols:
        attachment.resize(rows, cols)
    return attachment


class SwarmAttachment:
    """The `Attachment` of one container, over the engine's hijacked attach connection."""

    def __init__(self, api: Any, container_id: str, name: str, *, tty: bool, sock: Any) -> None:
        self.name = name
        self.container_id = container_id
        self.tty = tty
        self._api = api
        self._io = sock
        self._sock: socket.socket = getattr(sock, "_sock", sock)
        self._sock.settimeout(None)  # quiet sessions must not time out
        self._lock = threading.Lock()
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
            for stream, data in frames_iter(self._sock, self.tty):  # type: ignore[no-untyped-call]
                yield (STDERR if stream == STDERR else STDOUT), data
        except OSError:
            return
        finally:
            with self._lock:
                self._reading = False
                if self._killed:
                    self._close()

    def write(self, data: bytes) -> None:
        if data:
            try:
                self._sock.sendall(data)
            except OSError:
                log.debug("stdin of %s is closed: %d bytes dropped", self.name, len(data))

    def close_stdin(self) -> None:
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_WR)

    def resize(self, rows: int, cols: int) -> None:
        if not self.tty or rows <= 0 or cols <= 0:
            return
        try:
            with swarm_errors(f"resize container {self.container_id[:12]}", missing_ok=True):
                self._api.resize(self.container_id, height=rows, width=cols)
        except SchedulerError as e:
            log.debug("resize of %s failed: %s", self.name, e)

    def wait(self, timeout: float | None = None) -> int | None:
        try:
            with swarm_errors(f"wait for container {self.container_id[:12]}"):
                result = self._api.wait(self.container_id, timeout=timeout)
        except SchedulerError as e:
            if isinstance(
                e.__cause__, requests.exceptions.RequestException | docker.errors.NotFound
            ):
                return None  # still running after `timeout`, or removed by kill
            raise
        return int(result.get("StatusCode", -1))

    def kill(self) -> None:
        """Remove the container and drop the connection; idempotent."""
        with self._lock:
            if self._killed:
                return
            self._killed = True
            # Wakes a reader blocked in recv; that reader closes the socket on its way out.
            with contextlib.suppress(OSError):
                self._sock.shutdown(socket.SHUT_RDWR)
            if not self._reading:
                self._close()
        _remove(self._api, self.container_id)

    def _close(self) -> None:
        if not self._closed:
            self._closed = True
            for closable in (self._io, self._sock):
                with contextlib.suppress(OSError):
                    closable.close()


def _remove(api: Any, container_id: str) -> None:
    with swarm_errors(f"remove container {container_id[:12]}", missing_ok=True):
        api.remove_container(container_id, force=True)
